"""Simulated board: clock cycles per second, and the wall time of the on-chip demos.

    .venv/bin/python benchmarks/bench_board_sim.py [--digits-limit 200] [--digits-epochs 1]
    .venv/bin/python benchmarks/bench_board_sim.py --lanes 1 2 4 8 [--samples 40]

The simulated board is the SoC (UART link + chip, capacity SIM_CAPACITY) Verilated with the
native harness of sim/board_harness.cpp behind a pty, driven through pyserial like a real
board (UART divisor 4). Figures:

- cycles per second with the link saturated (back-to-back 64-word READs), from the
  harness's own cycle count and wall time;
- the digits demo (and the default coincidence demo) on the board: chip wall time, steps
  per second, the board's cycles per second over the run, and that the chip's accuracy and
  weights equal the golden model's.

With ``--lanes`` (``results/board_sim_lanes.json``): the simulated board built with each
lane count in turn, each training the same first ``--samples`` samples of each task's
preset for one epoch on the sample sequencer (the demo's path; no golden run beside it) and
testing on as many: the board's clock cycles per second, the chip's clocks per sample, the
wall time and samples per second, and each lane count's samples per second as a ratio to
the default's (SIM_LANES) in the same run. The lanes change no result: every run's test
accuracy, loss and final master words must equal the first lane count's, or the script
fails.
"""
import argparse
import re
import time

from _common import write

import numpy as np

from gammacore import regmap as R
from gammacore.golden.network import make_network
from gammacore.golden.presets import preset, schedule
from gammacore.golden.tasks import make_task
from gammacore.host.demo import core_load, run_demo
from gammacore.host.session import open_chip
from gammacore.rtl.soc import SIM_LANES


def board_rate(stats):
    m = re.search(r"(\d+) cycles in ([\d.]+) s \((\d+) cycles/s\)", stats or "")
    return {"cycles": int(m.group(1)), "seconds": float(m.group(2)), "cycles_per_second": int(m.group(3))} if m else None


def lanes_run(task_name, lanes, samples, seed=0):
    """One epoch of ``samples`` training samples (and as many test samples) of the task's
    preset on the simulated board built with ``lanes``; its figures and final master words."""
    task = make_task(task_name, seed=seed)
    cfg = preset(task_name, seed=seed)
    plan = schedule(task_name).with_epochs(1)
    train = (task.x_train[:samples], task.y_train[:samples], task.m_train[:samples])
    test = (task.x_test[:samples], task.y_test[:samples], task.m_test[:samples])
    with open_chip("sim", lanes=lanes) as (chip, info):
        assert chip.identity()["lanes"] == lanes, chip.identity()
        chip.load(cfg, make_network(cfg, "fixed", batch=1).layers)
        start = core_load(chip)
        t0 = time.perf_counter()
        (h,) = chip.train(train, schedule=plan, seed=seed, test=test)
        wall = time.perf_counter() - t0
        load = core_load(chip, start)
        masters = chip.read_params()
        board = info["board"]
    n = 2 * samples
    row = {"task": task_name, "lanes": lanes, "samples": n, "train_samples": samples, "test_samples": samples,
           "chip_clocks": load["clocks"], "clocks_per_sample": load["clocks"] / n,
           "core_busy_fraction": load["busy_fraction"], "wall_seconds": wall, "samples_per_second": n / wall,
           "test_accuracy": h["test_accuracy"], "train_loss_sum": h["train_loss_sum"], "board": board_rate(board.stats)}
    return row, masters


def lanes_main(args):
    rows = []
    for task_name in args.tasks:
        first = None
        for lanes in args.lanes:
            row, masters = lanes_run(task_name, lanes, args.samples)
            if first is None:
                first = (row, masters)
            else:
                same = (row["test_accuracy"] == first[0]["test_accuracy"]
                        and row["train_loss_sum"] == first[0]["train_loss_sum"]
                        and all(np.array_equal(a[k], b[k]) for a, b in zip(masters, first[1]) for k in a))
                if not same:
                    raise SystemExit(f"{task_name}: the board at {lanes} lanes trained differently from "
                                     f"{first[0]['lanes']} lanes (accuracy, loss or master words)")
            print(row, flush=True)
            rows.append(row)
        base = [r for r in rows if r["task"] == task_name and r["lanes"] == SIM_LANES]
        for r in rows:
            if r["task"] == task_name and base:
                r["samples_per_second_vs_default"] = r["samples_per_second"] / base[0]["samples_per_second"]
    write(args.name, {"sim_lanes": SIM_LANES, "rows": rows, "results_equal_across_lanes": True,
                      "command": "python benchmarks/bench_board_sim.py --lanes "
                                 + " ".join(map(str, args.lanes)) + f" --samples {args.samples}"})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lanes", type=int, nargs="+", metavar="P",
                    help="compare the simulated board built with these lane counts (see above)")
    ap.add_argument("--samples", type=int, default=40, help="with --lanes: training (and test) samples per task")
    ap.add_argument("--tasks", nargs="+", default=["coincidence", "digits"], choices=["coincidence", "digits"],
                    help="with --lanes: the tasks")
    ap.add_argument("--name", default="board_sim_lanes", help="with --lanes: the results file's name")
    ap.add_argument("--digits-limit", type=int, default=200)
    ap.add_argument("--digits-epochs", type=int, default=1)
    ap.add_argument("--coincidence-limit", type=int, default=400)
    ap.add_argument("--coincidence-epochs", type=int, default=2)
    args = ap.parse_args()
    if args.lanes:
        return lanes_main(args)
    out = {}
    with open_chip("sim") as (chip, info):
        cap = chip.capacity()
        # the bucket weights V: addressed directly, readable with no network loaded (a W
        # address is a weight only once a layer's descriptor holds it: refused before)
        n = min(1024, cap.neurons * cap.buckets)
        t0 = time.perf_counter()
        words = 0
        while time.perf_counter() - t0 < 10:
            words += len(chip.link.read(R.mem_addr(R.Region.V, 0), n))
        dt = time.perf_counter() - t0
        board = info["board"]
    out["saturated_link"] = {"words_read": words, "seconds": dt, "payload_bytes_per_second": 4 * words / dt,
                             "board": board_rate(board.stats)}
    print(out["saturated_link"], flush=True)
    for task, limit, epochs in (("digits", args.digits_limit, args.digits_epochs),
                                ("coincidence", args.coincidence_limit, args.coincidence_epochs)):
        with open_chip("sim") as (chip, info):
            rep = run_demo(chip, task, epochs, limit, progress=True)
            board = info["board"]
        row = {k: v for k, v in rep.items() if not k.startswith("_") and k != "counters"}
        row["board"] = board_rate(board.stats)
        out[f"{task}_demo"] = row
        print(task, row, flush=True)
    write("board_sim", {**out, "command": "python benchmarks/bench_board_sim.py"})


if __name__ == "__main__":
    main()
