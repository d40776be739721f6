"""Synaptic accumulator vs golden.fixedpoint.accumulate, events in random order with idles."""
import numpy as np
import pytest

from gammacore.golden import fixedpoint as fp
from gammacore.golden import formats as F
from gammacore.rtl.accumulator import SynapticAccumulator
from rtl_helpers import run, seeded, send


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_accumulator_matches_golden(seed):
    rng = seeded(seed)
    I, N = int(rng.integers(1, 9)), int(rng.integers(1, 12))
    W = rng.integers(F.W.min, F.W.max, size=(N, I), endpoint=True)
    q = np.where(rng.random(I) < 0.7, rng.integers(1, F.Q.max, size=I, endpoint=True), 0)
    events = [{"source": int(i), "q": int(q[i])} for i in rng.permutation(I) if q[i]]
    want_a = fp.accumulate(W, q).tolist()
    dut = SynapticAccumulator(I, N, W=W.ravel().tolist())
    got = {}

    async def tb(ctx):
        ctx.set(dut.enable, 1)
        await send(ctx, dut.events, events, rng)
        while not ctx.get(dut.idle):
            await ctx.tick()
        ctx.set(dut.enable, 0)
        ctx.set(dut.rd_en, 1)
        got["A"], got["qin"] = [], []
        for j in range(max(N, I)):
            ctx.set(dut.rd_a_addr, j % N)
            ctx.set(dut.rd_q_addr, j % I)
            await ctx.tick()
            if j < N:
                got["A"].append(ctx.get(dut.a_data))
            if j < I:
                got["qin"].append(ctx.get(dut.q_data))
        got["count"] = ctx.get(dut.count)

    run(dut, tb)
    assert got["A"] == want_a, f"seed={seed}"
    assert got["qin"] == q.tolist(), f"seed={seed}"
    assert got["count"] == len(events)


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="n_in"):
        SynapticAccumulator(0, 3)
