"""Host side of the link: protocol encoding, Link retries and resync, transports, MmioWindow.

The link gateware is stood in for by :class:`test_rtl_link.LinkModel`, the byte-level
reference the RTL is tested against bit for bit, behind channels that drop, corrupt and add
bytes.
"""
import os
import socket
import struct
import threading
from collections import deque

import numpy as np
import pytest

from amaranth.back import verilog
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from gammacore import protocol as P
from gammacore.rtl.link import Link as LinkGateware
from gammacore.rtl.link_core import LinkCore
from gammacore.sim.board import SimulatedBoard, build
from gammacore.host.link import BusError, Link, LinkError, LinkTimeout
from gammacore.host.transport import MmioWindow, open_transport
from rtl_helpers import seeded
from test_rtl_link import LinkModel, Target, bus_target


# --- protocol --------------------------------------------------------------------------------

def test_crc16_check_value_and_residue():
    assert P.crc16(b"123456789") == 0x29B1          # CRC-16/CCITT-FALSE check value
    rng = seeded(1)
    for n in range(1, 50):
        data = bytes(rng.integers(0, 256, n, dtype="u1"))
        assert P.crc16(data + struct.pack(">H", P.crc16(data))) == 0


def test_cobs_round_trip_and_overhead():
    rng = seeded(2)
    sizes = list(range(0, 20)) + [253, 254, 255, 256, 507, 508, 509, 600]
    for n in sizes:
        for zeros in (0.0, 0.01, 0.5, 1.0):
            data = bytes(np.where(rng.random(n) < zeros, 0, rng.integers(1, 256, n)).astype("u1"))
            enc = P.cobs_encode(data)
            assert 0 not in enc, f"n={n}"
            assert P.cobs_decode(enc) == data, f"n={n} zeros={zeros}"
            assert len(enc) + 1 <= P.max_encoded_len(n)


@pytest.mark.parametrize("bad", [b"\x03\x01", b"\x02\x00\x01", b"\x05\x01\x02"])
def test_cobs_decode_rejects_malformed(bad):
    with pytest.raises(P.ProtocolError):
        P.cobs_decode(bad)


def test_commands_round_trip():
    rng = seeded(3)
    for _ in range(100):
        seq = int(rng.integers(0, 256))
        addr = int(rng.integers(0, 1 << 24))
        count = int(rng.integers(1, P.MAX_WORDS + 1))
        flags = int(rng.integers(0, 2))
        words = [int(w) for w in rng.integers(0, 1 << 32, count)]
        assert P.decode_command(P.unframe(P.write(seq, addr, words, flags))) == \
            (P.Opcode.WRITE, seq, addr, count, flags, words)
        assert P.decode_command(P.unframe(P.read(seq, addr, count, flags))) == \
            (P.Opcode.READ, seq, addr, count, flags, [])
        resp = P.Response(P.Opcode.READ, seq, P.Status.OK, count, words)
        assert P.decode_response(P.unframe(P.frame(P.encode_response(P.Opcode.READ, seq, P.Status.OK,
                                                                      count, words)))) == resp


@pytest.mark.parametrize("call, match", [
    (lambda: P.write(0, 1 << 24, [1]), "address"),
    (lambda: P.write(0, 0, []), "word count"),
    (lambda: P.read(0, 0, P.MAX_WORDS + 1), "word count"),
    (lambda: P.read(0, 0, 1, flags=2), "flags"),
    (lambda: P.write(256, 0, [1]), "seq"),
    (lambda: P.write(0, 0, [1 << 32]), "32-bit"),
])
def test_command_argument_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_unframe_rejects_bad_crc_and_runts():
    wire = bytearray(P.ping(3))
    wire[2] ^= 1
    with pytest.raises(P.ProtocolError, match="CRC"):
        P.unframe(wire)
    with pytest.raises(P.ProtocolError, match="at least 4"):
        P.unframe(P.cobs_encode(b"\x01\x02") + b"\x00")


def test_ping_info_word_round_trip():
    for window in (1, 2, 4, 16):
        for rx in (32, 512, 1024):
            for nxt in (0, 1, 255):
                info = P.ping_info(P.ping_info_word(window, rx, nxt))
                assert info == P.PingInfo(P.VERSION, P.MAX_WORDS, window, rx, nxt)
    assert P.ping_info(1 << 16 | 64) == P.PingInfo(1, 64, 1, 0, 0)      # a version 1 link
    with pytest.raises(ValueError, match="window must be a power of two"):
        P.ping_info_word(3, 512)
    with pytest.raises(ValueError, match="next_seq"):
        P.ping_info_word(4, 512, 256)


