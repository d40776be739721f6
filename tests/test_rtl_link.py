"""The host link gateware against a byte-level reference model and a Python bus target.

Commands are built with :mod:`gammacore.protocol` (the host's own encoder). Every response
byte, every bus request (in order) and every counter is compared with :class:`LinkModel`, a
plain-Python statement of what the link must do with any byte sequence - including garbage,
truncated and oversized frames, bad CRCs, unknown opcodes and retried commands.
"""
import struct

import pytest
from amaranth.sim import Simulator

from gammacore import protocol as P
from gammacore.rtl import ram
from gammacore.rtl.link import COUNTERS
from gammacore.rtl.link_core import COUNTERS as CORE_COUNTERS, LinkCore
from gammacore.sim.link_harness import PinHarness
from rtl_helpers import receive, seeded, send

MASK = (1 << P.ADDR_BITS) - 1


class Target:
    """Bus target: word memory (unwritten words read a hash of their address), refused addresses."""

    def __init__(self, err_addrs):
        self.mem, self.err_addrs, self.log = {}, set(err_addrs), []

    def access(self, write, addr, data=0):
        """(err, read data) of one request; logs it."""
        err = addr in self.err_addrs
        self.log.append(("w" if write else "r", addr, data if write else None, err))
        if err:
            return True, 0
        if write:
            self.mem[addr] = data
            return False, 0
        return False, self.mem.get(addr, (addr * 2654435761 + 12345) & 0xFFFFFFFF)


class LinkModel:
    """What :class:`LinkCore` answers and does for a byte sequence (the protocol's reference),
    with a window of ``window`` commands and a receive buffer of ``rx_bytes`` (what PING names)."""

    def __init__(self, target, window=P.WINDOW, rx_bytes=P.RX_BUFFER):
        self.target, self.window, self.rx_bytes = target, window, rx_bytes
        self.counters = dict.fromkeys(CORE_COUNTERS, 0)
        self.remaining, self.zero_pending, self.frame = 0, False, bytearray()
        self.last, self.last_response = None, None
        self.expect, self.slots = 0, {}         # window > 1: the next seq, slot -> (key, response)
        self.responses = []
        self.executed = []                      # (opcode, seq) of every command executed

    def feed(self, data):
        for b in bytes(data):
            if b == 0:
                if self.remaining:
                    self.counters["cobs_errors"] += 1
                else:
                    self._end(bytes(self.frame))
                self.remaining, self.zero_pending, self.frame = 0, False, bytearray()
            elif self.remaining == 0:
                if self.zero_pending:
                    self.frame.append(0)
                self.remaining, self.zero_pending = b - 1, b != 255
            else:
                self.frame.append(b)
                self.remaining -= 1

    def _end(self, f):
        if not f:
            return
        if len(f) < 4 or P.crc16(f) != 0:
            self.counters["crc_errors"] += 1
            return
        length = min(len(f), P.MAX_COMMAND_LEN + 1)
        key = (f[0], f[1], length, f[-2:])
        self.counters["frames_ok"] += 1
        if self.window == 1:
            if key == self.last:
                self.counters["replays"] += 1
                self.responses.append(self.last_response)
                return
            self.last = key
        else:
            seq, slot = f[1], f[1] % self.window
            if f[0] != P.Opcode.PING:
                stored = self.slots.get(slot)
                if 1 <= (self.expect - seq) % 256 <= self.window and stored and stored[0] == key:
                    self.counters["replays"] += 1
                    self.responses.append(stored[1])
                    return
                if seq != self.expect:
                    self.responses.append(P.frame(P.encode_response(f[0], seq, P.Status.SEQUENCE, self.expect)))
                    return
        status, done, words = self._execute(f, length)
        if status == P.Status.OK and f[0] != P.Opcode.PING:
            self.executed.append((f[0], f[1]))
        if status == P.Status.BAD_OPCODE:
            self.counters["bad_opcodes"] += 1
        elif status in (P.Status.BAD_LENGTH, P.Status.BAD_FLAGS):
            self.counters["bad_lengths"] += 1
        elif status == P.Status.BUS_ERROR:
            self.counters["bus_errors"] += 1
        self.last_response = P.frame(P.encode_response(f[0], f[1], status, done, words))
        self.responses.append(self.last_response)
        if self.window > 1:
            if f[0] == P.Opcode.PING:
                if status == P.Status.OK:
                    self.slots.pop(self.expect % self.window, None)
            else:
                self.slots[f[1] % self.window] = (key, self.last_response)
                self.expect = (self.expect + 1) % 256

    def _execute(self, f, length):
        op = f[0]
        if op == P.Opcode.PING:
            if length != 4:
                return P.Status.BAD_LENGTH, 0, []
            return P.Status.OK, 1, [P.ping_info_word(self.window, self.rx_bytes, self.expect if self.window > 1 else 0)]
        if op not in (P.Opcode.WRITE, P.Opcode.READ):
            return P.Status.BAD_OPCODE, 0, []
        count = f[5] if len(f) > 5 else 0
        flags = f[6] if len(f) > 6 else 0
        n = count if op == P.Opcode.WRITE else 0
        if not (1 <= count <= P.MAX_WORDS and length <= P.MAX_COMMAND_LEN and length == 9 + 4 * n):
            return P.Status.BAD_LENGTH, 0, []
        if flags & ~int(P.Flags.FIXED):
            return P.Status.BAD_FLAGS, 0, []
        addr = int.from_bytes(f[2:5], "big")
        payload = struct.unpack(f">{n}I", f[7:7 + 4 * n])
        words = []
        for i in range(count):
            a = (addr + (0 if flags & 1 else i)) & MASK
            err, data = self.target.access(op == P.Opcode.WRITE, a, payload[i] if n else 0)
            if err:
                return P.Status.BUS_ERROR, i, words
            if op == P.Opcode.READ:
                words.append(data)
        return P.Status.OK, count, words


