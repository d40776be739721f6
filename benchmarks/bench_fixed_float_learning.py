"""Where fixed-point learning departs from float: the learning arithmetic alone, from one state.

    .venv/bin/python benchmarks/bench_fixed_float_learning.py [--task digits] [--seed 1]
        [--epochs 40] [--samples 100] [--validation 0.2] [--name fixed_float_learning]

Trains the task's preset in fixed point (``golden.train.train``; on the validation split of
the training set by default, so no test data is used), then runs ``--samples`` training
samples through that network in fixed point. Before each loss step's ``learn`` it copies the
fixed-point state (weights, buckets Z, traces, pre-activations x) into a float network and
gives both the same error (the float softmax of the fixed-point output), so the two updates
differ only by the learning arithmetic. Per layer and parameter: the cosine of the updates
(pooled over all loss steps) and the ratio of their norms, fixed (master words) over float.
For the error each layer passes below (``fixedpoint.error_below``): how many of its entries
exceed the ERR format's range, which it saturates to, and their share of the squared error.
The weights are left as trained (each step's updates are undone), so every step compares
from the same weights. Writes benchmarks/results/<name>.json.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import write  # noqa: E402

from gammacore.golden import formats as F  # noqa: E402
from gammacore.golden.loss import softmax_ce  # noqa: E402
from gammacore.golden.network import make_network  # noqa: E402
from gammacore.golden.presets import preset, schedule  # noqa: E402
from gammacore.golden.tasks import make_task  # noqa: E402
from gammacore.golden.train import train  # noqa: E402


def compare(cfg, params, task, samples):
    """The update statistics of ``samples`` training samples from the trained ``params``."""
    fx = make_network(cfg, "fixed", batch=1, params=params)
    fl = make_network(cfg, "float", batch=1, params=params)
    acc, below = {}, {n: {"entries": 0, "over_range": 0, "sq": 0.0, "sq_over": 0.0} for n in range(1, len(cfg.layers))}
    steps = 0
    for i in range(samples):
        fx.reset()
        x, m, y = task.x_train[i], task.m_train[i], task.y_train[i]
        for t in range(x.shape[0]):
            out = fx.step(x[t][None])
            if not m[t]:
                continue
            steps += 1
            _, err = softmax_ce(out, np.array([y]))
            for L, G in zip(fl.layers, fx.layers):
                L.W, L.V, L.b = F.W.to_float(G.W), F.V.to_float(G.V), F.B.to_float(G.b)
                L.Z, L.trace, L.x = F.Z.to_float(G.Z), F.TRACE.to_float(G.trace), F.X.to_float(G.x)
            # the exact error each layer n >= 1 passes below, from the fixed-point state
            e = F.ERR.to_float(F.ERR.from_float(err))[0]
            for n in range(len(cfg.layers) - 1, 0, -1):
                G = fx.layers[n]
                delta = e if cfg.layers[n].readout == "linear" else e * (F.X.to_float(G.x)[0] > 0)
                e = (delta * F.V.to_float(G.V).sum(axis=-1)) @ F.W.to_float(G.W)
                over = np.abs(e) > F.ERR.to_float(F.ERR.max)
                st = below[n]
                st["entries"] += e.size
                st["over_range"] += int(over.sum())
                st["sq"] += float((e ** 2).sum())
                st["sq_over"] += float((e[over] ** 2).sum())
            before_fx = [(G.W_master.copy(), G.V_master.copy(), G.b_master.copy()) for G in fx.layers]
            before_fl = [(L.W.copy(), L.V.copy(), L.b.copy()) for L in fl.layers]
            fx.learn(err)
            fl.learn(err)
            for n, (G, L) in enumerate(zip(fx.layers, fl.layers)):
                d_fx = [(a - b) * 2.0 ** -F.MASTER.frac for a, b in zip((G.W_master, G.V_master, G.b_master), before_fx[n])]
                d_fl = [a - b for a, b in zip((L.W, L.V, L.b), before_fl[n])]
                for k, a, b in zip(("W", "V", "b"), d_fl, d_fx):
                    s = acc.setdefault(f"layer {n} {k}", [0.0, 0.0, 0.0])
                    s[0] += float((a * b).sum())
                    s[1] += float((a * a).sum())
                    s[2] += float((b * b).sum())
            for G, (W, V, b) in zip(fx.layers, before_fx):     # back to the trained weights
                G.W_master, G.V_master, G.b_master = W, V, b
                G._refresh()
    updates = {k: {"cosine": ab / np.sqrt(aa * bb) if aa and bb else None,
                   "norm_ratio_fixed_over_float": float(np.sqrt(bb / aa)) if aa else None}
               for k, (ab, aa, bb) in acc.items()}
    errors_below = {f"into layer {n - 1}": {**st, "share_of_squared_error_over_range": st["sq_over"] / st["sq"] if st["sq"] else 0.0}
                    for n, st in below.items()}
    return {"loss_steps": steps, "updates": updates, "errors_below": errors_below}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="digits")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=None, help="training epochs first (default: the preset's)")
    ap.add_argument("--samples", type=int, default=100, help="training samples compared")
    ap.add_argument("--validation", type=float, default=0.2,
                    help="train on the first 1 - F of the training set (0: all of it)")
    ap.add_argument("--name", default="fixed_float_learning")
    args = ap.parse_args()
    task = make_task(args.task, seed=args.seed)
    if args.validation:
        task = task.validation_split(args.validation)
    cfg = preset(args.task, seed=args.seed)
    plan = schedule(args.task).with_epochs(args.epochs)
    res = train(cfg, task, "fixed", seed=args.seed, schedule=plan, progress=True)
    out = {"task": args.task, "seed": args.seed, "epochs": plan.epochs, "phases": plan.phases,
           "validation": args.validation, "samples": args.samples,
           "trained_validation_accuracy" if args.validation else "trained_test_accuracy": res["test_accuracy"],
           "trained_train_accuracy": res["train_accuracy"],
           **compare(cfg, res["params"], task, args.samples)}
    for k, v in out["updates"].items():
        print(f"{k}: cosine {v['cosine']:.4f}, |fixed| / |float| {v['norm_ratio_fixed_over_float']:.4f}")
    for k, v in out["errors_below"].items():
        print(f"error {k}: {v['over_range']} of {v['entries']} entries beyond ERR's range, "
              f"{100 * v['share_of_squared_error_over_range']:.1f} % of the squared error")
    write(args.name, out)


if __name__ == "__main__":
    main()
