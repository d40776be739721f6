"""The registered multiplier (rtl.dsp.RegisteredMul) in simulation: the product of the
operands of clock c comes out in clock c + stages, for random signed operands at every width
the learning unit uses and at the 18-bit extremes. Its ECP5 instance is held to the same
behaviour in tests/test_gate_level.py (synthesised, under the MULT18X18D model)."""
import numpy as np
import pytest
from amaranth.sim import Simulator

from gammacore.rtl.dsp import RegisteredMul, has_mult18x18d


def _operands(rng, width, n):
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    x = rng.integers(lo, hi + 1, n)
    x[rng.random(n) < 0.1] = lo                  # the extremes, where a sign slip would show
    x[rng.random(n) < 0.1] = hi
    return [int(v) for v in x]


@pytest.mark.parametrize("a_width, b_width, stages", [(16, 17, 1), (16, 16, 1), (17, 17, 1), (17, 16, 1),
                                                      (18, 18, 2), (5, 18, 3), (18, 1, 2)])
def test_registered_mul_gives_the_product_stages_clocks_later(a_width, b_width, stages):
    seed = 1000 * a_width + 10 * b_width + stages
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    n = 400
    a, b = _operands(rng, a_width, n), _operands(rng, b_width, n)
    dut = RegisteredMul(a_width, b_width, stages)
    got = []

    async def bench(ctx):
        for t in range(n + stages):
            ctx.set(dut.a, a[t] if t < n else 0)
            ctx.set(dut.b, b[t] if t < n else 0)
            await ctx.tick()
            got.append(ctx.get(dut.p))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    # after the clock edge of clock t the output holds the product of clock t + 1 - stages
    for t in range(stages - 1, n + stages - 1):
        c = t + 1 - stages
        assert got[t] == a[c] * b[c], (seed, c, a[c], b[c], got[t])


@pytest.mark.parametrize("kwargs, message", [
    ({"a_width": 19, "b_width": 4}, "a_width must be an integer in 1 .. 18.*not 19"),
    ({"a_width": 4, "b_width": 0}, "b_width must be an integer in 1 .. 18.*not 0"),
    ({"a_width": 4, "b_width": 4, "stages": 0}, "stages must be 1.*not 0"),
    ({"a_width": 4, "b_width": 4, "stages": 4}, "stages must be 1.*not 4")])
def test_registered_mul_refuses_what_the_multiplier_cannot_be(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RegisteredMul(**kwargs)


def test_only_an_ecp5_gets_the_instance():
    from types import SimpleNamespace
    assert has_mult18x18d(SimpleNamespace(family="ecp5"))
    assert not has_mult18x18d(SimpleNamespace(family="iCE40")) and not has_mult18x18d(None)
