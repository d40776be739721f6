"""A stall-all pipeline helper: every stage register advances together.

``advance = ~o.valid | o.ready``: the whole pipeline moves when its output is free or taken,
so a stalled consumer back-pressures the producer without losing or reordering words.
"""
from types import SimpleNamespace

from amaranth.hdl import Signal

__all__ = ["Pipe"]


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
