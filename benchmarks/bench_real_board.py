"""The real-board prediction: training samples per second per board, from figures measured on
the simulated board in the same run.

    .venv/bin/python benchmarks/bench_real_board.py [--samples 16] [--usb-ms 1.0]

Measured (the simulated board: the SoC's RTL in Verilator behind a pty, UART divisor 4,
driven by host.link and host.driver as a real board is), per task (coincidence 2-128-2,
digits 8-128-10: the presets, fresh weights, the first ``--samples`` training samples, one
epoch at the preset's first learning rate) and per link window (4, the ULX3S's; 1, the
iCEBreaker's stop and wait), on two paths:

- ``autonomous``: :meth:`gammacore.host.driver.Chip.train` - whole samples on the chip's
  sample sequencer, its loss unit, two samples queued;
- ``host_errors``: the host's per-step loop (``gammacore demo --host-errors``: a step's
  events, STEP and output read; the host's float softmax errors; ERR and LEARN posted).

Per training sample: the chip's clocks (``CLOCKS`` over the run - on the autonomous path from
just after the first sample is queued to the last one's results read, so it also holds the
sequencer's own work between the core's commands, any clocks it waited for the host (two
queued samples keep it fed on the simulated board) and the last poll's latency; an upper
bound of the sequencer's clocks per sample - and ``BUSY_CLOCKS``, the network core's own clocks),
the host's round trips (exchanges whose last response the host waited for,
:meth:`gammacore.host.link.Link.stats`) and the bytes on the line each way (counted at the
transport). The autonomous path's ``SAMPLE_STATUS`` polls are counted apart: their number
depends on how fast the host is against the chip, so the model takes one poll per sample
(the least: the host finds the older sample done) and the rest are the host waiting. The
one-off learning-rate writes are left out.

The model, per board of boards/table.py (its default core clock ``f``, the UART rate its
default build really runs at - ``boards.flow.uart_divisor`` of the host's 3 Mbaud - and its
link window), with a USB round trip of ``--usb-ms`` (1 ms):

- link time per sample ``H = rt * usb + (bytes_in + bytes_out) * 10 / uart_baud`` (the two
  directions and the latency not overlapped: a conservative bound);
- ``autonomous``: the chip runs one sample while the host writes the next and reads the
  last one's results, so samples/s = 1 / max(clocks / f, H) with H of the sample's writes,
  its queueing, one poll and the results read; ``bound`` says which term wins;
- ``host_errors``: the host waits for every step's outputs, nothing overlaps:
  samples/s = 1 / (busy_clocks / f + H).

A board whose default build cannot train the preset (too small, or inference-only) gets its
reason in ``fits`` and the prediction under ``if_it_fitted`` (the same clocks and bytes at
that board's clock and UART; the network's clocks per step do not depend on the chip's
capacity in sync mode). Each board's clocks are measured at its default build's lanes (P = 2
on the 85F, 1 elsewhere) and link window. The autonomous path needs the sample sequencer: the
ULX3S 45F/85F default builds have it, the others would need ``gammacore build --samples``
(``fits`` says so).
Writes benchmarks/results/real_board.json.
"""
import argparse
import time

from _common import write

from gammacore import regmap as R
from gammacore.boards.flow import uart_divisor
from gammacore.boards.table import BOARDS
from gammacore.golden.network import make_network
from gammacore.golden.presets import preset
from gammacore.golden.presets import schedule as preset_schedule
from gammacore.golden.tasks import make_task
from gammacore.golden.train import Schedule
from gammacore.host.demo import run_sample
from gammacore.host.driver import Chip
from gammacore.host.link import Link
from gammacore.host.session import simulated_board
from gammacore.host.transport import open_transport

TASKS = ("coincidence", "digits")
CATEGORIES = ("sample", "poll", "shift")


class CountingTransport:
    """A transport that counts the bytes each way."""

    def __init__(self, inner):
        self.inner, self.out_bytes, self.in_bytes = inner, 0, 0

    @property
    def in_waiting(self):
        return getattr(self.inner, "in_waiting", 0)

    def write(self, data):
        self.out_bytes += len(data)
        return self.inner.write(data)

    def read(self, n):
        data = self.inner.read(n)
        self.in_bytes += len(data)
        return data


