"""Float and fixed-point network models, the learning rule and the exact gradient."""
import copy
import dataclasses

import numpy as np
import pytest

from gammacore.golden import fixedpoint as fp
from gammacore.golden import formats as F
from gammacore.golden.bptt import exact_gradient, gradient_fidelity, online_gradient
from gammacore.golden.config import LayerConfig, NetworkConfig
from gammacore.golden.float_model import per_input_preactivation
from gammacore.golden.loss import softmax_ce
from gammacore.golden.network import make_network

SEEDS = [11, 12, 13, 14]


def random_net(seed, depth=None, model_inputs=None):
    rng = np.random.default_rng(seed)
    print(f"seed={seed}")
    depth = depth or int(rng.integers(1, 4))
    sizes = [int(model_inputs or rng.integers(2, 9))] + [int(rng.integers(2, 12)) for _ in range(depth)]
    K = int(rng.integers(1, 6))
    taus = tuple(float(t) for t in np.sort(rng.uniform(0.002, 0.03, size=K)))
    layers = []
    for n in range(depth):
        last = n == depth - 1
        layers.append(LayerConfig(sizes[n], sizes[n + 1], taus=taus, readout="linear" if last else "relu",
                                  encoder="none" if last else "sigma-delta",
                                  theta0=float(rng.uniform(0.02, 0.2)), m_f=float(rng.uniform(0, 0.2)),
                                  n_max=int(rng.integers(1, 16))))
    return NetworkConfig(dt=1e-3, layers=tuple(layers), init_seed=seed).validate(), rng


