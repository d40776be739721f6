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
"""
from amaranth.hdl import Module
from amaranth.lib.memory import Memory, ReadPort

__all__ = ["ram", "read_port", "collision_check", "watched_simulator"]


#: the memories :func:`ram` makes while :func:`watched_simulator` elaborates a design
_recording = None


def ram(*, shape, depth, init=None):
    """A :class:`Memory` whose read/write collisions synthesis may treat as don't-care."""
    mem = Memory(shape=shape, depth=depth, init=[] if init is None else init, attrs={"no_rw_check": 1},
                 src_loc_at=1)
    if _recording is not None:
        _recording.append(mem)
    return mem


def read_port(m: Module, mem: Memory, name=None):
    """Synchronous read port of ``mem`` (``addr``, ``en`` (default 1), ``data``: the word at
    ``addr`` one clock after ``en``; held while ``en`` is low), registered in ``m``'s sync domain.

    The port is recorded on ``mem`` (``mem.gc_ports``) for :func:`collision_check`."""
    comb = mem.read_port(domain="comb")
    port = ReadPort.Signature(addr_width=len(comb.addr), shape=mem.shape).create(
        path=(name or "rd",), src_loc_at=1)
    m.d.comb += comb.addr.eq(port.addr)
    with m.If(port.en):
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
