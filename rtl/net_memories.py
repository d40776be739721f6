"""The network core's memories, and which engine owns which port in which phase.

The core (:mod:`gammacore.rtl.net_core`) is a set of engines - the host's memory requests,
the event fan-out (:mod:`~gammacore.rtl.fanout`), the bucket and neuron passes
(:mod:`~gammacore.rtl.neuron_pass`), the scan of the asynchronous scheduler
(:mod:`~gammacore.rtl.async_scheduler`), the learning unit (:mod:`~gammacore.rtl.learning`)
and the clear - run one at a time by the sequencer (:mod:`~gammacore.rtl.sequencer`). Each
memory has one synchronous read port and one write port. :data:`OWNERSHIP` says which
engine may use which port of which memory; the sequencer's phase (``owner``, an
:class:`Engine`) says whose turn it is, and :class:`NetMemories` connects that engine's
ports to the memories. Every engine's memory interface is built from the table
(:func:`client_signature`), so an engine has exactly the ports the table gives it.

``violation`` is high in any clock where an engine other than the owner enables a port
(a read or a write): the simulation benches watch it (:func:`ownership_check`) and it must
never rise. It drives nothing, so synthesis drops it.
"""
from amaranth.hdl import Cat, Module, Mux, signed, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import Out

from ..golden import formats as F
from .ram import ram, read_port
from .spram import SPRAM_DEPTH, SPRAMMemory, has_spram

__all__ = ["Engine", "OWNERSHIP", "NetMemories", "client_signature", "pending_layout", "memory_shapes",
           "ownership_check"]

#: a neuron's word in the pending table of the asynchronous modes
pending_layout = data.StructLayout({"pending": 1, "fired": 1, "key": 16})


class Engine(enum.Enum, shape=3):
    """The engines of the network core; one of them owns the memories at a time."""
    HOST = 0        # the host's memory requests (idle core)
    FANOUT = 1      # input events fanned out to the layer's neurons (idle core, forward events)
    BUCKETS = 2     # the bucket pass over Z and the input traces
    NEURONS = 3     # the neuron pass: dendrite, encoder, pending words
    SCAN = 4        # the scan of the pending table
    LEARN = 5       # the learning unit
    CLEAR = 6       # zeroing every state word


E = Engine
#: memory -> {engine: the ports it uses, "r" read, "w" write}
OWNERSHIP = {
    "W": {E.HOST: "rw", E.FANOUT: "r", E.LEARN: "rw"},
    "V": {E.HOST: "rw", E.NEURONS: "r", E.LEARN: "rw"},
    "B": {E.HOST: "rw", E.NEURONS: "r", E.LEARN: "rw"},
    "Z": {E.HOST: "r", E.FANOUT: "rw", E.BUCKETS: "rw", E.NEURONS: "r", E.LEARN: "r", E.CLEAR: "w"},
    "TRACE": {E.HOST: "r", E.FANOUT: "rw", E.BUCKETS: "rw", E.LEARN: "r", E.CLEAR: "w"},
    "X": {E.HOST: "r", E.NEURONS: "w", E.LEARN: "r", E.CLEAR: "w"},
    "E": {E.HOST: "r", E.NEURONS: "rw", E.CLEAR: "w"},
    "D": {E.HOST: "r", E.NEURONS: "rw", E.CLEAR: "w"},
    "A": {E.FANOUT: "rw", E.BUCKETS: "rw", E.CLEAR: "w"},
    "QIN": {E.FANOUT: "rw", E.BUCKETS: "rw", E.CLEAR: "w"},
    "PEND": {E.NEURONS: "rw", E.SCAN: "r"},
}
del E


def _bits(n):
    return max(1, (n - 1).bit_length())


def memory_shapes(cap):
    """memory name -> (shape, depth) for capacity ``cap``."""
    NT, ML = cap.neurons, cap.max_layer
    depth = cap.region_depths()         # the host's regions (gammacore.regmap.Region)
    return {"W": (signed(F.MASTER.width), depth["W"]), "V": (signed(F.MASTER.width), depth["V"]),
            "B": (signed(F.MASTER.width), depth["B"]), "Z": (signed(F.Z.width), depth["Z"]),
            "TRACE": (signed(F.TRACE.width), depth["TRACE"]), "X": (signed(F.X.width), depth["X"]),
            "E": (signed(F.ENC.width), depth["E"]), "D": (signed(F.ADAPT.width), depth["D"]),
            "A": (signed(F.ACC.width), ML), "QIN": (unsigned(F.Q.width), ML), "PEND": (pending_layout, NT)}


def client_signature(cap, engine, memories=None):
    """The memory interface of ``engine``: per memory it uses (:data:`OWNERSHIP`), ``rd``
    (a :class:`ReadPort.Signature`) and/or ``wr`` (a :class:`WritePort.Signature`), as the
    memory sees them; an engine takes it flipped (``In(client_signature(...))``).
    ``memories``: only these (default: every memory of the table)."""
    shapes = memory_shapes(cap)
    members = {}
    for name, users in OWNERSHIP.items():
        if engine not in users or (memories is not None and name not in memories):
            continue
        shape, depth = shapes[name]
        ports = {}
        if "r" in users[engine]:
            ports["rd"] = Out(ReadPort.Signature(addr_width=_bits(depth), shape=shape))
        if "w" in users[engine]:
            ports["wr"] = Out(WritePort.Signature(addr_width=_bits(depth), shape=shape))
        members[name] = Out(wiring.Signature(ports))
    return wiring.Signature(members)