def test_link_refuses_a_version_1_gateware():
    class OldLink:
        def __init__(self):
            self.out = b""

        def write(self, data):
            for raw in data.split(b"\x00"):
                if raw:
                    seq = P.unframe(raw)[1]
                    self.out += P.frame(P.encode_response(P.Opcode.PING, seq, P.Status.OK, 1, [1 << 16 | 64]))

        def read(self, n):
            chunk, self.out = self.out[:n], self.out[n:]
            return chunk
    with pytest.raises(LinkError, match="protocol version 1, this host 2"):
        Link(OldLink(), timeout=0.01).ping()


# --- Link against the reference gateware model ----------------------------------------------

class Clock:
    """Simulated time: each read of an empty transport costs ``step`` seconds."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class ModelTransport:
    """The link gateware (reference model) behind a channel that drops, flips and adds bytes."""

    def __init__(self, rng, target, p_drop=0.0, p_flip=0.0, p_garbage=0.0):
        self.rng, self.model, self.clock = rng, LinkModel(target), Clock()
        self.p_drop, self.p_flip, self.p_garbage = p_drop, p_flip, p_garbage
        self.pending = bytearray()
        self.dead = False

    def _channel(self, data):
        out = bytearray()
        if self.rng.random() < self.p_garbage:
            out += bytes(self.rng.integers(0, 256, int(self.rng.integers(1, 30)), dtype="u1"))
        for b in data:
            r = self.rng.random()
            if r < self.p_drop:
                continue
            if r < self.p_drop + self.p_flip:
                b ^= 1 << int(self.rng.integers(0, 8))
            out.append(b)
        return out

    def write(self, data):
        if self.dead:
            return
        n = len(self.model.responses)
        self.model.feed(self._channel(data))
        for resp in self.model.responses[n:]:
            self.pending += self._channel(resp)

    def read(self, n):
        # bytes trickle in a few at a time; waiting for nothing costs time
        k = min(n, int(self.rng.integers(1, 64)), len(self.pending))
        if k == 0:
            self.clock.t += 0.01
        chunk = bytes(self.pending[:k])
        del self.pending[:k]
        return chunk


FIFO = 0x100


def exercise(link, rng, n_ops, fifo_log):
    """Random writes, FIFO writes and read-backs; returns the shadow memory."""
    shadow = {}
    for _ in range(n_ops):
        kind = rng.choice(["write", "fifo", "read"])
        addr = int(rng.integers(0x1000, 0x1100))
        count = int(rng.integers(1, 150))
        if kind == "write":
            words = [int(w) for w in rng.integers(0, 1 << 32, count)]
            link.write(addr, words)
            shadow.update({addr + i: w for i, w in enumerate(words)})
        elif kind == "fifo":
            words = [int(w) for w in rng.integers(0, 1 << 16, count)]
            link.write(FIFO, words, fixed=True)
            fifo_log.extend(words)
        else:
            got = link.read(addr, count)
            for i, w in enumerate(got):
                if addr + i in shadow:
                    assert w == shadow[addr + i]
    return shadow


class GatewareTransport(ModelTransport):
    """The LinkCore gateware in amaranth.sim (1 us clock) behind the same lossy channel.

    The simulation advances while the host waits for bytes, so the host code runs unchanged
    against the real gateware; its clock is the simulated time.
    """

    def __init__(self, rng, target, **channel):
        super().__init__(rng, target, **channel)
        self.dut = dut = LinkCore()
        self.to_dut, self.raw_out, self.cycles, self.replays = deque(), bytearray(), 0, 0
        self.clock = lambda: self.cycles * 1e-6

        async def feed(ctx):
            while True:
                if self.to_dut:
                    ctx.set(dut.i.valid, 1)
                    ctx.set(dut.i.payload, self.to_dut[0])
                    await ctx.tick().until(dut.i.ready)
                    self.to_dut.popleft()
                else:
                    ctx.set(dut.i.valid, 0)
                    await ctx.tick()

        async def drain(ctx):
            ctx.set(dut.o.ready, 1)
            while True:
                _, _, valid, byte, self.replays = await ctx.tick().sample(dut.o.valid, dut.o.payload,
                                                                          dut.replays)
                if valid:
                    self.raw_out.append(byte)

        async def bus(ctx):
            await bus_target(ctx, dut.bus, target, rng)

        self.sim = Simulator(dut)
        self.sim.add_clock(1e-6)
        for tb in (feed, drain, bus):
            self.sim.add_testbench(tb, background=True)

    def write(self, data):
        self.to_dut.extend(self._channel(data))

    def read(self, n):
        if not self.pending:
            self.cycles += 50
            self.sim.run_until(self.cycles * 1e-6)
            self.pending += self._channel(self.raw_out)
            self.raw_out.clear()
        k = min(n, len(self.pending))
        chunk = bytes(self.pending[:k])
        del self.pending[:k]
        return chunk


@pytest.mark.parametrize("seed", [0, 1])
def test_link_against_gateware_on_a_lossy_line(seed):
    """Host Link and LinkCore gateware end to end: retries replayed, no word written twice."""
    rng = seeded(seed)
    target = Target(set())
    transport = GatewareTransport(rng, target, p_drop=0.001, p_flip=0.001, p_garbage=0.01)
    link = Link(transport, timeout=0.003, retries=30, clock=transport.clock)
    assert link.ping() == (P.VERSION, P.MAX_WORDS)
    fifo, shadow = [], {}
    # batches of 12 operations until a lost response has been replayed (at most 4): whether
    # a loss hits a response depends on the gateware's clock-by-clock timing
    for batch in range(4):
        shadow.update(exercise(link, rng, 12, fifo))
        if transport.replays:
            break
    print(f"seed={seed}: {batch + 1} batches, {transport.replays} replays")
    msg = f"seed={seed}"
    assert {a: target.mem[a] for a in shadow} == shadow, msg
    assert [d for op, a, d, _ in target.log if op == "w" and a == FIFO] == fifo, msg
    assert link.stats()["retries"] > 0, f"{msg}: the channel damaged nothing"
    assert transport.replays > 0, f"{msg}: no lost response was retried"


@pytest.mark.parametrize("seed", range(4))
def test_link_retries_are_safe_on_a_lossy_line(seed):
    """Dropped, flipped and garbage bytes both ways: every word lands exactly once."""
    rng = seeded(seed)
    target = Target(set())
    transport = ModelTransport(rng, target, p_drop=0.0005, p_flip=0.0005, p_garbage=0.05)
    link = Link(transport, timeout=0.05, retries=30, clock=transport.clock)
    assert link.ping() == (P.VERSION, P.MAX_WORDS)
    fifo = []
    shadow = exercise(link, rng, 40, fifo)
    msg = f"seed={seed}"
    assert {a: target.mem[a] for a in shadow} == shadow, msg
    assert [d for op, a, d, _ in target.log if op == "w" and a == FIFO] == fifo, msg
    assert link.stats()["retries"] > 0, f"{msg}: the channel damaged nothing"
    assert transport.model.counters["replays"] > 0, f"{msg}: no lost response was retried"


def test_link_splits_long_transfers_and_reports_bus_errors():
    rng = seeded(7)
    target = Target({0x2000 + 2 * P.MAX_WORDS + 5})
    transport = ModelTransport(rng, target)
    link = Link(transport, timeout=0.05, clock=transport.clock)
    words = [int(w) for w in rng.integers(0, 1 << 32, 3 * P.MAX_WORDS)]
    with pytest.raises(BusError) as info:
        link.write(0x2000, words)
    assert info.value.done == 2 * P.MAX_WORDS + 5
    assert info.value.addr == 0x2000 + 2 * P.MAX_WORDS + 5
    assert link.read(0x2000, 2 * P.MAX_WORDS + 5) == words[:2 * P.MAX_WORDS + 5]
    frames = [op for op, *_ in target.log]
    assert len(frames) == 2 * (2 * P.MAX_WORDS + 5) + 1
    with pytest.raises(BusError, match="refused READ word 5"):
        link.read(0x2000 + 2 * P.MAX_WORDS, 10)


def test_link_timeout_then_recovery():
    rng = seeded(8)
    target = Target(set())
    transport = ModelTransport(rng, target)
    link = Link(transport, timeout=0.05, retries=2, clock=transport.clock)
    transport.dead = True
    with pytest.raises(LinkTimeout, match="after 3 attempts") as info:
        link.write(0x10, list(range(100)))
    assert info.value.done == 0 and target.log == []
    transport.dead = False
    link.write(0x10, [5, 6])
    assert link.read(0x10, 2) == [5, 6]


def test_link_drops_stale_and_garbage_responses():
    rng = seeded(9)
    target = Target(set())
    transport = ModelTransport(rng, target)
    link = Link(transport, timeout=0.05, clock=transport.clock)
    link.write(0x30, [1, 2, 3])
    transport.pending += P.frame(P.encode_response(P.Opcode.READ, 0, P.Status.OK, 1, [99]))
    transport.pending += b"\x12\x34\x00\xff\xfe"
    assert link.read(0x30, 3) == [1, 2, 3]
    assert link.stats()["stale"] + link.stats()["bad_frames"] >= 1


@pytest.mark.parametrize("kwargs, match", [({"timeout": 0}, "timeout"), ({"retries": -1}, "retries")])
def test_link_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Link(ModelTransport(seeded(0), Target(set())), **kwargs)
    link = Link(ModelTransport(seeded(0), Target(set())))
    with pytest.raises(ValueError, match="run past"):
        link.read((1 << 24) - 2, 3)
    with pytest.raises(ValueError, match="address"):
        link.write(-1, [0])


# --- the window: frames lost, duplicated, delayed (reordered), garbage --------------------------

class FrameChannel:
    """One direction of a line that loses, duplicates and delays (so reorders) whole frames and
    adds garbage between them; ``clock`` says when a delayed frame is let through."""

    def __init__(self, rng, clock, p_drop=0.0, p_dup=0.0, p_delay=0.0, p_garbage=0.0, max_delay=0.002):
        self.rng, self.clock = rng, clock
        self.p_drop, self.p_dup, self.p_delay, self.p_garbage = p_drop, p_dup, p_delay, p_garbage
        self.max_delay = max_delay
        self.partial, self.held = bytearray(), []
        self.counts = dict.fromkeys(("frames", "dropped", "duplicated", "delayed", "garbage"), 0)

    def __call__(self, data):
        self.partial += data
        out = bytearray()
        while 0 in self.partial:
            end = self.partial.index(0) + 1
            fr = bytes(self.partial[:end])
            del self.partial[:end]
            if fr == b"\x00":
                out += fr
                continue
            self.counts["frames"] += 1
            if self.rng.random() < self.p_garbage:
                self.counts["garbage"] += 1
                out += bytes(self.rng.integers(0, 256, int(self.rng.integers(1, 20)), dtype="u1"))
            r = self.rng.random()
            if r < self.p_drop:
                self.counts["dropped"] += 1
            elif r < self.p_drop + self.p_dup:
                self.counts["duplicated"] += 1
                out += fr + fr
            elif r < self.p_drop + self.p_dup + self.p_delay:
                self.counts["delayed"] += 1
                self.held.append((self.clock() + self.rng.uniform(0, self.max_delay), fr))
            else:
                out += fr
        now = self.clock()
        out += b"".join(fr for t, fr in self.held if t <= now)
        self.held = [(t, fr) for t, fr in self.held if t > now]
        return bytes(out)


class WindowModelTransport:
    """The windowed link's reference model behind two :class:`FrameChannel` s."""

    def __init__(self, rng, target, window=P.WINDOW, **channel):
        self.rng, self.clock = rng, Clock()
        self.model = LinkModel(target, window)
        self.up, self.down = FrameChannel(rng, self.clock, **channel), FrameChannel(rng, self.clock, **channel)
        self.pending = bytearray()

    def _feed(self, data):
        n = len(self.model.responses)
        self.model.feed(data)
        self.pending += self.down(b"".join(self.model.responses[n:]))

    def write(self, data):
        self._feed(self.up(data))

    def read(self, n):
        self._feed(self.up(b""))
        self.pending += self.down(b"")
        k = min(n, int(self.rng.integers(1, 64)), len(self.pending))
        if k == 0:
            self.clock.t += 0.0002
        chunk = bytes(self.pending[:k])
        del self.pending[:k]
        return chunk