def events(rng, T, n_in, B=1, rate=0.3):
    return np.where(rng.random((T, B, n_in)) < rate, rng.uniform(0, 1.5, size=(T, B, n_in)), 0.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_event_driven_form_equals_per_input_form(seed):
    cfg, rng = random_net(seed, depth=1)
    p = cfg.init_params()[0]
    p["b"] = rng.standard_normal(p["b"].shape)
    net = make_network(cfg, "float", params=[p])
    q = events(rng, 60, cfg.layers[0].n_in)
    xs = []
    for t in range(60):
        net.step(q[t])
        xs.append(net.layers[0].x[0].copy())
    co = cfg.derived()[0]
    want = per_input_preactivation(p["W"], p["V"], p["b"], q[:, 0], co.as_float("alpha"), co.as_float("beta"))
    np.testing.assert_allclose(np.array(xs), want, rtol=1e-10, atol=1e-10, err_msg=f"seed={seed}")


@pytest.mark.parametrize("seed", SEEDS)
def test_float_and_fixed_agree(seed):
    """Outputs of float and fixed models stay close on random networks.

    Tolerance: weights are identical (float starts from the quantized values) and the
    states carry 22 fraction bits, so the models differ by rounding of about 2**-22 per
    operation, except where a neuron sits on a spike decision boundary: there a one-LSB
    difference can move a spike of one threshold by a step. The bound is therefore
    relative to the largest output and the thresholds: 5% of the output range, and the
    total spike counts within 5%.
    """
    cfg, rng = random_net(seed)
    f, x = make_network(cfg, "float"), make_network(cfg, "fixed")
    q = events(rng, 80, cfg.layers[0].n_in)
    yf, yx = [], []
    for t in range(80):
        yf.append(f.step(q[t]))
        yx.append(x.step(q[t]))
    yf, yx = np.array(yf), np.array(yx)
    scale = max(np.abs(yf).max(), 1e-3)
    assert np.abs(yf - yx).max() <= 0.05 * scale, f"seed={seed}"
    assert abs(int(f.spike_count.sum()) - int(x.spike_count.sum())) <= 0.05 * max(f.spike_count.sum(), 20)


def test_float_and_fixed_agree_exactly_up_to_rounding_without_spiking_layers():
    """A single linear layer has no spike decisions: the gap is pure state rounding."""
    cfg, rng = random_net(21, depth=1)
    f, x = make_network(cfg, "float"), make_network(cfg, "fixed")
    q = F.Q.to_float(F.Q.from_float(events(rng, 100, cfg.layers[0].n_in)))
    for t in range(100):
        d = np.abs(f.step(q[t]) - x.step(q[t])).max()
        assert d < 1e-4, f"step {t}: {d}"


@pytest.mark.parametrize("model", ["float", "fixed"])
def test_encoder_tracks_steady_input_within_half_threshold(model):
    """A hidden neuron with a steady output is decoded by the receiver within theta/2."""
    layer = LayerConfig(1, 1, taus=(0.005, 0.01), theta0=0.1, m_f=0.0, n_max=15)
    out = LayerConfig(1, 1, taus=(0.005, 0.01), readout="linear", encoder="none")
    cfg = NetworkConfig(dt=1e-3, layers=(layer, out)).validate()
    params = [{"W": np.array([[1.0]]), "V": np.array([[0.0, 0.0]]), "b": np.array([1.3])},
              {"W": np.array([[1.0]]), "V": np.array([[1.0, 0.0]]), "b": np.array([0.0])}]
    net = make_network(cfg, model, params=params)
    alpha_recv = cfg.derived()[1].as_float("alpha")[0]
    errs = []
    for t in range(300):
        net.step(np.zeros((1, 1)))
        decoded = net.layers[0].e[0, 0]
        decoded = F.ENC.to_float(decoded) if model == "fixed" else decoded
        if t > 50:
            errs.append(abs(decoded - 1.3))
    # just after a spike |y - e| <= theta/2; one step of decay can add (1 - alpha) * y
    assert max(errs) <= 0.05 + (1 - alpha_recv) * 1.3 + 1e-3
    assert np.mean(errs) <= 0.1


@pytest.mark.parametrize("model", ["float", "fixed"])
def test_learning_reduces_loss(model):
    """Online learning on a fixed stream of two patterns lowers the per-step loss."""
    cfg = NetworkConfig(dt=1e-3, layers=(
        LayerConfig(4, 12, theta0=0.05, eta_w=16, eta_v=4, eta_b=4),
        LayerConfig(12, 2, readout="linear", encoder="none", eta_w=16, eta_v=4, eta_b=4)), init_seed=3).validate()
    net = make_network(cfg, model)
    rng = np.random.default_rng(5)
    pats = [rng.uniform(0, 1, size=4) * (rng.random(4) < 0.7) for _ in range(2)]

    def epoch(learn):
        total = 0.0
        for label in (0, 1, 1, 0):
            net.reset()
            for t in range(20):
                y = net.step(pats[label][None] * (t % 2 == 0))
                loss, err = softmax_ce(y, np.array([label]))
                total += float(loss[0])
                if learn:
                    net.learn(err)
        return total

    before = epoch(False)
    for _ in range(8):
        epoch(True)
    after = epoch(False)
    assert after < 0.5 * before, (before, after)


def test_chip_loss_training_applies_the_loss_unit_errors():
    """train(..., chip_loss=True) on one sample equals stepping the fixed network by hand and
    learning from fixedpoint.softmax_ce_err at the sample's loss steps (whose errors are
    not those of the host's float softmax)."""
    from gammacore.golden import fixedpoint as fp
    from gammacore.golden.network import stack_params
    from gammacore.golden.presets import preset
    from gammacore.golden.tasks import make_task
    from gammacore.golden.train import Schedule, train
    cfg, task = preset("coincidence", seed=4), make_task("coincidence", seed=4)
    res = train(cfg, task, "fixed", schedule=Schedule(1, 1), limit=1, progress=False, chip_loss=True)
    assert res["loss_unit"] == "chip"
    net = make_network(cfg, "fixed", batch=1, members=True, params=stack_params([cfg.init_params()]))
    x, label = F.Q.from_float(task.x_train[0]), task.y_train[0]
    differs = 0
    for t in range(task.steps):
        y = net.step_quantized(x[t][None])
        if task.m_train[0, t]:
            err = fp.softmax_ce_err(net.layers[-1].y, [label])[0]
            differs += not np.array_equal(err, F.ERR.from_float(softmax_ce(y, np.array([label]))[1]))
            net.learn(F.ERR.to_float(err))
    for got, want in zip(res["params"], net.get_params(0)):
        for k in ("W", "V", "b"):
            assert np.array_equal(got[k], want[k]), k
    assert differs > 0          # the loss unit is not the float softmax rounded
    with pytest.raises(ValueError, match="chip_loss.*'float'"):
        train(cfg, task, "float", limit=1, progress=False, chip_loss=True)


def test_batched_fixed_inference_is_bit_exact_per_sample():
    cfg, rng = random_net(31, depth=2)
    q = events(rng, 40, cfg.layers[0].n_in, B=5)
    batched = make_network(cfg, "fixed", batch=5)
    yb = [batched.step(q[t]) for t in range(40)]
    for s in range(5):
        single = make_network(cfg, "fixed", batch=1)
        for t in range(40):
            assert np.array_equal(single.step(q[t, s:s + 1])[0], yb[t][s])


def test_learning_requires_batch_one():
    cfg, _ = random_net(1, depth=1)
    net = make_network(cfg, "fixed", batch=2)
    net.step(np.zeros((2, cfg.layers[0].n_in)))
    with pytest.raises(ValueError, match="batch 1"):
        net.learn(np.zeros((2, cfg.layers[0].n_out)))


def test_fixed_spikes_are_whole_thresholds_within_n_max():
    cfg, rng = random_net(41, depth=2)
    net = make_network(cfg, "fixed")
    lay = net.layers[0]
    for t in range(100):
        d_before = lay.d.copy()
        net.step(events(rng, 1, cfg.layers[0].n_in)[0] * 4)
        theta = F.THETA.saturate(lay.coefs.theta0 + ((d_before + (1 << 11)) >> 12))
        assert np.all(lay.q % theta == 0)
        assert np.all(lay.q // theta <= cfg.layers[0].n_max)


def test_fixed_learning_moves_weights_below_one_lsb_per_update():
    """Updates far below a forward LSB accumulate in the master words (formats.py)."""
    layer = LayerConfig(2, 1, readout="linear", encoder="none", eta_w=0.01, eta_v=0.01, eta_b=0.01)
    cfg = NetworkConfig(dt=1e-3, layers=(layer,)).validate()
    net = make_network(cfg, "fixed")
    w0 = net.layers[0].W_master.copy()
    fw0 = net.layers[0].W.copy()
    net.step(np.ones((1, 2)))
    net.learn(np.array([[-0.01]]))  # upward update: the floor read of the master hides it
    assert np.all(net.layers[0].W_master > w0)
    assert np.array_equal(net.layers[0].W, fw0), "a single update is below one forward LSB"
    for _ in range(20000):  # about 5 master LSB (2**-28) each, 65536 to one forward LSB
        net.learn(np.array([[-0.01]]))
    assert np.all(net.layers[0].W > fw0), "accumulated updates must reach the forward weights"


# --- exact gradient -----------------------------------------------------------------------

def _small_problem(seed):
    cfg, rng = random_net(seed, depth=2, model_inputs=3)
    params = cfg.init_params()
    for p in params:
        p["V"] = rng.uniform(-0.5, 1.0, size=p["V"].shape)
        p["b"] = rng.uniform(-0.2, 0.5, size=p["b"].shape)
    T = 25
    x = events(rng, T, 3)[:, 0]
    label = int(rng.integers(0, cfg.layers[-1].n_out))
    mask = np.arange(T) >= 5
    return cfg, params, x, label, mask


@pytest.mark.parametrize("seed", [51, 52, 53])
def test_bptt_matches_finite_differences(seed):
    cfg, params, x, label, mask = _small_problem(seed)
    _, grads = exact_gradient(cfg, params, x, label, mask)
    rng = np.random.default_rng(seed)
    eps = 1e-6
    for n, p in enumerate(params):
        for name in ("W", "V", "b"):
            idx = tuple(rng.integers(0, s) for s in p[name].shape)
            plus = [dict((k, v.copy()) for k, v in q.items()) for q in params]
            minus = [dict((k, v.copy()) for k, v in q.items()) for q in params]
            plus[n][name][idx] += eps
            minus[n][name][idx] -= eps
            lp, _ = exact_gradient(cfg, plus, x, label, mask)
            lm, _ = exact_gradient(cfg, minus, x, label, mask)
            fd = (lp - lm) / (2 * eps)
            assert grads[n][name][idx] == pytest.approx(fd, rel=1e-4, abs=1e-7), f"seed={seed} layer {n} {name}{idx}"


@pytest.mark.parametrize("seed", [61, 62, 63])
def test_online_gradient_is_exact_at_the_output_layer(seed):
    cfg, params, x, label, mask = _small_problem(seed)
    cos = gradient_fidelity(cfg, params, x, label, mask)
    assert cos[-1] > 0.999999, f"seed={seed} {cos}"
    assert all(-1.0 - 1e-9 <= c <= 1.0 + 1e-9 for c in cos if np.isfinite(c))
    _, exact = exact_gradient(cfg, params, x, label, mask)
    _, online = online_gradient(cfg, params, x, label, mask)
    for name in ("W", "V", "b"):
        np.testing.assert_allclose(online[-1][name], exact[-1][name], rtol=1e-9, atol=1e-12)


# --- configuration errors -----------------------------------------------------------------

BAD_LAYERS = [
    ({"n_in": 0}, "n_in"), ({"n_out": -3}, "n_out"), ({"taus": ()}, "taus"), ({"taus": (0.01, -1.0)}, "tau"),
    ({"readout": "sigmoid"}, "readout"), ({"encoder": "rate"}, "encoder"), ({"theta0": 0.0}, "theta0"),
    ({"theta0": 1e-6}, "theta0"), ({"m_f": 1.5}, "m_f"), ({"n_max": 16}, "n_max"), ({"n_max": 0}, "n_max"),
    ({"eta_w": -1.0}, "eta_w"), ({"tau_theta": float("inf")}, "tau_theta"),
]


@pytest.mark.parametrize("change,word", BAD_LAYERS)
def test_bad_layer_parameters_are_named(change, word):
    layer = dataclasses.replace(LayerConfig(2, 2), **change)
    with pytest.raises(ValueError, match=word):
        NetworkConfig(dt=1e-3, layers=(layer,)).validate()


@pytest.mark.parametrize("dt", [0, -1e-3, float("nan"), "1ms"])
def test_bad_dt_is_named(dt):
    with pytest.raises(ValueError, match="dt"):
        NetworkConfig(dt=dt, layers=(LayerConfig(2, 2),)).validate()


def test_size_mismatch_is_named():
    with pytest.raises(ValueError, match="n_in = 3"):
        NetworkConfig(dt=1e-3, layers=(LayerConfig(2, 4), LayerConfig(3, 2))).validate()


def test_config_round_trips_through_json(tmp_path):
    cfg, _ = random_net(71, depth=2)
    path = tmp_path / "net.json"
    cfg.save(path)
    assert NetworkConfig.load(path) == cfg


@pytest.mark.parametrize("text,word", [
    ("{not json", "not valid JSON"), ("[1, 2]", "JSON object"), ('{"dt": 0.001}', "layers"),
    ('{"dt": 0.001, "layers": [{"n_in": 2}]}', "n_out"), ('{"dt": 0.001, "layers": [], "colour": 1}', "colour"),
    ('{"dt": -1, "layers": [{"n_in": 2, "n_out": 2}]}', "dt"),
    ('{"dt": 0.001, "layers": [{"n_in": 2, "n_out": 2, "taus": 5}]}', "taus"),
    ('{"dt": 0.001, "layers": [{"n_in": 2, "n_out": 2, "speed": 5}]}', "speed"),
])
def test_malformed_config_files_are_named(tmp_path, text, word):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=word) as info:
        NetworkConfig.load(path)
    assert "bad.json" in str(info.value)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="nope.json"):
        NetworkConfig.load(tmp_path / "nope.json")


