"""Golden-model speed: fixed-point neuron-steps per second (64-64-10, batched) and digits training time.

    .venv/bin/python benchmarks/bench_speed.py [--batch 256] [--steps 200]
"""
import argparse
import time

import numpy as np
from _common import write

from gammacore.golden.config import LayerConfig, NetworkConfig
from gammacore.golden.network import make_network
from gammacore.golden.presets import preset
from gammacore.golden.tasks import digits
from gammacore.golden.train import train


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()
    cfg = NetworkConfig(dt=1e-3, layers=(LayerConfig(64, 64), LayerConfig(64, 10, readout="linear", encoder="none")))
    rng = np.random.default_rng(0)
    x = np.where(rng.random((args.steps, args.batch, 64)) < 0.2, rng.random((args.steps, args.batch, 64)), 0.0)
    res = {}
    for model in ("fixed", "float"):
        net = make_network(cfg, model, batch=args.batch)
        t0 = time.perf_counter()
        for t in range(args.steps):
            net.step(x[t])
        wall = time.perf_counter() - t0
        res[model] = {"neuron_steps_per_second": 74 * args.batch * args.steps / wall, "wall_seconds": wall}
    task = digits()
    t0 = time.perf_counter()
    r = train(preset("digits"), task, "fixed", epochs=args.epochs)
    res["digits_fixed_train_seconds_per_epoch"] = r["train_wall_seconds"] / args.epochs
    write("speed", {"network": "64-64-10", "batch": args.batch, "steps": args.steps, **res})


if __name__ == "__main__":
    main()
