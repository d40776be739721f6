"""Bucket-decay unit: the per-step update of one gamma-cascade word per clock.

Implements :func:`gammacore.golden.fixedpoint.bucket_step` one (neuron, bucket) word at a
time. The caller (the layer core) streams, for every neuron and bucket k, the bucket's old
value ``z``, the old value of the bucket below ``below`` (k >= 2) or the step's synaptic
accumulator ``A`` (k = 1, in ``below``), the coefficient (alpha_1 for k = 1, beta_k else)
and ``first`` (k = 1). The same unit updates the presynaptic traces.

    k = 1:  z' = sat(round(alpha_1 * z) + A)
    k >= 2: z' = sat(z + round(beta_k * (below - z)))          round(v) = (v + 2**15) >> 16

Power-of-two variant (``pow2=True``, for DSP-poor devices): the coefficient port carries a
shift s with beta = 2**-s (alpha_1 = 1 - 2**-s), and the multiply becomes a shift:
``round(beta * m) = (m + 2**(s-1)) >> s`` and ``round(alpha_1 * z) = z + ((2**(s-1) - z) >> s)``,
bit-identical to the multiplier form for those coefficients.

The pipeline has three stages (input registers, multiply, round-add-saturate), four with
``registered`` in the multiplier form (the operand ``below - z`` registered before the
multiply, for Fmax; the multiply then as two partial products, each registered as it leaves
its hard multiplier and summed with the rounding add), and stalls as a whole when the output
is not taken (``o.ready`` low).
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden import formats as F
from .pipeline import Pipe

__all__ = ["BucketDecay", "bucket_input_layout"]

#: the low part of the operand in the split multiply (``registered``): 17 bits, unsigned, so
#: each partial product (17 x 16, 16 x 16 signed) fits one 18 x 18 hard multiplier
SPLIT = 17


def bucket_input_layout(coef_width):
    return data.StructLayout({
        "z": signed(F.Z.width),
        "below": signed(F.ACC.width),
        "coef": unsigned(coef_width),
        "first": 1,
    })


def saturate(m, value, fmt, name):
    """Drive a new signal with ``value`` clipped to the raw range of ``fmt``."""
    out = Signal(signed(fmt.width) if fmt.signed else unsigned(fmt.width), name=name)
    with m.If(value > fmt.max):
        m.d.comb += out.eq(fmt.max)
    with m.Elif(value < fmt.min):
        m.d.comb += out.eq(fmt.min)
    with m.Else():
        m.d.comb += out.eq(value)
    return out


class BucketDecay(wiring.Component):
    """Pipelined bucket-decay unit, one (neuron, bucket) word per clock.

    Parameters
    ----------
    pow2 : bool
        Shift instead of multiply; ``i.payload.coef`` is then the shift s (1..16).
    registered : bool
        The operand registered before the multiply (for Fmax; one stage more). Without it
        (the iCE40's lean build) the operand's subtraction and the multiply are one stage.

    Attributes
    ----------
    i : stream of :func:`bucket_input_layout`, in
    o : stream of signed Z words, out
    """

    def __init__(self, *, pow2=False, registered=True):
        if not isinstance(pow2, bool):
            raise TypeError(f"pow2 must be a bool, not {pow2!r}")
        self.pow2, self.registered = pow2, registered
        #: the multiply as two registered partial products (the registered multiplier form)
        self.split = registered and not pow2
        #: register stages from input to output (a word in, its result out this many clocks later)
        self.stages = 4 if registered and not pow2 else 3
        self.coef_width = 5 if pow2 else F.COEF.width
        super().__init__({
            "i": In(stream.Signature(bucket_input_layout(self.coef_width))),
            "o": Out(stream.Signature(signed(F.Z.width))),
        })

    def elaborate(self, platform):
        m = Module()
        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]

        # stage 0: the inputs registered (they come from block RAM through the caller's
        # multiplexers; on the iCE40 those, the subtraction and the multiply were one path)
        v0, p = Pipe(m, advance).stage(self.i.valid, z=self.i.payload.z, below=self.i.payload.below,
                                       coef=self.i.payload.coef, first=self.i.payload.first)
        # stage 1: operand selection and the multiply (or the exact shift form); with
        # ``registered`` the operand is registered first (stage 1a)
        operand = Signal(signed(F.Z.width + 1))
        m.d.comb += operand.eq(Mux(p.first, p.z, p.below - p.z))
        if self.registered and not self.pow2:
            v0, p = Pipe(m, advance).stage(v0, operand=operand, z=p.z, below=p.below, coef=p.coef, first=p.first)
            operand = p.operand
        prod_shape = signed(F.Z.width + 2 + F.COEF.width)
        prod = Signal(prod_shape)
        if self.pow2:
            s = p.coef
            half = Signal(unsigned(16))
            m.d.comb += half.eq((Const(1, 17) << s) >> 1)
            with m.If(p.first):
                m.d.comb += prod.eq(p.z + ((half - p.z) >> s))
            with m.Else():
                m.d.comb += prod.eq((operand + half) >> s)
        elif self.split:
            # two partial products, each one hard multiplier's worth (17 x 16 bits), registered
            # as they leave the multipliers; their sum is in stage 2 (for Fmax: yosys would
            # split the wide multiply itself and add the parts in fabric in the same clock, so
            # a multiplier placed far from its logic carried two long routes and a carry chain)
            lo, hi = operand[:SPLIT], operand[SPLIT:].as_signed()
            prod_lo = Signal(unsigned(SPLIT + F.COEF.width))
            prod_hi = Signal(signed(len(hi) + F.COEF.width + 1))
            m.d.comb += [prod_lo.eq(lo * p.coef), prod_hi.eq(hi * p.coef)]
        else:
            m.d.comb += prod.eq(operand * p.coef)

        s1_valid = Signal()
        s1_prod = Signal(prod_shape)
        s1_add = Signal(signed(F.ACC.width))
        with m.If(advance):
            m.d.sync += [s1_valid.eq(v0), s1_add.eq(Mux(p.first, p.below, p.z))]
            if not self.split:
                m.d.sync += s1_prod.eq(prod)
        if self.split:
            s1_lo, s1_hi = Signal.like(prod_lo, name="s1_lo"), Signal.like(prod_hi, name="s1_hi")
            with m.If(advance):
                m.d.sync += [s1_lo.eq(prod_lo), s1_hi.eq(prod_hi)]
            m.d.comb += s1_prod.eq((s1_hi << SPLIT) + s1_lo)

        # stage 2: round (multiplier form), add, saturate
        summed = Signal(signed(F.ACC.width + 2))
        if self.pow2:
            m.d.comb += summed.eq(s1_prod + s1_add)
        else:
            # round(prod >> f) + add = (prod + (add << f | 2**(f - 1))) >> f exactly (add << f
            # has no low bits): one carry chain instead of two (for Fmax)
            f = F.COEF.frac
            addend = Cat(Const(1 << (f - 1), f), s1_add).as_signed()
            m.d.comb += summed.eq((s1_prod + addend) >> f)
        z_new = saturate(m, summed, F.Z, "z_new")
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(s1_valid), self.o.payload.eq(z_new)]
        return m
