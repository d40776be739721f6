"""How far a digits run moves when its start moves by one grid step (issues 17 and 20).

    .venv/bin/python benchmarks/bench_spread.py [--seeds 0-4] [--models float,fixed] [--limit N]
        [--variants preset,one_step,all_steps] [--preset-from JSON]

Issues 17 and 20 ask the fixed-point model to end within 1.5 (17) or 1 (20) points of the
float model on every seed. The two models compute the same equations with different
arithmetic, so their runs part after a few updates and end on different samples of what
the training can reach. This measures that spread for each model against itself: per seed
0-4, on the test split of ``golden.tasks.digits(seed=S)``, with the digits preset and its
schedule (``golden.presets``), the model is trained three times in lockstep
(``golden.train.train_many``):

* ``preset``: from the preset's initial weights (what ``gammacore train --task digits
  --seed S`` gives);
* ``one_step``: the same, with one weight, W[0, 0] of the hidden layer, one step of W's
  forward grid (2^-12) higher;
* ``all_steps``: every W of both layers moved by -1, 0 or +1 step of that grid, each with
  probability 1/3 (seeded by 1000 + S).

``--preset-from`` takes the ``preset`` runs from a ``bench_robustness.py`` record of the
same preset, seeds and test splits instead of training them again (``train_many`` gives each
member exactly the result of its run alone, so they are the same runs).

Both perturbations are on the fixed-point grid, so the two models start from exactly the same
weights in each variant, and no larger than what the fixed-point model's own rounding moves
each update by. Reported per model and seed: the three test accuracies, the largest
difference among them (the spread), and, across models, fixed minus float per variant.
Writes benchmarks/results/spread.json (``--name``).
"""
import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import parse_seeds, write  # noqa: E402

from gammacore.golden import formats as F  # noqa: E402
from gammacore.golden.presets import preset, schedule  # noqa: E402
from gammacore.golden.tasks import digits  # noqa: E402
from gammacore.golden.train import train_many  # noqa: E402

VARIANTS = ("preset", "one_step", "all_steps")


def start(cfg, variant, seed):
    """The initial weights of one variant (values on the forward grids)."""
    params = [dict(layer) for layer in cfg.init_params()]
    step = 2.0 ** -F.W.frac
    if variant == "one_step":
        W = params[0]["W"].copy()
        W[0, 0] += step
        params[0]["W"] = W
    elif variant == "all_steps":
        rng = np.random.default_rng(1000 + seed)
        for layer in params:
            layer["W"] = layer["W"] + step * rng.integers(-1, 2, size=layer["W"].shape)
    elif variant != "preset":
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    for layer in params:        # on the grid, inside the format, as init_params gives them
        layer["W"] = F.W.to_float(F.W.from_float(layer["W"]))
    return params


def runs(model, seeds, limit, position, variants=VARIANTS):
    """Every (variant, seed) of one model in lockstep; returns rows and the wall time."""
    members = [(v, s) for v in variants for s in seeds]
    cfgs = [preset("digits", seed=s) for _, s in members]
    tasks = [digits(seed=s) for _, s in members]
    t0 = time.perf_counter()
    res = train_many(cfgs, tasks, model, seeds=[s for _, s in members], schedule=schedule("digits"),
                     limit=limit, init_params=[start(c, v, s) for c, (v, s) in zip(cfgs, members)],
                     progress={"desc": f"digits {model} x{len(members)}", "position": position})
    wall = time.perf_counter() - t0
    rows = [{"model": model, "variant": v, "seed": s, "test_accuracy": r["test_accuracy"],
             "train_accuracy": r["train_accuracy"], "curve": r["curve"]} for (v, s), r in zip(members, res)]
    return rows, wall


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="example: .venv/bin/python benchmarks/bench_spread.py --seeds 0-4",
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0-4", help="seeds, e.g. 0-4 or 0,2")
    ap.add_argument("--models", default="float,fixed", help="float, fixed or both (one process each)")
    ap.add_argument("--limit", type=int, default=None, help="first N train and test samples (quick runs)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"of {', '.join(VARIANTS)}")
    ap.add_argument("--preset-from", metavar="JSON",
                    help="take the preset runs from a bench_robustness record (same preset, seeds, test splits)")
    ap.add_argument("--name", default="spread")
    args = ap.parse_args(argv)
    seeds = list(parse_seeds(args.seeds))
    models = [m for m in args.models.split(",") if m]
    bad = [m for m in models if m not in ("float", "fixed")]
    if bad or not models:
        ap.error(f"--models {args.models!r}: expected float, fixed or float,fixed")
    variants = [v for v in args.variants.split(",") if v]
    if not variants or any(v not in VARIANTS for v in variants) or len(set(variants)) != len(variants):
        ap.error(f"--variants {args.variants!r}: expected distinct names from {', '.join(VARIANTS)}")
    if args.preset_from and args.limit:
        ap.error("--preset-from takes full runs; it does not combine with --limit")
    trained = [v for v in variants if not (v == "preset" and args.preset_from)]
    recorded = []
    if args.preset_from and "preset" in variants:
        rec = json.loads(open(args.preset_from).read())
        for m in models:
            found = {r["seed"]: r for r in rec["runs"] if r["task"] == "digits" and r["model"] == m
                     and r["epochs"] == schedule("digits").epochs and r["schedule_phases"] == schedule("digits").phases}
            missing = [s for s in seeds if s not in found]
            if missing:
                ap.error(f"--preset-from {args.preset_from}: no digits {m} run at the preset's schedule for seeds {missing}")
            recorded += [{"model": m, "variant": "preset", "seed": s, "test_accuracy": found[s]["test_accuracy"],
                          "train_accuracy": found[s]["train_accuracy"], "curve": found[s]["curve"],
                          "from": args.preset_from} for s in seeds]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(len(models)) as pool:
        futs = {m: pool.submit(runs, m, seeds, args.limit, i, trained) for i, m in enumerate(models)}
        done = {m: f.result() for m, f in futs.items()}
    rows = recorded + [r for m in models for r in done[m][0]]
    acc = {(r["model"], r["variant"], r["seed"]): 100 * r["test_accuracy"] for r in rows}
    per_seed = []
    for s in seeds:
        entry = {"seed": s}
        for m in models:
            vals = [acc[m, v, s] for v in variants]
            entry[m] = dict(zip(variants, vals), spread=max(vals) - min(vals))
        if len(models) == 2:
            entry["fixed_minus_float"] = {v: acc["fixed", v, s] - acc["float", v, s] for v in variants}
        per_seed.append(entry)
        print(entry)
    summary = {m: {"largest_spread": max(e[m]["spread"] for e in per_seed),
                   "seeds_with_spread_over_1": [e["seed"] for e in per_seed if e[m]["spread"] > 1.0],
                   "mean_per_variant": {v: float(np.mean([acc[m, v, s] for s in seeds])) for v in variants}}
               for m in models}
    write(args.name, {"seeds": seeds, "limit": args.limit, "variants": variants, "preset_from": args.preset_from,
                      "schedule": {"epochs": schedule("digits").epochs, "phases": schedule("digits").phases},
                      "wall_seconds": time.perf_counter() - t0,
                      "train_wall_seconds": {m: done[m][1] for m in models},
                      "per_seed": per_seed, "summary": summary, "runs": rows})


if __name__ == "__main__":
    main()
