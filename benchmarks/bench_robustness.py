"""Robustness over seeds and dt: coincidence (seeds 0-9, dt = 1, 0.5, 0.25, 0.1 ms) and digits
(seeds 0-4, dt = 1 ms), fixed point and float, each seed with its preset network and schedule
(golden.presets.preset(task, dt=dt, seed=s), golden.presets.schedule(task)).

    .venv/bin/python benchmarks/bench_robustness.py [--tasks coincidence,digits]
        [--dts 1e-3,5e-4,2.5e-4,1e-4] [--seeds 0-9] [--models fixed,float] [--limit N]
        [--epochs N] [--processes 2] [--float-dts DTS] [--name robustness]

One group per (task, dt, model); the group's seeds train in lockstep (golden.train.train_many,
each seed's result exactly what train() gives it alone); groups run in --processes worker
processes, longest first. Reported per (task, model, dt): per-seed test accuracy, mean,
worst, the group's wall time; per seed the worst drop from 1 ms to any finer dt; the goals
of issue 17 as booleans (null when the runs they need were not made):

* coincidence, fixed point: mean >= 98 % at every dt; every seed >= 95 % at every dt; no
  finer dt more than 2 points below the same seed's 1 ms result;
* digits, fixed point: mean >= 94 %; every seed >= 93 %; fixed within 1.5 points of float
  for every seed.

With --limit or --epochs the record also gives an estimate of the full run's wall time on
an idle machine, from CPU times (each group's training loop scaled to the full sample and
epoch counts, plus its evaluations timed on the full test set; groups placed on the
processes longest first). Other jobs on the machine lengthen the real run accordingly.

Model ``fixed-chiploss`` is the fixed-point model trained with the chip's integer loss unit
(golden.fixedpoint.loss_unit; ``train --loss-unit chip``) instead of the host's float
softmax; its rows measure what the loss unit costs in accuracy (issue 15), e.g.
``--models fixed-chiploss --dts 1e-3 --name robustness_chiploss`` against the ``fixed`` rows.
``--validation F`` scores on the last fraction F of each training set instead of the test
set and ``--phases N`` overrides the schedules' halvings: for choosing settings.

``--from A.json,B.json`` trains nothing: it joins the runs of earlier records of this
benchmark (made on the same model, e.g. one per dt) and reports the table, the drops and
the goals over all of them, e.g. ``--from
benchmarks/results/robustness_err17_coincidence_1ms.json,benchmarks/results/robustness_err17_coincidence_0.5ms.json,benchmarks/results/robustness_err17_coincidence_fine.json
--name robustness_err17_coincidence``. A run (task, model, dt, seed) in two records, or
records scored on different data, are refused.
"""
import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from dataclasses import replace

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import parse_seeds, write  # noqa: E402

from gammacore.golden.presets import preset, schedule  # noqa: E402
from gammacore.golden.tasks import make_task  # noqa: E402
from gammacore.golden.train import evaluate, train_many  # noqa: E402

DTS = {"coincidence": (1e-3, 5e-4, 2.5e-4, 1e-4), "digits": (1e-3,)}
SEEDS = {"coincidence": tuple(range(10)), "digits": tuple(range(5))}
FULL = {"coincidence": (1000, 400), "digits": (1437, 360)}    # train, test samples
MODELS = ("fixed", "float", "fixed-chiploss")


def run_group(job):
    task, dt, model, seeds, limit, epochs, phases, validation = job
    worker = mp.current_process()._identity
    position = (worker[0] - 1) if worker else 0
    cfgs = [preset(task, dt=dt, seed=s) for s in seeds]
    tasks = [make_task(task, dt=dt, seed=s) for s in seeds]
    if validation:
        tasks = [t.validation_split(validation) for t in tasks]
    plan = schedule(task) if phases is None else replace(schedule(task), phases=phases)
    start, cpu = time.perf_counter(), time.process_time()
    chip_loss = model == "fixed-chiploss"
    golden_model = "fixed" if chip_loss else model
    res = train_many(cfgs, tasks, golden_model, seeds=list(seeds), epochs=epochs, schedule=plan,
                     limit=limit, chip_loss=chip_loss,
                     progress={"desc": f"{task} {model} dt={dt * 1e3:g}ms x{len(seeds)}", "position": position})
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    out = {"task": task, "dt": dt, "model": model, "seeds": list(seeds), "wall_seconds": wall,
           "train_wall_seconds": res[0]["train_wall_seconds"], "cpu_seconds": cpu}
    if limit is not None or epochs is not None:
        # for the estimate: one member's evaluation (CPU time) on the run's test set and on the full one
        params, t = res[0]["params"], tasks[0]
        n = len(t.x_test) if limit is None else min(limit, len(t.x_test))
        t0 = time.process_time()
        evaluate(cfgs[0], params, golden_model, t.x_test[:n], t.y_test[:n], t.m_test[:n])
        t1 = time.process_time()
        evaluate(cfgs[0], params, golden_model, t.x_test, t.y_test, t.m_test)
        out.update(eval_run_test_cpu_seconds=t1 - t0, eval_full_test_cpu_seconds=time.process_time() - t1)
    for r in res:
        r.pop("params")
    return dict(out, runs=res)


