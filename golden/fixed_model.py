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
    members : if true, the batch axis carries independent learners, each with its own
        weights: W, V, b have a leading axis of length ``batch`` ((B, N_out, N_in),
        (B, N_out, K), (B, N_out)) and ``learn`` updates each member from its own error
        (a member with zero error is left exactly unchanged). Otherwise the weights are
        shared by the batch (inference on many samples at once).
    """

    def __init__(self, cfg: LayerConfig, coefs: LayerCoefs, W, V, b, batch=1, members=False):
        self.cfg, self.coefs, self.batch, self.members = cfg, coefs, batch, bool(members)
        if self.members:
            cfg.check_member_weights(batch, W, V, b)
        #: per-member extra learning-rate shift (members mode; see set_learning_shift)
        self.set_learning_shift(0)
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

    def step(self, q_in, traces=True):
        """Consume input magnitudes (B, n_in) Q raw; return output spikes (B, n_out) Q raw.
        ``traces=False``: the presynaptic traces, which only learning reads, are left as they
        are (the chip's Cmd.NO_TRACES, used where no learning follows before a reset)."""
        c = self.coefs
        self.A = fp.accumulate(self.W, q_in)
        if traces:
            # the postsynaptic buckets Z (input A) and the presynaptic traces (input q) run the
            # same cascade: one elementwise bucket_step over both, stacked along the neuron axis
            N = self.cfg.n_out
            S = fp.bucket_step(np.concatenate((self.Z, self.trace), axis=-2),
                               np.concatenate((self.A, fp.trace_input(q_in)), axis=-1), c.alpha, c.beta)
            self.Z, self.trace = S[..., :N, :], S[..., N:, :]
        else:
            self.Z = fp.bucket_step(self.Z, self.A, c.alpha, c.beta)
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

    def learn(self, err, below=True):
        """Online update from err (B, n_out) ERR raw; returns the error below (B, n_in) ERR raw
        (None with ``below=False``: the first layer's, which goes nowhere)."""
        c = self.coefs
        delta = fp.deltas(err, self.x, self.cfg.readout == "linear")
        below = fp.error_below(delta, self.V, self.W) if below else None
        u = fp.grad_w_term(self.V, self.trace)
        z = fp.grad_operand(self.Z)
        gfrac = F.ERR.frac + F.GRAD_OP.frac
        if self.members:
            # each member its own weights and shift; the same update_master calls, member-wise
            # (one call for all when the members' shifts agree, else one per distinct shift)
            if self._shift_groups is None:
                x = int(self.shift_extra[0])
                self.W_master = fp.update_master(self.W_master, delta[..., None] * u, gfrac, c.shift_w + x)
                self.V_master = fp.update_master(self.V_master, delta[..., None] * z, gfrac, c.shift_v + x)
                self.b_master = fp.update_master(self.b_master, delta, F.ERR.frac, c.shift_b + x)
            else:
                W_m, V_m, b_m = self.W_master.copy(), self.V_master.copy(), self.b_master.copy()
                for x, g in self._shift_groups:
                    dg = delta[g]
                    W_m[g] = fp.update_master(self.W_master[g], dg[..., None] * u[g], gfrac, c.shift_w + x)
                    V_m[g] = fp.update_master(self.V_master[g], dg[..., None] * z[g], gfrac, c.shift_v + x)
                    b_m[g] = fp.update_master(self.b_master[g], dg, F.ERR.frac, c.shift_b + x)
                self.W_master, self.V_master, self.b_master = W_m, V_m, b_m
            self._refresh()
            return below
        for n in range(delta.shape[0]):
            self.W_master = fp.update_master(self.W_master, delta[n][:, None] * u[n], gfrac, c.shift_w)
            self.V_master = fp.update_master(self.V_master, delta[n][:, None] * z[n], gfrac, c.shift_v)
            self.b_master = fp.update_master(self.b_master, delta[n], F.ERR.frac, c.shift_b)
        self._refresh()
        return below

    def set_learning_shift(self, extra):
        """Members mode: per-member extra shift (B,) added to the coefs' shifts."""
        self.shift_extra = np.broadcast_to(np.asarray(extra, dtype=np.int64), (self.batch,)).copy()
        x = self.shift_extra
        self._shift_groups = None if np.all(x == x[0]) else [(int(v), np.flatnonzero(x == v)) for v in np.unique(x)]

    def get_params(self, member=None):
        """Weights as floats; in members mode those of ``member`` (all, stacked, if None)."""
        sel = (lambda a: a) if member is None else (lambda a: a[member])
        return {"W": F.W.to_float(sel(self.W)), "V": F.V.to_float(sel(self.V)), "b": F.B.to_float(sel(self.b))}
