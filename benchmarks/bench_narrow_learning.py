"""What-if (issue 14): the learning rule's products on narrowed operands, one hard multiplier each.

The learning unit forms, per lane and synapse, the K products V[j,k] yhat_i^k and delta_j u,
and per row delta_j Z_j^k; yhat, u and Z are 32-bit words (TRACE, Z: 22 fraction bits), so
each of those products takes two 18 x 18 multipliers (rtl/learning.py: 2K + 6 per lane in
all). This script trains the preset networks with a golden fixed-point model whose learning
rule reads those three operands narrowed to ``--bits`` bits (signed, saturated) after a
rounded right shift by ``--shift`` (fraction bits 22 - shift):

- ``yhat' = sat(round(yhat >> shift))``, ``u' = sat(round(sum_k V[j,k] yhat'^k >> 12))``,
  ``W_m -= round(delta u' >> (6 - shift + shift_w))``;
- ``Z' = sat(round(Z >> shift))``, ``V_m -= round(delta Z' >> (6 - shift + shift_v))``.

Everything else (the forward pass, the traces as stored, the bias, the error below) is the
golden model's. With 18 bits each of those products fits one MULT18X18D (16 x 18 and 17 x 18),
so a lane would need K + 4 multipliers instead of 2K + 6. The model is patched in this
process only (nothing in golden/ changes); the chip does not implement it.

It prints and writes (``results/<name>.json``) per task and seed the test accuracy, the
fraction of narrowed operands that saturated, and, for full runs, the same seed's accuracy on
the unpatched model from its record in results/ (:data:`BASELINE`).

Example::

    .venv/bin/python benchmarks/bench_narrow_learning.py --bits 18 --shift 12
    .venv/bin/python benchmarks/bench_narrow_learning.py --tasks coincidence --dt 5e-4
    .venv/bin/python benchmarks/bench_narrow_learning.py --tasks digits --seeds 0 --limit 50 --epochs 1
"""
import argparse
import json
import multiprocessing as mp
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import RESULTS, parse_seeds, write  # noqa: E402
from gammacore.golden import fixed_model, fixedpoint as fp, formats as F  # noqa: E402
from gammacore.golden.presets import preset  # noqa: E402
from gammacore.golden.tasks import make_task  # noqa: E402
from gammacore.golden.train import train_many  # noqa: E402

SEEDS = {"coincidence": tuple(range(10)), "digits": tuple(range(5))}
#: records of the unpatched golden fixed-point model (errors S17.12), per task and dt
BASELINE = {("coincidence", 1e-3): "robustness_err17_coincidence_1ms.json",
            ("coincidence", 5e-4): "robustness_err17_coincidence_0.5ms.json",
            ("coincidence", 2.5e-4): "robustness_err17_coincidence_fine.json",
            ("coincidence", 1e-4): "robustness_err17_coincidence_fine.json",
            ("digits", 1e-3): "digits_baselines_err17.json"}
#: the golden rule's functions, which every patch wraps (so patching again does not stack)
GOLDEN_GRAD_W_TERM, GOLDEN_LEARN = fp.grad_w_term, fixed_model.FixedLayer.learn


def narrow(x, bits, shift, count):
    """sat_bits(round(x >> shift)) as raw integers; ``count`` gets [saturated, total]."""
    r = fp.rshift_round(x, shift)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    count[0] += int(np.count_nonzero((r < lo) | (r > hi)))
    count[1] += r.size
    return np.clip(r, lo, hi)


def patch(bits, shift, counts):
    """Make the golden fixed-point learning rule read narrowed yhat, u and Z (this process only).

    Each narrowed operand is handed back scaled up by ``shift`` (exact), so the unpatched
    ``update_master`` with its 34 fraction bits applies ``round(delta x' >> (6 - shift + s))``.
    """
    def grad_w_term(V, trace):
        # the golden u of the narrowed traces (saturated to TRACE, then to ``bits``)
        u = GOLDEN_GRAD_W_TERM(V, narrow(trace, bits, shift, counts["yhat"]))
        return narrow(u, bits, 0, counts["u"]) << shift

    def learn_narrow(self, err, below=True):
        Z = self.Z
        self.Z = narrow(Z, bits, shift, counts["Z"]) << shift
        try:
            return GOLDEN_LEARN(self, err, below)
        finally:
            self.Z = Z

    fixed_model.fp.grad_w_term = grad_w_term
    fixed_model.FixedLayer.learn = learn_narrow