def pct(v):
    return round(100.0 * float(v), 4)


def summarize(groups):
    """Per (task, model, dt) rows, per-seed drops and the goals of issue 17."""
    rows = {}
    for g in groups:
        acc = {r["seed"]: r["test_accuracy"] for r in g["runs"]}
        rows[(g["task"], g["model"], g["dt"])] = acc
    table = []
    for (task, model, dt), acc in sorted(rows.items(), key=lambda kv: (kv[0][0], kv[0][1], -kv[0][2])):
        a = np.array(list(acc.values()))
        table.append({"task": task, "model": model, "dt": dt,
                      "test_accuracy_pct": {str(s): pct(v) for s, v in acc.items()},
                      "mean_pct": pct(a.mean()), "worst_pct": pct(a.min()),
                      "worst_seed": int(min(acc, key=acc.get))})
    drops = {}
    for (task, model, dt), acc in rows.items():
        base = rows.get((task, model, 1e-3))
        if dt == 1e-3 or base is None:
            continue
        for s, v in acc.items():
            if s in base:
                d = drops.setdefault(f"{task}/{model}", {}).setdefault(str(s), {"worst_drop_points": -np.inf})
                drop = 100.0 * (base[s] - v)
                if drop > d["worst_drop_points"]:
                    d.update(worst_drop_points=round(drop, 4), at_dt=dt)
    goals = {}
    coin = {dt: acc for (t, m, dt), acc in rows.items() if t == "coincidence" and m == "fixed"}
    if coin:
        goals["coincidence_fixed_mean_ge_98_every_dt"] = bool(all(np.mean(list(a.values())) >= 0.98 for a in coin.values()))
        goals["coincidence_fixed_every_seed_ge_95_every_dt"] = bool(all(min(a.values()) >= 0.95 for a in coin.values()))
        fine = [dt for dt in coin if dt != 1e-3]
        goals["coincidence_fixed_no_finer_dt_2_points_below_1ms"] = (
            bool(all(drop["worst_drop_points"] <= 2.0 + 1e-9 for drop in drops.get("coincidence/fixed", {}).values()))
            if 1e-3 in coin and fine else None)
    dig_fixed, dig_float = rows.get(("digits", "fixed", 1e-3)), rows.get(("digits", "float", 1e-3))
    if dig_fixed:
        a = np.array(list(dig_fixed.values()))
        goals["digits_fixed_mean_ge_94"] = bool(a.mean() >= 0.94)
        goals["digits_fixed_every_seed_ge_93"] = bool(a.min() >= 0.93)
        if dig_float:
            gaps = {str(s): round(100.0 * (dig_fixed[s] - dig_float[s]), 4) for s in dig_fixed if s in dig_float}
            goals["digits_fixed_minus_float_points"] = gaps
            goals["digits_fixed_within_1p5_points_of_float_every_seed"] = bool(all(abs(g) <= 1.5 + 1e-9 for g in gaps.values()))
        else:
            goals["digits_fixed_within_1p5_points_of_float_every_seed"] = None
    return table, drops, goals


def estimate_full(groups, processes):
    """Wall time of the full benchmark on an otherwise idle machine, estimated from a
    shortened run (seconds), from CPU times (so other jobs' load does not inflate it).

    Per group: the training loop's CPU time (the group's CPU time less its evaluations: per
    epoch and final, timed apart) scaled to the full samples x epochs, plus the full run's
    evaluations (per epoch and final, every member, proportional to the samples); the groups
    then placed on the processes longest first.
    """
    per_group = []
    for g in groups:
        r, M = g["runs"][0], len(g["runs"])
        n_tr_full, n_te_full = FULL[g["task"]]
        ep_full = schedule(g["task"]).epochs
        ev = g["eval_run_test_cpu_seconds"]
        evals_run = M * ev * (r["epochs"] + 1 + r["train_samples"] / max(r["test_samples"], 1))
        loop = max(g["cpu_seconds"] - evals_run, 0.0)
        train = loop * (n_tr_full * ep_full) / (r["train_samples"] * r["epochs"])
        evals = M * g["eval_full_test_cpu_seconds"] * (ep_full + 1 + n_tr_full / n_te_full)
        per_group.append((train + evals, g))
    load = [0.0] * processes
    for t, _ in sorted(per_group, key=lambda x: -x[0]):
        load[load.index(min(load))] += t
    return {"estimated_full_seconds": round(max(load), 1), "total_cpu_seconds": round(sum(t for t, _ in per_group), 1),
            "per_group_estimated_seconds": {f"{g['task']}/{g['model']}/dt={g['dt']:g}": round(t, 1) for t, g in per_group}}


