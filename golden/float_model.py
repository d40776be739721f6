"""Float model of a SpikingGamma layer (docs/model.md sections 2-4), vectorized over a batch.

Uses the same quantized coefficients and power-of-two learning rates as the fixed-point
model (:class:`~gammacore.golden.config.LayerCoefs`), so the two differ only by the
rounding of states, weights and spike magnitudes.
"""
import numpy as np

from .config import LayerCoefs, LayerConfig

__all__ = ["FloatLayer", "per_input_preactivation"]


class FloatLayer:
    """One layer in float64, event-driven postsynaptic form (Z buckets).

    Parameters
    ----------
    cfg : LayerConfig
    coefs : LayerCoefs for the network's dt
    W, V, b : initial weights (n_out, n_in), (n_out, K), (n_out,)
    batch : number of independent streams evaluated at once
    members : if true, the batch axis carries independent learners with their own weights
        (W (B, n_out, n_in), V (B, n_out, K), b (B, n_out)), each updated from its own error;
        every sum runs over one member's terms in the same order whatever B is, so a member
        computes exactly what it computes alone (batch 1).
    """

    def __init__(self, cfg: LayerConfig, coefs: LayerCoefs, W, V, b, batch=1, members=False):
        self.cfg, self.coefs, self.batch, self.members = cfg, coefs, batch, bool(members)
        if self.members:
            cfg.check_member_weights(batch, W, V, b)
        self.W = np.array(W, dtype=np.float64)
        self.V = np.array(V, dtype=np.float64)
        self.b = np.array(b, dtype=np.float64)
        self.alpha = coefs.as_float("alpha")
        self.beta = coefs.as_float("beta")
        self.alpha_e = coefs.as_float("alpha_e")
        self.alpha_theta = coefs.as_float("alpha_theta")
        self.m_f = coefs.as_float("m_f")
        self.theta0 = coefs.as_float("theta0")
        self.lr = {k: coefs.as_float(f"shift_{k}") for k in ("w", "v", "b")}
        self.set_learning_shift(0)
        self.reset()

    def set_learning_shift(self, extra):
        """Members mode: per-member rates ``lr * 2**-extra`` (extra: int or (B,) ints)."""
        extra = np.broadcast_to(np.asarray(extra, dtype=np.int64), (self.batch,))
        self.lr_members = {k: self.coefs.as_float(f"shift_{k}") * np.exp2(-extra.astype(np.float64))
                           for k in ("w", "v", "b")}

    def reset(self):
        B, N, I, K = self.batch, self.cfg.n_out, self.cfg.n_in, self.cfg.K
        self.Z = np.zeros((B, N, K))
        self.trace = np.zeros((B, I, K))
        self.e = np.zeros((B, N))
        self.d = np.zeros((B, N))
        self.x = np.zeros((B, N))
        self.y = np.zeros((B, N))

    @staticmethod
    def cascade(state, inp, alpha, beta):
        """One step of the gamma cascade on the last axis; ``inp`` enters bucket 1."""
        new = np.empty_like(state)
        new[..., 0] = alpha[0] * state[..., 0] + inp
        new[..., 1:] = state[..., 1:] + beta[1:] * (state[..., :-1] - state[..., 1:])
        return new

    def step(self, q, traces=True):
        """Consume input magnitudes q (B, n_in) of this step; return output spikes (B, n_out).
        ``traces=False``: the presynaptic traces (read only by learning) are left as they are."""
        if self.members:
            A = (self.W * q[:, None, :]).sum(axis=-1)
        else:
            A = q @ self.W.T
        if traces:
            # Z (input A) and the traces (input q): one elementwise cascade over both, stacked
            N = self.cfg.n_out
            S = self.cascade(np.concatenate((self.Z, self.trace), axis=-2), np.concatenate((A, q), axis=-1),
                             self.alpha, self.beta)
            self.Z, self.trace = S[..., :N, :], S[..., N:, :]
        else:
            self.Z = self.cascade(self.Z, A, self.alpha, self.beta)
        if self.members:
            self.x = (self.V * self.Z).sum(axis=-1) + self.b
        else:
            self.x = np.einsum("jk,bjk->bj", self.V, self.Z) + self.b
        self.y = self.x if self.cfg.readout == "linear" else np.maximum(self.x, 0.0)
        enc = self.cfg.encoder
        if enc == "none":
            return np.zeros_like(self.y)
        if enc == "bypass":
            return (1.0 - self.alpha_e) * np.maximum(self.y, 0.0)
        self.e = self.alpha_e * self.e
        theta = self.theta0 + self.d
        n = np.clip(np.floor((self.y - self.e) / theta + 0.5), 0, self.cfg.n_max)
        q_out = n * theta
        self.e = self.e + q_out
        self.d = self.alpha_theta * (self.d + self.m_f * q_out)
        return q_out

    def learn(self, err, below=True):
        """Online update from err = dL/dy (B, n_out); returns the error to the layer below
        (None with ``below=False``).

        Deltas and the error below use the weights before this update.
        """
        delta = err if self.cfg.readout == "linear" else err * (self.x > 0)
        if self.members:
            below = ((delta * self.V.sum(axis=-1))[:, :, None] * self.W).sum(axis=1) if below else None
            u = (self.V[:, :, None, :] * self.trace[:, None, :, :]).sum(axis=-1)
            lr = self.lr_members
            self.W = self.W - lr["w"][:, None, None] * (delta[:, :, None] * u)
            self.V = self.V - lr["v"][:, None, None] * (delta[:, :, None] * self.Z)
            self.b = self.b - lr["b"][:, None] * delta
            return below
        below = (delta * self.V.sum(axis=1)) @ self.W if below else None
        u = np.einsum("jk,bik->bji", self.V, self.trace)
        dW = np.einsum("bj,bji->ji", delta, u)
        dV = np.einsum("bj,bjk->jk", delta, self.Z)
        db = delta.sum(axis=0)
        self.W -= self.lr["w"] * dW
        self.V -= self.lr["v"] * dV
        self.b -= self.lr["b"] * db
        return below

    def get_params(self, member=None):
        """Weights; in members mode those of ``member`` (all, stacked, if None)."""
        if member is None:
            return {"W": self.W.copy(), "V": self.V.copy(), "b": self.b.copy()}
        return {"W": self.W[member].copy(), "V": self.V[member].copy(), "b": self.b[member].copy()}


def per_input_preactivation(W, V, b, q_seq, alpha, beta):
    """x(t) from the per-input form: ``x_j = sum_k V[j,k] sum_i W[j,i] yhat_i^k + b_j``.

    q_seq : (T, n_in) input magnitudes; alpha, beta : (K,) floats. Used to check that the
    event-driven (postsynaptic) form computes the same thing.
    """
    yhat = np.zeros((q_seq.shape[1], len(alpha)))
    out = []
    for q in q_seq:
        yhat = FloatLayer.cascade(yhat, q, alpha, beta)
        out.append(np.einsum("jk,ji,ik->j", V, W, yhat) + b)
    return np.array(out)
