"""Host link: efficiency and input events per second through the UART at 3 Mbaud.

    .venv/bin/python benchmarks/bench_link.py

The whole :class:`gammacore.rtl.link.Link` (UART pins included) runs in amaranth.sim at a
12 MHz clock with divisor 4 (3 Mbaud), with gateware UARTs on the host side of its pins and
a bus target that acknowledges every request one clock after it sees it. The host streams
input events as fixed-address WRITEs of MAX_WORDS event words to the EVENT port, built with
gammacore.protocol, in two ways:

- ``stop_and_wait``: the next command is sent when the previous response has arrived (what
  gammacore.host.link.Link does), with zero host turnaround - a real host adds its own;
- ``pipelined``: commands back to back, the responses overlapping the next command.

Cycles are counted from the first start bit to the last response's delimiter. Figures:
efficiency = payload bytes per second / (baud / 10) (the UART's byte rate, so 1.0 means
every bit on the line is payload; ``efficiency_bound`` is payload / command wire bytes, the
framing's own limit), events per second = words written per second. Every
response is checked (OK, all words), and so is the bus log (every event written once, in order).
"""
import time

import numpy as np
from _common import write
from amaranth.sim import Simulator

from gammacore import protocol as P
from gammacore import regmap as R
from gammacore.sim.link_harness import PinHarness

CLOCK_HZ = 12_000_000
DIVISOR = 4
FRAMES = 4


def measure(pipelined, rng):
    events = [[R.event_word(int(s), int(q)) for s, q in zip(rng.integers(0, 256, P.MAX_WORDS),
                                                              rng.integers(1, 1 << 16, P.MAX_WORDS))]
              for _ in range(FRAMES)]
    wires = [P.write(k + 1, R.Reg.EVENT, words, P.Flags.FIXED) for k, words in enumerate(events)]
    dut = PinHarness(DIVISOR)
    responses, ends, written = [], [], []
    clock = [0]

    async def host_in(ctx):
        for k, wire in enumerate(wires):
            if not pipelined:
                while len(responses) < k:
                    await ctx.tick()
            for byte in wire:
                ctx.set(dut.host_tx.i.valid, 1)
                ctx.set(dut.host_tx.i.payload, byte)
                await ctx.tick().until(dut.host_tx.i.ready)
            ctx.set(dut.host_tx.i.valid, 0)

    async def host_out(ctx):
        ctx.set(dut.host_rx.o.ready, 1)
        buf = bytearray()
        while len(responses) < FRAMES:
            _, _, valid, byte = await ctx.tick().sample(dut.host_rx.o.valid, dut.host_rx.o.payload)
            clock[0] += 1
            if valid:
                if byte == 0:
                    responses.append(P.decode_response(P.unframe(bytes(buf))))
                    ends.append(clock[0])
                    buf.clear()
                else:
                    buf.append(byte)

    async def bus(ctx):
        bus = dut.link.bus
        while True:
            _, _, we, re, addr, data = await ctx.tick().sample(bus.we, bus.re, bus.addr, bus.w_data)
            if we or re:
                written.append((addr, data))
                ctx.set(bus.ack, 1)
                await ctx.tick()
                ctx.set(bus.ack, 0)

    sim = Simulator(dut)
    sim.add_clock(1 / CLOCK_HZ)
    sim.add_testbench(host_in)
    sim.add_testbench(host_out)
    sim.add_testbench(bus, background=True)
    t0 = time.perf_counter()
    sim.run()
    wall = time.perf_counter() - t0
    for k, resp in enumerate(responses):
        assert (resp.seq, resp.status, resp.done) == (k + 1, P.Status.OK, P.MAX_WORDS), resp
    assert written == [(R.Reg.EVENT, w) for words in events for w in words]
    cycles = ends[-1]
    payload = 4 * P.MAX_WORDS * FRAMES
    seconds = cycles / CLOCK_HZ
    return {
        "frames": FRAMES,
        "command_wire_bytes": len(wires[0]),
        "cycles": cycles,
        "payload_bytes": payload,
        "efficiency": payload / seconds / (CLOCK_HZ / DIVISOR / 10),
        "efficiency_bound": 4 * P.MAX_WORDS / len(wires[0]),
        "events_per_second": P.MAX_WORDS * FRAMES / seconds,
        "sim_wall_seconds": round(wall, 2),
    }


def main():
    rng = np.random.default_rng(0)
    results = {
        "clock_hz": CLOCK_HZ, "divisor": DIVISOR, "baud": CLOCK_HZ // DIVISOR,
        "words_per_frame": P.MAX_WORDS,
        "stop_and_wait": measure(False, rng),
        "pipelined": measure(True, rng),
    }
    write("link", results)


if __name__ == "__main__":
    main()
