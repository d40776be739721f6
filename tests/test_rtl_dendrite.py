"""Dendrite unit vs golden.fixedpoint.dendrite/relu, under stalls."""
import numpy as np
import pytest

from gammacore.golden import fixedpoint as fp
from gammacore.golden import formats as F
from gammacore.rtl.dendrite import Dendrite
from rtl_helpers import receive, run, seeded, send


@pytest.mark.parametrize("registered", [True, False])
@pytest.mark.parametrize("relu", [0, 1])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_dendrite_matches_golden(seed, relu, registered):
    rng = seeded(seed)
    N, K = int(rng.integers(3, 30)), int(rng.integers(1, 9))
    V = rng.integers(F.V.min, F.V.max, size=(N, K), endpoint=True)
    Z = rng.integers(F.Z.min, F.Z.max, size=(N, K), endpoint=True) >> int(rng.integers(0, 12))
    b = rng.integers(F.B.min, F.B.max, size=N, endpoint=True)
    x = fp.dendrite(V, Z, b)
    y = fp.relu(x) if relu else x
    words = [{"v": int(V[j, k]), "z": int(Z[j, k]), "b": int(b[j]), "first": int(k == 0), "last": int(k == K - 1)}
             for j in range(N) for k in range(K)]
    dut = Dendrite(registered=registered)
    got = []

    async def producer(ctx):
        ctx.set(dut.relu, relu)
        await send(ctx, dut.i, words, rng)

    async def consumer(ctx):
        got.extend((o.x, o.y) for o in await receive(ctx, dut.o, N, np.random.default_rng(seed + 7)))

    run(dut, producer, consumer)
    assert got == list(zip(x.tolist(), y.tolist())), f"seed={seed} relu={relu} registered={registered}"


def test_dendrite_saturates():
    want = fp.dendrite(np.full((2, 4), F.V.max), np.array([[F.Z.max] * 4, [F.Z.min] * 4]),
                       np.array([F.B.max, F.B.min])).tolist()
    assert want == [F.X.max, F.X.min]   # both rows saturate in the specification
    words = [{"v": F.V.max, "z": F.Z.max, "b": F.B.max, "first": int(k == 0), "last": int(k == 3)} for k in range(4)]
    words += [{"v": F.V.max, "z": F.Z.min, "b": F.B.min, "first": int(k == 0), "last": int(k == 3)} for k in range(4)]
    dut = Dendrite()
    got = []

    async def producer(ctx):
        await send(ctx, dut.i, words, seeded(0))

    async def consumer(ctx):
        got.extend(o.x for o in await receive(ctx, dut.o, 2, seeded(1)))

    run(dut, producer, consumer)
    assert got == want
