"""Host link: efficiency and input events per second through the UART at 3 Mbaud, and the
window's effect on a training run on the simulated board.

    .venv/bin/python benchmarks/bench_link.py [--limit 20] [--epochs 1] [--no-demo]

The whole :class:`gammacore.rtl.link.Link` (UART pins included) runs in amaranth.sim at a
12 MHz clock with divisor 4 (3 Mbaud), with gateware UARTs on the host side of its pins and
a bus target that acknowledges every request one clock after it sees it. The host streams
input events as fixed-address WRITEs of MAX_WORDS event words to the EVENT port, built with
gammacore.protocol, in two ways:

- ``stop_and_wait``: the next command is sent when the previous response has arrived (what
  gammacore.host.link.Link does), with zero host turnaround - a real host adds its own;
- ``pipelined``: commands back to back, the responses overlapping the next command (as
  :class:`gammacore.host.link.Link` sends a window of them).

Cycles are counted from the first start bit to the last response's delimiter. Figures:
efficiency = payload bytes per second / (baud / 10) (the UART's byte rate, so 1.0 means
every bit on the line is payload; ``efficiency_bound`` is payload / command wire bytes, the
framing's own limit), events per second = words written per second. Every
response is checked (OK, all words), and so is the bus log (every event written once, in order).

``demo``: ``gammacore demo coincidence`` (``run_demo``: load, online training with a learning
pass per loss step, test, read-back; ``--limit`` train and test samples, ``--epochs``) on the
simulated board (the SoC's RTL in Verilator behind a pty, 4 clocks per UART bit), once with the
host's window capped at 1 (stop and wait: every transfer waits for its response, as before the
window) and once with the link's window; steps per second of the training and test loop, and
the host's commands and round trips (an exchange whose last response it waited for) per step.
Both runs must give the golden model's accuracy and weights.
"""
import argparse

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
    wires = [P.write(k, R.Reg.EVENT, words, P.Flags.FIXED) for k, words in enumerate(events)]
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
        assert (resp.seq, resp.status, resp.done) == (k, P.Status.OK, P.MAX_WORDS), resp
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


def demo(window, limit, epochs):
    """run_demo on the simulated board with the host's window capped at ``window``."""
    from gammacore.host.demo import run_demo
    from gammacore.host.driver import Chip
    from gammacore.host.link import Link
    from gammacore.host.session import simulated_board
    from gammacore.host.transport import open_transport
    with simulated_board(log=lambda msg: print(msg), lanes=1) as board:  # the boards' one lane
        transport = open_transport(board.port)
        try:
            link = Link(transport, timeout=2.0, window=window)
            rep = run_demo(Chip(link), "coincidence", epochs, limit, progress=False, log=lambda *a: None)
        finally:
            transport.close()
    assert rep["accuracy_equal"] and rep["weights_equal"], "the chip differs from the golden model"
    stats = link.stats()
    return {
        "window": link.window, "steps": rep["steps"], "steps_per_second": rep["steps_per_second"],
        "chip_wall_seconds": rep["chip_wall_seconds"], "load_seconds": rep["load_seconds"],
        "commands_per_step": stats["commands"] / rep["steps"],
        "round_trips_per_step": stats["round_trips"] / rep["steps"], "link": stats,
        "chip_test_accuracy": rep["chip_test_accuracy"], "accuracy_equal": rep["accuracy_equal"],
        "weights_equal": rep["weights_equal"], "board": board.stats,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=20, help="demo: train and test samples (default 20)")
    ap.add_argument("--epochs", type=int, default=1, help="demo: training epochs (default 1)")
    ap.add_argument("--no-demo", action="store_true", help="only the link-level figures")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    results = {
        "clock_hz": CLOCK_HZ, "divisor": DIVISOR, "baud": CLOCK_HZ // DIVISOR,
        "words_per_frame": P.MAX_WORDS, "window": P.WINDOW, "rx_buffer": P.RX_BUFFER,
        "stop_and_wait": measure(False, rng),
        "pipelined": measure(True, rng),
    }
    if not args.no_demo:
        results["demo"] = {"task": "coincidence", "limit": args.limit, "epochs": args.epochs,
                           "stop_and_wait": demo(1, args.limit, args.epochs),
                           "windowed": demo(None, args.limit, args.epochs)}
        sw, wd = results["demo"]["stop_and_wait"], results["demo"]["windowed"]
        results["demo"]["speedup"] = wd["steps_per_second"] / sw["steps_per_second"]
    write("link", results)


if __name__ == "__main__":
    main()