class GatewareWindowTransport(GatewareTransport):
    """The LinkCore gateware (window :data:`~gammacore.protocol.WINDOW`) in amaranth.sim behind
    two :class:`FrameChannel` s."""

    def __init__(self, rng, target, **channel):
        super().__init__(rng, target)
        self.up, self.down = FrameChannel(rng, self.clock, **channel), FrameChannel(rng, self.clock, **channel)

    def write(self, data):
        self.to_dut.extend(self.up(data))

    def read(self, n):
        if not self.pending:
            self.cycles += 50
            self.sim.run_until(self.cycles * 1e-6)
            self.to_dut.extend(self.up(b""))
            self.pending += self.down(bytes(self.raw_out))
            self.raw_out.clear()
        k = min(n, len(self.pending))
        chunk = bytes(self.pending[:k])
        del self.pending[:k]
        return chunk


def hashed(addr):
    """What :class:`Target` reads at an address never written."""
    return (addr * 2654435761 + 12345) & 0xFFFFFFFF


def pipelines(link, rng, n, msg):
    """``n`` random pipelines of writes, FIFO writes and reads; each read checked against a
    shadow memory (in op order: a read sees the writes before it in its pipeline). Returns the
    bus accesses the target must have seen, in order, each once."""
    shadow, expected = {}, []
    for _ in range(n):
        ops, want = [], []
        for _ in range(int(rng.integers(1, 9))):
            kind = rng.choice(["write", "fifo", "read", "read"])
            addr = int(rng.integers(0x1000, 0x1100))
            count = int(rng.integers(1, 100)) if rng.random() < 0.7 else int(rng.integers(1, 4))
            if kind == "write":
                words = [int(w) for w in rng.integers(0, 1 << 32, count)]
                ops.append(("write", addr, words))
                shadow.update({addr + i: w for i, w in enumerate(words)})
                expected += [("w", addr + i, w, False) for i, w in enumerate(words)]
                want.append(None)
            elif kind == "fifo":
                words = [int(w) for w in rng.integers(0, 1 << 16, count)]
                ops.append(("write", FIFO, words, True))
                expected += [("w", FIFO, w, False) for w in words]
                want.append(None)
            else:
                ops.append(("read", addr, count))
                expected += [("r", addr + i, None, False) for i in range(count)]
                want.append([shadow.get(addr + i, hashed(addr + i)) for i in range(count)])
        assert link.pipeline(ops) == want, msg
    return expected


