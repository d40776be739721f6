"""Exact gradient by backpropagation through time, and the fidelity of the online rule.

Both run the same float network with the spike code treated as identity (docs/model.md
section 4): a hidden layer's receivers decode its output exactly, so the receiving layer's
first bucket holds y(t) (the sigma-delta decoder e_j equals the receiver's yhat^1 and tracks
y_j). Layer 0 receives the host's events through its first bucket as usual. Batch 1,
small networks; the loss is sum_t L(t) over the masked steps.
"""
import numpy as np

from .config import NetworkConfig
from .loss import mse, softmax_ce

__all__ = ["forward_identity", "exact_gradient", "online_gradient", "gradient_fidelity"]


def _coefs(cfg):
    return [(c.as_float("alpha"), c.as_float("beta")) for c in cfg.derived()]


def _loss_err(kind, y, target, t):
    if kind == "ce":
        loss, err = softmax_ce(y[None], np.array([target]))
    elif kind == "mse":
        loss, err = mse(y[None], target[t][None])
    else:
        raise ValueError(f"loss must be 'ce' or 'mse', not {kind!r}")
    return float(loss[0]), err[0]


def forward_identity(cfg: NetworkConfig, params, inputs):
    """Run the identity-code network on inputs (T, n_in); returns per-layer records."""
    recs = []
    u_seq = np.asarray(inputs, dtype=np.float64)
    for n, ((alpha, beta), p, lc) in enumerate(zip(_coefs(cfg), params, cfg.layers)):
        T = u_seq.shape[0]
        yh = np.zeros((T, lc.n_in, lc.K))
        prev = np.zeros((lc.n_in, lc.K))
        for t in range(T):
            cur = np.empty_like(prev)
            cur[:, 0] = alpha[0] * prev[:, 0] + u_seq[t] if n == 0 else u_seq[t]
            cur[:, 1:] = prev[:, 1:] + beta[1:] * (prev[:, :-1] - prev[:, 1:])
            yh[t] = prev = cur
        Z = np.einsum("ji,tik->tjk", p["W"], yh)
        x = np.einsum("jk,tjk->tj", p["V"], Z) + p["b"]
        y = x if lc.readout == "linear" else np.maximum(x, 0)
        recs.append({"yh": yh, "Z": Z, "x": x, "y": y})
        u_seq = y
    return recs


def _output_errors(cfg, recs, target, mask, loss):
    y = recs[-1]["y"]
    err = np.zeros_like(y)
    total = 0.0
    for t in range(len(y)):
        if mask is None or mask[t]:
            l, err[t] = _loss_err(loss, y[t], target, t)
            total += l
    return total, err


def exact_gradient(cfg: NetworkConfig, params, inputs, target, mask=None, loss="ce"):
    """Exact d(sum_t L(t))/d(W, V, b) per layer by BPTT. Returns (loss, grads)."""
    recs = forward_identity(cfg, params, inputs)
    total, dy = _output_errors(cfg, recs, target, mask, loss)
    grads = [None] * len(params)
    coefs = _coefs(cfg)
    for n in reversed(range(len(params))):
        p, r, lc = params[n], recs[n], cfg.layers[n]
        alpha, beta = coefs[n]
        dx = dy if lc.readout == "linear" else dy * (r["x"] > 0)
        grads[n] = {"W": np.einsum("tj,jk,tik->ji", dx, p["V"], r["yh"]),
                    "V": np.einsum("tj,tjk->jk", dx, r["Z"]), "b": dx.sum(axis=0)}
        if n == 0:
            break
        direct = np.einsum("ji,tj,jk->tik", p["W"], dx, p["V"])
        keep = 1.0 - beta
        keep[0] = 0.0   # yhat^1 of a hidden layer's receiver is its input y(t) itself
        G = np.zeros_like(direct)
        nxt = np.zeros(direct.shape[1:])
        for t in reversed(range(len(direct))):
            prop = keep * nxt
            prop[:, :-1] += beta[1:] * nxt[:, 1:]
            G[t] = nxt = direct[t] + prop
        dy = G[:, :, 0]
    return total, grads


def online_gradient(cfg: NetworkConfig, params, inputs, target, mask=None, loss="ce"):
    """Sum over t of the online rule's per-step gradients (no updates applied)."""
    recs = forward_identity(cfg, params, inputs)
    total, err_out = _output_errors(cfg, recs, target, mask, loss)
    grads = [{k: np.zeros_like(v) for k, v in p.items()} for p in params]
    for t in range(len(err_out)):
        err = err_out[t]
        for n in reversed(range(len(params))):
            p, r, lc = params[n], recs[n], cfg.layers[n]
            delta = err if lc.readout == "linear" else err * (r["x"][t] > 0)
            grads[n]["W"] += np.einsum("j,jk,ik->ji", delta, p["V"], r["yh"][t])
            grads[n]["V"] += delta[:, None] * r["Z"][t]
            grads[n]["b"] += delta
            err = (delta * p["V"].sum(axis=1)) @ p["W"]
    return total, grads


def _flat(g):
    return np.concatenate([g["W"].ravel(), g["V"].ravel(), g["b"].ravel()])


def gradient_fidelity(cfg: NetworkConfig, params, inputs, target, mask=None, loss="ce"):
    """Cosine similarity per layer between the online and the exact gradient."""
    _, exact = exact_gradient(cfg, params, inputs, target, mask, loss)
    _, online = online_gradient(cfg, params, inputs, target, mask, loss)
    out = []
    for e, o in zip(exact, online):
        a, b = _flat(e), _flat(o)
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        out.append(float(a @ b / (na * nb)) if na > 0 and nb > 0 else float("nan"))
    return out
