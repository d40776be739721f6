"""Learning throughput: training samples per second on each board's chip against the golden model on this CPU.

    .venv/bin/python benchmarks/bench_throughput.py [--samples 16] [--lanes 1,4] [--golden-samples 100]

Issue 14 asks for the learning throughput of the digits and coincidence presets in training
samples per second at each board's default build and clock, side by side with the golden
model's online training (batch 1, float and fixed point) on this machine's CPU, measured in
the same run. Measured here:

- **chip**: the chip's clocks per training sample on the simulated board (the SoC's RTL in
  Verilator, the autonomous path: :meth:`gammacore.host.driver.Chip.train`, whole samples on
  the sample sequencer and its loss unit, two queued; ``bench_real_board.measure``), the
  first ``--samples`` training samples of each preset, fresh weights, one epoch at the
  preset's first rate, for each lane count of ``--lanes``. ``CLOCKS`` counts from the first
  sample queued to the last one's results, so it holds the sequencer's own work too;
- **golden**: :mod:`gammacore.golden.train`'s online loop (a sample's steps, the host's
  softmax error and an update at every loss step, batch 1) on the first ``--golden-samples``
  training samples, wall time of the loop alone (no evaluation), float and fixed point.

Per board (boards/table.py) and lane count: ``chip_samples_per_second`` = core clock / clocks
per sample, the chip's compute bound (the link is left out: ``bench_real_board.py`` gives
the link-bound figure, about 139-189 samples/s on a real board with a 1 ms USB round trip),
and its ratio to the golden float and fixed-point rates. Only the default lane count (1)
is a built board; P = 4 is the simulated core's figure at the board's clock, for what a
laned build would do if it met that clock. Writes benchmarks/results/throughput.json.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import write  # noqa: E402
from bench_real_board import measure  # noqa: E402

from gammacore.boards.table import BOARDS  # noqa: E402
from gammacore.golden import formats as F  # noqa: E402
from gammacore.golden.loss import softmax_ce  # noqa: E402
from gammacore.golden.network import make_network  # noqa: E402
from gammacore.golden.presets import preset  # noqa: E402
from gammacore.golden.presets import schedule as preset_schedule  # noqa: E402
from gammacore.golden.tasks import make_task  # noqa: E402
from gammacore.host.session import simulated_board  # noqa: E402

TASKS = ("coincidence", "digits")


def golden_rate(task_name, model, n):
    """Training samples per second of the golden model's online loop, batch 1 (the loop of
    golden.train.train_many with one member, timed without its evaluations)."""
    task = make_task(task_name, seed=0)
    cfg = preset(task_name, seed=0)
    net = make_network(cfg, model, batch=1, members=True, params=None)
    shift = preset_schedule(task_name).change_at(0, len(task.x_train))
    net.set_learning_shift(np.array([0 if shift is None else shift], dtype=np.int64))
    x, y, m = task.x_train[:n], task.y_train[:n], task.m_train[:n]
    t0 = time.perf_counter()
    for i in range(n):
        net.reset()
        xb = x[i][:, None, :]
        xb = F.Q.from_float(xb) if model == "fixed" else xb
        for t in range(xb.shape[0]):
            out = net.step_quantized(xb[t])
            if m[i, t]:
                _, err = softmax_ce(out, np.array([y[i]]))
                net.learn(err)
    wall = time.perf_counter() - t0
    return {"task": task_name, "model": model, "samples": n, "wall_seconds": wall, "samples_per_second": n / wall}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="example: %(prog)s --samples 16 --lanes 1,4")
    ap.add_argument("--samples", type=int, default=16, help="training samples per task on the chip (default 16)")
    ap.add_argument("--golden-samples", type=int, default=100, help="training samples per task and model in the golden "
                                                                    "model (default 100)")
    ap.add_argument("--lanes", default="1,4", help="lane counts of the simulated chip (default 1,4)")
    ap.add_argument("--name", default="throughput", help="results/<name>.json (default throughput)")
    args = ap.parse_args()
    for opt in ("samples", "golden_samples"):
        if getattr(args, opt) < 1:
            ap.error(f"--{opt.replace('_', '-')} expects a positive number, not {getattr(args, opt)}")
    try:
        lanes = sorted({int(p) for p in args.lanes.split(",")})
    except ValueError:
        ap.error(f"--lanes expects powers of two separated by commas, e.g. 1,4, not {args.lanes!r}")
    if any(p < 1 or p & (p - 1) for p in lanes):
        ap.error(f"--lanes expects powers of two, not {args.lanes!r}")
    golden = {}
    for task_name in TASKS:
        for model in ("float", "fixed"):
            g = golden_rate(task_name, model, args.golden_samples)
            golden[(task_name, model)] = g
            print(f"golden {model} {task_name}: {g['samples_per_second']:.1f} samples/s", flush=True)
    chip = {}
    for p in lanes:
        with simulated_board(log=print, lanes=p) as board:
            for task_name in TASKS:
                meas = measure(board, task_name, "autonomous", 4, args.samples)
                chip[(task_name, p)] = meas
                print(f"chip P={p} {task_name}: {meas['per_sample']['clocks']:.0f} clocks per sample "
                      f"(core busy {meas['per_sample']['busy_fraction']:.1%})", flush=True)
    boards = {}
    for b in BOARDS.values():
        row = {"core_clock_hz": b.core_clock, "default_lanes": b.options.get("lanes", 1), "tasks": {}}
        for task_name in TASKS:
            t = {}
            for p in lanes:
                clocks = chip[(task_name, p)]["per_sample"]["clocks"]
                rate = b.core_clock / clocks
                t[f"lanes_{p}"] = {
                    "clocks_per_sample": clocks, "chip_samples_per_second": rate,
                    "vs_golden_float": rate / golden[(task_name, "float")]["samples_per_second"],
                    "vs_golden_fixed": rate / golden[(task_name, "fixed")]["samples_per_second"],
                    "built": p == row["default_lanes"]}
            row["tasks"][task_name] = t
        boards[b.name] = row
        print(b.name, {k: {lk: round(lv["chip_samples_per_second"], 1) for lk, lv in v.items()}
                       for k, v in row["tasks"].items()}, flush=True)
    write(args.name, {
        "issue": 14,
        "what": "training samples per second: the chip's compute bound at each board's core clock (clocks per "
                "sample from the simulated board) against the golden model's online loop on this CPU, same run",
        "command": f"python benchmarks/bench_throughput.py --samples {args.samples} --golden-samples "
                   f"{args.golden_samples} --lanes {','.join(map(str, lanes))}",
        "golden": list(golden.values()),
        "chip": [dict(v, lanes=p) for (_, p), v in sorted(chip.items(), key=lambda kv: (kv[0][1], kv[0][0]))],
        "boards": boards,
    })


if __name__ == "__main__":
    main()