async def bus_target(ctx, bus, target, rng, max_latency=3):
    """Serve the link's bus requests from ``target`` with random ack latency."""
    while True:
        _, _, we, re, addr, w_data = await ctx.tick().sample(bus.we, bus.re, bus.addr, bus.w_data)
        if not (we or re):
            continue
        assert not (we and re)
        latency = int(rng.integers(0, max_latency + 1))
        if latency:
            await ctx.tick().repeat(latency)
        err, r_data = target.access(bool(we), addr, w_data)
        ctx.set(bus.ack, 1)
        ctx.set(bus.err, err)
        ctx.set(bus.r_data, r_data if not err else 0)
        await ctx.tick()
        ctx.set(bus.ack, 0)
        ctx.set(bus.err, 0)
        ctx.set(bus.r_data, 0)


# --- stimulus ------------------------------------------------------------------------------

BASES = [0x000010, 0x000100, 0x800000, 0xFFFFFE]


def random_words(rng, n):
    # many zero bytes (event-like words) and some all-random words
    return [int(rng.integers(0, 1 << 32)) if rng.random() < 0.5 else int(rng.integers(0, 1 << 12))
            for _ in range(n)]


def valid_command(rng, seq):
    kind = rng.choice(["ping", "write", "read", "write", "read"])
    if kind == "ping":
        return P.ping(seq)
    addr = int(rng.choice(BASES)) + int(rng.integers(0, 8))
    count = int(rng.integers(1, 9)) if rng.random() < 0.8 else int(rng.integers(1, P.MAX_WORDS + 1))
    addr = min(addr, MASK)
    flags = P.Flags.FIXED if rng.random() < 0.3 else 0
    if kind == "write":
        return P.write(seq, addr, random_words(rng, count), flags)
    return P.read(seq, addr, count, flags)