@pytest.mark.parametrize("model", ["fixed", "float"])
@pytest.mark.parametrize("seed", SEEDS[:2])
def test_steps_without_traces_change_nothing_but_the_traces(model, seed):
    """``step_quantized(q, traces=False)`` (the chip's Cmd.NO_TRACES, an inference sample's
    steps): every layer's spikes, x and Z equal a normal run's, step by step, and the traces
    keep their words (zero after a reset) - only learning reads them."""
    cfg, rng = random_net(seed)
    nets = [make_network(cfg, model, batch=1) for _ in range(2)]
    x = events(rng, 30, cfg.layers[0].n_in)
    for t in range(len(x)):
        q = F.Q.from_float(x[t]) if model == "fixed" else x[t]
        for net, traces in zip(nets, (True, False)):
            net.step_quantized(q, traces=traces)
        for n, (a, b) in enumerate(zip(*(net.layers for net in nets))):
            assert np.array_equal(nets[0].spikes[n], nets[1].spikes[n]), f"seed={seed} t={t} layer {n} spikes"
            for name in ("x", "Z"):
                assert np.array_equal(getattr(a, name), getattr(b, name)), f"seed={seed} t={t} layer {n} {name}"
            assert not np.any(b.trace), f"seed={seed} t={t} layer {n}"
    assert any(np.any(layer.trace) for layer in nets[0].layers), f"seed={seed}: no trace moved at all"


