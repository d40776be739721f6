"""Loss unit vs golden.fixedpoint.softmax_ce_err / ce_loss, bit for bit, under stalls."""
import numpy as np
import pytest

from gammacore.golden import fixedpoint as fp
from gammacore.golden import formats as F
from gammacore.rtl import ram
from gammacore.rtl.loss_unit import LossUnit
from rtl_helpers import receive, seeded, send


def run_steps(steps, seed, max_outputs=64):
    """Stream steps [(y (C,) X raw, label)] through a LossUnit under random input idles and
    output back-pressure; returns per step (errors, loss). The buffer is checked for
    read/write collisions (which synthesis leaves undefined, rtl/ram.py) on every clock."""
    dut = LossUnit(max_outputs=max_outputs)
    got = []

    async def producer(ctx):
        rng = np.random.default_rng(seed + 11)
        for y, label in steps:
            words = [{"y": int(v), "label": int(label), "last": int(j == len(y) - 1)} for j, v in enumerate(y)]
            await send(ctx, dut.i, words, rng)

    async def consumer(ctx):
        rng = np.random.default_rng(seed + 12)
        for y, _ in steps:
            out = await receive(ctx, dut.o, len(y), rng)
            assert [o.last for o in out] == [0] * (len(y) - 1) + [1]
            got.append(([o.e for o in out], out[-1].loss))

    sim, collisions, memories = ram.watched_simulator(dut)
    assert len(memories) == 3
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    assert not collisions, f"seed={seed}: read/write collisions {collisions[:5]}"
    return got


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_loss_unit_matches_golden(seed):
    rng = seeded(seed)
    steps = []
    for n in range(12):
        C = int(rng.choice([1, 2, 3, 10, int(rng.integers(4, 64))]))
        scale = float(rng.choice([0.01, 0.5, 3.0, 40.0]))
        y = F.X.saturate(F.X.from_float(rng.normal(0, scale, C)))
        if n == 0:
            y[:] = y[0]                                  # all equal
        if n == 1 and C > 2:
            y[0], y[1] = F.X.max, F.X.min                # extremes: the distance clamps
        steps.append((y, int(rng.integers(0, C))))
    got = run_steps(steps, seed)
    for n, ((y, label), (e, loss)) in enumerate(zip(steps, got)):
        want_e = fp.softmax_ce_err(y[None], [label])[0][0].tolist()
        want_loss = int(fp.ce_loss(y[None], [label])[0])
        assert e == want_e, f"seed={seed} step {n} C={len(y)} label={label}"
        assert loss == want_loss, f"seed={seed} step {n} C={len(y)} label={label}: {loss} != {want_loss}"


def test_loss_unit_refuses_bad_depth():
    for bad in (0, 1 << 16, 2.5):
        with pytest.raises(ValueError, match=f"max_outputs .*{bad!r}"):
            LossUnit(max_outputs=bad)


@pytest.mark.parametrize("C", [1, 2, 10])
def test_loss_unit_latency_is_its_phases(C):
    """At full speed (no input idles, the output always ready) a step takes the module's four
    phases, from its first output taken in to its last error out: C (in) + C + 9 (sum) + the
    division's clocks, one per quotient bit from bit 16 down and one more (DIV_SKIP: the
    bits above are zero as S >= 2**15) + C + 10 (out)."""
    from amaranth.sim import Simulator

    from gammacore.rtl.loss_unit import DIV_SKIP
    divide = F.RECIP_BITS - DIV_SKIP + 2
    assert divide == 18
    dut = LossUnit(max_outputs=64)
    got = {}

    async def bench(ctx):
        clock = 0
        ctx.set(dut.o.ready, 1)
        for j in range(C):
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload.y, F.X.from_float(0.25 * j))
            ctx.set(dut.i.payload.label, 0)
            ctx.set(dut.i.payload.last, j == C - 1)
            while True:
                _, _, ready = await ctx.tick().sample(dut.i.ready)
                clock += 1
                if ready:
                    break
            if j == 0:
                got["first_in"] = clock
        ctx.set(dut.i.valid, 0)
        outs = 0
        while outs < C:
            _, _, valid = await ctx.tick().sample(dut.o.valid)
            clock += 1
            outs += int(valid)
        got["last_out"] = clock

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got["last_out"] - got["first_in"] == C + (C + 9) + divide + (C + 10), f"C={C}: {got}"