def bad_command(rng, seq):
    """A frame (or byte string) the link must refuse or ignore."""
    kind = rng.choice(["garbage", "truncated", "bad_crc", "oversized", "opcode", "count",
                       "length", "flags", "runt", "garbage_zeros", "long_garbage"])
    if kind == "garbage":
        return bytes(rng.integers(1, 256, int(rng.integers(1, 40)), dtype="u1"))
    if kind == "long_garbage":     # past MAX_COMMAND_LEN: the length counter saturates
        return bytes(rng.integers(1, 256, P.MAX_ENCODED_LEN + 40, dtype="u1"))
    if kind == "garbage_zeros":
        return bytes(rng.integers(0, 256, int(rng.integers(1, 40)), dtype="u1"))
    if kind == "truncated":
        wire = valid_command(rng, seq)
        return wire[:int(rng.integers(1, len(wire) - 1))]
    if kind == "bad_crc":
        payload = bytearray(P.unframe(valid_command(rng, seq)))
        data = bytearray(payload + struct.pack(">H", P.crc16(payload)))
        data[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
        return P.cobs_encode(data) + b"\x00"
    if kind == "oversized":
        n = int(rng.integers(P.MAX_WORDS + 1, P.MAX_WORDS + 4))
        body = struct.pack(">I", 0x100)[1:] + bytes([n & 0xFF, 0]) + bytes(4 * n)
        return P.frame(P.encode_command(P.Opcode.WRITE, seq, body))
    if kind == "opcode":
        op = int(rng.choice([0x00, 0x04, 0x7F, 0x81, 0xFF]))
        return P.frame(bytes([op, seq]) + bytes(rng.integers(0, 256, int(rng.integers(0, 12)), dtype="u1")))
    if kind == "count":
        count = int(rng.choice([0, P.MAX_WORDS + 1, 255]))
        return P.frame(P.encode_command(P.Opcode.READ, seq, bytes([0, 1, 0, count, 0])))
    if kind == "length":
        payload = bytearray(P.unframe(P.write(seq, 0x10, random_words(rng, 3))))
        payload = payload[:-int(rng.integers(1, 4))] if rng.random() < 0.5 else payload + b"\x01"
        return P.frame(payload)
    if kind == "flags":
        return P.frame(P.encode_command(P.Opcode.READ, seq, bytes([0, 0, 0x10, 2, int(rng.integers(2, 256))])))
    return P.frame(bytes([P.Opcode.PING]))[:-3] + b"\x00"   # runt: 1-3 decoded bytes


def stimulus(rng, n, p_bad, window=1):
    """Wire bytes of ``n`` items: valid commands (some retried) and bad ones.

    ``window`` > 1: a windowed host, its seqs from the link's ``expect`` (a shadow model's):
    retries of any of the last ``window`` commands, commands ahead of ``expect`` (a lost one
    before them), stale ones from far behind, and some in order."""
    if window > 1:
        return _windowed_stimulus(rng, n, p_bad, window)
    out = bytearray()
    seq = int(rng.integers(0, 256))
    previous = None
    for _ in range(n):
        r = rng.random()
        if r < p_bad:
            out += bad_command(rng, seq)
        elif previous is not None and r < p_bad + 0.15:
            out += b"\x00" + previous       # a retry: must be answered, not executed again
        else:
            seq = (seq + 1) % 256
            previous = valid_command(rng, seq)
            out += (b"\x00" if rng.random() < 0.5 else b"") + previous
    return bytes(out) + b"\x00" + P.ping((seq + 1) % 256)


def _windowed_stimulus(rng, n, p_bad, window):
    shadow = LinkModel(Target(set()), window)
    out = bytearray()
    sent = []
    for _ in range(n):
        r = rng.random()
        if r < p_bad:
            item = bad_command(rng, shadow.expect)
        elif sent and r < p_bad + 0.2:
            item = b"\x00" + sent[-int(rng.integers(1, min(len(sent), window + 2) + 1))]   # a retry (or stale)
        elif r < p_bad + 0.3:
            ahead = (shadow.expect + int(rng.integers(1, 256))) % 256     # out of order
            item = valid_command(rng, ahead)
        else:
            item = valid_command(rng, shadow.expect)
            if P.unframe(item)[0] != P.Opcode.PING:     # a PING is not stored: not retried
                sent.append(item)
        item = (b"\x00" if rng.random() < 0.3 else b"") + item
        shadow.feed(item)
        out += item
    return bytes(out) + b"\x00" + P.ping(int(rng.integers(0, 256)))


def err_addrs(rng):
    return {int(rng.choice(BASES)) + int(rng.integers(0, 12)) for _ in range(3)}


def run_core(seed, n, p_bad, window=1):
    rng = seeded(seed)
    errs = err_addrs(rng)
    wire = stimulus(rng, n, p_bad, window)
    depth = int(rng.integers(2, 40)) if window == 1 else int(rng.integers(2, 600))
    dut = LinkCore(rx_fifo_depth=depth, window=window)
    model = LinkModel(Target(errs), window, dut.rx_bytes)
    model.feed(wire)
    expected = b"".join(model.responses)
    target = Target(errs)
    got = []
    tail = []

    async def host_in(ctx):
        await send(ctx, dut.i, wire, rng, p_idle=0.2)

    async def host_out(ctx):
        got.extend(await receive(ctx, dut.o, len(expected), rng, p_stall=0.3))
        ctx.set(dut.o.ready, 1)
        for _ in range(200):
            _, _, valid, busy = await ctx.tick().sample(dut.o.valid, dut.busy)
            tail.append((valid, busy))
        tail.append({name: ctx.get(getattr(dut, name)) for name in CORE_COUNTERS})

    async def bus(ctx):
        await bus_target(ctx, dut.bus, target, rng)

    # the frame and response memories and the byte FIFOs: no word read and written in one
    # clock (synthesis leaves that undefined, gammacore.rtl.ram)
    sim, collisions, watched = ram.watched_simulator(dut)
    assert len(watched) >= 4
    sim.add_clock(1e-8)
    sim.add_testbench(host_in)
    sim.add_testbench(host_out)
    sim.add_testbench(bus, background=True)
    sim.run()
    msg = f"seed={seed}"
    assert collisions == [], f"{msg}: read/write collisions {collisions[:5]}"
    assert bytes(got) == expected, msg
    assert not any(v for v, _ in tail[:-1]), f"{msg}: extra response bytes"
    assert not tail[-2][1], f"{msg}: still busy"
    assert target.log == model.target.log, msg
    assert tail[-1] == model.counters, msg
    return model


@pytest.mark.parametrize("window", [1, P.WINDOW])
@pytest.mark.parametrize("seed", range(3))
def test_valid_commands_and_retries(seed, window):
    model = run_core(seed, 25, p_bad=0.0, window=window)
    assert model.counters["frames_ok"] == len(model.responses) and model.counters["crc_errors"] == 0
    assert model.counters["replays"] > 0, f"seed={seed}: no retry"
    if window > 1:
        statuses = [P.decode_response(P.unframe(r)).status for r in model.responses]
        assert P.Status.SEQUENCE in statuses and len(model.executed) > 5, f"seed={seed}"


@pytest.mark.parametrize("window", [1, P.WINDOW])
@pytest.mark.parametrize("seed", range(10, 16))
def test_fuzz_bad_frames_change_nothing(seed, window):
    model = run_core(seed, 40, p_bad=0.5, window=window)
    bad = sum(model.counters[k] for k in ("crc_errors", "cobs_errors", "bad_opcodes", "bad_lengths"))
    assert bad > 0, f"seed={seed}: the fuzz exercised nothing"


@pytest.mark.parametrize("window", [2, 8])
def test_other_windows(window):
    run_core(20 + window, 40, p_bad=0.2, window=window)


def test_fuzz_alone_then_ping():
    """Only bad frames (and garbage): the bus is never touched, then a ping is answered."""
    rng = seeded(99)
    wire = b"".join(bad_command(rng, 7) for _ in range(40)) + b"\x00" + P.ping(8)
    model = LinkModel(Target(set()))
    model.feed(wire)
    assert model.target.log == []
    info = P.ping_info(P.decode_response(P.unframe(model.responses[-1])).words[0])
    assert info == P.PingInfo(P.VERSION, P.MAX_WORDS, P.WINDOW, P.RX_BUFFER, model.expect)


def test_long_transfers_exercise_cobs_blocks():
    """Full-size frames of non-zero bytes: 254-byte COBS blocks both ways."""
    rng = seeded(5)
    words = [int(w) | 0x01010101 for w in rng.integers(0, 1 << 32, P.MAX_WORDS)]
    wire = P.write(0, 0x800000, words) + P.read(1, 0x800000, P.MAX_WORDS) + P.read(1, 0x800000, P.MAX_WORDS)
    model = LinkModel(Target(set()))
    model.feed(wire)
    assert P.decode_response(P.unframe(model.responses[1])).words == words
    errs = set()
    target = Target(errs)
    dut = LinkCore()
    got = []
    expected = b"".join(model.responses)

    async def host_in(ctx):
        await send(ctx, dut.i, wire, rng, p_idle=0.0)

    async def host_out(ctx):
        got.extend(await receive(ctx, dut.o, len(expected), rng, p_stall=0.0))

    async def bus(ctx):
        await bus_target(ctx, dut.bus, target, rng, max_latency=0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(host_in)
    sim.add_testbench(host_out)
    sim.add_testbench(bus, background=True)
    sim.run()
    assert bytes(got) == expected
    assert target.log == model.target.log


@pytest.mark.parametrize("seed", [0, 1])
def test_pin_level(seed):
    rng = seeded(seed)
    divisor = int(rng.integers(4, 7))
    errs = {0x12}
    wire = bytearray()
    ping = P.ping(1)
    write = P.write(0, 0x10, random_words(rng, 4), P.Flags.FIXED if seed else 0)
    payload = bytearray(P.unframe(write))
    good_crc = struct.pack(">H", P.crc16(payload))
    payload[9] ^= 0x40
    corrupt = P.cobs_encode(payload + good_crc) + b"\x00"
    wire += ping + bytes(corrupt) + write + write + P.read(1, 0x0F, 4) + b"\x13\x37" + b"\x00" + P.ping(4)
    model = LinkModel(Target(errs))
    model.feed(wire)
    expected = b"".join(model.responses)
    target = Target(errs)
    dut = PinHarness(divisor)
    got, counters = [], []

    async def host_in(ctx):
        await send(ctx, dut.host_tx.i, wire, rng, p_idle=0.1)

    async def host_out(ctx):
        got.extend(await receive(ctx, dut.host_rx.o, len(expected), rng, p_stall=0.0))
        await ctx.tick().repeat(20 * divisor)
        counters.append({name: ctx.get(getattr(dut.link, name)) for name in COUNTERS})

    async def bus(ctx):
        await bus_target(ctx, dut.link.bus, target, rng)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(host_in)
    sim.add_testbench(host_out)
    sim.add_testbench(bus, background=True)
    sim.run()
    msg = f"seed={seed} divisor={divisor}"
    assert bytes(got) == expected, msg
    assert target.log == model.target.log, msg
    assert counters == [dict(model.counters, framing_errors=0, overruns=0)], msg
    assert (model.counters["replays"], model.counters["crc_errors"], model.counters["cobs_errors"],
            model.counters["bus_errors"]) == (1, 1, 1, 1 if seed else 2), msg


@pytest.mark.parametrize("depth", [1, 0, "8"])
def test_bad_fifo_depth(depth):
    with pytest.raises(ValueError, match="rx_fifo_depth"):
        LinkCore(depth)


@pytest.mark.parametrize("window", [0, 3, 32, True, 2.0])
def test_bad_window(window):
    with pytest.raises(ValueError, match="window must be a power of two in 1..16"):
        LinkCore(window=window)


def test_window_defaults():
    """A windowed link buffers the window's frames (RX_BUFFER bytes) and PING names it; the
    stop-and-wait engine keeps the former 32-byte FIFO."""
    assert (LinkCore().window, LinkCore().rx_fifo_depth, LinkCore().rx_bytes) == (P.WINDOW, P.RX_BUFFER, P.RX_BUFFER)
    assert (LinkCore(window=1).rx_fifo_depth, LinkCore(40, 1).rx_bytes) == (32, 32)