@pytest.mark.parametrize("seed", range(6))
def test_window_fuzz_against_the_model(seed):
    """Pipelines through a line that loses, duplicates, delays and reorders frames both ways
    and adds garbage: every command executed exactly once and in order, every response matched
    (the reference model of the windowed link)."""
    rng = seeded(100 + seed)
    target = Target(set())
    transport = WindowModelTransport(rng, target, p_drop=0.04, p_dup=0.04, p_delay=0.06, p_garbage=0.04)
    link = Link(transport, timeout=0.004, retries=40, clock=transport.clock)
    msg = f"seed={100 + seed}"
    expected = pipelines(link, rng, 25, msg)
    assert link.window == P.WINDOW, msg
    assert target.log == expected, f"{msg}: a command executed twice, never, or out of order"
    stats, counts = link.stats(), transport.model.counters
    assert stats["retries"] > 0 and stats["sequence"] > 0 and counts["replays"] > 0, f"{msg}: {stats} {counts}"
    both = {k: transport.up.counts[k] + transport.down.counts[k] for k in transport.up.counts}
    assert min(both.values()) > 0 and transport.up.counts["dropped"] > 0 and transport.down.counts["dropped"] > 0, \
        f"{msg}: {transport.up.counts} {transport.down.counts}"


@pytest.mark.parametrize("seed", [0, 1])
def test_window_fuzz_against_the_gateware(seed):
    """The same against the LinkCore gateware in amaranth.sim (window 4, its bus target
    answering with random latency)."""
    rng = seeded(200 + seed)
    target = Target(set())
    transport = GatewareWindowTransport(rng, target, p_drop=0.04, p_dup=0.04, p_delay=0.06, p_garbage=0.04)
    link = Link(transport, timeout=0.006, retries=40, clock=transport.clock)
    msg = f"seed={200 + seed}"
    expected = pipelines(link, rng, 8, msg)
    assert target.log == expected, f"{msg}: a command executed twice, never, or out of order"
    stats = link.stats()
    assert stats["retries"] > 0 and stats["sequence"] > 0 and transport.replays > 0, f"{msg}: {stats}"