def run(job):
    task, dt, seeds, bits, shift, limit, epochs = job
    counts = {"yhat": [0, 0], "u": [0, 0], "Z": [0, 0]}
    patch(bits, shift, counts)
    cfgs = [preset(task, dt=dt, seed=s) for s in seeds]
    tasks = [make_task(task, dt=dt, seed=s) for s in seeds]
    start = time.perf_counter()
    res = train_many(cfgs, tasks, "fixed", seeds=list(seeds), epochs=epochs, limit=limit,
                     progress={"desc": f"{task} dt={dt * 1e3:g}ms narrowed x{len(seeds)}"})
    return {"task": task, "dt": dt, "seeds": list(seeds), "wall_seconds": time.perf_counter() - start,
            "test_accuracy_pct": {str(s): round(100.0 * float(r["test_accuracy"]), 4) for s, r in zip(seeds, res)},
            "saturated": {k: {"fraction": v[0] / max(v[1], 1), "count": v[0], "of": v[1]} for k, v in counts.items()}}


def baseline(task, dt, path):
    """Per-seed test accuracy (%) of the unpatched model from a record, or {} if it has none."""
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if "rows" in d:
        return {str(r["seed"]): round(100.0 * r["gammacore_fixed"]["test_accuracy"], 4)
                for r in d["rows"] if "gammacore_fixed" in r}
    for row in d.get("summary", []):
        if row.get("task") == task and row.get("model") == "fixed" and row.get("dt") == dt:
            return row["test_accuracy_pct"]
    return {}


def seed_list(text):
    try:
        seeds = parse_seeds(text)
    except ValueError:
        seeds = ()
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"takes seeds such as 0-4 or 0,2, not {text!r}")
    return seeds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__[__doc__.index("Example"):],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bits", type=int, default=18, help="width of the narrowed operands, sign included (default 18)")
    ap.add_argument("--shift", type=int, default=12, help="rounded right shift before narrowing (default 12: 10 fraction bits)")
    ap.add_argument("--tasks", default="coincidence,digits", help="tasks, comma-separated (default both)")
    ap.add_argument("--seeds", type=seed_list, default=None, help="seeds, comma-separated (e.g. 0-4 or 0,2; default: coincidence 0-9, digits 0-4)")
    ap.add_argument("--dt", type=float, default=1e-3, help="time step in seconds (default 0.001; digits: 0.001 only)")
    ap.add_argument("--limit", type=int, default=None, help="first N training and test samples (quick runs)")
    ap.add_argument("--epochs", type=int, default=None, help="epochs (default: the preset's)")
    ap.add_argument("--processes", type=int, default=2, help="worker processes, one task each (default 2)")
    ap.add_argument("--name", default="narrow_learning", help="record name under results/ (default narrow_learning)")
    a = ap.parse_args(argv)
    tasks = [t.strip() for t in a.tasks.split(",") if t.strip()]
    for t in tasks:
        if t not in SEEDS:
            ap.error(f"--tasks: unknown task {t!r}; expected some of {', '.join(SEEDS)}")
    if not 2 <= a.bits <= 32:
        ap.error(f"--bits must be in 2..32, not {a.bits}")
    if not 0 <= a.shift <= F.Z.frac:
        ap.error(f"--shift must be in 0..{F.Z.frac}, not {a.shift}")
    if not (a.dt > 0) or ("digits" in tasks and a.dt != 1e-3):
        ap.error(f"--dt must be positive (and 0.001 with digits), not {a.dt}")
    jobs = [(t, a.dt, a.seeds or SEEDS[t], a.bits, a.shift, a.limit, a.epochs) for t in tasks]
    start = time.perf_counter()
    with mp.get_context("fork").Pool(min(a.processes, len(jobs))) as pool:
        groups = pool.map(run, jobs)
    full = a.limit is None and a.epochs is None
    for g in groups:
        record = BASELINE.get((g["task"], a.dt))
        base = baseline(g["task"], a.dt, RESULTS / record) if full and record else {}
        g["baseline_pct"] = {s: base[s] for s in g["test_accuracy_pct"] if s in base}
        acc = g["test_accuracy_pct"]
        print(f"{g['task']}: narrowed {' / '.join(f'{v:.2f}' for v in acc.values())} %, mean {np.mean(list(acc.values())):.3f}")
        if g["baseline_pct"]:
            b = g["baseline_pct"]
            print(f"{'':>{len(g['task'])}}  unpatched {' / '.join(f'{v:.2f}' for v in b.values())} %, "
                  f"mean {np.mean(list(b.values())):.3f} ({record})")
        print("  saturated: " + ", ".join(f"{k} {v['fraction']:.2e}" for k, v in g["saturated"].items()))
    write(a.name, {"bits": a.bits, "shift": a.shift, "dt": a.dt, "limit": a.limit, "epochs": a.epochs,
                   "wall_seconds": time.perf_counter() - start, "groups": groups})
    return 0


if __name__ == "__main__":
    sys.exit(main())
