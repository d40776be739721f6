"""Delayed coincidence: accuracy vs dt for the same physical task, encoder on and bypassed.

    .venv/bin/python benchmarks/bench_coincidence.py [--dts 1e-3,5e-4,2.5e-4,1e-4]
        [--encoders sigma-delta,bypass] [--model fixed] [--epochs N] [--seed N] [--limit N] [--name NAME]

Goal (issue 2): >= 95 % at dt = 1 ms and no more than 2 points lower at dt = 0.1 ms.
Runs at fine dt are long (0.1 ms: 500 steps per sample).
"""
import argparse
import dataclasses

from _common import write

from gammacore.golden.presets import preset
from gammacore.golden.tasks import coincidence
from gammacore.golden.train import train


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dts", default="1e-3,5e-4,2.5e-4,1e-4")
    ap.add_argument("--encoders", default="sigma-delta,bypass")
    ap.add_argument("--model", default="fixed", choices=["float", "fixed"])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="first N train and N test samples (quick runs)")
    ap.add_argument("--name", default="coincidence")
    args = ap.parse_args()
    rows = []
    for enc in args.encoders.split(","):
        for dt in (float(d) for d in args.dts.split(",")):
            base = preset("coincidence", dt=dt, seed=args.seed)
            layers = tuple(dataclasses.replace(l, encoder=enc) if l.encoder != "none" else l for l in base.layers)
            cfg = dataclasses.replace(base, layers=layers).validate()
            r = train(cfg, coincidence(dt=dt, seed=args.seed), args.model, epochs=args.epochs, seed=args.seed,
                      limit=args.limit)
            co = cfg.derived()[0]
            rows.append({"encoder": enc, "dt": dt, "test_accuracy": r["test_accuracy"],
                         "train_accuracy": r["train_accuracy"], "test_loss": r["test_loss"],
                         "lr_shift_w": co.shift_w,
                         "lr_applied_over_eta_dt": 2.0 ** -co.shift_w / (cfg.layers[0].eta_w * dt),
                         "spikes_per_neuron_per_step": r["spikes_per_neuron_per_step"],
                         "steps": r["steps"], "wall_seconds": r["wall_seconds"],
                         "curve": r["curve"]})
            print({k: v for k, v in rows[-1].items() if k != "curve"}, flush=True)
    write(args.name, {"model": args.model, "epochs": args.epochs, "seed": args.seed, "limit": args.limit,
                      "results": rows})


if __name__ == "__main__":
    main()