@pytest.mark.parametrize("task_name,seed", [("coincidence", 5), ("digits", 6)])
def test_sample_runs_are_chip_loss_training(task_name, seed):
    """golden.sample.run_sample, sample by sample in train's order and schedule, gives exactly
    train(..., chip_loss=True): every final weight, and the test accuracy from its argmax;
    run_sample_words on the slot words of gammacore.regmap.sample_words gives the same."""
    from gammacore import regmap as R
    from gammacore.golden.presets import preset
    from gammacore.golden.sample import run_sample, run_sample_words
    from gammacore.golden.tasks import make_task
    from gammacore.golden.train import Schedule, train
    print(f"task={task_name} seed={seed}")
    cfg, task = preset(task_name, seed=seed), make_task(task_name, seed=seed)
    limit, plan = 10, Schedule(2, 2)
    res = train(cfg, task, "fixed", schedule=plan, seed=seed, limit=limit, progress=False, chip_loss=True)
    net = make_network(cfg, "fixed", batch=1)
    rng = np.random.default_rng([seed, 3])
    seen = 0
    for _ in range(plan.epochs):
        for i in rng.permutation(limit):
            if (shift := plan.change_at(seen, limit)) is not None:
                net.set_learning_shift(shift)
            seen += 1
            q = F.Q.from_float(task.x_train[i])
            if seen % 2:
                out = run_sample(net, q, task.m_train[i], task.y_train[i], learn=True)
            else:
                out = run_sample_words(net, R.sample_words(q, task.m_train[i], task.y_train[i]), learn=True)
            assert out["steps"] == task.steps
    for got, want in zip(res["params"], net.get_params()):
        for k in ("W", "V", "b"):
            assert np.array_equal(got[k], want[k]), k
    correct = sum(run_sample(net, F.Q.from_float(task.x_test[i]), task.m_test[i], task.y_test[i],
                             learn=False)["argmax"] == task.y_test[i] for i in range(limit))
    assert correct / limit == res["test_accuracy"]