def joined(paths):
    """The groups (task, model, dt, with their runs) of earlier records, and the records'
    common ``scored_on``; SystemExit naming the file and the run for a run given twice or
    for records scored on different data."""
    groups, seen, scored = {}, {}, {}
    for path in paths:
        try:
            with open(path) as f:
                rec = json.load(f)
        except (OSError, ValueError) as e:
            raise SystemExit(f"bench_robustness: cannot read record {path!r}: {e}")
        if "runs" not in rec:
            raise SystemExit(f"bench_robustness: {path!r} is not a record of this benchmark (no 'runs')")
        scored[path] = rec.get("scored_on", "test")
        for r in rec["runs"]:
            key = (r["task"], r["model"], r["dt"], r["seed"])
            if key in seen:
                raise SystemExit(f"bench_robustness: run {key} (task, model, dt, seed) is in both {seen[key]!r} "
                                 f"and {path!r}; expected each run in one record")
            seen[key] = path
            groups.setdefault(key[:3], []).append(r)
    if len(set(scored.values())) > 1:
        raise SystemExit(f"bench_robustness: the records are scored on different data ({scored}); expected one")
    return ([{"task": t, "model": m, "dt": dt, "runs": runs} for (t, m, dt), runs in groups.items()],
            next(iter(scored.values()), "test"))


def report(table):
    for row in table:
        print(f"{row['task']:12s} {row['model']:14s} dt={row['dt'] * 1e3:5.2f} ms  mean {row['mean_pct']:6.2f} %  "
              f"worst {row['worst_pct']:6.2f} % (seed {row['worst_seed']})", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", default="coincidence,digits")
    ap.add_argument("--dts", default=None, help="coincidence dts (default 1e-3,5e-4,2.5e-4,1e-4); digits runs at 1 ms")
    ap.add_argument("--seeds", default=None, help="e.g. 0-9 or 0,3,5 (default: coincidence 0-9, digits 0-4)")
    ap.add_argument("--models", default="fixed,float")
    ap.add_argument("--float-dts", default=None, help="coincidence dts of the float model (default: those of --dts; 'none': no float coincidence runs)")
    ap.add_argument("--limit", type=int, default=None, help="first N train and N test samples (quick runs)")
    ap.add_argument("--epochs", type=int, default=None, help="override the preset schedules' epochs")
    ap.add_argument("--phases", type=int, default=None,
                    help="learning-rate halvings of every schedule (default: each preset's)")
    ap.add_argument("--validation", type=float, default=None, metavar="F",
                    help="train on the first 1 - F of each training set and score on the rest "
                         "(Task.validation_split) instead of the test set: for choosing settings")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--name", default="robustness")
    ap.add_argument("--from", dest="sources", default=None, metavar="A.json,B.json",
                    help="join earlier records of this benchmark instead of training (table, drops, goals)")
    args = ap.parse_args()
    if args.sources is not None:
        paths = [p for p in args.sources.split(",") if p]
        if not paths:
            ap.error(f"--from {args.sources!r} names no record; expected A.json[,B.json...]")
        groups, scored = joined(paths)
        table, drops, goals = summarize(groups)
        report(table)
        write(args.name, {"from": paths, "scored_on": scored, "summary": table, "drops_from_1ms": drops,
                          "goals_issue_17": goals, "runs": [r for g in groups for r in g["runs"]]})
        return
    jobs = []
    for task in args.tasks.split(","):
        if task not in DTS:
            ap.error(f"unknown task {task!r}")
        dts = DTS[task] if args.dts is None or task == "digits" else tuple(float(d) for d in args.dts.split(","))
        seeds = SEEDS[task] if args.seeds is None else parse_seeds(args.seeds)
        for model in args.models.split(","):
            if model not in MODELS:
                ap.error(f"unknown model {model!r}; expected some of {', '.join(MODELS)}")
            model_dts = dts
            if model == "float" and task == "coincidence" and args.float_dts is not None:
                model_dts = () if args.float_dts == "none" else tuple(float(d) for d in args.float_dts.split(","))
            for dt in model_dts:
                jobs.append((task, dt, model, seeds, args.limit, args.epochs, args.phases, args.validation))
    # longest first: steps per sample x samples x epochs
    cost = lambda j: (0.05 / j[1] if j[0] == "coincidence" else 36) * FULL[j[0]][0] * schedule(j[0]).epochs * (1.5 if j[2].startswith("fixed") else 1)
    jobs.sort(key=cost, reverse=True)
    start = time.perf_counter()
    if args.processes > 1:
        with mp.get_context("fork").Pool(args.processes) as pool:
            groups = list(pool.imap_unordered(run_group, jobs, chunksize=1))
    else:
        groups = [run_group(j) for j in jobs]
    wall = time.perf_counter() - start
    table, drops, goals = summarize(groups)
    report(table)
    record = {"tasks": args.tasks.split(","), "models": args.models.split(","), "limit": args.limit,
              "epochs": args.epochs, "phases": args.phases,
              "scored_on": f"validation {args.validation}" if args.validation else "test", "processes": args.processes, "wall_seconds": round(wall, 1),
              "summary": table, "drops_from_1ms": drops, "goals_issue_17": goals,
              "groups": [{k: v for k, v in g.items() if k != "runs"} for g in groups],
              "runs": [r for g in groups for r in g["runs"]]}
    if args.limit is not None or args.epochs is not None:
        record["estimate"] = estimate_full(groups, args.processes)
    write(args.name, record)


if __name__ == "__main__":
    main()