def test_window_pipelines_without_a_round_trip():
    """On a clean line a pipeline is one round trip: the host sends a window of frames before
    the first response (and no more bytes than the link's receive buffer), then one frame per
    response."""
    rng = seeded(13)
    target = Target(set())
    transport = WindowModelTransport(rng, target)
    writes, frames, in_flight = [], [], []
    feed = transport.model.feed

    def counting_feed(data):
        # the frames the link has but has not answered yet: bytes after the oldest, how many
        if data:
            writes.append(len(data))
        frames.extend(len(f) + 1 for f in data.split(b"\x00")[:-1] if f)
        unanswered = frames[len(transport.model.responses):]
        in_flight.append((sum(unanswered[1:]), len(unanswered)))
        feed(data)
    transport.model.feed = counting_feed
    link = Link(transport, timeout=0.05, clock=transport.clock)
    words = [int(w) for w in rng.integers(0, 1 << 32, 10 * P.MAX_WORDS)]
    link.write(0x2000, words)
    assert link.stats()["round_trips"] == 2            # the PING, then the transfer
    # full frames: the oldest unanswered one and as many as the receive buffer holds
    assert max(n for _, n in in_flight) == 1 + P.RX_BUFFER // P.max_encoded_len(P.MAX_COMMAND_LEN)
    ranges = [(0x2000 + 60 * k, k + 1) for k in range(8)] + [(0x2000 + 9 * P.MAX_WORDS, P.MAX_WORDS)]
    assert link.read_many(ranges) == [words[a - 0x2000:a - 0x2000 + n] for a, n in ranges]
    assert link.stats()["round_trips"] == 3 and link.stats()["retries"] == 0
    # small frames: a window of them at once
    assert max(n for _, n in in_flight) == P.WINDOW
    assert max(b for b, _ in in_flight) <= P.RX_BUFFER