class MeteredLink:
    """The driver's link, with each call's round trips, commands and bytes tallied by what it
    is for: ``poll`` (a ``SAMPLE_STATUS`` read), ``shift`` (a write into the layer
    descriptors: the learning-rate shifts), ``sample`` (everything else)."""

    def __init__(self, link, transport):
        self.link, self.transport = link, transport
        self.reset()

    def reset(self):
        self.first_queued = None    # (BUSY_CLOCKS, CLOCKS) read just after the first SAMPLE_CTRL write
        self.tally = {c: {"calls": 0, "round_trips": 0, "commands": 0, "bytes_out": 0, "bytes_in": 0}
                      for c in CATEGORIES}

    def _metered(self, category, fn, *args):
        s0, o0, i0 = self.link.stats(), self.transport.out_bytes, self.transport.in_bytes
        out = fn(*args)
        s1 = self.link.stats()
        t = self.tally[category]
        t["calls"] += 1
        t["round_trips"] += s1["round_trips"] - s0["round_trips"]
        t["commands"] += s1["commands"] - s0["commands"]
        t["bytes_out"] += self.transport.out_bytes - o0
        t["bytes_in"] += self.transport.in_bytes - i0
        return out

    @staticmethod
    def _category(addr, write):
        if not write and addr == R.Reg.SAMPLE_STATUS:
            return "poll"
        if write and R.DESC_BASE <= addr < R.MEM_BASE:
            return "shift"
        return "sample"

    def read(self, addr, count, fixed=False):
        return self._metered(self._category(addr, False), self.link.read, addr, count, fixed)

    def write(self, addr, words, fixed=False):
        out = self._metered(self._category(addr, True), self.link.write, addr, words, fixed)
        if addr == R.Reg.SAMPLE_CTRL and self.first_queued is None:
            # the first sample runs from here: the clocks before (its words on the line) are not the chip's
            self.first_queued = tuple(int(w) for w in self.link.read(R.Reg.BUSY_CLOCKS, 2))
        return out

    def pipeline(self, ops):
        return self._metered("sample", self.link.pipeline, ops)

    def post(self, ops):
        return self._metered("sample", self.link.post, ops)

    def __getattr__(self, name):
        return getattr(self.link, name)


def lanes_of(b):
    """The lanes of board ``b``'s default build."""
    return b.options.get("lanes", 1)


def measure(board, task_name, path, window, n):
    """One run of ``n`` training samples on the simulated board; per-sample figures."""
    task = make_task(task_name, seed=0)
    cfg = preset(task_name, seed=0)
    transport = CountingTransport(open_transport(board.port))
    try:
        link = Link(transport, timeout=2.0, window=window)
        metered = MeteredLink(link, transport)
        chip = Chip(metered)
        chip.load(cfg, make_network(cfg, "fixed", batch=1).layers)
        chip.set_learning_shift(0)
        x, y, m = task.x_train[:n], task.y_train[:n], task.m_train[:n]
        metered.reset()                     # from here on
        busy0, clk0 = (int(w) for w in link.read(R.Reg.BUSY_CLOCKS, 2))
        t0 = time.perf_counter()
        if path == "autonomous":
            chip.train((x, y, m), schedule=Schedule(1, phases=1), seed=0)
        else:
            for i in range(n):
                run_sample(chip, x[i], m[i], y[i], learn=True)
        wall = time.perf_counter() - t0
        busy1, clk1 = (int(w) for w in link.read(R.Reg.BUSY_CLOCKS, 2))
        if metered.first_queued is not None:
            busy0, clk0 = metered.first_queued
        errors = link.stats()
    finally:
        transport.inner.close()
    busy, clocks = (busy1 - busy0) & 0xFFFFFFFF, (clk1 - clk0) & 0xFFFFFFFF
    tally = metered.tally
    s, p = tally["sample"], tally["poll"]
    per = {
        "clocks": clocks / n, "busy_clocks": busy / n, "busy_fraction": busy / clocks,
        "round_trips": s["round_trips"] / n, "commands": s["commands"] / n,
        "bytes_out": s["bytes_out"] / n, "bytes_in": s["bytes_in"] / n,
        "polls": p["calls"] / n,
    }
    if p["calls"]:
        per.update(poll_round_trips=p["round_trips"] / p["calls"], poll_bytes_out=p["bytes_out"] / p["calls"],
                   poll_bytes_in=p["bytes_in"] / p["calls"])
    return {"task": task_name, "path": path, "window": window, "samples": n, "steps_per_sample": int(task.steps),
            "loss_steps_per_sample": float(m.sum() / n), "wall_seconds": wall, "per_sample": per,
            "tally": tally, "link_retries": errors["retries"], "link_bad_frames": errors["bad_frames"]}


