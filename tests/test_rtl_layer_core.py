"""Layer core vs the golden FixedLayer: every spike and every final state word, under stalls."""
import numpy as np
import pytest

from gammacore.rtl.layer_core import LayerCore
from gammacore.sim.amaranth_layer import run_amaranth
from gammacore.sim.layer_case import first_mismatch, make_case


def check(seed, n_in, n_out, K, T, rate=0.5, pow2=False, **kw):
    print(f"seed={seed}")
    case = make_case(seed, n_in, n_out, K, T, rate, pow2=pow2)
    assert any(case["expected"]["spikes"]), f"seed={seed}: test produced no spikes"
    obs = run_amaranth(case, **kw)
    assert first_mismatch(case, obs) is None, f"seed={seed}: {first_mismatch(case, obs)}"
    assert all(a == 0 for a in obs["A"]) and all(q == 0 for q in obs["qin"]), "A and qin cleared for the next step"
    return obs["cycles"], case


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_layer_core_matches_golden(seed):
    rng = np.random.default_rng(seed)
    check(seed, int(rng.integers(1, 7)), int(rng.integers(1, 9)), int(rng.integers(1, 5)), T=12, rate=0.5)


@pytest.mark.parametrize("seed", [7, 8, 9])
def test_power_of_two_layer_core_matches_golden(seed):
    rng = np.random.default_rng(seed)
    check(seed, int(rng.integers(1, 6)), int(rng.integers(1, 8)), int(rng.integers(1, 5)), T=12, pow2=True)


def test_weights_loaded_through_configuration_port():
    check(21, 3, 4, 3, T=8, rate=0.6, load_by_port=True)


def test_cycles_per_step_without_stalls():
    """Without idle cycles or back-pressure a step costs N*(E+1) + (N + I)*K + pipeline fill."""
    n_in, n_out, K = 4, 5, 3
    cycles, case = check(31, n_in, n_out, K, T=6, rate=0.5, p_idle=0.0, p_stall=0.0)
    for c, events in zip(cycles, case["events"]):
        E = len(events)
        ideal = (n_out + n_in) * K + n_out * K + E * (n_out + 1)
        assert ideal <= c <= ideal + 20, (c, ideal)


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="n_out"):
        LayerCore(2, 0, 4)
    with pytest.raises(ValueError, match="lanes"):
        LayerCore(2, 2, 4, lanes=2)
