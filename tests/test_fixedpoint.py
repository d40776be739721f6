"""Properties of the bit-exact elementary operations (golden/fixedpoint.py).

Each operation is checked against exact rational arithmetic (Python ints / Fractions) on
random operands, so the specification itself is held to what its docstrings promise.
"""
import math
from fractions import Fraction

import numpy as np
import pytest

from gammacore.golden import fixedpoint as fp
from gammacore.golden import formats as F

SEEDS = [1, 2, 3]


def _rng(seed):
    print(f"seed={seed}")
    return np.random.default_rng(seed)


def _round_half_up(fr):
    return math.floor(fr + Fraction(1, 2))


@pytest.mark.parametrize("seed", SEEDS)
def test_rshift_round_is_round_half_up(seed):
    rng = _rng(seed)
    v = rng.integers(-(1 << 40), 1 << 40, size=2000)
    for s in (1, 4, 12, 16, 22):
        got = fp.rshift_round(v, s)
        want = [_round_half_up(Fraction(int(a), 1 << s)) for a in v]
        assert got.tolist() == want, f"seed={seed} s={s}"
    ties = np.array([-3, -1, 1, 3]) << 3  # exact halves at s=4
    assert fp.rshift_round(ties, 4).tolist() == [_round_half_up(Fraction(int(t), 16)) for t in ties]


