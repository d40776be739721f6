"""Clocks per step and per learning pass against issue 14's ideals, on the whole chip.

    .venv/bin/python benchmarks/bench_cycles.py [--sim verilator|icarus|amaranth] [--steps T]
        [--lanes P [P ...]] [--networks 64-64 8-128-10 ...] [--out NAME]

Random networks from gammacore.sim.net_case (seed 5, input rate 0.4, learning on every step)
run on the chip with no idle clocks and no back-pressure; every run is first checked bit for
bit against the golden network. The networks: bench_chip's four, a 64-64 layer (with an
encoder, as ``gammacore verify`` runs it without --layers) and the digits shape 8-128-10.

Issue 14's ideals, with P lanes (``--lanes``, the chip's ``lanes`` build option: the event
fan-out, the bucket pass and the dendrites are laned, P words per clock, with one shared
encoder; the bucket pass feeds the dendrites when P <= K; the learning unit takes rows of P
neurons, one synapse per clock per lane):

- a step: per layer, ceil(N_out / P) (K + E) + ceil(N_in / P) K, E the events into the layer
  that step (the host's for layer 0, the spikes of the layer below for the others; the
  N_in K term is the input traces, which a chip with learning keeps);
  target: at most 1.25 x the ideal + 16 clocks per layer;
- a learning pass: per layer, ceil(N_out / P) (N_in + K + 1) (one synapse per clock per
  lane); target: at most 1.5 x the ideal. The learning unit skips neurons whose delta is
  zero, so the measured pass can be below the ideal on sparse errors; the rows give the
  non-zero deltas' share too.

The measured figures are the chip's CYCLES and LEARN_CYCLES counters. Writes
benchmarks/results/cycles.json (every network at P = 1, the defaults), else
benchmarks/results/cycles_lanes.json, or results/NAME.json with ``--out NAME``.
"""
import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import write

from gammacore.rtl.chip import Chip
from gammacore.sim import runner
from gammacore.sim.amaranth_chip import first_net_mismatch, run_chip_amaranth
from gammacore.sim.net_case import case_json, make_net_case

#: (sizes, K, output layer with an encoder)
NETWORKS = [((4, 8, 2), 4, False), ((8, 16, 4), 4, False), ((8, 16, 16, 4), 4, False), ((8, 32, 10), 4, False),
            ((64, 64), 4, True), ((8, 128, 10), 4, False)]


def run(case, sim, lanes=1):
    if sim == "amaranth":
        return run_chip_amaranth(case, p_idle=0.0, p_pause=0.0, out_depth=256, lanes=lanes)
    with tempfile.TemporaryDirectory(prefix="gammacore-cycles-") as tmp:
        tmp = Path(tmp)
        (tmp / "case.json").write_text(json.dumps(case_json(case)))
        v = runner.export(Chip(case["capacity"], out_depth=256, lanes=lanes), "chip", tmp / "chip.v")
        runner.run(sim, v, "chip", "gammacore.sim.tb_chip", tmp / "build",
                   extra_env={"GAMMACORE_CASE": str(tmp / "case.json"), "GAMMACORE_OUT": str(tmp / "obs.json"),
                              "GAMMACORE_P_IDLE": "0", "GAMMACORE_P_PAUSE": "0"},
                   seed=case["seed"], log_file=tmp / "sim.log")
        return json.loads((tmp / "obs.json").read_text())


def ideals(case, P=1):
    sizes, K = case["sizes"], case["K"]
    bases = np.cumsum((0,) + tuple(sizes[1:]))
    fwd = []
    for step in case["steps"]:
        E = [len(step["events"])] + [sum(1 for p in step["packets"] if bases[l] <= p[0] < bases[l + 1])
                                     for l in range(len(sizes) - 2)]
        fwd.append(sum(math.ceil(n_out / P) * (K + e) + math.ceil(n_in / P) * K
                       for n_in, n_out, e in zip(sizes, sizes[1:], E)))
    learn = sum(math.ceil(n_out / P) * (n_in + K + 1) for n_in, n_out in zip(sizes, sizes[1:]))
    return fwd, learn


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim", default="verilator", choices=("verilator", "icarus", "amaranth"))
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--lanes", type=int, nargs="+", default=[1], help="lane counts P to build (default 1)")
    ap.add_argument("--networks", nargs="+", default=None,
                    help="only these networks, as layer sizes joined by '-' (e.g. 64-64 8-128-10)")
    ap.add_argument("--out", default=None, help="write results/OUT.json (default: cycles or cycles_lanes)")
    args = ap.parse_args()
    networks = NETWORKS
    if args.networks:
        known = {"-".join(map(str, sizes)): (sizes, K, enc) for sizes, K, enc in NETWORKS}
        unknown = [n for n in args.networks if n not in known]
        if unknown:
            ap.error(f"unknown network(s) {unknown}; expected some of {sorted(known)}")
        networks = [known[n] for n in args.networks]
    rows = []
    for (sizes, K, out_encoder), P in [(net, P) for net in networks for P in args.lanes]:
        t0 = time.perf_counter()
        case = make_net_case(5, sizes, K, T=args.steps, rate=0.4, p_learn=1.0, out_encoder=out_encoder)
        obs = run(case, args.sim, P)
        mismatch = first_net_mismatch(case, obs)
        assert mismatch is None, f"{sizes}, P = {P}: {mismatch}"
        fwd, learn = ideals(case, P)
        layers = len(sizes) - 1
        cyc = np.array(obs["cycles"], dtype=float)
        lcyc = np.array(obs["learn_cycles"], dtype=float)
        deltas = [sum(1 for e in s["err"] if e) / sizes[-1] for s in case["steps"]]
        row = {"sizes": list(sizes), "K": K, "lanes": P, "steps": len(case["steps"]),
               "events_per_step": float(np.mean([len(s["events"]) for s in case["steps"]])),
               "cycles_per_step": float(cyc.mean()), "ideal_per_step": float(np.mean(fwd)),
               "ratio": float(np.mean(cyc / np.array(fwd))),
               "step_target_met": bool(np.all(cyc <= 1.25 * np.array(fwd) + 16 * layers)),
               "learn_cycles_per_pass": float(lcyc.mean()), "learn_ideal_per_pass": learn,
               "learn_ratio": float(lcyc.mean() / learn),
               "learn_target_met": bool(np.all(lcyc <= 1.5 * learn)),
               "nonzero_output_error_share": float(np.mean(deltas)),
               "simulator": args.sim, "wall_seconds": time.perf_counter() - t0}
        rows.append(row)
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    default = args.lanes == [1] and networks == NETWORKS
    write(args.out or ("cycles" if default else "cycles_lanes"), {"rows": rows, "lanes": args.lanes,
                     "note": "issue 14's ideals: a step ceil(N_out/P)(K+E) + ceil(N_in/P)K per layer (target "
                             "<= 1.25x + 16 per layer), a learning pass ceil(N_out/P)(N_in+K+1) per layer "
                             "(target <= 1.5x); the chip's CYCLES and LEARN_CYCLES, no idle clocks"})


if __name__ == "__main__":
    main()
