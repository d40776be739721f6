"""Layer core: cycles per time step against the ideal, and simulator speed.

    .venv/bin/python benchmarks/bench_layer_core.py

Cycles are the core's own per-step counter with no idle cycles and no back-pressure.
The issue's ideal is N*K + E (one clock per neuron-bucket and per event); this single-lane
core spends N clocks per event (fan-out to every neuron, one MAC per clock), (N + I)*K on
the bucket pass (Z and presynaptic traces) and N*K on the dendrite, so the ratio grows
with N. Simulator speed: clock cycles per second of the same layer and inputs in
amaranth.sim, Icarus and Verilator (cocotb, Python testbench included; build excluded).
"""
import json
import tempfile
import time
from pathlib import Path

from _common import write

from gammacore.rtl.layer_core import LayerCore
from gammacore.sim import runner
from gammacore.sim.amaranth_layer import run_amaranth
from gammacore.sim.layer_case import first_mismatch, make_case

SIZES = [(8, 16, 4), (16, 32, 4), (64, 64, 4), (8, 128, 4)]


def main():
    rows = []
    for n_in, n_out, K in SIZES:
        case = make_case(1, n_in, n_out, K, T=6, rate=0.25)
        obs = run_amaranth(case, p_idle=0.0, p_stall=0.0)
        assert first_mismatch(case, obs) is None
        for events, cycles in zip(case["events"], obs["cycles"]):
            E = len(events)
            ideal = n_out * K + E
            rows.append({"n_in": n_in, "n_out": n_out, "K": K, "events": E, "cycles": cycles,
                         "ideal": ideal, "ratio": cycles / ideal,
                         "model": E * (n_out + 1) + (n_out + n_in) * K + n_out * K})
        print(rows[-1], flush=True)
    speed = {}
    case = make_case(2, 16, 32, 4, T=40, rate=0.3)
    t0 = time.perf_counter()
    obs = run_amaranth(case, p_idle=0.0, p_stall=0.0)
    speed["amaranth"] = {"cycles": sum(obs["cycles"]), "seconds": time.perf_counter() - t0}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "case.json").write_text(json.dumps(case))
        v = runner.export(LayerCore(16, 32, 4, W=case["W"], V=case["V"], b=case["b"]), "layer_core", tmp / "lc.v")
        for sim in runner.SIMULATORS:
            env = {"GAMMACORE_CASE": str(tmp / "case.json"), "GAMMACORE_OUT": str(tmp / f"{sim}.json"),
                   "GAMMACORE_P_IDLE": "0", "GAMMACORE_P_STALL": "0"}
            r = runner.run(sim, v, "layer_core", "gammacore.sim.tb_layer_core", tmp / sim, extra_env=env,
                           seed=2, log_file=tmp / f"{sim}.log")
            o = json.loads((tmp / f"{sim}.json").read_text())
            assert first_mismatch(case, o) is None
            # the testbench's clock runs across idle cycles too: count simulated clocks
            speed[sim] = {"cycles": sum(o["cycles"]), "seconds": r["test_seconds"], "build_seconds": r["build_seconds"]}
    for v in speed.values():
        v["cycles_per_second"] = v["cycles"] / v["seconds"]
    write("layer_core", {"cycles_per_step": rows, "simulator_speed": speed,
                         "note": "cycles counted by the core (working clocks); speed counts those cycles "
                                 "over the wall time of the simulation run"})


if __name__ == "__main__":
    main()