def test_window_of_one_is_stop_and_wait():
    """A version 2 link built with a window of 1 (the former engine) gets one frame at a time;
    so does any link when the host caps its window at 1."""
    rng = seeded(14)
    for gateware_window, host_window in ((1, None), (P.WINDOW, 1)):
        target = Target(set())
        transport = WindowModelTransport(rng, target, window=gateware_window)
        link = Link(transport, timeout=0.05, clock=transport.clock, window=host_window)
        link.write(0x10, list(range(3 * P.MAX_WORDS)))
        assert link.window == 1
        assert link.read(0x10, 3 * P.MAX_WORDS) == list(range(3 * P.MAX_WORDS))
        assert link.stats()["retries"] == 0
        assert link.stats()["round_trips"] == 1 + 3 + 3         # the PING, then one per frame


def test_pipeline_errors_name_the_transfer():
    rng = seeded(15)
    target = Target({0x105})
    link = Link(t := WindowModelTransport(rng, target), timeout=0.05, clock=t.clock)
    with pytest.raises(BusError) as info:
        link.pipeline([("write", 0x10, [1, 2]), ("read", 0x100, 8), ("write", 0x20, [3])])
    assert (info.value.index, info.value.done, info.value.addr) == (1, 5, 0x105)
    assert target.mem[0x20] == 3        # the transfer after it was sent and executed too
    with pytest.raises(ValueError, match="pipeline op 0"):
        link.pipeline([("erase", 0, 1)])
    with pytest.raises(ValueError, match="window"):
        Link(t, window=0)


# --- transports --------------------------------------------------------------------------------

def serve_model(read_some, write_all, stop, target):
    model = LinkModel(target)
    while not stop.is_set():
        data = read_some()
        if data is None:
            break
        n = len(model.responses)
        model.feed(data)
        for resp in model.responses[n:]:
            write_all(resp)


def test_socket_transport():
    target = Target({0x155})
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    stop = threading.Event()

    def run():
        conn, _ = server.accept()
        conn.settimeout(0.05)

        def read_some():
            try:
                data = conn.recv(4096)
                return data if data else None
            except TimeoutError:
                return b""
        serve_model(read_some, conn.sendall, stop, target)
        conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    port = open_transport(f"socket://127.0.0.1:{server.getsockname()[1]}")
    try:
        link = Link(port, timeout=2.0)
        assert link.ping() == (P.VERSION, P.MAX_WORDS)
        link.write(0x40, list(range(200)))
        assert link.read(0x40, 200) == list(range(200))
        with pytest.raises(BusError):
            link.read(0x150, 8)
    finally:
        port.close()
        stop.set()
        thread.join(5)
        server.close()


def test_pty_transport():
    target = Target(set())
    master, slave = os.openpty()
    path = os.ttyname(slave)
    stop = threading.Event()

    def read_some():
        import select
        ready, _, _ = select.select([master], [], [], 0.05)
        return os.read(master, 4096) if ready else b""

    def write_all(data):
        view = memoryview(data)
        while view:
            view = view[os.write(master, view):]

    thread = threading.Thread(target=serve_model, args=(read_some, write_all, stop, target), daemon=True)
    thread.start()
    port = open_transport(path)
    try:
        link = Link(port, timeout=2.0)
        words = [0, 0xFFFFFFFF, 0x00000100, 0x11223344] * 40
        link.write(0x800000, words)
        assert link.read(0x800000, len(words)) == words
        link.write(FIFO, [7, 8, 9], fixed=True)
        assert [d for op, a, d, _ in target.log if op == "w" and a == FIFO] == [7, 8, 9]
    finally:
        port.close()
        stop.set()
        thread.join(5)
        os.close(master)
        os.close(slave)


def test_open_transport_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot open transport"):
        open_transport(str(tmp_path / "no-such-tty"))
    with pytest.raises(ValueError, match="device path"):
        open_transport("")


# --- MmioWindow ------------------------------------------------------------------------------

