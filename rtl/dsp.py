"""A registered 18 x 18 multiply: the ECP5's MULT18X18D with its own registers, or its model.

yosys maps an inferred multiply to a MULT18X18D without its input, pipeline or output
registers: the registers around it stay in the fabric, and the operands and the product
cross the die between the fabric and the DSP row. :class:`RegisteredMul` puts those
registers inside the DSP (issue 14: a lone MAC closed at about 136 MHz inferred, 206-236 MHz
with the DSP's registers, on this machine's tools).

On an ECP5 platform (:func:`has_mult18x18d`) it is an instance of MULT18X18D with
``REG_OUTPUT_CLK`` (always), ``REG_INPUTA_CLK`` and ``REG_INPUTB_CLK`` (``stages`` >= 2) and
``REG_PIPELINE_CLK`` (``stages`` = 3) on CLK0, CE0 high, no reset, both operands signed. Elsewhere
(simulation, other families) it is the same registers in Amaranth: every register takes a
value every clock, as the DSP's do with CE0 high, so the product of the operands of clock c
comes out in clock c + ``stages`` on every platform. The gate-level board
(:mod:`gammacore.sim.netlist`) simulates the instance with a model of these registers.
"""
from amaranth.hdl import ClockSignal, Const, Instance, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["RegisteredMul", "has_mult18x18d", "WIDTH"]

#: operand width of the hard multiplier (signed)
WIDTH = 18


def has_mult18x18d(platform):
    """Whether ``platform`` is an ECP5 (whose hard multiplier is MULT18X18D)."""
    return getattr(platform, "family", None) == "ecp5"


class RegisteredMul(wiring.Component):
    """``p`` = ``a * b``, ``stages`` clocks after the operands (signed, at most 18 bits each).

    Parameters
    ----------
    a_width, b_width : operand widths, 1 .. 18 (signed)
    stages : 1 (the output register), 2 (input and output registers) or 3 (input, pipeline
        and output registers)

    Attributes
    ----------
    a, b : operands, in
    p : the product of the operands of ``stages`` clocks before, out (``a_width + b_width``
        bits, signed)
    """

    def __init__(self, a_width, b_width, stages=3):
        for name, w in (("a_width", a_width), ("b_width", b_width)):
            if not isinstance(w, int) or not 1 <= w <= WIDTH:
                raise ValueError(f"{name} must be an integer in 1 .. {WIDTH} (the multiplier's signed "
                                 f"operand), not {w!r}")
        if stages not in (1, 2, 3):
            raise ValueError(f"stages must be 1 (the output register), 2 (input and output registers) or 3 "
                             f"(input, pipeline and output registers), not {stages!r}")
        self.stages = stages
        super().__init__({"a": In(signed(a_width)), "b": In(signed(b_width)),
                          "p": Out(signed(a_width + b_width))})

    def elaborate(self, platform):
        m = Module()
        if has_mult18x18d(platform):
            a18, b18, p36 = Signal(signed(WIDTH)), Signal(signed(WIDTH)), Signal(signed(2 * WIDTH))
            m.d.comb += [a18.eq(self.a), b18.eq(self.b), self.p.eq(p36)]
            ports = {f"i_A{n}": a18[n] for n in range(WIDTH)}
            ports.update({f"i_B{n}": b18[n] for n in range(WIDTH)})
            ports.update({f"o_P{n}": p36[n] for n in range(2 * WIDTH)})
            ports.update({"i_SIGNEDA": Const(1), "i_SIGNEDB": Const(1), "i_SOURCEA": Const(0),
                          "i_SOURCEB": Const(0), "i_CLK0": ClockSignal(), "i_CE0": Const(1), "i_RST0": Const(0)})
            inputs = "CLK0" if self.stages >= 2 else "NONE"
            params = {"p_REG_INPUTA_CLK": inputs, "p_REG_INPUTB_CLK": inputs,
                      "p_REG_PIPELINE_CLK": "CLK0" if self.stages == 3 else "NONE",
                      "p_REG_OUTPUT_CLK": "CLK0", "p_GSR": "DISABLED", "p_RESETMODE": "SYNC"}
            m.submodules.mult = Instance("MULT18X18D", **params, **ports)
            return m
        a_r, b_r = self.a, self.b
        if self.stages >= 2:
            a_r, b_r = Signal.like(self.a, name="a_r"), Signal.like(self.b, name="b_r")
            m.d.sync += [a_r.eq(self.a), b_r.eq(self.b)]
        prod = a_r * b_r
        if self.stages == 3:
            pipe = Signal.like(self.p, name="pipe")
            m.d.sync += pipe.eq(prod)
            prod = pipe
        m.d.sync += self.p.eq(prod)
        return m
