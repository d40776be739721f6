"""The network core's memories, and which engine owns which port in which phase.

The core (:mod:`gammacore.rtl.net_core`) is a set of engines - the host's memory requests,
the event fan-out (:mod:`~gammacore.rtl.fanout`), the bucket and neuron passes
(:mod:`~gammacore.rtl.neuron_pass`), the learning unit (:mod:`~gammacore.rtl.learning`)
and the clear - run one at a time by the sequencer (:mod:`~gammacore.rtl.sequencer`). Each
memory has one synchronous read port and one write port. :data:`OWNERSHIP` says which
engine may use which port of which memory; the sequencer's phase (``owner``, an
:class:`Engine`) says whose turn it is, and :class:`NetMemories` connects that engine's
ports to the memories. Every engine's memory interface is built from the table
(:func:`client_signature`), so an engine has exactly the ports the table gives it.

**Lanes.** A core with P lanes (``lanes``, any P >= 1) banks the memories of
:data:`BANKED` by lane: P memories each, whose ports an engine sees as a list of P ports
(:func:`lane_ports`; with P = 1 the one port, as before lanes). Two arrangements:

- by the layer's own index (the fan-out's): neuron j of a layer in lane j mod P at local
  index j div P. Row j of a layer's W is in bank j mod P at :func:`lane_w_base` +
  (j div P) n_in + i; ``A_j`` at j div P; ``qin_i`` (``QIN``) in bank i mod P at i div P.
- by the chip-wide unit (the bucket and neuron passes'): the words (u, k) of neuron u =
  n_base + j (``Z``, ``V``) or input u = i_base + i (``TRACE``) in bank u mod P at
  (u div P) K + k (:func:`unit_word`). The passes walk rows of P consecutive units, one
  unit per lane; a row that a layer fills only in part has its other lanes idle.

Every block RAM of a laned core reads every clock, so no engine's enable logic reaches a
block RAM's clock enable (for Fmax: on the ECP5 85F those were the critical paths). The W
and TRACE banks (:data:`FREE_READ`, the ``free`` ports of
:func:`~gammacore.rtl.ram.read_port`) give their word in the clock after the read and never
hold it: every W and TRACE reader (the host, the fan-out, the bucket pass, the learning unit)
takes it then. The others hold their last enabled read after the block RAM
(``read_port``'s ``hold``), for the readers that take a word later.

**Traces by bucket.** With the learning unit (``learning``) every TRACE bank is split again
by bucket: K memories (:data:`K_BANKED`), the word (u, k) in memory k of its lane at
u div P. Every engine but the learning unit still sees one port per lane at the address
(u div P) K + k (the split decodes it); the learning unit's port reads the K words of one
input in one clock (:func:`client_signature`: a K-wide word, ``TRACE`` at u div P), so its
inner sum over k takes one clock. Without learning the traces are one memory per lane.

The per-neuron words of one word each (B, X, E, D, the pending table) are not banked: the
neuron pass reads and writes them once per neuron through one shared encoder, and a row
of P neurons takes max(K, P) clocks in the dendrite.

In the ``FUSED`` phase (the bucket pass feeding the neuron pass's dendrites) two engines
run at once, on disjoint memories: :data:`FUSED_SPLIT` names the owner of each.

``violation`` is high in any clock where an engine other than the owner enables a port
(a read or a write), or where the owner differs from the one the sequencer decodes from its
state (``owner_decoded``): the simulation benches watch it (:func:`ownership_check`) and it must
never rise. It drives nothing, so synthesis drops it.
"""
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, enum, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import Out

from ..golden import formats as F
from .ram import SplitMemory, ram, read_port, split_point
from .spram import SPRAM_DEPTH, SPRAMMemory, has_spram

__all__ = ["Engine", "OWNERSHIP", "FUSED_SPLIT", "BANKED", "K_BANKED", "wide_layout", "split_k", "NetMemories", "client_signature", "pending_layout", "memory_shapes",
           "ownership_check", "check_lanes", "lane_ports", "lane_w_base", "w_bank_depth", "unit_word", "lane_view",
           "split_unit_address", "lane_div", "lane_mod", "lane_add", "lane_sub", "lane_mul", "lane_unit", "const_mul", "is_pow2"]