def test_mmio_window(tmp_path):
    path = tmp_path / "bar0"
    rng = seeded(11)
    with MmioWindow(path, words=0x1000, create=True) as win:
        words = [int(w) for w in rng.integers(0, 1 << 32, 300)]
        win.write(0x100, words)
        assert win.read(0x100, 300) == words
        win.write(0x10, [1, 2, 3], fixed=True)
        assert win.read(0x10, 2, fixed=True) == [3, 3]
        assert win.read(0x11, 1) == [0]
        with pytest.raises(ValueError, match="outside the window"):
            win.read(0xFFF, 2)
        with pytest.raises(ValueError, match="outside the window"):
            win.write(0x1000, [1])
        with pytest.raises(ValueError, match="32-bit"):
            win.write(0, [-1])
    raw = path.read_bytes()
    assert struct.unpack_from("<I", raw, 4 * 0x100)[0] == words[0]     # little endian, word a at 4a
    with MmioWindow(path) as win:                                      # the size from the file
        assert win.words == 0x1000 and win.read(0x100, 300) == words


def test_mmio_window_errors(tmp_path):
    with pytest.raises(ValueError, match="no register window"):
        MmioWindow(tmp_path / "missing")
    with pytest.raises(ValueError, match="window size"):
        MmioWindow(tmp_path / "x", words=0, create=True)
    with pytest.raises(ValueError, match="needs its size"):
        MmioWindow(tmp_path / "y", create=True)


def test_link_error_types():
    assert issubclass(LinkTimeout, LinkError) and issubclass(BusError, LinkError)


# --- the Verilated link behind the simulated board's pty ------------------------------------

class RegisterBoard(wiring.Component):
    """Link and a 256-word register file (other addresses refused): a board top level."""
    rx: In(1, init=1)
    tx: Out(1, init=1)
    leds: Out(1)

    def elaborate(self, platform):
        m = Module()
        m.submodules.link = link = LinkGateware(4)
        m.submodules.mem = mem = Memory(shape=32, depth=256, init=[])
        wr, rd = mem.write_port(), mem.read_port(domain="comb")
        bus, acked = link.bus, Signal()
        m.d.comb += [link.rx.eq(self.rx), self.tx.eq(link.tx), self.leds.eq(link.busy),
                     wr.addr.eq(bus.addr), rd.addr.eq(bus.addr), wr.data.eq(bus.w_data)]
        with m.If((bus.we | bus.re) & ~acked):
            m.d.sync += [bus.ack.eq(1), bus.err.eq(bus.addr >= 256), bus.r_data.eq(rd.data),
                         acked.eq(1)]
            m.d.comb += wr.en.eq(bus.we & (bus.addr < 256))
        with m.Else():
            m.d.sync += [bus.ack.eq(0), bus.err.eq(0), acked.eq(0)]
        return m


def test_host_link_through_verilated_board_pty():
    """The host stack on a pty, the link's Verilog in Verilator at 4 clocks per bit."""
    exe = build(verilog.convert(RegisterBoard(), name="top"), jobs=1)
    rng = seeded(12)
    with SimulatedBoard(exe, 4) as board:
        port = open_transport(board.port)
        try:
            link = Link(port, timeout=2.0)
            assert link.ping() == (P.VERSION, P.MAX_WORDS)
            for _ in range(3):
                words = [int(w) for w in rng.integers(0, 1 << 32, 256)]
                link.write(0, words)
                assert link.read(0, 256) == words
            link.write(0x80, [1, 2, 3], fixed=True)
            assert link.read(0x80, 2, fixed=True) == [3, 3]
            with pytest.raises(BusError) as info:
                link.write(250, list(range(10)))
            assert info.value.done == 6 and link.read(250, 6) == list(range(6))
            assert link.stats()["retries"] == 0
        finally:
            port.close()


def test_posted_writes_go_out_without_a_round_trip():
    """post() sends and returns; the next transfer collects the posted answers first (in the
    same round trip as its own) and raises for a posted write that failed."""
    rng = seeded(16)
    target = Target({0x50})
    t = WindowModelTransport(rng, target)
    link = Link(t, timeout=0.05, clock=t.clock)
    link.write(0x10, [1])
    trips = link.stats()["round_trips"]
    link.post([("write", 0x20, [2, 3]), ("write", FIFO, [4, 5], True)])
    assert target.mem[0x21] == 3 and link.stats()["round_trips"] == trips + 1
    assert link.read(0x20, 2) == [2, 3]
    assert link.stats()["round_trips"] == trips + 1        # the read went out behind the posted writes
    link.post([("write", 0x40, [6])])
    link.post([("write", 0x4F, [7, 8, 9])])                # word 1 refused
    with pytest.raises(BusError, match="posted WRITE word 1") as info:
        link.read(0x40, 1)
    assert (info.value.index, info.value.addr) == (0, 0x50)
    link.post([("write", 0x60, [10])])
    link.flush()
    assert link.read(0x60, 1) == [10] and link.stats()["retries"] == 0
    assert [d for op, a, d, _ in target.log if op == "w" and a == FIFO] == [4, 5]
    with pytest.raises(ValueError, match="post op 0 must be \\('write'"):
        link.post([("read", 0x10, 1)])


