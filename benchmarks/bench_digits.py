"""Sequential digits: fixed-point vs float test accuracy with the same seed, and wall time.

    .venv/bin/python benchmarks/bench_digits.py [--seed N] [--epochs N]

Goal (issue 2): fixed-point test accuracy >= 93 % and within 1.5 points of the float model.
"""
import argparse

from _common import write

from gammacore.golden.presets import preset
from gammacore.golden.tasks import digits
from gammacore.golden.train import train


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None, help="epochs (default: the preset's schedule)")
    args = ap.parse_args()
    task = digits(seed=args.seed)
    cfg = preset("digits", seed=args.seed)
    runs = {m: train(cfg, task, m, epochs=args.epochs, seed=args.seed) for m in ("float", "fixed")}
    out = {m: {k: v for k, v in r.items() if k != "params"} for m, r in runs.items()}
    gap = 100 * (runs["float"]["test_accuracy"] - runs["fixed"]["test_accuracy"])
    write("digits", {"seed": args.seed, "epochs": runs["fixed"]["epochs"], "network": cfg.to_dict(),
                     "fixed_test_accuracy": runs["fixed"]["test_accuracy"],
                     "float_test_accuracy": runs["float"]["test_accuracy"],
                     "gap_points": gap, "goal_met": runs["fixed"]["test_accuracy"] >= 0.93 and gap <= 1.5,
                     "fixed_train_wall_seconds": runs["fixed"]["train_wall_seconds"], "runs": out})


if __name__ == "__main__":
    main()