class NetMemories(wiring.Component):
    """The memories of the network core and the multiplexers that give their ports to the owner.

    Parameters
    ----------
    capacity : :class:`gammacore.regmap.Capacity`
    spram : W, V and B in single-port RAM (see :class:`~gammacore.rtl.net_core.NetCore`); None:
        when ``learning`` is False and the platform is an iCE40 UltraPlus
    learning, async_modes : which engines exist (the learning unit; the pending table and scan)

    Attributes
    ----------
    owner : the engine whose turn it is (:class:`Engine`), in
    violation : an engine other than ``owner`` enables a port this clock, out
    clients : engine -> its memory interface (:func:`client_signature`), to connect to the
        engine's flipped one
    memories : name -> the memory (after elaboration)
    """

    def __init__(self, capacity, *, spram=None, learning=True, async_modes=True):
        self.cap, self.spram, self.learning, self.async_modes = capacity, spram, learning, async_modes
        self.engines = [e for e in Engine if (e != Engine.LEARN or learning) and (e != Engine.SCAN or async_modes)]
        self.names = [n for n in OWNERSHIP if n != "PEND" or async_modes]
        super().__init__({"owner": wiring.In(Engine), "violation": Out(1)})
        self.clients = {e: client_signature(capacity, e, self.names).create(path=(f"mem_{e.name.lower()}",))
                        for e in self.engines}

    def elaborate(self, platform):
        m = Module()
        c = self.cap
        shapes = memory_shapes(c)
        NT = c.neurons

        # inference only on an iCE40 UltraPlus: W, V and B (read by the core, written only by
        # the host while idle, never both in one clock) in the SPRAM blocks; B after W in the
        # same blocks (W is read only in the event phases, B only in the neuron pass)
        use = (not self.learning and has_spram(platform)) if self.spram is None else self.spram
        spram = ["w", "v"] if use else []
        b_base = 1 << (c.synapses - 1).bit_length()
        if use and b_base + NT <= SPRAM_DEPTH:
            spram = ["wb", "v"]

        def mem(name, shape, depth):
            if name in spram and depth <= SPRAM_DEPTH:
                mm = SPRAMMemory(shape=shape, depth=depth)
            else:
                mm = ram(shape=shape, depth=depth)
            m.submodules[name] = mm
            return mm

        shared = {}
        if "wb" in spram:
            shared["WB"] = wb = mem("wb", signed(F.MASTER.width), b_base + NT)
            shared["W"] = ReadPort.Signature(addr_width=_bits(c.synapses), shape=signed(F.MASTER.width))
            shared["B"] = ReadPort.Signature(addr_width=_bits(NT), shape=signed(F.MASTER.width))
        mems = {}
        for name in self.names:
            if name in ("W", "B") and shared:
                mems[name] = wb
            else:
                mems[name] = mem("pend" if name == "PEND" else name.lower(), *shapes[name])
        self.memories = mems
        rd = {n: mm.read if isinstance(mm, SPRAMMemory) else read_port(m, mm, n.lower() + "_rd")
              for n, mm in mems.items()}
        wr = {n: mm.write if isinstance(mm, SPRAMMemory) else mm.write_port() for n, mm in mems.items()}
        if shared:
            # W at 0, B at b_base of one SPRAM memory: never both read (or written) in a clock
            for n in ("W", "B"):
                rd[n] = shared[n].create(path=(n.lower() + "_rd",))
                wr[n] = WritePort.Signature(addr_width=len(rd[n].addr), shape=signed(F.MASTER.width)).create(
                    path=(n.lower() + "_wr",))
            m.d.comb += [wb.read.en.eq(rd["W"].en | rd["B"].en),
                         wb.read.addr.eq(Mux(rd["B"].en, b_base + rd["B"].addr, rd["W"].addr)),
                         rd["W"].data.eq(wb.read.data), rd["B"].data.eq(wb.read.data),
                         wb.write.en.eq(wr["W"].en | wr["B"].en),
                         wb.write.addr.eq(Mux(wr["B"].en, b_base + wr["B"].addr, wr["W"].addr)),
                         wb.write.data.eq(Mux(wr["B"].en, wr["B"].data, wr["W"].data))]

        # each port to its owner of the moment; read data to every reader
        foreign = []
        for name in self.names:
            users = [(e, getattr(self.clients[e], name)) for e in self.engines if e in OWNERSHIP[name]]
            m.d.comb += [rd[name].en.eq(0)]
            for e, port in users:
                if hasattr(port, "rd"):
                    m.d.comb += port.rd.data.eq(rd[name].data)
            with m.Switch(self.owner):
                for e, port in users:
                    with m.Case(e):
                        if hasattr(port, "rd"):
                            m.d.comb += [rd[name].addr.eq(port.rd.addr), rd[name].en.eq(port.rd.en)]
                        if hasattr(port, "wr"):
                            m.d.comb += [wr[name].addr.eq(port.wr.addr), wr[name].data.eq(port.wr.data),
                                         wr[name].en.eq(port.wr.en)]
            for e, port in users:
                for kind in ("rd", "wr"):
                    if hasattr(port, kind):
                        foreign.append((self.owner != e) & getattr(port, kind).en.any())
        if foreign:
            m.d.comb += self.violation.eq(Cat(*foreign).any())
        return m


def ownership_check(memories):
    """Simulation check of a :class:`NetMemories` (elaborated): returns ``(process, found)``;
    the testbench coroutine ``process(ctx)`` appends ``(clock, owner)`` to ``found`` in every
    clock where ``violation`` is high (an engine used a port outside its phase)."""
    found = []

    async def process(ctx):
        clock = 0
        async for _, _, violation, owner in ctx.tick().sample(memories.violation, memories.owner):
            clock += 1
            if violation:
                found.append((clock, Engine(owner).name))
    return process, found
