"""Gradient fidelity: cosine per layer between the online rule and exact BPTT.

    .venv/bin/python benchmarks/bench_fidelity.py [--samples N] [--seed N]

Both gradients are of sum_t L(t) for one sample with the spike code treated as identity
(golden/bptt.py); reported as mean and min over samples, at the preset's initial weights
and after the preset's float training (the task's preset schedule, golden.presets.schedule;
its epochs and halvings are in the record).
The output layer is exact (cosine 1).
"""
import argparse

import numpy as np
from _common import write

from gammacore.golden.bptt import gradient_fidelity
from gammacore.golden.presets import preset, schedule
from gammacore.golden.tasks import make_task
from gammacore.golden.train import train


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = {}
    for name in ("coincidence", "digits"):
        task = make_task(name, seed=args.seed)
        cfg = preset(name, seed=args.seed)
        plan = schedule(name)
        stages = {"initial": cfg.init_params(),
                  "trained": train(cfg, task, "float", seed=args.seed, schedule=plan, progress=False)["params"]}
        out[name] = {"schedule": {"epochs": plan.epochs, "phases": plan.phases}}
        for stage, params in stages.items():
            cos = np.array([gradient_fidelity(cfg, params, task.x_test[i], int(task.y_test[i]), task.m_test[i])
                            for i in range(args.samples)])
            out[name][stage] = {"mean_cosine_per_layer": np.nanmean(cos, axis=0).tolist(),
                                "min_cosine_per_layer": np.nanmin(cos, axis=0).tolist()}
    write("fidelity", {"samples": args.samples, "seed": args.seed, "tasks": out})


if __name__ == "__main__":
    main()
