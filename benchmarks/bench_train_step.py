"""Cost of one online-training time step of the golden model (step + learn), fixed and float.

    .venv/bin/python benchmarks/bench_train_step.py [--steps 3000] [--members 1,10]

The coincidence preset at dt = 1 ms (results/train_step*.json were measured on its former
2-32-2 form), random input events, a loss (and an update) at
every step; members > 1 are independent learners in lockstep (Network(members=True), what
golden.train.train_many runs), timed per lockstep step and per member-step (CPU time, best
of 3, so that other jobs on the machine do not inflate it). The members
option is skipped on a tree without it (to time an older commit: run this file with
PYTHONPATH pointing at that commit's checkout).
"""
import argparse
import inspect
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import write  # noqa: E402

from gammacore.golden.loss import softmax_ce  # noqa: E402
from gammacore.golden.network import Network, make_network  # noqa: E402
from gammacore.golden.presets import preset  # noqa: E402


def time_steps(model, members, steps):
    cfg = preset("coincidence", dt=1e-3, seed=0)
    net = make_network(cfg, model, batch=members, members=True) if members > 1 else make_network(cfg, model)
    rng = np.random.default_rng(0)
    x = (rng.random((steps, members, 2)) < 0.05).astype(np.float64)
    labels = rng.integers(0, 2, size=members)
    best = np.inf
    for _ in range(3):
        net.reset()
        start = time.process_time()
        for t in range(steps):
            y = net.step(x[t])
            net.learn(softmax_ce(y, labels)[1])
        best = min(best, time.process_time() - start)
    return best / steps


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--members", default="1,10")
    ap.add_argument("--name", default="train_step")
    args = ap.parse_args()
    has_members = "members" in inspect.signature(Network.__init__).parameters
    rows = []
    for model in ("fixed", "float"):
        for m in (int(v) for v in args.members.split(",")):
            if m > 1 and not has_members:
                continue
            s = time_steps(model, m, args.steps)
            rows.append({"model": model, "members": m, "ms_per_lockstep_step": round(s * 1e3, 4),
                         "ms_per_member_step": round(s * 1e3 / m, 4)})
            print(rows[-1], flush=True)
    import gammacore.golden as golden
    # which tree's golden model ran (machine()'s commit is that of this script's checkout)
    write(args.name, {"steps": args.steps, "golden": os.path.dirname(os.path.abspath(golden.__file__)), "results": rows})


if __name__ == "__main__":
    main()
