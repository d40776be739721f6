"""The bit-exact elementary operations of gammacore: the specification the RTL implements.

Every function takes and returns raw integers (Python ints or NumPy int64 arrays) in the
formats of :mod:`gammacore.golden.formats`, and works elementwise over any leading batch
dimensions. Products are formed in int64 (no product here exceeds 49 bits); every
precision-dropping shift rounds half up (:func:`rshift_round`); every written-back state
saturates. The network models (``fixed_model``) and the RTL unit tests call these and
nothing else for arithmetic, so there is exactly one definition of each operation.

Per time step and layer, in this order (docs/model.md sections 2-4):

1. synaptic accumulation   ``A_j = sum_i W[j,i] * q_i``                  (:func:`accumulate`)
2. bucket decay            ``Z(t) = f(Z(t-1), A(t))``                    (:func:`bucket_step`)
3. dendrite / readout      ``x_j = sum_k V[j,k] Z_j^k + b_j``            (:func:`dendrite`)
4. encoder                 spike ``q_j = n * theta_j`` or none          (:func:`encoder_step`)
5. learning (if an error is given for this step): deltas, errors to the layer below, then
   updates, all computed from the weights before this step's update.
"""
import numpy as np

from . import formats as F

__all__ = [
    "rshift_round", "coef_from_float", "beta_from_alpha", "lr_shift", "forward_from_master",
    "master_from_forward", "accumulate", "bucket_step", "trace_input", "dendrite", "relu",
    "encoder_step", "encoder_decay", "encoder_count", "encoder_fire", "adapt_decay", "encoder_bypass", "quotient", "deltas", "error_below", "update_master", "grad_operand", "grad_w_term",
    "EXP2_TABLE", "LOG2_TABLE", "LOG2E_RAW", "LN2_RAW", "softmax_terms", "loss_unit", "softmax_ce_err",
    "ce_loss", "MSE_LOSS_SHIFT", "mse_unit",
]


_INT64 = np.dtype(np.int64)


def _i64(v):
    if type(v) is np.ndarray and v.dtype is _INT64:
        return v   # already int64: what np.asarray would return, without the call
    return np.asarray(v, dtype=np.int64) if not isinstance(v, (int, np.integer)) else int(v)


def rshift_round(v, s):
    """Arithmetic right shift by ``s >= 0`` bits, rounding half up: ``(v + 2**(s-1)) >> s``.

    A negative ``s`` is an exact left shift.
    """
    if s <= 0:
        return _i64(v) << (-s)
    return (_i64(v) + (1 << (s - 1))) >> s


# --- parameters --------------------------------------------------------------------------

def coef_from_float(value):
    """COEF raw value of a retention or rate in [0, 1): round to nearest, clip to 1..2**16-1."""
    value = np.asarray(value, dtype=np.float64)
    if np.any(~np.isfinite(value)) or np.any(value < 0) or np.any(value >= 1):
        raise ValueError(f"coefficient must be in [0, 1), not {value!r}")
    raw = np.clip(np.round(value * (1 << F.COEF.frac)), 1, F.COEF.max).astype(np.int64)
    return raw if raw.ndim else int(raw)


def beta_from_alpha(alpha_raw):
    """Transfer rate beta = 1 - alpha, exactly, in COEF (alpha_raw in 1..2**16-1)."""
    return (1 << F.COEF.frac) - _i64(alpha_raw)


def lr_shift(eta, dt):
    """Shift s with eta * dt ~= 2**-s (nearest power of two in log scale).

    Learning rates are per second of physical time (docs/model.md section 4); both the float
    and the fixed-point model apply the same power of two, 2**-s, per step.
    """
    rate = float(eta) * float(dt)
    if not np.isfinite(rate) or rate <= 0:
        raise ValueError(f"learning rate eta * dt must be positive, not {eta!r} * {dt!r}")
    s = int(round(-np.log2(rate)))
    if not F.LR_SHIFT.min <= s <= F.LR_SHIFT.max:
        raise ValueError(f"learning rate eta * dt = {rate:g} gives shift {s}, expected 0..{F.LR_SHIFT.max}")
    return s


