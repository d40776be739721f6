"""Whole chip: cycles per time step with learning off and on, against the ideal count.

    .venv/bin/python benchmarks/bench_chip.py      (15-30 minutes; writes results/chip.json)

Random networks from gammacore.sim.net_case run on the chip in amaranth.sim with no idle
cycles; every run is checked bit for bit against the golden network first. Per step:

- forward: the core's CYCLES counter; ideal = sum over layers of (n_out K + E_l), E_l the
  events into layer l (host events for layer 0, spikes of layer l-1 after it) - one clock
  per neuron-bucket and per event, the issue's count;
- learning: LEARN_CYCLES; ideal = sum over layers of n_out (n_in K + K + 1) - one clock per
  multiply of the rule (u_ji's K products, the K bucket-weight updates, the bias) when every
  delta is non-zero. Neurons with a zero delta are skipped by the learning unit, so the
  ratio can fall below 1 on sparse errors.
- asynchronous modes (learning off): CYCLES against the same ideal, and the clocks per
  dispatched spike ((CYCLES - sync CYCLES) / spikes of the step): each spike costs the
  selection among the layers' leaders, one encoder pass, the fan-out and a re-evaluation
  of the next layer (the scan of the firing layer's pending words overlaps them).
"""
import argparse
import time

import numpy as np
from _common import write

from gammacore.sim.amaranth_chip import first_net_mismatch, run_chip_amaranth
from gammacore.sim.net_case import make_net_case

NETWORKS = [((4, 8, 2), 4), ((8, 16, 4), 4), ((8, 16, 16, 4), 4), ((8, 32, 10), 4)]


def main():
    rows = []
    for sizes, K in NETWORKS:
        sync_cycles = None
        for learn, mode in ((False, "sync"), (True, "sync"), (False, "async-random"), (False, "async-priority")):
            t0 = time.perf_counter()
            case = make_net_case(5, sizes, K, T=8, rate=0.4, p_learn=1.0 if learn else 0.0, mode=mode)
            obs = run_chip_amaranth(case, p_idle=0.0, p_pause=0.0, out_depth=256)
            assert first_net_mismatch(case, obs) is None, first_net_mismatch(case, obs)
            bases = np.cumsum((0,) + tuple(sizes[1:]))
            fwd_ratio, ideal_f = [], []
            for step, cycles in zip(case["steps"], obs["cycles"]):
                E = [len(step["events"])] + [sum(1 for p in step["packets"] if bases[l] <= p[0] < bases[l + 1])
                                             for l in range(len(sizes) - 2)]
                ideal = sum(n_out * K + e for n_out, e in zip(sizes[1:], E))
                ideal_f.append(ideal)
                fwd_ratio.append(cycles / ideal)
            row = {"sizes": list(sizes), "K": K, "learning": learn, "mode": mode, "steps": len(case["steps"]),
                   "forward_cycles_per_step": float(np.mean(obs["cycles"])),
                   "forward_ideal_per_step": float(np.mean(ideal_f)),
                   "forward_ratio": float(np.mean(fwd_ratio)),
                   "sim_seconds": time.perf_counter() - t0}
            if learn:
                ideal_l = sum(n_out * (n_in * K + K + 1) for n_in, n_out in zip(sizes, sizes[1:]))
                nz = [sum(1 for e in s["err"] if e) for s in case["steps"]]
                row.update({"learn_cycles_per_step": float(np.mean(obs["learn_cycles"])),
                            "learn_ideal_per_step": ideal_l,
                            "learn_ratio": float(np.mean(obs["learn_cycles"]) / ideal_l),
                            "nonzero_output_errors_per_step": float(np.mean(nz))})
            if mode == "sync" and not learn:
                sync_cycles = np.array(obs["cycles"], dtype=float)
            if mode != "sync":
                spikes = np.array([len(s["packets"]) for s in case["steps"]], dtype=float)
                row.update({"spikes_per_step": float(spikes.mean()),
                            "cycles_per_spike": float((np.array(obs["cycles"]) - sync_cycles).sum() / spikes.sum())})
            rows.append(row)
            print(row, flush=True)
    write("chip", {"rows": rows, "command": "python benchmarks/bench_chip.py"})


if __name__ == "__main__":
    # no options: --help shows what the run does instead of starting it
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