def test_sample_words_refuse_what_the_chip_refuses():
    from gammacore import regmap as R
    q = np.array([[0, 5, 0], [7, 0, 1]])
    words = R.sample_words(q, [False, True], 2, n_in=3, n_out=4, capacity=6)
    assert words == [2 | 2 << 16, R.event_word(1, 5), 0, R.event_word(0, 7), R.event_word(2, 1), 1 << 16]
    assert R.decode_sample(words) == (2, [([(1, 5)], False), ([(0, 7), (2, 1)], True)], None)
    with pytest.raises(ValueError, match="1..65535 steps, not 0"):
        R.sample_words(np.zeros((0, 3)), [], 0)
    with pytest.raises(ValueError, match="label 4 is outside the output layer's 0..3"):
        R.sample_words(q, [0, 1], 4, n_out=4)
    with pytest.raises(ValueError, match="event source 2 is outside layer 0's inputs 0..1"):
        R.sample_words(q, [0, 1], 0, n_in=2)
    with pytest.raises(ValueError, match="takes 6 words, a slot of the sample memory holds 5"):
        R.sample_words(q, [0, 1], 0, capacity=5)
    with pytest.raises(ValueError, match="0 steps"):
        R.decode_sample([0 | 1 << 16])
    with pytest.raises(ValueError, match="1 steps of its 2 within 3 words"):
        R.decode_sample(words[:3])
    with pytest.raises(ValueError, match="a run of 3 steps after step 0 goes past the sample's 2 steps"):
        R.decode_sample([2, R.event_word(0, 3), 2 << R.SAMPLE_REPEAT_SHIFT << R.EVENT_SOURCE_SHIFT])