#: Half a forward LSB in master units. A master word holds its weight plus this half step, so
#: the forward read (the top 16 bits, a floor, as the chip does it) yields the weight rounded
#: to nearest (docs/model.md section 5).
MASTER_HALF = 1 << (F.MASTER_SHIFT - 1)


def forward_from_master(master):
    """Forward 16-bit value (W, V or b) of a master word: its top 16 bits (floor).

    Because every master word carries ``MASTER_HALF`` (see ``master_from_forward``), this
    floor is the learned weight rounded to nearest.
    """
    return _i64(master) >> F.MASTER_SHIFT


def master_from_forward(forward):
    """Master word of forward value ``forward``: ``forward << 16`` plus half a forward LSB.

    The half step centres the weight in its forward LSB, so updates move the forward value
    when the learned weight crosses a half step, not when it crosses the LSB's lower edge
    (a floor would bias every weight down by half an LSB on average).
    """
    return (_i64(forward) << F.MASTER_SHIFT) | MASTER_HALF


# --- forward path ------------------------------------------------------------------------

def accumulate(W, q):
    """Synaptic accumulator of one step: ``A_j = sum_i W[j,i] * q_i`` (exact, ACC format).

    W : (..., N_out, N_in) W raw; q : (..., N_in) Q raw (0 where no event).
    Saturates at ACC bounds (unreachable below 2**14 events per neuron per step).
    """
    A = np.einsum("...ji,...i->...j", _i64(W), _i64(q))
    return F.ACC.saturate(A)


def bucket_step(Z, A, alpha, beta):
    """One step of the gamma cascade (event-driven, postsynaptic form).

    ``Z^1 <- sat(round(alpha_1 * Z^1) + A)``;
    ``Z^k <- sat(Z^k + round(beta_k * (Z^(k-1) - Z^k)))`` for k >= 2, all from old values.

    Z : (..., K) Z raw; A : (...) ACC raw (same scale as Z); alpha, beta : (K,) COEF raw.
    """
    Z = _i64(Z)
    alpha = _i64(alpha)
    beta = _i64(beta)
    new = np.empty_like(Z)
    new[..., 0] = rshift_round(alpha[0] * Z[..., 0], F.COEF.frac) + _i64(A)
    diff = Z[..., :-1] - Z[..., 1:]
    new[..., 1:] = Z[..., 1:] + rshift_round(beta[1:] * diff, F.COEF.frac)
    return F.Z.saturate(new)


def trace_input(q):
    """Input of the presynaptic trace cascade: an event magnitude q on the Z scale."""
    return _i64(q) << (F.TRACE.frac - F.Q.frac)


def dendrite(V, Z, b):
    """Pre-activation ``x = sat(round(sum_k V[k] Z^k + (b << 22), 12))``.

    V : (..., K) V raw; Z : (..., K) Z raw; b : (...) B raw. Exact wide sum, one rounding.
    """
    acc = np.sum(_i64(V) * _i64(Z), axis=-1) + (_i64(b) << F.Z.frac)
    return F.X.saturate(rshift_round(acc, F.V.frac))


def relu(x):
    return np.maximum(_i64(x), 0)


