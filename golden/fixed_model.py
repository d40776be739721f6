"""Bit-exact fixed-point model of a SpikingGamma layer: the specification of the RTL.

Only wiring: every arithmetic operation is a call into :mod:`gammacore.golden.fixedpoint`.
All state is raw int64 in the formats of :mod:`gammacore.golden.formats`, with a leading
batch axis B.
"""
import numpy as np

from . import fixedpoint as fp
from . import formats as F
from .config import LayerCoefs, LayerConfig

__all__ = ["FixedLayer"]


class FixedLayer:
    """One layer in fixed point.

    Parameters
    ----------
    cfg : LayerConfig
    coefs : LayerCoefs (raw coefficients and learning-rate shifts)
    W, V, b : initial weights as floats (quantized to W/V/B, stored as master words)
    batch : number of independent streams
    """

    def __init__(self, cfg: LayerConfig, coefs: LayerCoefs, W, V, b, batch=1):
        self.cfg, self.coefs, self.batch = cfg, coefs, batch
        self.W_master = fp.master_from_forward(F.W.from_float(np.asarray(W, dtype=np.float64)))
        self.V_master = fp.master_from_forward(F.V.from_float(np.asarray(V, dtype=np.float64)))
        self.b_master = fp.master_from_forward(F.B.from_float(np.asarray(b, dtype=np.float64)))
        self._refresh()
        self.reset()

    def _refresh(self):
        self.W = fp.forward_from_master(self.W_master)
        self.V = fp.forward_from_master(self.V_master)
        self.b = fp.forward_from_master(self.b_master)

    def reset(self):
        B, N, I, K = self.batch, self.cfg.n_out, self.cfg.n_in, self.cfg.K
        z = lambda *shape: np.zeros(shape, dtype=np.int64)
        self.A, self.Z, self.trace = z(B, N), z(B, N, K), z(B, I, K)
        self.e, self.d, self.x, self.y, self.q = z(B, N), z(B, N), z(B, N), z(B, N), z(B, N)

    def step(self, q_in):
        """Consume input magnitudes (B, n_in) Q raw; return output spikes (B, n_out) Q raw."""
        c = self.coefs
        self.A = fp.accumulate(self.W, q_in)
        self.Z = fp.bucket_step(self.Z, self.A, c.alpha, c.beta)
        self.trace = fp.bucket_step(self.trace, fp.trace_input(q_in), c.alpha, c.beta)
        self.x = fp.dendrite(self.V, self.Z, self.b)
        self.y = self.x if self.cfg.readout == "linear" else fp.relu(self.x)
        enc = self.cfg.encoder
        if enc == "none":
            self.q = np.zeros_like(self.y)
        elif enc == "bypass":
            self.q = fp.encoder_bypass(self.y, c.alpha_e)
        else:
            self.q, self.e, self.d = fp.encoder_step(self.y, self.e, self.d, c.theta0, c.alpha_e,
                                                     c.alpha_theta, c.m_f, self.cfg.n_max)
        return self.q

    def learn(self, err):
        """Online update from err (B, n_out) ERR raw; returns the error below (B, n_in) ERR raw."""
        c = self.coefs
        delta = fp.deltas(err, self.x, self.cfg.readout == "linear")
        below = fp.error_below(delta, self.V, self.W)
        u = fp.grad_w_term(self.V, self.trace)
        gfrac = F.ERR.frac + F.Z.frac
        for n in range(delta.shape[0]):
            self.W_master = fp.update_master(self.W_master, delta[n][:, None] * u[n], gfrac, c.shift_w)
            self.V_master = fp.update_master(self.V_master, delta[n][:, None] * self.Z[n], gfrac, c.shift_v)
            self.b_master = fp.update_master(self.b_master, delta[n], F.ERR.frac, c.shift_b)
        self._refresh()
        return below

    def get_params(self):
        return {"W": F.W.to_float(self.W), "V": F.V.to_float(self.V), "b": F.B.to_float(self.b)}
