"""One layer on the network core: cycles per time step against the ideal, and simulator speed.

    .venv/bin/python benchmarks/bench_layer_core.py

One layer of n_in x n_out with a sigma-delta encoder (its spikes to the host) on the whole
chip (the former single-layer core, rtl/layer_core.py, is gone: the network core with one
layer is the same datapath). Cycles are the core's own per-step counter (``CYCLES``) with
no idle cycles and no back-pressure. The issue's ideal is N*K + E (one clock per
neuron-bucket and per event); this single-lane core spends N clocks per event (fan-out to
every neuron, one MAC per clock), (N + I)*K on the bucket pass (Z and presynaptic traces)
and N*K on the dendrite, so the ratio grows with N. Simulator speed: clock cycles per
second of the same layer and inputs in amaranth.sim, Icarus and Verilator (cocotb, Python
testbench included; build excluded).
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

from _common import write

from gammacore.rtl.chip import Chip
from gammacore.sim import runner
from gammacore.sim.amaranth_chip import first_net_mismatch, run_chip_amaranth
from gammacore.sim.net_case import case_json, make_net_case

SIZES = [(8, 16, 4), (16, 32, 4), (64, 64, 4), (8, 128, 4)]


def one_layer(seed, n_in, n_out, K, T, rate):
    return make_net_case(seed, (n_in, n_out), K, T, rate=rate, p_learn=0.0, out_encoder=True)


def main():
    rows = []
    for n_in, n_out, K in SIZES:
        case = one_layer(1, n_in, n_out, K, T=6, rate=0.25)
        obs = run_chip_amaranth(case, p_idle=0.0, p_pause=0.0)
        assert first_net_mismatch(case, obs) is None
        for step, cycles in zip(case["steps"], obs["cycles"]):
            E = len(step["events"])
            ideal = n_out * K + E
            rows.append({"n_in": n_in, "n_out": n_out, "K": K, "events": E, "cycles": cycles,
                         "ideal": ideal, "ratio": cycles / ideal,
                         "model": E * (n_out + 1) + (n_out + n_in) * K + n_out * K})
        print(rows[-1], flush=True)
    speed = {}
    case = one_layer(2, 16, 32, 4, T=40, rate=0.3)
    t0 = time.perf_counter()
    obs = run_chip_amaranth(case, p_idle=0.0, p_pause=0.0)
    speed["amaranth"] = {"cycles": sum(obs["cycles"]), "seconds": time.perf_counter() - t0}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "case.json").write_text(json.dumps(case_json(case)))
        v = runner.export(Chip(case["capacity"]), "chip", tmp / "chip.v")
        for sim in runner.SIMULATORS:
            env = {"GAMMACORE_CASE": str(tmp / "case.json"), "GAMMACORE_OUT": str(tmp / f"{sim}.json"),
                   "GAMMACORE_P_IDLE": "0", "GAMMACORE_P_PAUSE": "0"}
            r = runner.run(sim, v, "chip", "gammacore.sim.tb_chip", tmp / sim, extra_env=env,
                           seed=2, log_file=tmp / f"{sim}.log")
            o = json.loads((tmp / f"{sim}.json").read_text())
            assert first_net_mismatch(case, o) is None
            # the core's working clocks (the bus traffic between steps is not counted)
            speed[sim] = {"cycles": sum(o["cycles"]), "seconds": r["test_seconds"], "build_seconds": r["build_seconds"]}
    for v in speed.values():
        v["cycles_per_second"] = v["cycles"] / v["seconds"]
    write("layer_core", {"cycles_per_step": rows, "simulator_speed": speed,
                         "note": "one layer on the network core of the chip; cycles counted by the core "
                                 "(working clocks); speed counts those cycles over the wall time of the "
                                 "simulation run (bus traffic included)"})


if __name__ == "__main__":
    # no options: --help shows what the run does instead of starting it
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    main()
