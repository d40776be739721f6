"""Where a training sample's clocks go: the chip's state machines, clock by clock.

    .venv/bin/python benchmarks/bench_sample_clocks.py [--tasks coincidence digits] [--lanes 4] [--samples 1]

Runs the first ``--samples`` training samples of each task's preset network (fresh weights,
the preset's first learning rates) through the whole chip's sample sequencer in amaranth.sim
at each ``--lanes`` P, as the demo does (the sample written, queued, its results read; hidden
spikes not routed to the host), once trained and once inferred (``--modes``), and counts, in
every clock from the first sample's queueing to the last one's results, the state of three
state machines:

- ``core``: the network core's sequencer (``EVENTS`` is the core idle between commands, with
  layer 0 taking events; ``FUSED`` or ``BUCKETS`` and ``NEURONS`` a layer's state passes;
  ``FWD_EVENTS`` the fan-out of a layer's spikes into the next; ``LEARN`` a learning pass);
- ``learning``: the learning unit (``ROW`` fetches a row's deltas, ``V_READ`` its K bucket
  weights, ``W`` one input per clock; ``IDLE`` also while the pass below writes errors);
- ``samples``: the sample sequencer's runner (``POLL`` while a core command runs).

Every run's results must equal the golden model's (``gammacore.golden.sample.run_sample``).
Figures per task and P: clocks per sample, per step and per learning pass, and each state's
clocks per sample. About 2 min per coincidence sample and P on this machine.
"""
import argparse
import collections
import copy
import time

import numpy as np
from _common import write

from gammacore import regmap as R
from gammacore.golden import formats as F
from gammacore.golden.network import make_network
from gammacore.golden.presets import preset
from gammacore.golden.sample import run_sample
from gammacore.golden.tasks import make_task

MACHINES = {"core": lambda dut: dut.core.sequencer, "learning": lambda dut: dut.core.learning_unit,
            "samples": lambda dut: dut.sample_unit}


def run(task_name, lanes, n_samples, learn=True):
    from amaranth.sim import Simulator

    from gammacore.rtl.chip import Chip
    from gammacore.sim.amaranth_chip import BusInitiator
    from gammacore.sim.sample_case import run_samples
    cfg = preset(task_name)
    net = make_network(cfg, "fixed", batch=1)
    initial = copy.deepcopy(net.layers)
    task = make_task(task_name)
    samples = []
    for i in range(n_samples):
        q = F.Q.from_float(task.x_train[i])
        mask, label = task.m_train[i], int(task.y_train[i])
        samples.append({"words": R.sample_words(q, mask, label), "learn": learn,
                        "want": run_sample(net, q, mask, label, learn), "T": len(mask), "loss_steps": int(mask.sum())})
    case = {"cfg": cfg, "initial": initial, "samples": samples, "n_out": cfg.layers[-1].n_out,
            "capacity": R.Capacity.for_config(cfg)}
    dut = Chip(case["capacity"], lanes=lanes)
    counts = {name: collections.Counter() for name in MACHINES}
    flags = {}

    async def bench(ctx):
        host = BusInitiator(ctx, dut.bus, np.random.default_rng(1), p_idle=0.0)
        await host.load(R.load_plan(cfg, initial, route_hidden_to_host=False))
        flags["counting"] = True
        flags["results"] = await run_samples(host, case, dut.sample_words)
        flags["counting"] = False

    async def counter(ctx):
        states = {name: get(dut).fsm.state for name, get in MACHINES.items()}
        async for _, _, *values in ctx.tick().sample(*states.values()):
            if flags.get("counting"):
                for (name, sig), v in zip(states.items(), values):
                    counts[name][sig.decoder(int(v)).split("/")[0]] += 1

    sim = Simulator(dut)
    sim.add_process(counter)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    t0 = time.perf_counter()
    sim.run()
    wall = time.perf_counter() - t0
    for n, (s, got) in enumerate(zip(samples, flags["results"])):
        want = dict(s["want"], score=[int(v) for v in s["want"]["score"]])
        if got != want:
            raise SystemExit(f"{task_name} P={lanes} learn={learn} sample {n}: chip {got} != golden {want}")
    clocks = sum(counts["core"].values())
    steps = sum(s["T"] for s in samples)
    passes = sum(s["loss_steps"] for s in samples)
    per = lambda c: {k: round(v / n_samples, 1) for k, v in sorted(c.items(), key=lambda kv: -kv[1])}
    return {"task": task_name, "lanes": lanes, "learn": learn, "samples": n_samples, "network": [cfg.layers[0].n_in] + [l.n_out for l in cfg.layers],
            "steps_per_sample": steps / n_samples, "loss_steps_per_sample": passes / n_samples,
            "clocks_per_sample": clocks / n_samples, "clocks_per_step": clocks / steps,
            "learn_clocks_per_pass": counts["core"]["LEARN"] / passes if learn and passes else None,
            "states_per_sample": {name: per(c) for name, c in counts.items()}, "match": True,
            "wall_seconds": round(wall, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=["coincidence", "digits"], choices=["coincidence", "digits"])
    ap.add_argument("--lanes", type=int, nargs="+", default=[4])
    ap.add_argument("--samples", type=int, default=1)
    ap.add_argument("--modes", nargs="+", default=["train", "infer"], choices=["train", "infer"])
    ap.add_argument("--name", default="sample_clocks")
    args = ap.parse_args()
    runs = []
    for task in args.tasks:
        for p in args.lanes:
            for mode in args.modes:
                r = run(task, p, args.samples, learn=mode == "train")
                core = r["states_per_sample"]["core"]
                passes = f", {r['learn_clocks_per_pass']:.1f} a learning pass" if r["learn_clocks_per_pass"] else ""
                print(f"{task} P={p} {mode}: {r['clocks_per_sample']:.0f} clocks a sample "
                      f"({r['clocks_per_step']:.1f} a step{passes}); core states {core}", flush=True)
                runs.append(r)
    write(args.name, {"runs": runs})


if __name__ == "__main__":
    main()