def test_squared_error_samples_carry_their_targets():
    """A squared-error sample (targets instead of a label): the header's SAMPLE_MSE bit, each
    loss step's marker followed by its n_out targets (X raw), runs only over equal targets;
    decode_sample gives them back; what the chip would refuse is refused naming the value."""
    from gammacore import regmap as R
    q = np.array([[0, 5], [0, 5], [0, 5], [0, 0]])
    mask = [1, 1, 1, 0]
    target = np.array([[-7, 3], [-7, 3], [9, -(1 << 31)], [123, 456]])
    words = R.sample_words(q, mask, None, n_in=2, n_out=2, target=target)
    rep = lambda loss, r: (loss << R.SAMPLE_LOSS_BIT | r << R.SAMPLE_REPEAT_SHIFT) << R.EVENT_SOURCE_SHIFT
    assert words == [4 | R.SAMPLE_MSE, R.event_word(1, 5), rep(1, 1), (-7) & 0xFFFFFFFF, 3,
                     R.event_word(1, 5), rep(1, 0), 9, 1 << 31, rep(0, 0)]
    label, steps, targets = R.decode_sample(words, 2)
    assert label is None and [loss for _, loss in steps] == [True, True, True, False]
    assert [ev for ev, _ in steps] == [[(1, 5)]] * 3 + [[]]
    assert targets == [(-7, 3), (-7, 3), (9, -(1 << 31)), None]
    # the same sample with a label: no targets, and the equal steps 0-2 are one run
    assert R.decode_sample(R.sample_words(q, mask, 1))[2] is None
    assert len(R.sample_words(q, mask, 1)) == 4
    with pytest.raises(ValueError, match=r"a label \(softmax cross-entropy\) or targets \(squared error\), not both"):
        R.sample_words(q, mask, 0, target=target)
    with pytest.raises(ValueError, match="not neither"):
        R.sample_words(q, mask, None)
    with pytest.raises(ValueError, match=r"targets of shape \(4, 3\), expected \(4, 2\)"):
        R.sample_words(q, mask, None, n_out=2, target=np.zeros((4, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"targets of shape \(3, 2\), expected \(4, n_out\)"):
        R.sample_words(q, mask, None, target=target[:3])
    with pytest.raises(ValueError, match=f"target {1 << 31} \\(X raw\\) is outside X's"):
        R.sample_words(q, mask, None, target=np.where(target == 9, 1 << 31, target))
    # a non-loss step's targets are not stored, so not checked
    assert R.sample_words(q, mask, None, target=np.where(target == 123, 1 << 40, target)) == words
    assert R.sample_lengths(q[None], np.array([mask]), target[None]).tolist() == [len(words)]
    # sample_lengths counts what sample_words lays out (random samples with runs, seed printed)
    seed = 14
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    qs = np.where(rng.random((30, 8, 2)) < 0.4, rng.integers(1, 900, size=(30, 8, 2)), 0)
    masks = rng.random((30, 8)) < 0.6
    tgts = rng.integers(-5, 5, size=(30, 8, 3))
    for n in range(30):
        for t in np.flatnonzero(rng.random(8) < 0.5):
            if t:
                qs[n, t], masks[n, t] = qs[n, t - 1], masks[n, t - 1]
                if rng.random() < 0.7:
                    tgts[n, t] = tgts[n, t - 1]
    lengths = R.sample_lengths(qs, masks, tgts)
    for n in range(30):
        assert len(R.sample_words(qs[n], masks[n], None, target=tgts[n])) == lengths[n], f"seed={seed}: sample {n}"
    with pytest.raises(ValueError, match="need n_out"):
        R.decode_sample(words)
    with pytest.raises(ValueError, match="step 2's 2 targets go past the slot's 8 words"):
        R.decode_sample(words[:8], 2)


def test_squared_error_unit_is_half_the_squared_error_on_the_error_grid():
    """mse_unit: the error y - target rounded half up to ERR's grid and saturated, the loss
    half the sum of those errors squared on LOSS's grid (rounded half up) and saturated; the
    float MSE's error within half an ERR step where nothing saturates (random outputs and
    targets, seed printed)."""
    from fractions import Fraction
    from gammacore.golden.loss import mse
    seed = 12
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    y = F.X.from_float(rng.normal(0, 6, (500, 4)))
    target = F.X.from_float(rng.normal(0, 6, (500, 4)))
    err, loss = fp.mse_unit(y, target)
    half = lambda v: int(np.floor(v + Fraction(1, 2)))
    for r in range(0, 500, 7):
        want_e = [max(F.ERR.min, min(F.ERR.max, half(Fraction(int(a) - int(b), 1 << (F.X.frac - F.ERR.frac)))))
                  for a, b in zip(y[r], target[r])]
        assert err[r].tolist() == want_e, f"seed={seed} row={r}"
        want_l = sum(half(Fraction(e * e, 2) * Fraction(1 << F.LOSS.frac, 1 << (2 * F.ERR.frac))) for e in want_e)
        assert loss[r] == min(F.LOSS.max, want_l), f"seed={seed} row={r}"
    _, err_f = mse(F.X.to_float(y), F.X.to_float(target))
    top = -F.ERR.min_value          # ERR's range is [-top, top)
    ok = np.abs(err_f) < top - 0.1
    assert ok.mean() > 0.9 and (~ok).sum() > 10, f"seed={seed}: {(~ok).sum()} errors beyond ERR's range"
    assert np.abs(F.ERR.to_float(err) - err_f)[ok].max() <= 2.0 ** -(F.ERR.frac + 1), f"seed={seed}"
    assert np.all(err[err_f >= top] == F.ERR.max) and np.all(err[err_f <= -top] == F.ERR.min), f"seed={seed}"
    big = fp.mse_unit(np.full((1, 40), F.X.max), np.full((1, 40), F.X.min))[1]
    assert big[0] == F.LOSS.max                 # 40 saturated errors: the loss saturates too


def test_squared_error_samples_learn_from_their_targets():
    """run_sample with targets: the errors are mse_unit's (a network learning from them by
    hand ends with the same weights), run_sample_words on the slot words gives the same, and
    a label with targets or a target row of the wrong width is refused."""
    from gammacore import regmap as R
    from gammacore.golden.presets import preset
    from gammacore.golden.sample import run_sample, run_sample_words
    seed = 13
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    cfg = preset("coincidence", seed=seed)
    a, b, c = (make_network(cfg, "fixed", batch=1) for _ in range(3))
    for n in (b, c):
        n.layers = copy.deepcopy(a.layers)
    T = 30
    q = np.where(rng.random((T, 2)) < 0.2, F.Q.from_float(1.0), 0)
    mask = np.arange(T) >= 10
    target = F.X.from_float(rng.normal(0, 1, (T, 2)))
    out = run_sample(a, q, mask, None, learn=True, target=target)
    # by hand: the same steps, mse_unit's errors
    b.reset()
    loss = 0
    for t in range(T):
        b.step_quantized(q[t][None])
        if mask[t]:
            e, l = fp.mse_unit(b.layers[-1].y, target[t][None])
            loss += int(l[0])
            b.learn(F.ERR.to_float(e))
    assert out["loss_sum"] == loss > 0, f"seed={seed}"
    for la, lb in zip(a.layers, b.layers):
        assert np.array_equal(la.W_master, lb.W_master) and np.array_equal(la.V_master, lb.V_master), f"seed={seed}"
    assert not np.array_equal(a.layers[-1].W_master, make_network(cfg, "fixed", batch=1).layers[-1].W_master)
    out_w = run_sample_words(c, R.sample_words(q, mask, None, target=target), learn=True)
    assert {k: np.asarray(v).tolist() for k, v in out_w.items()} == {k: np.asarray(v).tolist() for k, v in out.items()}
    for la, lc in zip(a.layers, c.layers):
        assert np.array_equal(la.W_master, lc.W_master), f"seed={seed}"
    with pytest.raises(ValueError, match="not both"):
        run_sample(a, q, mask, 0, learn=False, target=target)
    with pytest.raises(ValueError, match=r"targets of shape \(30, 3\), expected \(30, 2\)"):
        run_sample(a, q, mask, None, learn=False, target=np.zeros((T, 3), dtype=np.int64))


def test_sample_words_runs_of_equal_steps_take_one_step():
    """A run of steps with the same events and loss bit is one step's words, its marker
    counting the repeats; decode_sample expands it again; sample_lengths counts the same words
    (random samples with runs, seed printed; the longest run splits at SAMPLE_REPEAT_MAX)."""
    from gammacore import regmap as R
    q = np.array([[0, 5], [0, 5], [0, 5], [0, 5], [0, 0], [0, 0], [3, 0]])
    mask = [0, 0, 1, 1, 1, 1, 1]
    words = R.sample_words(q, mask, 1)
    rep = lambda loss, r: (loss << R.SAMPLE_LOSS_BIT | r << R.SAMPLE_REPEAT_SHIFT) << R.EVENT_SOURCE_SHIFT
    assert words == [7 | 1 << 16, R.event_word(1, 5), rep(0, 1), R.event_word(1, 5), rep(1, 1), rep(1, 1),
                     R.event_word(0, 3), rep(1, 0)]
    label, steps, _ = R.decode_sample(words)
    assert label == 1 and [loss for _, loss in steps] == [bool(v) for v in mask]
    assert [ev for ev, _ in steps] == [[(1, 5)]] * 4 + [[]] * 2 + [[(0, 3)]]
    long_T = R.SAMPLE_REPEAT_MAX + 3
    long = R.sample_words(np.zeros((long_T, 1)), [0] * long_T, 0)
    assert long == [long_T, rep(0, R.SAMPLE_REPEAT_MAX), rep(0, 1)]
    assert len(R.decode_sample(long)[1]) == long_T
    seed = 11
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    qs = np.where(rng.random((40, 9, 3)) < 0.4, rng.integers(1, 900, size=(40, 9, 3)), 0)
    masks = rng.random((40, 9)) < 0.5
    for n in range(40):
        for t in np.flatnonzero(rng.random(9) < 0.5):
            if t:
                qs[n, t], masks[n, t] = qs[n, t - 1], masks[n, t - 1]
    lengths = R.sample_lengths(qs, masks)
    assert lengths.min() < 1 + 9 + np.count_nonzero(qs, axis=(1, 2)).min(), "no sample had a run"
    for n in range(40):
        w = R.sample_words(qs[n], masks[n], 0)
        assert len(w) == lengths[n], f"seed={seed}: sample {n}"
        _, steps, _ = R.decode_sample(w)
        got = np.zeros((9, 3), dtype=np.int64)
        for t, (events, loss) in enumerate(steps):
            assert loss == masks[n, t], f"seed={seed}: sample {n} step {t}"
            for i, v in events:
                got[t, i] = v
        assert np.array_equal(got, qs[n]), f"seed={seed}: sample {n}"
    assert R.sample_lengths(np.zeros((1, long_T, 1)), np.zeros((1, long_T)))[0] == len(long)
    with pytest.raises(ValueError, match="loss masks of shape"):
        R.sample_lengths(qs, masks[:, :3])
