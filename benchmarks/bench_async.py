"""Asynchronous versus layer-synchronous execution on the reference tasks (golden model).

    .venv/bin/python benchmarks/bench_async.py [--epochs-coincidence 8] [--epochs-digits 4]

Each task's preset network is trained online in sync mode (fixed point, seed 0), then the
trained weights run the test set in every mode. With two layers (one spiking hidden layer
fed only by the host) both modes are identical by construction, so a second hidden layer
is added (--second-hidden): accuracy, spikes per inference, and the
decision step (first step from which the output's argmax is right until the end of the
sample). Our sync mode has zero latency per layer (a spike reaches the next layer in the
same step), so the decision-time advantage the seed paper reports against a one-step-per-
layer synchronous schedule is not expected here; the spike counts show what dispatch order
and early firing change.
"""
import argparse
import time

from _common import write
from tqdm import tqdm

import dataclasses

from gammacore.golden.async_model import MODES, evaluate_modes
from gammacore.golden.config import NetworkConfig
from gammacore.golden.presets import preset
from gammacore.golden.tasks import make_task
from gammacore.golden.train import train


def deeper(cfg, n):
    """The preset with a second sigma-delta hidden layer of n neurons before the output layer."""
    if n == 0:
        return cfg
    h, out = cfg.layers[0], cfg.layers[-1]
    layers = (h, dataclasses.replace(h, n_in=h.n_out, n_out=n), dataclasses.replace(out, n_in=n))
    return NetworkConfig(dt=cfg.dt, layers=layers, init_seed=cfg.init_seed, init_gain=cfg.init_gain).validate()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs-coincidence", type=int, default=8)
    ap.add_argument("--epochs-digits", type=int, default=4)
    ap.add_argument("--limit", type=int, default=None, help="test samples per task (default all)")
    ap.add_argument("--second-hidden", type=int, default=16, metavar="N",
                    help="neurons of a second hidden layer added to each preset (0: the 2-layer presets, "
                         "where asynchronous and synchronous execution coincide by construction)")
    args = ap.parse_args()
    rows = {}
    for name, epochs in (("coincidence", args.epochs_coincidence), ("digits", args.epochs_digits)):
        t0 = time.perf_counter()
        task = make_task(name, dt=1e-3, seed=0)
        cfg = deeper(preset(name, dt=1e-3, seed=0), args.second_hidden)
        res = train(cfg, task, model="fixed", epochs=epochs, seed=0)
        n = len(task.x_test) if args.limit is None else min(args.limit, len(task.x_test))
        with tqdm(total=n * len(MODES), desc=f"{name}: modes", unit="sample") as bar:
            modes = evaluate_modes(cfg, res["params"], task, limit=args.limit, progress=bar.update)
        rows[name] = {"epochs": epochs, "sizes": [cfg.layers[0].n_in] + [l.n_out for l in cfg.layers], "trained_test_accuracy_sync_batched": res["test_accuracy"],
                      "modes": modes, "wall_seconds": time.perf_counter() - t0}
        print(name, rows[name], flush=True)
    write("async", {"tasks": rows, "command": "python benchmarks/bench_async.py"})


if __name__ == "__main__":
    main()
