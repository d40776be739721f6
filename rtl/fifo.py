"""First-word-fall-through FIFO in one block RAM, the RAM's read register as its output.

Clock for clock the behaviour of Amaranth's ``SyncFIFOBuffered`` (the same ports: ``w_data``,
``w_en``, ``w_rdy``, ``r_data``, ``r_en``, ``r_rdy``, ``level``; ``depth`` words: ``depth - 1``
in the RAM and one in its read register; a word written in clock t is readable in t + 2;
``depth`` 1 is a single register), which ``tests/test_rtl_fifo.py`` checks against it, but
built on :func:`gammacore.rtl.ram.ram` so that synthesis adds no read/write collision logic:
a word is read from the RAM only once it is stored there, and the write address is then
another one unless the RAM is full, when nothing is written.
"""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .ram import ram, read_port

__all__ = ["BlockFIFO"]


class BlockFIFO(wiring.Component):
    """FIFO of ``depth`` words of ``width`` bits (see the module docs).

    Attributes
    ----------
    w_data, w_en : a word and its write strobe (taken when ``w_rdy``), in
    w_rdy : fewer than ``depth`` words held, out
    r_data : the oldest word, valid with ``r_rdy``, out
    r_en : take it (when ``r_rdy``), in
    r_rdy, level : a word is readable; words held, out
    """

    def __init__(self, *, width, depth):
        for name, v in (("width", width), ("depth", depth)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
        self.width, self.depth = width, depth
        super().__init__({"w_data": In(width), "w_en": In(1), "w_rdy": Out(1),
                          "r_data": Out(width), "r_en": In(1), "r_rdy": Out(1),
                          "level": Out(range(depth + 1))})

    def elaborate(self, platform):
        m = Module()
        N = self.depth
        if N == 1:
            # one register, full or empty (a word every other clock at most)
            m.d.comb += [self.w_rdy.eq(self.level == 0), self.r_rdy.eq(self.level == 1)]
            with m.If(self.w_en & self.w_rdy):
                m.d.sync += [self.r_data.eq(self.w_data), self.level.eq(1)]
            with m.If(self.r_en & self.r_rdy):
                m.d.sync += self.level.eq(0)
            return m
        # N - 1 words in the RAM, one in its read register (the output)
        D = N - 1
        m.submodules.storage = mem = ram(shape=self.width, depth=D)
        wr, rd = mem.write_port(), read_port(m, mem, "rd")
        w_ptr = Signal(range(D))
        r_ptr = Signal(range(D))
        stored = Signal(range(D + 1))           # words in the RAM

        def succ(p):
            return Mux(p == D - 1, 0, p + 1)

        do_write = Signal()
        do_read = Signal()
        m.d.comb += [
            self.w_rdy.eq(stored != D),
            do_write.eq(self.w_en & self.w_rdy),
            # refill the output when it is empty or being taken, from a word already stored
            do_read.eq((stored != 0) & (~self.r_rdy | self.r_en)),
            wr.addr.eq(w_ptr), wr.data.eq(self.w_data), wr.en.eq(do_write),
            rd.addr.eq(r_ptr), rd.en.eq(do_read),
            self.r_data.eq(rd.data),
            self.level.eq(stored + self.r_rdy),
        ]
        with m.If(do_write):
            m.d.sync += w_ptr.eq(succ(w_ptr))
        with m.If(do_read):
            m.d.sync += [r_ptr.eq(succ(r_ptr)), self.r_rdy.eq(1)]
        with m.Elif(self.r_en):
            m.d.sync += self.r_rdy.eq(0)
        m.d.sync += stored.eq(stored + do_write - do_read)
        return m
