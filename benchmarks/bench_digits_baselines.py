"""Digits against simple baselines on the very same splits (issue 20).

    .venv/bin/python benchmarks/bench_digits_baselines.py [--seeds 0-4] [--epochs N] [--limit N]
        [--validation 0.2] [--models float,fixed] [--eta ETA] [--phases N]

Per seed, on the train/test split of ``golden.tasks.digits(seed=S)`` (the task's column-by-
column presentation for gammacore; the whole 8x8 image as 64 features for the baselines):

* gammacore golden model, float and fixed point: the digits preset and its schedule
  (``golden.presets``), trained online at batch 1 (``golden.train.train_many``, the seeds in
  lockstep; each seed's result is what ``gammacore train --task digits --seed S`` gives);
* scikit-learn ``LogisticRegression(max_iter=2000)`` (defaults otherwise: L2, C = 1, lbfgs);
* scikit-learn ``MLPClassifier(hidden_layer_sizes=(128,), max_iter=500, random_state=S)``
  (defaults otherwise: ReLU, Adam, batch 200, offline).

``--validation F`` chooses settings without the test split: every model is trained on the
first 1 - F of each seed's training set and scored on the rest (``Task.validation_split``);
``--eta`` (all of the digits preset's learning rates, per second), ``--epochs`` and
``--phases`` override the preset, to compare settings there.

Test (or validation) accuracy and training time of each; the goals of issue 20 checked for the fixed-point
model: >= 97 % on every seed, its mean at least logistic regression's mean, no seed more than
1 point below logistic regression on that seed, fixed within 1 point of float per seed.
Writes benchmarks/results/digits_baselines.json.
"""
import argparse
import os
import sys
import time
import warnings
from dataclasses import replace

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import parse_seeds, write  # noqa: E402

from gammacore.golden.presets import preset, schedule  # noqa: E402
from gammacore.golden.tasks import digits  # noqa: E402
from gammacore.golden.train import Schedule, train_many  # noqa: E402


def images(task):
    """The whole image of each sample as 64 features: the presented columns, one step each."""
    spc = 4
    def feats(x):
        cols = x[:, :8 * spc:spc, :]                  # (n, 8 columns, 8 rows): one step per column
        return cols.reshape(len(x), -1)
    return feats(task.x_train), feats(task.x_test)


def seed_tasks(seeds, validation):
    """Each seed's digits task; with ``validation``, its validation split instead."""
    tasks = [digits(seed=s) for s in seeds]
    return [t.validation_split(validation) for t in tasks] if validation else tasks


