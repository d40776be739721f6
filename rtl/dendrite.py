"""Dendrite and readout: ``x_j = sum_k V[j,k] Z_j^k + b_j``, then ReLU or linear.

Implements :func:`gammacore.golden.fixedpoint.dendrite` and ``relu``: K words per neuron
(one V*Z multiply per clock), summed exactly in a wide accumulator that starts at
``(b << 22) + 2**21`` on the neuron's first word (the rounding's half); a word with
``add_b`` adds its ``b << 22`` too (the laned neuron pass gives each lane its bias on a
later word; the sum is exact, so where b enters does not change it); on its last word the
sum is shifted down (so rounded half up) to 22 fraction bits, saturated to 32 bits and
emitted as x and y = max(0, x) (or y = x when ``relu`` is low). Three stages, stall-all
(inputs registered; product; accumulation, saturation and readout), so no clock carries a
memory read into the multiply (Fmax, issue 14).
"""
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden import formats as F
from .bucket_decay import saturate
from .pipeline import Pipe

__all__ = ["Dendrite", "dendrite_in_layout", "dendrite_out_layout"]

dendrite_in_layout = data.StructLayout({"v": signed(F.V.width), "z": signed(F.Z.width),
                                        "b": signed(F.B.width), "first": 1, "last": 1,
                                        "add_b": 1})
dendrite_out_layout = data.StructLayout({"x": signed(F.X.width), "y": signed(F.X.width)})

#: accumulator width: 48-bit products, up to 2**6 buckets, the bias, and sign
ACC_WIDTH = F.V.width + F.Z.width + 7


class Dendrite(wiring.Component):
    """Dendrite/readout unit.

    Attributes
    ----------
    i : stream of (v, z, b, first, last) words, K per neuron, in
    o : stream of (x, y) per neuron, out
    relu : ReLU readout if high, linear if low, in

    Parameters
    ----------
    late_bias : honour ``add_b`` (b on a word after the first; the laned neuron pass); without
        it b enters on the first word only and ``add_b`` is ignored
    registered : the three stages; without, two (the product of the inputs as they come,
        then the accumulation): fewer registers for the iCE40's lean build
    """
    i: In(stream.Signature(dendrite_in_layout))
    o: Out(stream.Signature(dendrite_out_layout))
    relu: In(1)

    def __init__(self, *, late_bias=True, registered=True):
        self.late_bias, self.registered = late_bias, registered
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]
        p = self.i.payload
        pipe = Pipe(m, advance)
        # 1: the inputs registered (they come from memory reads); 2: the product
        v, s = self.i.valid, p
        if self.registered:
            v, s = pipe.stage(v, v=p.v, z=p.z, b=p.b, first=p.first, last=p.last, add_b=p.add_b)
        prod = Signal(signed(F.V.width + F.Z.width))
        m.d.comb += prod.eq(s.v * s.z)
        v, s = pipe.stage(v, prod=prod, b=s.b, first=s.first, last=s.last, add_b=s.add_b)

        acc = Signal(signed(ACC_WIDTH))
        acc_next = Signal(signed(ACC_WIDTH))
        # the rounding's half (2**21) starts in the sum with the bias, so the last word needs no
        # rounding adder after the accumulation: floor((b 2**22 + 2**21 + sum) / 2**22)
        late = Mux(s.add_b & ~s.first, s.b << F.Z.frac, 0) if self.late_bias else 0
        m.d.comb += acc_next.eq(Mux(s.first, (s.b << F.Z.frac) | (1 << (F.V.frac - 1)), acc) + s.prod + late)
        # last stage: the neuron's sum (its last word) shifted, saturated, read out (the two
        # forms are the same logic; each is written as it was built and measured, since yosys
        # and nextpnr results depend on how: docs/boards.md, "yosys")
        if self.registered:
            with m.If(advance & v):
                m.d.sync += acc.eq(acc_next)
            v = v & s.last
        x = saturate(m, acc_next >> F.V.frac, F.X, "x")
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(v if self.registered else v & s.last), self.o.payload.x.eq(x),
                         self.o.payload.y.eq(Mux(self.relu & (x < 0), 0, x))]
            if not self.registered:
                with m.If(v):
                    m.d.sync += acc.eq(acc_next)
        return m