@pytest.mark.parametrize("seed", range(3))
def test_posted_writes_on_a_lossy_line(seed):
    """Posts between pipelines through the lossy line: every command once, in order."""
    rng = seeded(300 + seed)
    target = Target(set())
    transport = WindowModelTransport(rng, target, p_drop=0.04, p_dup=0.04, p_delay=0.06, p_garbage=0.04)
    link = Link(transport, timeout=0.004, retries=40, clock=transport.clock)
    expected, fifo = [], []
    for k in range(30):
        words = [int(w) for w in rng.integers(0, 1 << 16, int(rng.integers(1, 80)))]
        link.post([("write", FIFO, words, True), ("write", 0x1000 + k, [k])])
        expected += [("w", FIFO, w, False) for w in words] + [("w", 0x1000 + k, k, False)]
        if rng.random() < 0.5:
            assert link.read(0x1000 + k, 1) == [k]
            expected.append(("r", 0x1000 + k, None, False))
    link.flush()
    assert target.log == expected, f"seed={300 + seed}"
    assert link.stats()["retries"] > 0, f"seed={300 + seed}"


@pytest.mark.parametrize("port, link_timeout, poll_timeout", [
    ("sim", 1.0, 10.0), ("sim-netlist:ulx3s-85f", 120.0, 120.0), ("/dev/ttyUSB9", 1.0, 10.0)])
def test_open_chip_waits_on_the_gate_level_board_as_long_as_for_a_response(monkeypatch, port, link_timeout,
                                                                           poll_timeout):
    """The driver's waits for a busy chip or sample slot are 10 s on a real board and the RTL
    board, and on the gate-level board (7 k clocks/s on the 85F: a ~52 k-clock coincidence
    sample took longer than 10 s on a loaded machine, `demo --port sim-netlist:ulx3s-85f`
    gave up with "sample slot 1 stayed busy for 10.0 s") as long as the link waits for a
    response. The boards and the port are stand-ins: only the waits are looked at."""
    import contextlib
    from gammacore.host import session, transport

    @contextlib.contextmanager
    def fake_board(log=None, netlist=None, **kw):
        yield type("Board", (), {"port": "/dev/pts/99", "divisor": 4})()

    class FakeTransport:
        def close(self):
            pass

    monkeypatch.setattr(session, "simulated_board", fake_board)
    monkeypatch.setattr(transport, "open_transport", lambda path, baudrate: FakeTransport())
    with session.open_chip(port) as (chip, info):
        assert chip.link.timeout == link_timeout and chip.poll_timeout == poll_timeout, (port, info)


@pytest.mark.parametrize("port, lanes, error", [
    ("sim", 8, None), ("sim", None, None),
    ("sim-netlist:ulx3s-85f", 4, "lanes=4: the gate-level board 'ulx3s-85f' has its default build's lanes"),
    ("/dev/ttyUSB9", 2, "lanes=2: only the simulated board ('sim') is built on request, not '/dev/ttyUSB9'")])
def test_open_chip_builds_the_simulated_board_with_the_lanes_asked_for(monkeypatch, port, lanes, error):
    """``open_chip("sim", lanes=P)`` builds the RTL board with P lanes (benchmarks compare
    them); a gate-level board or a real port has the lanes it was built with, and asking for
    others is an error that names the value, raised before any board is built or port opened."""
    import contextlib
    from gammacore.host import session, transport
    from gammacore.host.cli import CliError
    built = []

    @contextlib.contextmanager
    def fake_board(log=None, netlist=None, lanes=None, **kw):
        built.append(lanes)
        yield type("Board", (), {"port": "/dev/pts/99", "divisor": 4})()

    class FakeTransport:
        def close(self):
            pass

    opened = []
    monkeypatch.setattr(session, "simulated_board", fake_board)
    monkeypatch.setattr(transport, "open_transport", lambda path, baudrate: opened.append(path) or FakeTransport())
    if error is None:
        with session.open_chip(port, lanes=lanes):
            pass
        assert built == [lanes] and opened == ["/dev/pts/99"]
    else:
        with pytest.raises(CliError) as exc:
            with session.open_chip(port, lanes=lanes):
                pass
        assert str(exc.value) == error and built == [] and opened == []