def golden_runs(model, seeds, eta, epochs, phases, validation, limit):
    """Train the digits preset (with the overrides) for every seed in lockstep; returns the
    per-seed results (without weights), the schedule and the wall time. Module-level so that
    ``--jobs 2`` can run the float and the fixed model in two processes."""
    plan = schedule("digits")
    if phases:
        plan = Schedule(plan.epochs, phases)
    plan = plan.with_epochs(epochs)
    tasks = seed_tasks(seeds, validation)
    cfgs = []
    for s in seeds:
        cfg = preset("digits", seed=s)
        if eta:
            lr = dict(eta_w=eta, eta_v=eta, eta_b=eta)
            cfg = replace(cfg, layers=tuple(replace(layer, **lr) for layer in cfg.layers)).validate()
        cfgs.append(cfg)
    t0 = time.perf_counter()
    res = train_many(cfgs, tasks, model, seeds=seeds, schedule=plan, limit=limit,
                     progress={"desc": f"digits {model} x{len(seeds)}", "position": ("float", "fixed").index(model)})
    wall = time.perf_counter() - t0
    return [{k: v for k, v in r.items() if k != "params"} for r in res], plan, wall


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0-4", help="seeds, e.g. 0-4 or 0,2")
    ap.add_argument("--epochs", type=int, default=None, help="gammacore epochs (default: the preset's)")
    ap.add_argument("--limit", type=int, default=None, help="first N train and test samples (quick runs)")
    ap.add_argument("--golden-from", metavar="JSON",
                    help="take the gammacore runs from a bench_robustness record (same preset, seeds and "
                         "splits) instead of training them again")
    ap.add_argument("--validation", type=float, default=None, metavar="F",
                    help="score on the last fraction F of each training set instead of the test set")
    ap.add_argument("--models", default="float,fixed", help="gammacore models to train: float, fixed or both")
    ap.add_argument("--eta", type=float, default=None, help="learning rates per second (default: the preset's)")
    ap.add_argument("--phases", type=int, default=None, help="rate halvings of the schedule (default: the preset's)")
    ap.add_argument("--jobs", type=int, default=2, help="processes for the gammacore models (default 2: float and "
                    "fixed at once)")
    ap.add_argument("--name", default="digits_baselines")
    args = ap.parse_args()
    seeds = list(parse_seeds(args.seeds))
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    models = [m for m in args.models.split(",") if m]
    if not models or any(m not in ("float", "fixed") for m in models):
        raise SystemExit(f"--models must list float and/or fixed, not {args.models!r}")
    if args.golden_from and (args.validation or args.eta or args.phases):
        raise SystemExit("--golden-from takes the preset's test runs; it does not combine with --validation, --eta or --phases")
    tasks = seed_tasks(seeds, args.validation)
    rows = {s: {"seed": s} for s in seeds}
    for s, task in zip(seeds, tasks):
        xtr, xte = images(task)
        ytr, yte = task.y_train, task.y_test
        if args.limit:
            xtr, ytr, xte, yte = xtr[:args.limit], ytr[:args.limit], xte[:args.limit], yte[:args.limit]
        for name, clf in (("logistic_regression", LogisticRegression(max_iter=2000)),
                          ("mlp", MLPClassifier(hidden_layer_sizes=(128,), max_iter=500, random_state=s))):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(xtr, ytr)
            rows[s][name] = {"test_accuracy": float(clf.score(xte, yte)), "train_seconds": time.perf_counter() - t0}
        print(s, {k: v for k, v in rows[s].items() if k != "seed"}, flush=True)
    golden = {}
    if not args.golden_from:
        from concurrent.futures import ProcessPoolExecutor
        job = (seeds, args.eta, args.epochs, args.phases, args.validation, args.limit)
        with ProcessPoolExecutor(max_workers=max(1, min(args.jobs, len(models)))) as pool:
            futures = {m: pool.submit(golden_runs, m, *job) for m in models}
            golden = {m: f.result() for m, f in futures.items()}
    plan = next(iter(golden.values()))[1] if golden else schedule("digits").with_epochs(args.epochs)
    for model in models:
        if args.golden_from:
            import json
            rec = json.loads(open(args.golden_from).read())
            runs = {r["seed"]: r for r in rec["runs"] if r["task"] == "digits" and r["model"] == model}
            group = [g for g in rec["groups"] if g["task"] == "digits" and g["model"] == model][0]
            for s in seeds:
                r = runs[s]
                rows[s][f"gammacore_{model}"] = {"test_accuracy": r["test_accuracy"], "epochs": r["epochs"],
                                                 "curve": r["curve"], "from": args.golden_from,
                                                 "train_seconds_lockstep_share": group["train_wall_seconds"] / len(group["seeds"])}
            continue
        res, _, wall = golden[model]
        for s, r in zip(seeds, res):
            rows[s][f"gammacore_{model}"] = {"test_accuracy": r["test_accuracy"], "epochs": r["epochs"],
                                             "schedule_phases": r["schedule_phases"], "curve": r["curve"],
                                             "train_seconds_lockstep_share": wall / len(seeds)}
        print(model, [round(100 * r["test_accuracy"], 2) for r in res], f"{wall:.0f} s for {len(seeds)} seeds",
              flush=True)
    per = [rows[s] for s in seeds]
    acc = lambda k: np.array([100 * r[k]["test_accuracy"] for r in per])
    cols = {"logistic_regression": acc("logistic_regression"), "mlp": acc("mlp")}
    for model in models:
        cols[f"gammacore_{model}"] = acc(f"gammacore_{model}")
    summary = {k: {"mean": float(v.mean()), "min": float(v.min()), "per_seed": v.tolist()} for k, v in cols.items()}
    goals = {}
    if "fixed" in models:
        fx, lr = cols["gammacore_fixed"], cols["logistic_regression"]
        goals = {"fixed_at_least_97_every_seed": bool(np.all(fx >= 97.0)),
                 "fixed_mean_at_least_logistic_mean": bool(fx.mean() >= lr.mean()),
                 "fixed_within_1_below_logistic_every_seed": bool(np.all(fx >= lr - 1.0))}
        if "float" in models:
            goals["fixed_within_1_of_float_every_seed"] = bool(np.all(np.abs(fx - cols["gammacore_float"]) <= 1.0))
    for k, v in summary.items():
        print(f"{k:22s} mean {v['mean']:.2f}  min {v['min']:.2f}  {np.round(v['per_seed'], 2).tolist()}")
    print("goals:", goals)
    write(args.name, {"seeds": seeds, "limit": args.limit, "epochs": plan.epochs, "phases": plan.phases,
                      "eta": args.eta, "scored_on": f"validation {args.validation}" if args.validation else "test",
                      "rows": per,
                      "summary": summary, "goals": goals,
                      "baselines": {"logistic_regression": "LogisticRegression(max_iter=2000)",
                                    "mlp": "MLPClassifier(hidden_layer_sizes=(128,), max_iter=500, random_state=seed)"}})


if __name__ == "__main__":
    main()
