"""The learning unit's operand narrowing (rtl.learning.grad_operand) vs golden.fixedpoint.grad_operand.

The unit's whole rule is held to the golden model bit for bit by the learning tests of
tests/test_rtl_net_core.py and tests/test_rtl_chip.py; this test covers the narrowing over
the whole 32-bit range of a trace or bucket state, the saturation and the rounding ties
included, which a training run reaches only rarely.
"""
import numpy as np
from amaranth.hdl import Elaboratable, Module, Signal, signed
from amaranth.sim import Simulator

from gammacore.golden import fixedpoint as fp
from gammacore.golden import formats as F
from gammacore.rtl.learning import grad_operand
from rtl_helpers import seeded


class Narrow(Elaboratable):
    def __init__(self):
        self.x = Signal(signed(F.TRACE.width))
        self.y = Signal(signed(F.GRAD_OP.width))

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.y.eq(grad_operand(m, self.x, "op"))
        return m


def test_grad_operand_matches_golden():
    seed = 14
    rng = seeded(seed)
    s, lim = F.GRAD_OP_SHIFT, 1 << (F.GRAD_OP.width - 1 + F.GRAD_OP_SHIFT)
    edges = [F.TRACE.min, F.TRACE.max, 0, 1, -1]
    for c in (lim, -lim, lim // 3, -lim // 3):
        # around the saturation bounds and the rounding ties (x = (2n + 1) 2**(s-1))
        edges += [c + d for d in (-(1 << s), -(1 << (s - 1)) - 1, -(1 << (s - 1)), -(1 << (s - 1)) + 1, -1, 0, 1)]
    xs = np.array(edges + rng.integers(F.TRACE.min, F.TRACE.max, size=400, endpoint=True).tolist()
                  + (rng.integers(-lim, lim, size=400) >> 1).tolist(), dtype=np.int64)
    want = fp.grad_operand(xs).tolist()
    assert min(want) == F.GRAD_OP.min and max(want) == F.GRAD_OP.max    # both bounds reached
    dut = Narrow()
    got = []

    async def tb(ctx):
        for x in xs.tolist():
            ctx.set(dut.x, x)
            got.append(ctx.get(dut.y))

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()
    bad = [(int(x), g, w) for x, g, w in zip(xs, got, want) if g != w]
    assert not bad, f"seed={seed}: (x, rtl, golden) {bad[:5]}"
