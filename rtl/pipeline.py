"""Pipeline helpers: a stall-all pipeline, and a skid buffer that registers a stream's ready.

:class:`Pipe`: ``advance = ~o.valid | o.ready``: the whole pipeline moves when its output is
free or taken, so a stalled consumer back-pressures the producer without losing or
reordering words.

:class:`SkidBuffer`: a stream stage whose ``i.ready`` is a register, so a consumer's ready
does not reach back through the producer's stall-all pipelines in one clock. A word passes
straight through while the buffer is empty (no clock added); one refused by the consumer
waits in the buffer, which takes nothing more until it is out (a clock lost per stall).
"""
from types import SimpleNamespace

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Pipe", "SkidBuffer"]


class Pipe:
    """Builds stage registers in module ``m`` that load when ``advance`` is high."""

    def __init__(self, m, advance):
        self.m, self.advance, self.n = m, advance, 0

    def stage(self, valid, **values):
        """Register ``valid`` and every named value; returns (valid, namespace of registers)."""
        self.n += 1
        v = Signal(name=f"s{self.n}_valid")
        regs = {}
        with self.m.If(self.advance):
            self.m.d.sync += v.eq(valid)
            for name, value in values.items():
                r = Signal(value.shape(), name=f"s{self.n}_{name}")
                self.m.d.sync += r.eq(value)
                regs[name] = r
        return v, SimpleNamespace(**regs)


class SkidBuffer(wiring.Component):
    """A one-word skid buffer on a stream of ``shape`` (see the module).

    Attributes
    ----------
    i : the producer's stream, in (``i.ready`` is a register: no word held)
    o : the consumer's stream, out
    empty : no word held, out
    """

    def __init__(self, shape):
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape)),
                          "empty": Out(1)})

    def elaborate(self, platform):
        m = Module()
        held = Signal()
        word = Signal.like(self.i.payload)
        m.d.comb += [self.i.ready.eq(~held), self.empty.eq(~held),
                     self.o.valid.eq(held | self.i.valid),
                     self.o.payload.eq(Mux(held, word, self.i.payload))]
        with m.If(held & self.o.ready):
            m.d.sync += held.eq(0)
        with m.Elif(~held & self.i.valid & ~self.o.ready):
            m.d.sync += [held.eq(1), word.eq(self.i.payload)]
        return m