#: a neuron's word in the pending table of the asynchronous modes
pending_layout = data.StructLayout({"pending": 1, "fired": 1, "key": 16})


class Engine(enum.Enum, shape=3):
    """The engines of the network core; one of them owns the memories at a time."""
    HOST = 0        # the host's memory requests (idle core)
    FANOUT = 1      # input events fanned out to the layer's neurons (idle core, forward events)
    BUCKETS = 2     # the bucket pass over Z and the input traces
    NEURONS = 3     # the neuron pass: dendrite, encoder, pending words
    LEARN = 4       # the learning unit
    CLEAR = 5       # zeroing every state word
    FUSED = 6       # the bucket pass feeding the neuron pass: each memory to the one that uses it (FUSED_SPLIT)


E = Engine
#: memory -> {engine: the ports it uses, "r" read, "w" write}; W and A are banked by lane
#: (:data:`BANKED`): an engine's entry gives it those ports of every bank
OWNERSHIP = {
    "W": {E.HOST: "rw", E.FANOUT: "r", E.LEARN: "rw"},
    "V": {E.HOST: "rw", E.BUCKETS: "r", E.NEURONS: "r", E.LEARN: "rw"},
    "B": {E.HOST: "rw", E.BUCKETS: "r", E.NEURONS: "r", E.LEARN: "rw"},
    "Z": {E.HOST: "r", E.FANOUT: "rw", E.BUCKETS: "rw", E.NEURONS: "r", E.LEARN: "r", E.CLEAR: "w"},
    "TRACE": {E.HOST: "r", E.FANOUT: "rw", E.BUCKETS: "rw", E.LEARN: "r", E.CLEAR: "w"},
    "X": {E.HOST: "r", E.NEURONS: "rw", E.LEARN: "r", E.CLEAR: "w"},
    "E": {E.HOST: "r", E.NEURONS: "rw", E.CLEAR: "w"},
    "D": {E.HOST: "r", E.NEURONS: "rw", E.CLEAR: "w"},
    "A": {E.FANOUT: "rw", E.BUCKETS: "rw", E.CLEAR: "w"},
    "QIN": {E.FANOUT: "rw", E.BUCKETS: "rw", E.CLEAR: "w"},
    "PEND": {E.NEURONS: "rw"},
}
#: in the FUSED phase (the bucket pass's new Z words go straight into the neuron pass's
#: dendrites, with the V and b words it reads for them): memory -> the engine that owns it
FUSED_SPLIT = {"Z": E.BUCKETS, "TRACE": E.BUCKETS, "A": E.BUCKETS, "QIN": E.BUCKETS, "V": E.BUCKETS,
               "B": E.BUCKETS, "X": E.NEURONS, "E": E.NEURONS, "D": E.NEURONS, "PEND": E.NEURONS}
#: the ports an engine has only when the core fuses the bucket and neuron passes (without
#: fusion the bucket pass reads no V and no b: :func:`engine_memories`)
FUSED_ONLY = {E.BUCKETS: ("V", "B")}
del E

#: the banked memories whose banks read every clock in a laned core (:func:`~gammacore.rtl.ram.read_port`'s
#: ``free``): their readers take the word in the clock after the read, never later
FREE_READ = ("W", "TRACE")
#: memory -> the engines that take a word in the clock after their read, never later: in a
#: laned core they are given the block RAM's output before the hold multiplexer (``read_port``'s
#: ``raw``; for Fmax: the 85F's critical path at 75 MHz ran from a V block RAM through the
#: hold multiplexer into the learning unit)
NEXT_CLOCK_READERS = {"V": (Engine.LEARN,), "Z": (Engine.LEARN, Engine.FANOUT), "A": (Engine.FANOUT,), "QIN": (Engine.FANOUT,)}
#: the memories banked by lane (P memories each; :func:`memory_shapes` gives one bank's depth)
BANKED = ("W", "A", "QIN", "Z", "V", "TRACE")
#: the banked memories of (unit, bucket) words, banked by the chip-wide unit (:func:`unit_word`)
UNIT_BANKED = ("Z", "V", "TRACE")
#: the memories also banked by bucket k in a core with learning (the learning unit reads the
#: K words of a unit in one clock): K memories per lane, word (u, k) at u div P in memory k
K_BANKED = ("TRACE",)


