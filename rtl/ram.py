"""Block-RAM memories whose read/write collisions are don't-care for synthesis.

Amaranth writes a synchronous read port as a read port with a defined collision result (the
old word, "read first"). The iCE40 and ECP5 block RAMs do not promise that, so yosys emulates
it: a register for the written word and address, a comparator and a multiplexer per read
port, about two flip-flops and a LUT per data bit. In this design no read port reads the
word a write port writes in the same clock (the units read a word before they write it back,
never in the same clock); :func:`collision_check` finds any clock where that is not so, and the
tests run it on the whole chip and the link.

:func:`ram` makes a memory with the ``no_rw_check`` attribute and :func:`read_port` a
synchronous read port built as a combinational read port plus a register with enable, which
yosys (``memory_dff``) folds into the block RAM's own read register and, with the attribute,
marks don't-care on a collision. In simulation the port behaves as Amaranth's synchronous
read port (the register samples the old word).

:class:`SplitMemory` is such a memory of a depth just above a power of two, built as two:
the power of two and the rest (:func:`split_point` says when).
"""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import Out

__all__ = ["ram", "read_port", "collision_check", "watched_simulator", "SplitMemory", "split_point",
           "SPLIT_MIN", "SPLIT_REST"]

#: :func:`split_point`: the smallest power of two split off (two ECP5 DP16KD of 512 x 36)
SPLIT_MIN = 1024
#: :func:`split_point`: the largest rest, as a fraction of the power of two (1 / SPLIT_REST)
SPLIT_REST = 8


#: the memories :func:`ram` makes while :func:`watched_simulator` elaborates a design
_recording = None


def ram(*, shape, depth, init=None):
    """A :class:`Memory` whose read/write collisions synthesis may treat as don't-care."""
    mem = Memory(shape=shape, depth=depth, init=[] if init is None else init, attrs={"no_rw_check": 1},
                 src_loc_at=1)
    if _recording is not None:
        _recording.append(mem)
    return mem


def read_port(m: Module, mem: Memory, name=None, *, free=False, hold=False):
    """Synchronous read port of ``mem`` (``addr``, ``en`` (default 1), ``data``: the word at
    ``addr`` one clock after ``en``; held while ``en`` is low), registered in ``m``'s sync domain.

    ``free``: the port reads every clock, whatever ``en`` (``data`` is the word at the address
    of the clock before, and is not held): the block RAM's read clock enable is tied high, so
    no enable logic meets it (for Fmax: a laned core's W bank spreads over ~33 ECP5 block RAMs).
    ``en`` then says which reads are used: its users take the word in the clock after an
    enabled read and never rely on it being held (the whole-chip tests hold them to the golden
    model with this port). A read that is not used may meet a write of its word: as for every
    :func:`ram`, yosys takes such a read's word as undefined and the write as done, and the
    word is not used. (The gate-level block-RAM model of :mod:`gammacore.sim.netlist` notes
    such a clock and gives the read a random word.)

    ``hold``: the same port as without it - ``data`` the word at the address of the last
    enabled read, held while ``en`` is low - but the block RAM's read clock enable is tied
    high as for ``free``: the block RAM reads every clock into its output register, ``en`` is
    registered beside it, and a multiplexer after the block RAM passes the new word in the
    clock after an enabled read and a held copy otherwise. So the logic that decides ``en``
    ends in a flip-flop near it, not in a clock enable across the die (for Fmax: the ECP5
    85F's critical paths ended in block-RAM clock enables), at a LUT per data bit. The
    port's ``raw`` (a Python attribute) is the block RAM's output before that multiplexer,
    for a reader that takes the word in the clock after its read.

    The port is recorded on ``mem`` (``mem.gc_ports``) for :func:`collision_check`, which
    watches the reads that are used (``en``)."""
    comb = mem.read_port(domain="comb")
    port = ReadPort.Signature(addr_width=len(comb.addr), shape=mem.shape).create(
        path=(name or "rd",), src_loc_at=1)
    m.d.comb += comb.addr.eq(port.addr)
    if hold and not free:
        prefix = name or "rd"
        raw = Signal(mem.shape, name=f"{prefix}_raw")
        held = Signal(mem.shape, name=f"{prefix}_held")
        en_d = Signal(name=f"{prefix}_en_d")
        m.d.sync += [raw.eq(comb.data), en_d.eq(port.en), held.eq(port.data)]
        m.d.comb += port.data.eq(Mux(en_d, raw, held))
        port.raw = raw          # the block RAM's own output: the word in the clock after a read
    else:
        with m.If(port.en | free):
            m.d.sync += port.data.eq(comb.data)
    mem.__dict__.setdefault("gc_ports", []).append(port)
    return port


