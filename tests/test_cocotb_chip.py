"""The whole chip's Verilog under Icarus and Verilator (cocotb), against the golden network."""
import json

import numpy as np
import pytest

from gammacore.rtl.chip import Chip
from gammacore.sim import runner
from gammacore.sim.amaranth_chip import first_net_mismatch
from gammacore.sim.net_case import case_json, make_net_case


def run_case(sim, tmp_path, seed, sizes, K, T, p_learn=0.5, out_depth=4, mode="sync", pow2=False,
             out_encoder=False, lanes=1):
    print(f"seed={seed} sim={sim} sizes={sizes} K={K} mode={mode} pow2={pow2} lanes={lanes}")
    case = make_net_case(seed, sizes, K, T, p_learn=p_learn, mode=mode, pow2=pow2, out_encoder=out_encoder)
    assert any(s["packets"] for s in case["steps"]), f"seed={seed}: no spikes in the case"
    if mode != "sync":
        assert any(s["packets"] != sorted(s["packets"]) for s in case["steps"]), \
            f"seed={seed}: no step fires out of layer order; the case does not exercise the dispatch"
    (tmp_path / "case.json").write_text(json.dumps(case_json(case)))
    v = runner.export(Chip(case["capacity"], out_depth=out_depth, pow2=pow2, lanes=lanes), "chip", tmp_path / "chip.v")
    runner.run(sim, v, "chip", "gammacore.sim.tb_chip", tmp_path / "build",
               extra_env={"GAMMACORE_CASE": str(tmp_path / "case.json"),
                          "GAMMACORE_OUT": str(tmp_path / "observed.json")}, seed=seed)
    observed = json.loads((tmp_path / "observed.json").read_text())
    assert first_net_mismatch(case, observed) is None, f"seed={seed}: {first_net_mismatch(case, observed)}"
    return observed


@pytest.mark.parametrize("sim", runner.SIMULATORS)
def test_chip_cocotb_three_layers_learning(sim, tmp_path):
    rng = np.random.default_rng(301)
    obs = run_case(sim, tmp_path, 301, tuple(int(n) for n in rng.integers(2, 6, size=4)), 3, T=12)
    assert obs["learn_cycles"], "the case must exercise learning"


@pytest.mark.parametrize("sim,lanes", [("icarus", 2), ("verilator", 4), ("icarus", 3)])
def test_chip_cocotb_laned(sim, lanes, tmp_path):
    """A laned core in Verilog (P = 2: the fused bucket and neuron pass, P = 4 > K = 3: the
    separate neuron pass, P = 3: not a power of two): layers below, above and a multiple of
    P, with learning."""
    obs = run_case(sim, tmp_path, 303, (5, lanes * 2 + 1, lanes - 1, lanes * 2), 3, T=10, lanes=lanes)
    assert obs["learn_cycles"], "the case must exercise learning"


@pytest.mark.slow
@pytest.mark.parametrize("sim", runner.SIMULATORS)
def test_chip_cocotb_long(sim, tmp_path):
    """Hundreds of steps of inference and online learning on a 3-layer network."""
    run_case(sim, tmp_path, 401, (6, 12, 10, 4), 4, T=200, p_learn=0.5)


@pytest.mark.parametrize("sim,mode", [("icarus", "async-priority"), ("verilator", "async-random")])
def test_chip_cocotb_async_modes(sim, mode, tmp_path):
    """Asynchronous execution in the chip's Verilog: spikes in the golden firing order, with learning."""
    obs = run_case(sim, tmp_path, 302, (5, 8, 6, 3), 2, T=12, mode=mode)
    assert obs["learn_cycles"], "the case must exercise learning"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["async-random", "async-priority"])
def test_chip_cocotb_long_async(mode, tmp_path):
    """Hundreds of steps of asynchronous inference and online learning (Verilator)."""
    run_case("verilator", tmp_path, 402, (6, 12, 10, 4), 4, T=200, p_learn=0.5, mode=mode)


# one layer with an encoder, its spikes to the host (what the former single-layer core's
# benches covered; the same cases as `gammacore verify` without --layers)
@pytest.mark.parametrize("sim", runner.SIMULATORS)
@pytest.mark.parametrize("seed", [101, pytest.param(102, marks=pytest.mark.slow)])
def test_one_layer_cocotb(sim, seed, tmp_path):
    rng = np.random.default_rng(seed)
    sizes = (int(rng.integers(2, 7)), int(rng.integers(2, 9)))
    obs = run_case(sim, tmp_path, seed, sizes, int(rng.integers(1, 5)), T=10, p_learn=0.0, out_encoder=True)
    assert len(obs["cycles"]) == 10 and all(c > 0 for c in obs["cycles"])


@pytest.mark.parametrize("sim", runner.SIMULATORS)
def test_power_of_two_one_layer_cocotb(sim, tmp_path):
    obs = run_case(sim, tmp_path, 111, (5, 6), 3, T=8, p_learn=0.0, pow2=True, out_encoder=True)
    assert len(obs["cycles"]) == 8


@pytest.mark.slow
@pytest.mark.parametrize("sim", runner.SIMULATORS)
def test_one_layer_cocotb_long(sim, tmp_path):
    run_case(sim, tmp_path, 201, (16, 24), 4, T=60, p_learn=0.0, out_encoder=True)


def test_samples_cocotb_verilator(tmp_path):
    """The sample sequencer in the chip's Verilog (Verilator): results of random samples,
    labelled and squared-error ones, trained and inferred two queued at a time, and every
    final weight equal to golden.sample."""
    from gammacore import regmap as R
    from gammacore.sim.sample_case import make_sample_case
    seed, words = 306, 64
    case = make_sample_case(seed, (3, 5, 3), K=2, n_samples=5, out_encoder=True, p_mse=0.5)
    kinds = [("mse" if s["target"] is not None else "ce", s["learn"]) for s in case["samples"]]
    print(f"seed={seed} samples={kinds}")
    assert {("mse", True), ("mse", False), ("ce", True)} <= set(kinds), f"seed={seed}"
    (tmp_path / "case.json").write_text(json.dumps({
        "seed": seed, "max_layer": case["capacity"].max_layer, "n_out": case["n_out"], "sample_words": words,
        "plan": [[int(a), [int(w) for w in ws]] for a, ws in
                 R.load_plan(case["cfg"], case["initial"], route_hidden_to_host=False)],
        "samples": [{"words": s["words"], "learn": s["learn"]} for s in case["samples"]],
        "final_lengths": {k: len(v) for k, v in case["final"].items()}}))
    v = runner.export(Chip(case["capacity"], out_depth=4, sample_words=words), "chip", tmp_path / "chip.v")
    runner.run("verilator", v, "chip", "gammacore.sim.tb_samples", tmp_path / "build",
               extra_env={"GAMMACORE_CASE": str(tmp_path / "case.json"),
                          "GAMMACORE_OUT": str(tmp_path / "observed.json")}, seed=seed)
    obs = json.loads((tmp_path / "observed.json").read_text())
    for n, (s, got) in enumerate(zip(case["samples"], obs["results"])):
        want = dict(s["want"], score=[int(v) for v in s["want"]["score"]])
        assert got == want, f"seed={seed}: sample {n}: chip {got} != golden {want}"
    for name, want in case["final"].items():
        assert obs[name] == want, f"seed={seed}: final {name} differs"
    assert obs["bus_errors"] == 0
