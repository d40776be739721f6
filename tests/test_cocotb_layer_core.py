"""The layer core's Verilog under Icarus and Verilator (cocotb), against the golden model."""
import json

import numpy as np
import pytest

from gammacore.rtl.layer_core import LayerCore
from gammacore.sim import runner
from gammacore.sim.layer_case import first_mismatch, make_case


def run_case(sim, tmp_path, seed, n_in, n_out, K, T, pow2=False):
    print(f"seed={seed} sim={sim} pow2={pow2}")
    case = make_case(seed, n_in, n_out, K, T, pow2=pow2)
    assert any(case["expected"]["spikes"]), f"seed={seed}: no spikes in the case"
    (tmp_path / "case.json").write_text(json.dumps(case))
    v = runner.export(LayerCore(n_in, n_out, K, W=case["W"], V=case["V"], b=case["b"], pow2=pow2), "layer_core",
                      tmp_path / "layer_core.v")
    runner.run(sim, v, "layer_core", "gammacore.sim.tb_layer_core", tmp_path / "build",
               extra_env={"GAMMACORE_CASE": str(tmp_path / "case.json"),
                          "GAMMACORE_OUT": str(tmp_path / "observed.json")}, seed=seed)
    observed = json.loads((tmp_path / "observed.json").read_text())
    assert first_mismatch(case, observed) is None
    return observed["cycles"]


@pytest.mark.parametrize("sim", runner.SIMULATORS)
@pytest.mark.parametrize("seed", [101, 102])
def test_layer_core_cocotb(sim, seed, tmp_path):
    rng = np.random.default_rng(seed)
    cycles = run_case(sim, tmp_path, seed, int(rng.integers(2, 7)), int(rng.integers(2, 9)),
                      int(rng.integers(1, 5)), T=10)
    assert len(cycles) == 10 and all(c > 0 for c in cycles)


@pytest.mark.parametrize("sim", runner.SIMULATORS)
def test_power_of_two_layer_core_cocotb(sim, tmp_path):
    cycles = run_case(sim, tmp_path, 111, 5, 6, 3, T=8, pow2=True)
    assert len(cycles) == 8


@pytest.mark.slow
@pytest.mark.parametrize("sim", runner.SIMULATORS)
def test_layer_core_cocotb_long(sim, tmp_path):
    run_case(sim, tmp_path, 201, 16, 24, 4, T=60)
