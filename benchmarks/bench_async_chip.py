"""Asynchronous versus layer-synchronous execution on the chip (simulated board), against golden.

    .venv/bin/python benchmarks/bench_async_chip.py [--limit 100] [--epochs-coincidence 4] [--epochs-digits 4]

As benchmarks/bench_async.py (same 3-layer networks: each task's preset with a second
sigma-delta hidden layer, trained online in sync mode in the golden model, fixed point,
seed 0), but the test samples run on the chip - the SoC's Verilog under Verilator behind a
pty, through the UART link - in each mode (``gammacore run --mode``): accuracy, spikes per
inference (every spike the router passed), the mean first correct step (first step at which
the output's argmax is right) and decision step (first step from which it stays right to
the end of the sample), each next to the golden model's
figure for the same samples, and the chip's clock cycles per step (the cost of dispatching
one spike at a time).
"""
import argparse
import time

from _common import write
from bench_async import deeper

from gammacore.golden.async_model import MODES, evaluate_modes
from gammacore.golden.presets import preset
from gammacore.golden.tasks import make_task
from gammacore.golden.train import train
from gammacore.host.cmd_run import COMPARED, run_on_chip


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=100, help="test samples per task (default 100)")
    ap.add_argument("--epochs-coincidence", type=int, default=4)
    ap.add_argument("--epochs-digits", type=int, default=4)
    ap.add_argument("--second-hidden", type=int, default=16, metavar="N")
    ap.add_argument("--lfsr-seed", type=int, default=1)
    args = ap.parse_args()
    rows = {}
    for name, epochs in (("coincidence", args.epochs_coincidence), ("digits", args.epochs_digits)):
        task = make_task(name, dt=1e-3, seed=0)
        cfg = deeper(preset(name, dt=1e-3, seed=0), args.second_hidden)
        t0 = time.perf_counter()
        res = train(cfg, task, model="fixed", epochs=epochs, seed=0)
        train_s = time.perf_counter() - t0
        modes = {}
        for mode in MODES:
            chip, wall, counters, _ = run_on_chip("sim", 3_000_000, cfg, res["params"], task, args.limit, mode,
                                               args.lfsr_seed, count_cycles=True)
            gold = evaluate_modes(cfg, res["params"], task, modes=[mode], limit=args.limit, seed=args.lfsr_seed)[mode]
            steps = chip["samples"] * task.x_test.shape[1]
            modes[mode] = {"chip": chip, "golden": gold, "equal": all(chip[k] == gold[k] for k in COMPARED),
                           "chip_wall_seconds": wall, "steps": steps, "steps_per_second": steps / wall}
            print(name, mode, modes[mode], flush=True)
        rows[name] = {"epochs": epochs, "sizes": [cfg.layers[0].n_in] + [l.n_out for l in cfg.layers],
                      "train_seconds": train_s, "test_samples": args.limit, "modes": modes}
    write("async_chip", {"tasks": rows, "lfsr_seed": args.lfsr_seed,
                         "command": "python benchmarks/bench_async_chip.py"})


if __name__ == "__main__":
    main()
