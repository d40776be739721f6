"""The learning rule's operand width (issue 14): train the presets with yhat, u and Z narrowed to ``--bits``.

The learning unit forms, per lane and synapse, the K products V[j,k] yhat_i^k and delta_j u,
and per row delta_j Z_j^k. The golden model reads those operands in the format GRAD_OP
(S18.10: ``x' = sat18(round(x >> 12))``, golden/formats.py), so that each product is one
18 x 18 multiplier (rtl/learning.py: K + 4 a lane). Before GRAD_OP they were the 32-bit
words themselves (TRACE, Z: S32.22), two multipliers a product, 2K + 6 a lane.

This script trains the preset networks with the golden fixed-point model whose GRAD_OP is
replaced by ``--bits`` bits after a rounded right shift by ``--shift`` (fraction bits
22 - shift): ``yhat' = sat(round(yhat >> shift))``, ``u' = sat(round(sum_k V[j,k] yhat'^k >> 12))``,
``Z' = sat(round(Z >> shift))``, and the updates ``round(delta u' >> (shift_w - 6 + shift))``
(and Z' with shift_v). Everything else is the golden model's. ``--bits 18 --shift 12`` is
the golden model exactly; ``--bits 32 --shift 0`` is the model before GRAD_OP. The model is
patched in this process only.

It prints and writes (``results/<name>.json``) per task and seed the test accuracy, the
fraction of narrowed operands that saturated, and, for full runs, the same seed's accuracy
with 32-bit operands (the model before GRAD_OP) from its record in results/ (:data:`BASELINE`).

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
#: records of the golden fixed-point model before GRAD_OP (32-bit operands, errors S17.12), per task and dt
BASELINE = {("coincidence", 1e-3): "robustness_err17_coincidence_1ms.json",
            ("coincidence", 5e-4): "robustness_err17_coincidence_0.5ms.json",
            ("coincidence", 2.5e-4): "robustness_err17_coincidence_fine.json",
            ("coincidence", 1e-4): "robustness_err17_coincidence_fine.json",
            ("digits", 1e-3): "digits_baselines_err17.json"}


def narrow(x, bits, shift, count):
    """sat_bits(round(x >> shift)) as raw integers; ``count`` gets [saturated, total]."""
    r = fp.rshift_round(x, shift)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    count[0] += int(np.count_nonzero((r < lo) | (r > hi)))
    count[1] += r.size
    return np.clip(r, lo, hi)


class _Override:
    """A module seen through a few replaced attributes."""

    def __init__(self, module, **attrs):
        self._module = module
        self.__dict__.update(attrs)

    def __getattr__(self, name):
        return getattr(self._module, name)


def patch(bits, shift, counts):
    """Make the golden fixed-point learning rule read its operands as ``bits`` bits with
    ``22 - shift`` fraction bits instead of GRAD_OP (this process only).

    FixedLayer.learn reads the operand format (for the updates' fraction bits) and the two
    narrowing functions through its module's ``F`` and ``fp``; the patch hands it views of
    those modules with the three replaced.
    """
    op = F.Format("learning operand (patched)", bits, F.Z.frac - shift, signed=True)

    def grad_operand(x):
        return narrow(x, bits, shift, counts["Z"])

    def grad_w_term(V, trace):
        u = np.einsum("...jk,...ik->...ji", np.asarray(V, dtype=np.int64), narrow(trace, bits, shift, counts["yhat"]))
        return narrow(fp.rshift_round(u, F.V.frac), bits, 0, counts["u"])

    fixed_model.F = _Override(F, GRAD_OP=op, GRAD_OP_SHIFT=shift)
    fixed_model.fp = _Override(fp, grad_operand=grad_operand, grad_w_term=grad_w_term)


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
    """Per-seed test accuracy (%) of the model before GRAD_OP from a record, or {} if it has none."""
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
            print(f"{'':>{len(g['task'])}}  32-bit operands {' / '.join(f'{v:.2f}' for v in b.values())} %, "
                  f"mean {np.mean(list(b.values())):.3f} ({record})")
        print("  saturated: " + ", ".join(f"{k} {v['fraction']:.2e}" for k, v in g["saturated"].items()))
    write(a.name, {"bits": a.bits, "shift": a.shift, "dt": a.dt, "limit": a.limit, "epochs": a.epochs,
                   "wall_seconds": time.perf_counter() - start, "groups": groups})
    return 0


if __name__ == "__main__":
    sys.exit(main())
