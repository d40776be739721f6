"""Asynchronous execution in the golden model: its definition's invariants."""
import copy

import numpy as np
import pytest

from gammacore.golden.async_model import AsyncRunner, Lfsr16
from gammacore.sim.net_case import random_network


def test_lfsr_has_full_period_and_rejects_zero():
    lfsr = Lfsr16(1)
    seen = {lfsr.next() for _ in range(65535)}
    assert len(seen) == 65535 and 0 not in seen and lfsr.state == 1
    with pytest.raises(ValueError, match="non-zero"):
        Lfsr16(0)


def inputs(rng, T, n_in, rate=0.6):
    q = np.zeros((T, n_in), dtype=np.int64)
    hit = rng.random((T, n_in)) < rate
    q[hit] = rng.integers(200, 3000, size=int(hit.sum()))
    return q


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("order", ["random", "priority"])
def test_first_layer_buckets_equal_sync_and_one_spike_per_neuron(seed, order):
    """Layer 0 sees the same inputs in both modes, so its buckets and x agree with sync
    execution (the cascade is linear); every neuron fires at most once per step and every
    spike is a whole number of thresholds."""
    rng = np.random.default_rng(seed)
    net_s = random_network(rng, (4, 8, 6, 3), 3)
    net_a = copy.deepcopy(net_s)
    runner = AsyncRunner(net_a, order=order, seed=seed)
    total = 0
    for q in inputs(rng, 20, 4):
        net_s.layers[0].step(q[None])
        spikes, _ = runner.step(q)
        l0s, l0a = net_s.layers[0], net_a.layers[0]
        assert np.array_equal(l0s.Z, l0a.Z) and np.array_equal(l0s.trace, l0a.trace), f"seed={seed}"
        keys = [(l, j) for l, j, _ in spikes]
        assert len(keys) == len(set(keys)), f"seed={seed}: a neuron fired twice in one step"
        assert all(q > 0 for _, _, q in spikes)
        total += len(spikes)
    assert total > 0, f"seed={seed}: no spikes"


def test_same_seed_same_run_and_orders_differ():
    rng = np.random.default_rng(7)
    base = random_network(rng, (3, 10, 10, 2), 2)
    q = inputs(rng, 15, 3, rate=0.9)
    runs = {}
    for name, order, seed in (("r1", "random", 5), ("r1b", "random", 5), ("r2", "random", 9), ("p", "priority", 1)):
        r = AsyncRunner(copy.deepcopy(base), order=order, seed=seed)
        runs[name] = [r.step(x) for x in q]
    flat = lambda run: [s for spikes, _ in run for s in spikes]
    assert flat(runs["r1"]) == flat(runs["r1b"])
    assert flat(runs["r1"]) != flat(runs["r2"]) or flat(runs["r1"]) != flat(runs["p"])


def test_priority_order_fires_the_largest_count_first():
    """Every dispatch picks, among the pending neurons, one whose spike count - recomputed
    here from the current state - is the largest, and stored keys are never stale."""
    from gammacore.golden import fixedpoint as fp

    class Checked(AsyncRunner):
        picks = 0

        def _select(self):
            fresh = {}
            for (l, j) in self.pending:
                layer, cfg = self.layers[l], self.net.cfg.layers[l]
                n, _ = fp.encoder_count(int(layer.y[0, j]), int(layer.e[0, j]), int(layer.d[0, j]),
                                        layer.coefs.theta0, cfg.n_max)
                fresh[(l, j)] = int(n)
            assert fresh == self.pending, "a pending neuron's key is stale"
            pick = super()._select()
            assert fresh[pick] == max(fresh.values())
            Checked.picks += 1
            return pick

    rng = np.random.default_rng(11)
    r = Checked(random_network(rng, (3, 12, 8, 2), 2), order="priority")
    for q in inputs(rng, 15, 3, rate=0.9):
        r.step(q)
    assert Checked.picks > 5


def test_bad_arguments():
    net = random_network(np.random.default_rng(0), (2, 3, 2), 2)
    with pytest.raises(ValueError, match="order must be"):
        AsyncRunner(net, order="fifo")


def test_decision_step_is_the_start_of_the_last_right_run():
    from gammacore.golden.async_model import decision_step
    assert decision_step([False, True, True]) == 1
    assert decision_step([True, False, True, True]) == 2
    assert decision_step([True, True]) == 0
    assert decision_step([True, False]) is None
    assert decision_step([False, False]) is None


def test_reset_restarts_the_lfsr_order():
    rng = np.random.default_rng(3)
    runner = AsyncRunner(random_network(rng, (3, 10, 8, 2), 2), order="random", seed=1234)
    q = inputs(rng, 10, 3, rate=0.9)
    first = [runner.step(x)[0] for x in q]
    assert any(first), "the case must spike"
    runner.reset()
    assert [runner.step(x)[0] for x in q] == first


def test_step_figures_average_over_the_samples_that_have_one():
    from gammacore.golden.async_model import step_figures
    fig = step_figures([np.array([False, True, True]), np.array([True, False]), np.array([False, False])])
    assert fig == {"decision_step_mean": 1.0, "samples_with_decision": 1, "first_correct_step_mean": 0.5}
    assert step_figures([np.zeros(3, dtype=bool)]) == {"decision_step_mean": None, "samples_with_decision": 0,
                                                       "first_correct_step_mean": None}