def _bits(n):
    return max(1, (n - 1).bit_length())


def check_lanes(lanes):
    """``lanes`` if it is a lane count the core can be built with (an int >= 1), else ValueError."""
    if not isinstance(lanes, int) or isinstance(lanes, bool) or lanes < 1:
        raise ValueError(f"lanes must be a whole number of at least 1 (1, 2, 3, 4, ...), not {lanes!r}")
    return lanes


def is_pow2(P):
    """Whether P is a power of two (its lane arithmetic is shifts and bit slices)."""
    return P & (P - 1) == 0


def _csd(c):
    """The canonical signed digits of c >= 0: [(shift, +1 or -1)], fewest non-zero digits."""
    digits, k = [], 0
    while c:
        if c & 1:
            d = 2 - (c & 3)                 # c mod 4 = 1: +1, 3: -1
            digits.append((k, d))
            c -= d
        c >>= 1
        k += 1
    return digits


def const_mul(x, c):
    """x c for a constant c >= 0, as a sum of shifted copies of x (:func:`_csd`): adders only.
    yosys maps a multiply by a constant like any other to the hard multipliers (a P = 3
    build of the 85F took 129 of its 156 MULT18X18D, 57 of them for the lane arithmetic's
    divisions); the shifted sum stays in the fabric."""
    x = Value.cast(x)
    if c == 0:
        return Const(0, 1)
    acc = None
    for k, d in sorted(_csd(c), key=lambda t: -t[1]):     # the positive digits first
        term = x << k
        acc = term if acc is None else (acc + term if d > 0 else acc - term)
    return acc


def lane_div(x, P):
    """x div P (``x`` a value, >= 0 where the result is used, or an int): a shift when P is a
    power of two, else a multiply by a constant (:func:`_div_const`, :func:`const_mul`)."""
    if isinstance(x, int):
        return x // P
    if is_pow2(P):
        return x >> (P.bit_length() - 1)
    x = Value.cast(x)
    if x.shape().signed:                # (a negative x's result is never used: any value will do)
        x = x.as_unsigned()
    M, S = _div_const(len(x), P)
    return (const_mul(x, M) >> S)[:len(x)]


def lane_mod(x, P):
    """x mod P (``x`` a value, >= 0 where the result is used): its low bits when P is a power
    of two, else x - (x div P) P; a value of range(P) (one bit when P = 1)."""
    if P == 1:
        return Const(0, 1)
    if is_pow2(P):
        return Value.cast(x)[:P.bit_length() - 1]
    x = Value.cast(x)
    if x.shape().signed:
        x = x.as_unsigned()
    return (x - const_mul(lane_div(x, P), P))[:(P - 1).bit_length()]


def lane_add(a, b, P):
    """(a + b) mod P for 0 <= a, b < P."""
    if P == 1:
        return Const(0, 1)
    if is_pow2(P):
        return (a + b)[:P.bit_length() - 1]
    s = a + b
    return Mux(s >= P, s - P, s)[:(P - 1).bit_length()]


def lane_sub(a, b, P):
    """(a - b) mod P for 0 <= a, b < P."""
    if P == 1:
        return Const(0, 1)
    if is_pow2(P):
        return (a - b)[:P.bit_length() - 1]
    return Mux(a >= b, a - b, a + P - b)[:(P - 1).bit_length()]


def lane_mul(row, P):
    """row P: a shift when P is a power of two, else shifted sums (:func:`const_mul`)."""
    return row << (P.bit_length() - 1) if is_pow2(P) else const_mul(row, P)


def lane_unit(row, lane, P):
    """The unit row P + ``lane`` (0 <= lane < P)."""
    return (row << (P.bit_length() - 1)) | lane if is_pow2(P) else const_mul(row, P) + lane