def collision_check(memories):
    """Simulation check over ``memories`` (made by :func:`ram`, read through :func:`read_port`):
    returns ``(process, found)``; the testbench coroutine ``process(ctx)`` watches every clock
    and appends ``(memory index, read address)`` to ``found`` whenever an enabled read port
    and an enabled write port of one memory address the same word (the case :func:`ram` lets
    synthesis leave undefined)."""
    found = []
    plan = []                               # (memory index, read ports, write ports)
    signals = []
    for n, mem in enumerate(memories):
        reads = mem.__dict__.get("gc_ports", [])
        writes = list(mem.write_ports)
        if reads and writes:
            plan.append((n, len(reads), len(writes)))
            signals += [s for p in reads + writes for s in (p.en, p.addr)]

    async def process(ctx):
        async for _, _, *v in ctx.tick().sample(*signals):
            i = 0
            for n, nr, nw in plan:
                r, w = v[i:i + 2 * nr], v[i + 2 * nr:i + 2 * (nr + nw)]
                i += 2 * (nr + nw)
                written = {addr for en, addr in zip(w[::2], w[1::2]) if en}
                if written:
                    found.extend((n, addr) for en, addr in zip(r[::2], r[1::2]) if en and addr in written)
    return process, found


def watched_simulator(dut):
    """A :class:`~amaranth.sim.Simulator` of ``dut`` with :func:`collision_check` over every
    :func:`ram` the design makes. Returns ``(sim, found, memories)``: ``found`` fills while the
    simulation runs (empty: no collision), ``memories`` are the watched ones."""
    from amaranth.sim import Simulator

    global _recording
    _recording = []
    try:
        sim = Simulator(dut)                # elaborates dut: its ram()s are recorded
    finally:
        memories, _recording = _recording, None
    process, found = collision_check(memories)
    sim.add_process(process)
    return sim, found, memories


def split_point(depth):
    """The power of two a memory of ``depth`` words is split at (:class:`SplitMemory`), or None.

    A depth of 2^n + r words with 0 < r <= 2^n / :data:`SPLIT_REST` and 2^n >= :data:`SPLIT_MIN`
    splits at 2^n. Why: yosys maps such a memory (one W bank of a laned core, e.g. 16,448
    words of 32 bits at P = 2 on the ULX3S 45F/85F) onto the ECP5's DP16KD in the 1K x 18 form,
    17 x 2 blocks, and reads it through a 17-way LUT multiplexer after the blocks' clock-to-out:
    the laned 85F's critical path (62.7 MHz, benchmarks/README.md). Split, the power of two
    maps onto 16K x 1 blocks (no multiplexer), the rest onto one more block, and a read goes
    through one 2-way multiplexer."""
    low = 1 << ((depth - 1).bit_length() - 1) if depth > 1 else 0
    if low < SPLIT_MIN or low == depth or (depth - low) * SPLIT_REST > low:
        return None
    return low


class SplitMemory(wiring.Component):
    """A memory of ``depth`` words as two :func:`ram` memories: words below ``low`` (a power of
    two, :func:`split_point`) in one, the rest in the other.

    Ports as :class:`~gammacore.rtl.spram.SPRAMMemory`'s: ``read`` (addr, en; data: the word at
    addr one clock after en, held while en is low, as :func:`read_port`) and ``write`` (addr,
    data, en). Each part is enabled only for its own addresses (a collision check of the parts
    sees only real reads and writes), and the part a read took is registered with its enable,
    so the data goes through one 2-way multiplexer. ``free``: both parts read every clock
    (:func:`read_port`), and the part is registered every clock.

    Attributes
    ----------
    parts : the two memories (``low`` words, ``depth - low`` words)
    """

    def __init__(self, *, shape, depth, low, free=False, hold=False):
        if not isinstance(low, int) or low < 1 or low & (low - 1) or not low < depth <= 2 * low:
            raise ValueError(f"low must be a power of two with low < depth <= 2 low (depth {depth}), not {low!r}")
        self.shape, self.depth, self.low, self.free, self.hold = shape, depth, low, free, hold
        aw = (depth - 1).bit_length()
        super().__init__({"read": Out(ReadPort.Signature(addr_width=aw, shape=shape)),
                          "write": Out(WritePort.Signature(addr_width=aw, shape=shape))})
        self.parts = (ram(shape=shape, depth=low), ram(shape=shape, depth=depth - low))

    def elaborate(self, platform):
        m = Module()
        lo, hi = self.parts
        m.submodules.lo, m.submodules.hi = lo, hi
        k = self.low.bit_length() - 1           # the address bit that picks the part
        rd, wr = self.read, self.write
        lo_rd = read_port(m, lo, "lo_rd", free=self.free, hold=self.hold)
        hi_rd = read_port(m, hi, "hi_rd", free=self.free, hold=self.hold)
        lo_wr, hi_wr = lo.write_port(), hi.write_port()
        r_hi, w_hi, held = rd.addr[k], wr.addr[k], Signal()
        m.d.comb += [lo_rd.addr.eq(rd.addr), hi_rd.addr.eq(rd.addr),
                     lo_rd.en.eq(rd.en & ~r_hi), hi_rd.en.eq(rd.en & r_hi),
                     rd.data.eq(Mux(held, hi_rd.data, lo_rd.data)),
                     lo_wr.addr.eq(wr.addr), hi_wr.addr.eq(wr.addr), lo_wr.data.eq(wr.data), hi_wr.data.eq(wr.data),
                     lo_wr.en.eq(wr.en & ~w_hi), hi_wr.en.eq(wr.en & w_hi)]
        with m.If(rd.en | self.free):
            m.d.sync += held.eq(r_hi)
        return m