@pytest.mark.parametrize("seed", SEEDS)
def test_quotient_is_clipped_rounded_division(seed):
    rng = _rng(seed)
    theta = rng.integers(1, F.THETA.max + 1, size=3000)
    th22 = theta << (F.X.frac - F.THETA.frac)
    r = (rng.standard_normal(3000) * 20 * th22).astype(np.int64)
    for n_max in (1, 7, 15):
        got = fp.quotient(r, theta, n_max)
        want = [min(n_max, max(0, (int(a) + (int(t) >> 1)) // int(t))) for a, t in zip(r, th22)]
        assert got.tolist() == want, f"seed={seed} n_max={n_max}"


@pytest.mark.parametrize("seed", SEEDS)
def test_quotient_equals_its_four_restoring_steps(seed):
    """quotient's one division gives what the hardware's four compare-and-subtract steps give,
    at and around every multiple of the threshold, below 0 and far above 16 thresholds."""
    rng = _rng(seed)
    theta = rng.integers(1, F.THETA.max + 1, size=400)
    th = theta << (F.X.frac - F.THETA.frac)
    k = rng.integers(-3, 40, size=(400, 1))
    r = (k * th[:, None] + np.array([-1, 0, 1]) - (th[:, None] >> 1)).ravel()
    r = np.concatenate([r, rng.integers(F.X.min, F.X.max, size=1200)])
    theta = np.concatenate([np.repeat(theta, 3), rng.integers(1, F.THETA.max + 1, size=1200)])
    th = theta << (F.X.frac - F.THETA.frac)
    steps = fp.quotient_steps(r + (th >> 1), th)
    for n_max in (1, 9, 15):
        assert np.array_equal(fp.quotient(r, theta, n_max), np.minimum(steps, n_max)), f"seed={seed}"
    assert fp.quotient(int(r[0]), int(theta[0]), 15) == min(int(steps[0]), 15)


@pytest.mark.parametrize("seed", SEEDS)
def test_bucket_step_matches_rational_definition(seed):
    rng = _rng(seed)
    K = int(rng.integers(1, 7))
    Z = rng.integers(F.Z.min, F.Z.max, size=(200, K))
    A = rng.integers(-(1 << 33), 1 << 33, size=200)
    alpha = rng.integers(1, F.COEF.max + 1, size=K)
    beta = fp.beta_from_alpha(alpha)
    got = fp.bucket_step(Z, A, alpha, beta)
    for n in range(200):
        z = [int(v) for v in Z[n]]
        want = [_round_half_up(Fraction(int(alpha[0]) * z[0], 1 << 16)) + int(A[n])]
        want += [z[k] + _round_half_up(Fraction(int(beta[k]) * (z[k - 1] - z[k]), 1 << 16)) for k in range(1, K)]
        want = [max(F.Z.min, min(F.Z.max, w)) for w in want]
        assert got[n].tolist() == want, f"seed={seed} row={n}"


@pytest.mark.parametrize("shift", [1, 3, 6, 10])
def test_power_of_two_beta_equals_shift(shift):
    rng = _rng(shift)
    Z = rng.integers(-(1 << 30), 1 << 30, size=(500, 4))
    beta = np.full(4, 1 << (16 - shift))
    alpha = fp.beta_from_alpha(beta)
    got = fp.bucket_step(Z, np.zeros(500, dtype=np.int64), alpha, beta)
    diff = Z[:, :-1] - Z[:, 1:]
    want = Z[:, 1:] + ((diff + (1 << (shift - 1))) >> shift)
    assert np.array_equal(got[:, 1:], want)


def test_bucket_state_saturates_instead_of_wrapping():
    Z = np.array([[F.Z.max, F.Z.min, F.Z.max]])
    got = fp.bucket_step(Z, np.array([1 << 40]), np.array([65535] * 3), fp.beta_from_alpha(np.array([1] * 3)))
    assert got[0, 0] == F.Z.max
    assert got.min() >= F.Z.min and got.max() <= F.Z.max


@pytest.mark.parametrize("seed", SEEDS)
def test_bucket_step_tracks_float_cascade(seed):
    """Fixed cascade follows the float cascade within a few LSB per step of rounding."""
    rng = _rng(seed)
    K, T = 4, 300
    alpha_f = rng.uniform(0.5, 0.99, size=K)
    alpha = fp.coef_from_float(alpha_f)
    beta = fp.beta_from_alpha(alpha)
    a_q, b_q = alpha / 65536.0, beta / 65536.0
    z_fix = np.zeros((1, K), dtype=np.int64)
    z_flt = np.zeros(K)
    for t in range(T):
        a = float(rng.uniform(0, 2)) if rng.random() < 0.2 else 0.0
        a_raw = F.Z.from_float(a)
        new = np.empty(K)
        new[0] = a_q[0] * z_flt[0] + F.Z.to_float(a_raw)
        new[1:] = z_flt[1:] + b_q[1:] * (z_flt[:-1] - z_flt[1:])
        z_flt = new
        z_fix = fp.bucket_step(z_fix, np.array([a_raw]), alpha, beta)
    # each step adds at most 1/2 LSB of rounding per bucket, filtered by a stable cascade
    assert np.max(np.abs(F.Z.to_float(z_fix[0]) - z_flt)) < 200 * F.Z.lsb, f"seed={seed}"


@pytest.mark.parametrize("seed", SEEDS)
def test_encoder_spikes_are_whole_thresholds(seed):
    rng = _rng(seed)
    n = 500
    y = rng.integers(0, F.X.from_float(20.0), size=n)
    e = rng.integers(0, F.X.from_float(20.0), size=n)
    d = rng.integers(0, F.ADAPT.from_float(1.0), size=n)
    theta0 = F.THETA.from_float(0.25)
    q, e2, d2 = fp.encoder_step(y, e, d, theta0, 60000, 64000, 3000, 15)
    theta = F.THETA.saturate(theta0 + fp.rshift_round(d, F.ADAPT.frac - F.THETA.frac))
    assert np.all(q % theta == 0)
    assert np.all(q // theta <= 15)
    assert np.all((q > 0) <= (y > 0))
    assert np.all(e2 >= 0) and np.all(d2 >= 0)


def test_encoder_tracks_steady_input_within_half_threshold():
    alpha_e = fp.coef_from_float(np.exp(-1 / 10))
    theta0 = F.THETA.from_float(0.1)
    y = F.X.from_float(1.7)
    e = d = 0
    errs = []
    for t in range(400):
        q, e, d = fp.encoder_step(y, e, d, theta0, alpha_e, fp.coef_from_float(np.exp(-1 / 20)), fp.coef_from_float(0.05), 15)
        if t > 100:
            theta = F.THETA.saturate(theta0 + fp.rshift_round(d, 12))
            errs.append(abs(F.X.to_float(y) - F.ENC.to_float(e)) / F.THETA.to_float(theta))
    # after a spike e sits within theta/2 of y; between spikes it decays toward y - theta/2
    assert max(errs) <= 0.5 + 1e-3 + (1 - np.exp(-1 / 10)) * 1.7 / 0.1


def test_tiny_updates_accumulate_in_master_word():
    master = fp.master_from_forward(np.array([100]))
    delta = np.array([F.ERR.from_float(0.01)])
    z = np.array([F.Z.from_float(0.5)])
    shift = 12  # eta * dt = 2**-12: each update is far below one forward LSB (2**-12)
    start = int(master[0])
    for _ in range(2000):
        master = fp.update_master(master, delta * z, F.ERR.frac + F.Z.frac, shift)
    per_update = _round_half_up(Fraction(int(delta[0]) * int(z[0]), 1 << (34 - 28 + shift)))
    assert int(master[0]) == start - 2000 * per_update
    # the forward value (top bits, floor) follows the accumulated master word
    assert fp.forward_from_master(master)[0] == (start - 2000 * per_update) >> F.MASTER_SHIFT
    assert fp.forward_from_master(master)[0] <= 100 - 10
    single = fp.update_master(fp.master_from_forward(np.array([100])), delta * z, 34, shift)
    assert fp.forward_from_master(single)[0] in (99, 100)  # one update alone is invisible forward


def test_master_words_are_centred_so_the_forward_read_rounds_to_nearest():
    seed = 20261202
    rng = np.random.default_rng(seed)
    # random weights, and weights at W's bounds so that updates past them saturate
    forward = np.concatenate([rng.integers(F.W.min, F.W.max + 1, size=4000), np.repeat([F.W.min, F.W.max], 100)])
    master = fp.master_from_forward(forward)
    assert np.array_equal(fp.forward_from_master(master), forward), f"seed={seed}"
    assert np.all((master - (forward << F.MASTER_SHIFT)) == 1 << (F.MASTER_SHIFT - 1)), f"seed={seed}"
    assert np.all(master <= F.MASTER.max) and np.all(master >= F.MASTER.min), f"seed={seed}"
    # after any net update d (master units), the forward value is the learned weight
    # forward + d / 2**16 rounded to nearest (half up), exactly; beyond W's range the master
    # word saturates and the forward value is W's bound
    d = rng.integers(-(1 << 20), 1 << 20, size=forward.size)
    moved = fp.forward_from_master(F.MASTER.saturate(master + d))
    learned = [Fraction(int(f)) + Fraction(int(x), 1 << F.MASTER_SHIFT) for f, x in zip(forward, d)]
    expect = np.array([min(max(_round_half_up(v), F.W.min), F.W.max) for v in learned])
    assert np.array_equal(moved, expect), f"seed={seed}"


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan")])
def test_coef_rejects_out_of_range(bad):
    with pytest.raises(ValueError, match="coefficient"):
        fp.coef_from_float(bad)


@pytest.mark.parametrize("eta,dt", [(0, 1e-3), (-1, 1e-3), (1e30, 1.0), (1e-30, 1e-3)])
def test_lr_shift_rejects_bad_rates(eta, dt):
    with pytest.raises(ValueError, match="learning rate"):
        fp.lr_shift(eta, dt)


def test_lr_shift_is_nearest_power_of_two():
    assert fp.lr_shift(1.0, 2**-10) == 10
    assert fp.lr_shift(3.0, 1e-3) == round(-np.log2(3e-3))


def test_error_below_matches_definition():
    rng = _rng(7)
    delta = rng.integers(-2000, 2000, size=5)
    V = rng.integers(-4096, 4096, size=(5, 3))
    W = rng.integers(-8000, 8000, size=(5, 4))
    got = fp.error_below(delta, V, W)
    g = [max(F.ERR.min, min(F.ERR.max, _round_half_up(Fraction(int(delta[j]) * int(V[j].sum()), 4096)))) for j in range(5)]
    want = [max(F.ERR.min, min(F.ERR.max, _round_half_up(Fraction(sum(g[j] * int(W[j, i]) for j in range(5)), 4096)))) for i in range(4)]
    assert got.tolist() == want


def test_formats_are_consistent():
    assert F.ACC.frac == F.Z.frac == F.X.frac == F.TRACE.frac == F.ENC.frac == F.ADAPT.frac
    assert F.W.frac + F.Q.frac == F.Z.frac
    assert F.MASTER.frac - F.MASTER_SHIFT == F.W.frac == F.V.frac == F.B.frac
    assert F.N_MAX < (1 << 4)
    with pytest.raises(ValueError, match="width"):
        F.Format("bad", 0, 0, True)


# --- loss unit: integer softmax cross-entropy --------------------------------------------

def test_loss_tables_and_constants():
    f = np.arange(1 << F.LOSS_INDEX_BITS)
    assert fp.EXP2_TABLE[0] == 1 << F.EXPT.frac                    # 2**0 = 1.0 exactly
    assert np.all(np.diff(fp.EXP2_TABLE) < 0) and fp.EXP2_TABLE.max() <= F.EXPT.max
    assert np.abs(fp.EXP2_TABLE / 2.0 ** F.EXPT.frac - 2.0 ** (-f / 256)).max() <= 2.0 ** -(F.EXPT.frac + 1)
    assert fp.LOG2_TABLE[0] == 0 and np.all(np.diff(fp.LOG2_TABLE) > 0) and fp.LOG2_TABLE.max() < 1 << 16
    assert abs(fp.LOG2E_RAW / 2.0 ** F.LOG2E.frac - math.log2(math.e)) <= 2.0 ** -(F.LOG2E.frac + 1)
    assert abs(fp.LN2_RAW / 2.0 ** F.LN2.frac - math.log(2)) <= 2.0 ** -(F.LN2.frac + 1)


def _rational_terms(y):
    """softmax_terms by its definition, in Python ints and Fractions, one row."""
    m = max(y)
    out = []
    for v in y:
        d = min(m - v, F.LOSS_DMAX << F.X.frac)
        t = _round_half_up(Fraction(d * fp.LOG2E_RAW, 1 << (F.X.frac + F.LOG2E.frac - F.LOSS_INDEX_BITS)))
        n, f = t >> F.LOSS_INDEX_BITS, t & ((1 << F.LOSS_INDEX_BITS) - 1)
        out.append((d, _round_half_up(Fraction(int(fp.EXP2_TABLE[f]), 1 << n))))
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_error_matches_its_definition(seed):
    rng = _rng(seed)
    for scale in (0.05, 1.0, 8.0):
        y = F.X.from_float(rng.normal(0, scale, (40, 10)))
        label = rng.integers(0, 10, 40)
        err, S = fp.softmax_ce_err(y, label)
        for row in range(len(y)):
            terms = _rational_terms([int(v) for v in y[row]])
            s = sum(t for _, t in terms)
            assert S[row] == s, f"seed={seed} scale={scale} row={row}"
            r = (1 << F.RECIP_BITS) // s
            want = [_round_half_up(Fraction(t * r, 1 << (F.RECIP_BITS - F.ERR.frac)))
                    - ((j == label[row]) << F.ERR.frac) for j, (_, t) in enumerate(terms)]
            assert err[row].tolist() == want, f"seed={seed} scale={scale} row={row}"


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_error_and_loss_track_the_float_softmax(seed):
    """Stated tolerances: the error within 2**-10 (4 ERR LSBs; the exp table's relative
    error is 2**-9 ln 2), the loss within 2**-7 where -ln p_label < LOSS_DMAX (the log2
    table truncates the sum's mantissa to 8 bits); above it the loss is clamped."""
    from gammacore.golden.loss import softmax_ce
    rng = _rng(seed)
    for scale in (0.1, 1.0, 4.0, 20.0):
        y = F.X.from_float(rng.normal(0, scale, (3000, 10)))
        label = rng.integers(0, 10, 3000)
        loss_f, err_f = softmax_ce(F.X.to_float(y), label)
        err, _ = fp.softmax_ce_err(y, label)
        assert np.abs(F.ERR.to_float(err) - err_f).max() <= 2.0 ** -10, f"seed={seed} scale={scale}"
        loss = F.LOSS.to_float(fp.ce_loss(y, label))
        ok = loss_f < F.LOSS_DMAX
        assert np.abs(loss - loss_f)[ok].max() <= 2.0 ** -7, f"seed={seed} scale={scale}"
        assert np.all(loss[~ok] >= F.LOSS_DMAX), f"seed={seed} scale={scale}"
        # each row's error sums to ~0 (sum p = 1 up to one rounding per output and the reciprocal)
        assert np.abs(err.sum(axis=-1)).max() <= 10, f"seed={seed} scale={scale}"


def test_softmax_error_edge_cases_and_bad_labels():
    y = np.zeros((1, 4), dtype=np.int64)                   # all equal: p = 1/4 each
    err, S = fp.softmax_ce_err(y, [2])
    assert S[0] == 4 << F.EXPT.frac and err[0].tolist() == [1024, 1024, 1024 - 4096, 1024]
    assert abs(F.LOSS.to_float(fp.ce_loss(y, [2])[0]) - math.log(4)) <= 2.0 ** -16   # S = 4: table entry 0
    big = np.array([[F.X.max, F.X.min, 0]])                # extreme outputs: no overflow, p = onehot
    err, _ = fp.softmax_ce_err(big, [0])
    assert err[0].tolist() == [0, 0, 0]
    for bad in (-1, 4):
        with pytest.raises(ValueError, match=f"labels must be in 0..3, not .*{bad}"):
            fp.softmax_ce_err(y, [bad])