def quotient(r, theta, n_max):
    """Spike count ``n = min(n_max, floor((r + theta/2) / theta))`` without a divider.

    r : residual y - e (X scale); theta : THETA raw (>= 1). Four compare-and-subtract steps
    (restoring division, 8, 4, 2, 1 thresholds) give n in 0..15 exactly; a quotient of 16
    or more comes out as 15. r + theta/2 < 0 gives 0.

    The four steps leave exactly ``clip(floor(rem / th), 0, 15)`` (rem = r + th/2, th =
    theta on the X scale): below 0 no step takes, from 16 th up every step takes, and in
    between they are the binary digits of the quotient. That is what is computed here (one
    integer division instead of four rounds of array operations); the steps themselves run
    where a threshold is not positive, and tests.test_fixedpoint checks the two agree.
    """
    th = _i64(theta) << (F.X.frac - F.THETA.frac)
    rem = _i64(r) + (th >> 1)
    if np.all(th > 0):
        n = np.minimum(np.maximum(rem // th, 0), 15)
    else:
        n = quotient_steps(rem, th)
    return np.minimum(n, n_max)


def quotient_steps(rem, th):
    """The four compare-and-subtract steps of :func:`quotient` (rem, th on the X scale)."""
    n = np.zeros(np.shape(rem), dtype=np.int64)
    for bit in (3, 2, 1, 0):
        step = th << bit
        take = rem >= step
        rem = rem - step * take        # rem - step where taken, else rem
        n = n + (take << bit)          # 2**bit where taken, else 0
    return n


def encoder_decay(e, alpha_e):
    """The encoder estimate's per-step decay ``e <- round(alpha_e e)`` (ENC raw)."""
    return rshift_round(_i64(alpha_e) * _i64(e), F.COEF.frac)


def encoder_count(y, e, d, theta0, n_max):
    """Spike count and threshold: ``theta = sat(theta0 + round(d >> 12))``,
    ``n = quotient(y - e, theta)`` (0: no spike). Returns (n, theta)."""
    theta = F.THETA.saturate(_i64(theta0) + rshift_round(_i64(d), F.ADAPT.frac - F.THETA.frac))
    return quotient(_i64(y) - _i64(e), theta, n_max), theta


def encoder_fire(n, theta, e, d, m_f):
    """Emit ``q = sat(n theta)``: ``e <- sat(e + (q << 12))``, ``d <- sat(d + round(m_f q >> 4))``.

    With n = 0, q = 0 and the states are unchanged. Returns (q, e, d).
    """
    q = F.Q.saturate(_i64(n) * _i64(theta))
    e = F.ENC.saturate(_i64(e) + (q << (F.ENC.frac - F.Q.frac)))
    d = F.ADAPT.saturate(_i64(d) + rshift_round(_i64(m_f) * q, F.COEF.frac + F.Q.frac - F.ADAPT.frac))
    return q, e, d


def adapt_decay(d, alpha_theta):
    """The threshold adaptation's per-step decay ``d <- round(alpha_theta d)``."""
    return rshift_round(_i64(alpha_theta) * _i64(d), F.COEF.frac)


def encoder_step(y, e, d, theta0, alpha_e, alpha_theta, m_f, n_max):
    """One step of the sigma-delta encoder with multiplicative adaptive threshold.

    Parameters
    ----------
    y : X raw, the neuron's output this step.
    e : ENC raw, the estimate after the previous step; d : ADAPT raw.
    theta0 : THETA raw (>= 1); alpha_e, alpha_theta, m_f : COEF raw; n_max : 1..15.

    Returns
    -------
    q : Q raw magnitude of the spike (0: no spike this step).
    e, d : the states after this step.

    Order: ``e <- round(alpha_e e)`` (:func:`encoder_decay`); ``theta = sat(theta0 +
    round(d >> 12))``, ``n = quotient(y - e, theta)`` (:func:`encoder_count`); if n >= 1:
    ``q = sat(n theta)``, ``e <- sat(e + (q << 12))``, ``d <- sat(d + round(m_f q >> 4))``
    (:func:`encoder_fire`); finally ``d <- round(alpha_theta d)`` (:func:`adapt_decay`).
    """
    if not 1 <= int(n_max) <= F.N_MAX:
        raise ValueError(f"n_max must be in 1..{F.N_MAX}, not {n_max!r}")
    e = encoder_decay(e, alpha_e)
    n, theta = encoder_count(y, e, d, theta0, n_max)
    q, e, d = encoder_fire(n, theta, e, d, m_f)
    return q, e, adapt_decay(d, alpha_theta)


def encoder_bypass(y, alpha_e):
    """Encoder bypass (ablation): ``q = sat_Q(round((1 - alpha_e) * max(y, 0)))`` every step.

    beta_e (COEF) times y (X) has 16 + 22 fraction bits; rounded to Q's 10.
    """
    beta_e = beta_from_alpha(alpha_e)
    return F.Q.saturate(rshift_round(beta_e * relu(y), F.COEF.frac + F.X.frac - F.Q.frac))


# --- learning ----------------------------------------------------------------------------

def deltas(err, x, linear):
    """``delta_j = e_j * H(x_j)``: H = 1 for a linear readout, else 1 where x > 0 (ERR raw)."""
    err = _i64(err)
    return err if linear else np.where(_i64(x) > 0, err, 0)


def error_below(delta, V, W):
    """Error to the layer below: ``e_i = sum_j g_j W[j,i]``, ``g_j = delta_j sum_k V[j,k]``.

    g_j = sat_ERR(round(delta_j * sum_k V[j,k], 12)); e_i = sat_ERR(round(sum_j g_j W[j,i], 12)).
    delta : (..., N_out) ERR; V : (..., N_out, K) V raw; W : (..., N_out, N_in) W raw.
    """
    g = F.ERR.saturate(rshift_round(_i64(delta) * np.sum(_i64(V), axis=-1), F.V.frac))
    e = np.einsum("...j,...ji->...i", g, _i64(W))
    return F.ERR.saturate(rshift_round(e, F.W.frac))


def grad_operand(x):
    """A learning operand (yhat, u or Z) as the rule's multipliers read it:
    ``sat_GRAD_OP(round(x >> GRAD_OP_SHIFT))``, 10 fraction bits in 18 bits."""
    return F.GRAD_OP.saturate(rshift_round(x, F.GRAD_OP_SHIFT))


def grad_w_term(V, trace):
    """``u_ji = sat_GRAD_OP(round(sum_k V[j,k] yhat'_i^k, 12))`` with ``yhat' = grad_operand(yhat)``.

    V : (..., N_out, K) V raw; trace : (..., N_in, K) TRACE raw -> (..., N_out, N_in) GRAD_OP
    raw (10 fraction bits): the operand of delta_j * u_ji.
    """
    u = np.einsum("...jk,...ik->...ji", _i64(V), grad_operand(trace))
    return F.GRAD_OP.saturate(rshift_round(u, F.V.frac))


def update_master(master, grad, grad_frac, shift):
    """``master <- sat(master - round(grad * 2**-shift))`` with grad's scale aligned to MASTER.

    grad : raw integers with ``grad_frac`` fraction bits (delta*u' and delta*Z' have 22,
    delta alone 12); shift : LR_SHIFT (eta * dt = 2**-shift).
    """
    upd = rshift_round(_i64(grad), grad_frac - F.MASTER.frac + int(shift))
    return F.MASTER.saturate(_i64(master) - upd)


# --- loss unit: softmax cross-entropy (what the chip computes from y_out at a loss step) ---
#
# p_j = softmax(y)_j without floating point: d_j = min(max(y) - y_j, LOSS_DMAX) (X scale);
# t_j = round(d_j * log2 e, 8 fraction bits) = n_j + f_j / 256; exp(-d_j) = 2**-t_j
# = round(EXP2_TABLE[f_j] >> n_j) (EXPT, 15 fraction bits); S = sum_j exp(-d_j) >= 1;
# r = floor(2**31 / S) (one division per step); p_j = round(exp(-d_j) * r, 12 fraction
# bits) (ERR). The error e = p - onehot(label) goes to the output layer as it does from the
# host. The loss -ln p_label = d_label + ln S, with log2 S from the position of S's leading
# one and a table of log2(1 + m/256) on the 8 bits after it.

_IB = F.LOSS_INDEX_BITS
#: 2**-(f / 256) for f = 0..255 (EXPT raw: 32768 down to 16428); a 256 x 16 ROM.
EXP2_TABLE = np.array([round((1 << F.EXPT.frac) * 2.0 ** (-f / (1 << _IB))) for f in range(1 << _IB)],
                      dtype=np.int64)
#: log2(1 + m / 256) for m = 0..255 (LOG2 raw, 16 fraction bits; < 2**16); a 256 x 16 ROM.
LOG2_TABLE = np.array([round((1 << F.LOG2.frac) * np.log2(1.0 + m / (1 << _IB))) for m in range(1 << _IB)],
                      dtype=np.int64)
LOG2E_RAW = round(np.log2(np.e) * (1 << F.LOG2E.frac))
LN2_RAW = round(np.log(2.0) * (1 << F.LN2.frac))


def softmax_terms(y):
    """The loss unit's first pass: ``(d, term, S)`` of outputs ``y`` (..., C) X raw.

    d_j = min(max(y) - y_j, LOSS_DMAX) (X raw, >= 0); term_j = exp(-d_j) (EXPT raw; the
    largest output's is exactly 2**15 = 1.0); S = sum_j term_j (SUMEXP raw, >= 2**15).
    """
    y = _i64(y)
    d = np.minimum(y.max(axis=-1, keepdims=True) - y, F.LOSS_DMAX << F.X.frac)
    t = rshift_round(d * LOG2E_RAW, F.X.frac + F.LOG2E.frac - _IB)
    n, f = t >> _IB, t & ((1 << _IB) - 1)
    term = (EXP2_TABLE[f] + ((1 << n) >> 1)) >> n          # round half up, as rshift_round
    return d, term, term.sum(axis=-1)


def loss_unit(y, label):
    """What the loss unit computes at one loss step from outputs ``y`` (..., C) X raw and
    labels (...) ints, from one pass of :func:`softmax_terms`: ``(err, loss, S)``.

    err = softmax(y) - onehot(label) (..., C) ERR raw (see the section comment); loss =
    -ln p_label = d_label + ln S (...) LOSS raw, with ln S = round(log2 S * ln 2) and
    log2 S = (msb(S) - 15) + LOG2_TABLE[8 bits after the leading one, truncated] (LOG2 raw,
    16 fraction bits); S (...) SUMEXP raw.
    """
    d, term, S = softmax_terms(y)
    label = _i64(label)
    if np.any(label < 0) or np.any(label >= term.shape[-1]):
        raise ValueError(f"labels must be in 0..{term.shape[-1] - 1}, not {label!r}")
    r = (1 << F.RECIP_BITS) // S
    p = rshift_round(term * r[..., None], F.RECIP_BITS - F.ERR.frac)
    onehot = (np.arange(p.shape[-1]) == np.asarray(label)[..., None]).astype(np.int64)
    err = F.ERR.saturate(p - (onehot << F.ERR.frac))
    msb = np.sum(S[..., None] >= (np.int64(1) << np.arange(1, 48, dtype=np.int64)), axis=-1)
    m = ((S << _IB) >> msb) & ((1 << _IB) - 1)
    log2s = ((msb - F.EXPT.frac) << F.LOG2.frac) + LOG2_TABLE[m]
    ln_s = rshift_round(log2s * LN2_RAW, F.LOG2.frac + F.LN2.frac - F.LOSS.frac)
    d_label = np.take_along_axis(d, np.asarray(label)[..., None], axis=-1)[..., 0]
    return err, F.LOSS.saturate(d_label + ln_s), S


# --- loss unit: squared error (a target per output at each loss step) ---------------------
#
# e_j = y_j - target_j rounded to ERR's grid and saturated (the error the host would send);
# the loss is half the sum of the squared errors as sent, 0.5 sum_j e_j**2, on LOSS's grid:
# e_j**2 has 2 ERR.frac = 24 fraction bits, so 0.5 e_j**2 in LOSS raw (22) is
# round(e_j**2 >> 3), summed over the outputs and saturated to LOSS. The loss of a clipped
# error is the clipped loss: like the errors, it is what learning sees.

#: 0.5 e**2 in LOSS raw is rshift_round(e * e, MSE_LOSS_SHIFT) (e ERR raw)
MSE_LOSS_SHIFT = 2 * F.ERR.frac + 1 - F.LOSS.frac


def mse_unit(y, target):
    """What the loss unit computes at one loss step of a squared-error sample, from outputs
    ``y`` (..., C) X raw and targets (..., C) X raw: ``(err, loss)``.

    err = saturate(round((y - target) >> (X.frac - ERR.frac))) (..., C) ERR raw; loss =
    saturate(sum_j round(err_j**2 >> MSE_LOSS_SHIFT)) (...) LOSS raw (see above).
    """
    err = F.ERR.saturate(rshift_round(_i64(y) - _i64(target), F.X.frac - F.ERR.frac))
    return err, F.LOSS.saturate(np.sum(rshift_round(err * err, MSE_LOSS_SHIFT), axis=-1))


def softmax_ce_err(y, label):
    """The loss unit's errors and sum: ``(err, S)`` of :func:`loss_unit`."""
    err, _, S = loss_unit(y, label)
    return err, S


def ce_loss(y, label):
    """The loss unit's loss -ln p_label (LOSS raw) of :func:`loss_unit`."""
    return loss_unit(y, label)[1]