def w_bank_depth(cap, lanes):
    """Words of one W bank: every network that fits ``cap`` fits. Layer l's rows in a lane
    start at :func:`lane_w_base` B_l = (w_base + (P-1) i_base) div P; B_l+1 - B_l >=
    ceil(n_out/P) n_in, and the last layer ends below (synapses + (P-1) inputs) / P."""
    S, I = cap.synapses, cap.inputs
    return min(S, -(-(S + (lanes - 1) * I) // lanes))


def lane_w_base(w_base, i_base, lanes):
    """The first word of a layer's rows in each W bank (the layer's descriptor fields
    ``w_base`` and ``i_base``): (w_base + (P-1) i_base) div P."""
    if lanes == 1:
        return w_base
    if is_pow2(lanes):
        # (the P - 1 multiply as built and measured: power-of-two netlists stay as they were)
        return lane_div(w_base + (lanes - 1) * i_base, lanes)
    return lane_div(w_base + const_mul(i_base, lanes - 1), lanes)


def lane_ports(ports):
    """The per-lane ports (``lane0`` ..) of a banked memory's member as a list; one element,
    the member itself, when P = 1."""
    if not hasattr(ports, "lane0"):
        return [ports]
    return [getattr(ports, f"lane{p}") for p in range(len(ports.signature.members))]


def unit_word(unit, k, K, lanes):
    """(lane, local address) of word (``unit``, ``k``) of a memory of :data:`UNIT_BANKED`:
    bank unit mod P at (unit div P) K + k (with P = 1: lane 0, unit K + k)."""
    if lanes == 1:
        return Const(0, 1), unit * K + k
    return lane_mod(unit, lanes), lane_div(unit, lanes) * K + k


def _div_const(width, K):
    """(M, S): floor(a / K) = (a M) >> S for every 0 <= a < 2**width. With S = width +
    ceil(log2 K) and M = ceil(2**S / K), M K = 2**S + e (0 <= e < K), so a M / 2**S = a / K +
    a e / (K 2**S), and the second term is below 2**(width - S) <= 1 / K: it never carries
    a / K, whose fraction is at most (K - 1) / K, past the next integer (tests/test_rtl_net_core.py
    checks every a for small widths)."""
    if K & (K - 1) == 0:
        return 1, K.bit_length() - 1
    S = width + (K - 1).bit_length()
    M = -(-(1 << S) // K)
    return M, S


def split_unit_address(m, addr, K, lanes, name):
    """(lane, local) of the host's word address ``addr`` = unit K + k in a memory of
    :data:`UNIT_BANKED` (:func:`unit_word`): unit = addr div K by a constant multiply."""
    M, S = _div_const(len(addr), K)
    unit = Signal(len(addr), name=f"{name}_unit")
    m.d.comb += unit.eq((addr * M) >> S)
    k = Signal(range(K), name=f"{name}_k")
    m.d.comb += k.eq(addr - unit * K)
    return unit_word(unit, k, K, lanes)


def split_k(m, addr, K, name):
    """(row, k) of the word address ``addr`` = row K + k of a memory of :data:`K_BANKED`
    (bits for a power-of-two K, else row = addr div K by a constant multiply)."""
    if K & (K - 1) == 0:
        kb = K.bit_length() - 1
        return addr[kb:], (addr[:kb] if kb else Const(0, 1))
    M, S = _div_const(len(addr), K)
    row = Signal(len(addr), name=f"{name}_row")
    m.d.comb += row.eq((addr * M) >> S)
    k = Signal(range(K), name=f"{name}_k")
    m.d.comb += k.eq(addr - row * K)
    return row, k


def wide_layout(K):
    """The learning unit's TRACE word: the K traces of one input (k = 0 .. K-1)."""
    return data.ArrayLayout(signed(F.TRACE.width), K)


def lane_view(m, banks, name):
    """One port over the P ``banks`` of a banked memory (one engine's ports): returns
    ``(port, rd_lane, wr_lane)``; a read of ``port`` goes to bank ``rd_lane`` and its data
    comes from the bank last read (held between reads); a write goes to bank ``wr_lane``.
    With one bank: that bank's port, and constant lanes."""
    if len(banks) == 1:
        return banks[0], Signal(1, name=f"{name}_rd_lane"), Signal(1, name=f"{name}_wr_lane")
    P = len(banks)
    first = banks[0]
    members = {}
    if hasattr(first, "rd"):
        members["rd"] = Out(ReadPort.Signature(addr_width=len(first.rd.addr), shape=first.rd.data.shape()))
    if hasattr(first, "wr"):
        members["wr"] = Out(WritePort.Signature(addr_width=len(first.wr.addr), shape=first.wr.data.shape()))
    port = wiring.Signature(members).create(path=(name,))
    rd_lane, wr_lane = Signal(range(P), name=f"{name}_rd_lane"), Signal(range(P), name=f"{name}_wr_lane")
    if hasattr(first, "rd"):
        data_lane = Signal(range(P), name=f"{name}_data_lane")
        with m.If(port.rd.en):
            m.d.sync += data_lane.eq(rd_lane)
        m.d.comb += port.rd.data.eq(Array(b.rd.data for b in banks)[data_lane])
        for p, b in enumerate(banks):
            m.d.comb += [b.rd.addr.eq(port.rd.addr), b.rd.en.eq(port.rd.en & (rd_lane == p))]
    if hasattr(first, "wr"):
        for p, b in enumerate(banks):
            m.d.comb += [b.wr.addr.eq(port.wr.addr), b.wr.data.eq(port.wr.data),
                         b.wr.en.eq(port.wr.en & (wr_lane == p))]
    return port, rd_lane, wr_lane


def memory_shapes(cap, lanes=1):
    """memory name -> (shape, depth) for capacity ``cap``; the memories of :data:`BANKED`:
    the depth of one of the ``lanes`` banks."""
    NT, ML, K = cap.neurons, cap.max_layer, cap.buckets
    depth = cap.region_depths()         # the host's regions (gammacore.regmap.Region)
    if lanes > 1:
        depth = dict(depth, Z=-(-NT // lanes) * K, V=-(-NT // lanes) * K, TRACE=-(-cap.inputs // lanes) * K)
    return {"W": (signed(F.MASTER.width), w_bank_depth(cap, lanes)), "V": (signed(F.MASTER.width), depth["V"]),
            "B": (signed(F.MASTER.width), depth["B"]), "Z": (signed(F.Z.width), depth["Z"]),
            "TRACE": (signed(F.TRACE.width), depth["TRACE"]), "X": (signed(F.X.width), depth["X"]),
            "E": (signed(F.ENC.width), depth["E"]), "D": (signed(F.ADAPT.width), depth["D"]),
            "A": (signed(F.ACC.width), -(-ML // lanes)), "QIN": (unsigned(F.Q.width), -(-ML // lanes)), "PEND": (pending_layout, NT)}


def engine_memories(engine, fused=True, names=None):
    """The memories ``engine`` has ports of (:data:`OWNERSHIP`; ``names``: only these; without
    ``fused``: not those of :data:`FUSED_ONLY`)."""
    return [n for n, users in OWNERSHIP.items() if engine in users and (names is None or n in names)
            and (fused or n not in FUSED_ONLY.get(engine, ()))]


def client_signature(cap, engine, memories=None, lanes=1):
    """The memory interface of ``engine``: per memory it uses (:data:`OWNERSHIP`), ``rd``
    (a :class:`ReadPort.Signature`) and/or ``wr`` (a :class:`WritePort.Signature`), as the
    memory sees them; an engine takes it flipped (``In(client_signature(...))``).
    ``memories``: only these (default: every memory of the table). With ``lanes`` > 1 a
    memory of :data:`BANKED` has one such member per bank, ``lane0`` .. (:func:`lane_ports`)."""
    shapes = memory_shapes(cap, lanes)
    members = {}
    for name, users in OWNERSHIP.items():
        if engine not in users or (memories is not None and name not in memories):
            continue
        shape, depth = shapes[name]
        if name in K_BANKED and engine == Engine.LEARN:
            # the K words of one unit in one read: the memory's rows (depth / K)
            shape, depth = wide_layout(cap.buckets), depth // cap.buckets
        ports = {}
        if "r" in users[engine]:
            ports["rd"] = Out(ReadPort.Signature(addr_width=_bits(depth), shape=shape))
        if "w" in users[engine]:
            ports["wr"] = Out(WritePort.Signature(addr_width=_bits(depth), shape=shape))
        member = Out(wiring.Signature(ports))
        if name in BANKED and lanes > 1:
            member = Out(wiring.Signature({f"lane{p}": member for p in range(lanes)}))
        members[name] = member
    return wiring.Signature(members)


class NetMemories(wiring.Component):
    """The memories of the network core and the multiplexers that give their ports to the owner.

    Parameters
    ----------
    capacity : :class:`gammacore.regmap.Capacity`
    spram : W, V and B in single-port RAM (see :class:`~gammacore.rtl.net_core.NetCore`); None:
        when ``learning`` is False and the platform is an iCE40 UltraPlus
    learning, async_modes : which engines exist (the learning unit; the pending table - the
        asynchronous scheduler's scan reads a copy of its own, :mod:`~gammacore.rtl.async_scheduler`)
    lanes : P, the memories of :data:`BANKED` in P banks each
    fused : the core fuses the bucket and neuron passes (the FUSED phase; without it the
        bucket pass has no V and B ports, :data:`FUSED_ONLY`)
    write_registered : the names of memories whose write port is registered after the owner's
        multiplexer (for Fmax: the pending table's read-modify-write, block RAM out -> the new
        word -> block RAM in, is then two clocks). A word lands a clock after its engine wrote
        it, also when the phase has ended; no engine reads a word in the clock after writing it
        (the neuron pass reads neuron j + 1 while it writes j):
        such a read would meet the landing write, which :func:`~gammacore.rtl.ram.collision_check`
        (run by the whole-chip tests) reports.

    Attributes
    ----------
    owner : the engine whose turn it is (:class:`Engine`), in
    owner_decoded : the same as the sequencer decodes it from its state, in (``violation``
        also rises when the two differ: the sequencer's registered owner went astray)
    violation : an engine other than ``owner`` enables a port this clock, out
    clients : engine -> its memory interface (:func:`client_signature`), to connect to the
        engine's flipped one
    memories : name -> the memory (after elaboration: a :func:`~gammacore.rtl.ram.ram`, or a
        :class:`~gammacore.rtl.ram.SplitMemory` where its depth is just above a power of two, or
        an SPRAM one); a banked one with P > 1: the list of
        its P banks; one of :data:`K_BANKED` with learning: (per lane) the list of its K
        memories, one per bucket
    """

    def __init__(self, capacity, *, spram=None, learning=True, async_modes=True, lanes=1, fused=True,
                 write_registered=()):
        self.cap, self.spram, self.learning, self.async_modes = capacity, spram, learning, async_modes
        self.fused = fused
        self.write_registered = frozenset(write_registered)
        if unknown := self.write_registered - set(OWNERSHIP):
            raise ValueError(f"write_registered names {sorted(unknown)}, not memories of {sorted(OWNERSHIP)}")
        self.lanes = check_lanes(lanes)
        self.engines = [e for e in Engine if (e != Engine.LEARN or learning) and e != Engine.FUSED]
        self.names = [n for n in OWNERSHIP if n != "PEND" or async_modes]
        super().__init__({"owner": wiring.In(Engine), "owner_decoded": wiring.In(Engine), "violation": Out(1)})
        self.clients = {e: client_signature(capacity, e, engine_memories(e, fused, self.names), lanes).create(
                            path=(f"mem_{e.name.lower()}",))
                        for e in self.engines}

    def elaborate(self, platform):
        m = Module()
        c, P = self.cap, self.lanes
        shapes = memory_shapes(c, P)
        NT = c.neurons

        # inference only on an iCE40 UltraPlus: W, V and B (read by the core, written only by
        # the host while idle, never both in one clock) in the SPRAM blocks; B after W in the
        # same blocks (W is read only in the event phases, B only in the neuron pass; with one
        # lane only: with more, every W bank in its own blocks)
        use = (not self.learning and has_spram(platform)) if self.spram is None else self.spram
        spram = ["w", "v"] if use else []
        b_base = 1 << (c.synapses - 1).bit_length()
        if use and P == 1 and b_base + NT <= SPRAM_DEPTH:
            spram = ["wb", "v"]

        def mem(name, shape, depth, kind=None, free=False):
            if (kind or name) in spram and depth <= SPRAM_DEPTH:
                mm = SPRAMMemory(shape=shape, depth=depth)
            elif low := split_point(depth):
                mm = SplitMemory(shape=shape, depth=depth, low=low, free=free, hold=hold)
            else:
                mm = ram(shape=shape, depth=depth)
            m.submodules[name] = mm
            return mm

        def free(n):                            # its banks read every clock (FREE_READ)
            return n in FREE_READ and P > 1

        # a laned core's other block RAMs read every clock too, their reads held after them
        # (ram.read_port's hold)
        hold = P > 1

        # the physical memories: (name, lane) -> memory; lane None for an unbanked one
        units = [(n, p) for n in self.names for p in (range(P) if n in BANKED and P > 1 else [None])]

        def label(n, p):
            return ("pend" if n == "PEND" else n.lower()) + ("" if p is None else str(p))

        shared = {}
        if "wb" in spram:
            shared["WB"] = wb = mem("wb", signed(F.MASTER.width), b_base + NT)
            shared["W"] = ReadPort.Signature(addr_width=_bits(c.synapses), shape=signed(F.MASTER.width))
            shared["B"] = ReadPort.Signature(addr_width=_bits(NT), shape=signed(F.MASTER.width))
        # with learning, the memories of K_BANKED: K memories (one per bucket) per lane, behind
        # one port per lane at the word address (split_k) and the learning unit's K-wide port
        ksplit = [n for n in K_BANKED if self.learning and n in self.names]
        K = c.buckets
        mems, subs = {}, {}
        for n, p in units:
            if n in ksplit:
                shape, depth = shapes[n]
                subs[n, p] = [mem(f"{label(n, p)}_k{k}", shape, depth // K, kind=n.lower()) for k in range(K)]
            elif n in ("W", "B") and shared:
                mems[n, p] = wb
            else:
                mems[n, p] = mem(label(n, p), *shapes[n], kind=n.lower(), free=free(n))
        whole = {**mems, **subs}
        self.memories = {n: ([whole[n, p] for p in range(P)] if n in BANKED and P > 1 else whole[n, None])
                         for n in self.names}
        ported = (SPRAMMemory, SplitMemory)        # memories with their own read and write port
        rd = {(n, p): mm.read if isinstance(mm, ported) else read_port(m, mm, label(n, p) + "_rd", free=free(n), hold=hold)
              for (n, p), mm in mems.items()}
        wr = {(n, p): mm.write if isinstance(mm, ported) else mm.write_port() for (n, p), mm in mems.items()}
        for (n, p), port in list(wr.items()):
            if n in self.write_registered and not isinstance(mems[n, p], SPRAMMemory):
                # the owner's request, registered before the memory's write port
                wr[n, p] = req = WritePort.Signature(addr_width=len(port.addr), shape=port.data.shape()).create(
                    path=(label(n, p) + "_wr_req",))
                m.d.sync += [port.addr.eq(req.addr), port.data.eq(req.data), port.en.eq(req.en)]
        learn_owns = Signal()
        m.d.comb += learn_owns.eq(self.owner == Engine.LEARN)
        for (n, p), sub in subs.items():
            shape, depth = shapes[n]
            name = label(n, p)
            vr = rd[n, p] = ReadPort.Signature(addr_width=_bits(depth), shape=shape).create(path=(name + "_rd",))
            vw = wr[n, p] = WritePort.Signature(addr_width=_bits(depth), shape=shape).create(path=(name + "_wr",))
            wide = getattr(self.clients[Engine.LEARN], n)
            wide = wide.rd if p is None else lane_ports(wide)[p].rd
            row_r, k_r = split_k(m, vr.addr, K, name + "_rd")
            row_w, k_w = split_k(m, vw.addr, K, name + "_wr")
            k_held = Signal(range(K), name=name + "_k_held")
            with m.If(vr.en):
                m.d.sync += k_held.eq(k_r)
            sub_rd = [mm.read if isinstance(mm, ported) else read_port(m, mm, f"{name}_k{k}_rd", free=free(n), hold=hold)
                      for k, mm in enumerate(sub)]
            sub_wr = [mm.write if isinstance(mm, ported) else mm.write_port() for mm in sub]
            m.d.comb += vr.data.eq(Array(r.data for r in sub_rd)[k_held])
            for k, (r, w) in enumerate(zip(sub_rd, sub_wr)):
                m.d.comb += [r.addr.eq(Mux(learn_owns, wide.addr, row_r)),
                             r.en.eq(Mux(learn_owns, wide.en, vr.en & (k_r == k))),
                             wide.data[k].eq(r.data),
                             w.addr.eq(row_w), w.data.eq(vw.data), w.en.eq(vw.en & (k_w == k))]
        if shared:
            # W at 0, B at b_base of one SPRAM memory: never both read (or written) in a clock
            for n in ("W", "B"):
                rd[n, None] = shared[n].create(path=(n.lower() + "_rd",))
                wr[n, None] = WritePort.Signature(addr_width=len(rd[n, None].addr), shape=signed(F.MASTER.width)).create(
                    path=(n.lower() + "_wr",))
            rw, rb, ww, wbp = rd["W", None], rd["B", None], wr["W", None], wr["B", None]
            m.d.comb += [wb.read.en.eq(rw.en | rb.en),
                         wb.read.addr.eq(Mux(rb.en, b_base + rb.addr, rw.addr)),
                         rw.data.eq(wb.read.data), rb.data.eq(wb.read.data),
                         wb.write.en.eq(ww.en | wbp.en),
                         wb.write.addr.eq(Mux(wbp.en, b_base + wbp.addr, ww.addr)),
                         wb.write.data.eq(Mux(wbp.en, wbp.data, ww.data))]

        # each port to its owner of the moment; read data to every reader
        foreign = [self.owner != self.owner_decoded]
        for n, p in units:
            users = [(e, getattr(self.clients[e], n)) for e in self.engines
                     if n in engine_memories(e, self.fused, self.names)]
            if n in ksplit:
                # the learning unit's K-wide port goes to the K memories directly (above)
                wide = [port for e, port in users if e == Engine.LEARN]
                users = [(e, port) for e, port in users if e != Engine.LEARN]
                for port in wide:
                    port = port if p is None else lane_ports(port)[p]
                    foreign.append(~learn_owns & port.rd.en)
            if p is not None:
                users = [(e, lane_ports(port)[p]) for e, port in users]
            r, w = rd[n, p], wr[n, p]
            m.d.comb += [r.en.eq(0)]
            for e, port in users:
                if hasattr(port, "rd"):
                    raw = e in NEXT_CLOCK_READERS.get(n, ()) and getattr(r, "raw", None) is not None
                    m.d.comb += port.rd.data.eq(r.raw if raw else r.data)
            with m.Switch(self.owner):
                for e, port in users:
                    with m.Case(*([e, Engine.FUSED] if FUSED_SPLIT.get(n) == e else [e])):
                        if hasattr(port, "rd"):
                            m.d.comb += [r.addr.eq(port.rd.addr), r.en.eq(port.rd.en)]
                        if hasattr(port, "wr"):
                            m.d.comb += [w.addr.eq(port.wr.addr), w.data.eq(port.wr.data),
                                         w.en.eq(port.wr.en)]
            for e, port in users:
                for kind in ("rd", "wr"):
                    if hasattr(port, kind):
                        mine = self.owner == e
                        if FUSED_SPLIT.get(n) == e:
                            mine = mine | (self.owner == Engine.FUSED)
                        foreign.append(~mine & getattr(port, kind).en.any())
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