def predict(meas, core_clock, uart_baud, usb):
    """Samples per second on a board with ``core_clock`` Hz, ``uart_baud`` and a USB round trip
    of ``usb`` seconds, from a :func:`measure` result (the model in the module's docstring)."""
    per = meas["per_sample"]
    wire = 10 / uart_baud
    if meas["path"] == "autonomous":
        rt = per["round_trips"] + per["poll_round_trips"]
        nbytes = per["bytes_out"] + per["bytes_in"] + per["poll_bytes_out"] + per["poll_bytes_in"]
        host = rt * usb + nbytes * wire
        chip = per["clocks"] / core_clock
        t = max(chip, host)
        bound = "chip" if chip >= host else "link"
    else:
        rt = per["round_trips"]
        nbytes = per["bytes_out"] + per["bytes_in"]
        host = rt * usb + nbytes * wire
        chip = per["busy_clocks"] / core_clock
        t = chip + host
        bound = "link" if host >= chip else "chip"
    return {"samples_per_second": 1 / t, "seconds_per_sample": t, "chip_seconds": chip, "link_seconds": host,
            "round_trips": rt, "bytes": nbytes, "bound": bound}


def fits(board, cfg, path):
    """None if ``board``'s default build trains ``cfg`` on ``path``, else the reason."""
    try:
        board.size.capacity().check(cfg)
    except ValueError as exc:
        return f"the default build ({board.size.layers} x {board.size.neurons}) does not hold the preset: {exc}"
    if not board.options.get("learning", True):
        return "the default build is inference-only (no learning unit)"
    if path == "autonomous" and not board.options.get("samples", False):
        return "the default build has no sample sequencer (gammacore build --samples)"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=16, help="training samples measured per task and path (default 16)")
    ap.add_argument("--usb-ms", type=float, default=1.0, help="USB-serial round trip in ms (default 1.0)")
    args = ap.parse_args()
    if args.samples < 1:
        ap.error(f"--samples expects a positive number, not {args.samples}")
    if not args.usb_ms >= 0:
        ap.error(f"--usb-ms expects a non-negative number of milliseconds, not {args.usb_ms}")
    usb = args.usb_ms * 1e-3
    measured = {}
    # each (link window, lanes) of a board's default build, on a simulated board of those lanes
    for window, lanes in sorted({(b.link_window, lanes_of(b)) for b in BOARDS.values()}, reverse=True):
        with simulated_board(log=print, lanes=lanes) as board:
            for task_name in TASKS:
                for path in ("autonomous", "host_errors"):
                    meas = measure(board, task_name, path, window, args.samples)
                    meas["lanes"] = lanes
                    measured[(task_name, path, window, lanes)] = meas
                    print(task_name, path, f"window {window}, {lanes} lane(s)", meas["per_sample"], flush=True)
        print(board.stats)
    boards = {}
    for b in BOARDS.values():
        divisor, rate = uart_divisor(b.core_clock, b.host_baud)
        row = {"core_clock_hz": b.core_clock, "uart_baud": rate, "uart_divisor": divisor, "host_baud": b.host_baud,
               "link_window": b.link_window, "lanes": lanes_of(b), "default_size": f"{b.size.layers} x {b.size.neurons}",
               "tasks": {}}
        for task_name in TASKS:
            cfg = preset(task_name, seed=0)
            task = make_task(task_name, seed=0)
            sched = preset_schedule(task_name)
            t = {}
            for path in ("autonomous", "host_errors"):
                pred = predict(measured[(task_name, path, b.link_window, lanes_of(b))], b.core_clock, rate, usb)
                pred["preset_training_hours"] = sched.epochs * len(task.x_train) * pred["seconds_per_sample"] / 3600
                reason = fits(b, cfg, path)
                t[path] = {"fits": True if reason is None else reason,
                           ("prediction" if reason is None else "if_it_fitted"): pred}
            auto = t["autonomous"].get("prediction") or t["autonomous"]["if_it_fitted"]
            host = t["host_errors"].get("prediction") or t["host_errors"]["if_it_fitted"]
            t["speedup"] = auto["samples_per_second"] / host["samples_per_second"]
            t["preset"] = {"epochs": sched.epochs, "train_samples": int(len(task.x_train))}
            row["tasks"][task_name] = t
        boards[b.name] = row
    write("real_board", {
        "issue": 15,
        "what": "predicted training samples per second on each board (default core clock and UART, "
                f"{args.usb_ms} ms USB round trip), from clocks, round trips and bytes per sample measured "
                "on the simulated board in the same run",
        "command": f"python benchmarks/bench_real_board.py --samples {args.samples} --usb-ms {args.usb_ms}",
        "usb_round_trip_seconds": usb,
        "model": {
            "link_seconds": "round_trips * usb + (bytes_out + bytes_in) * 10 / uart_baud (no overlap: conservative)",
            "autonomous": "1 / max(clocks_per_sample / core_clock, link_seconds of the sample's writes, its "
                          "queueing, one SAMPLE_STATUS poll and its results read); needs the sample "
                          "sequencer (the 45F/85F default builds, or build --samples)",
            "host_errors": "1 / (busy_clocks_per_sample / core_clock + link_seconds of the per-step loop)",
        },
        "measured": [measured[k] for k in sorted(measured)],
        "boards": boards,
    })


if __name__ == "__main__":
    main()
