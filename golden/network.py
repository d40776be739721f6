"""Feed-forward SpikingGamma networks, float or bit-exact fixed point, one API.

Layer-synchronous, zero latency: in step t, layer 0 consumes the host's events of step t
and fires; layer 1 consumes those spikes in the same step; and so on. The output layer is
read as y(t). ``learn(err)`` after ``step`` applies docs/model.md section 4 to every layer, top
down, each layer's error to the layer below computed before its own update.
"""
import numpy as np

from . import formats as F
from .config import NetworkConfig
from .fixed_model import FixedLayer
from .float_model import FloatLayer

__all__ = ["Network", "make_network", "stack_params"]


class Network:
    """A stack of FloatLayer or FixedLayer with float inputs and outputs.

    ``members=True``: the batch axis carries ``batch`` independent learners, each with its
    own weights (``params`` per layer with a leading member axis, see
    :func:`stack_params`; default: ``cfg.init_params()`` for every member) and its own
    learning-rate shift; ``learn`` takes one error row per member. Otherwise the batch
    shares one set of weights and ``learn`` needs batch 1.
    """

    def __init__(self, cfg: NetworkConfig, model: str, batch=1, params=None, members=False):
        if model not in ("float", "fixed"):
            raise ValueError(f"model must be 'float' or 'fixed', not {model!r}")
        if not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a positive integer, not {batch!r}")
        cfg.validate()
        self.cfg, self.model, self.batch, self.members = cfg, model, batch, bool(members)
        if params is None:
            params = cfg.init_params()
            if self.members:
                params = stack_params([params] * batch)
        layer_cls = FixedLayer if model == "fixed" else FloatLayer
        self.layers = [layer_cls(lc, co, p["W"], p["V"], p["b"], batch=batch, members=self.members)
                       for lc, co, p in zip(cfg.layers, cfg.derived(), params)]
        self.reset()

    def reset(self):
        for layer in self.layers:
            layer.reset()
        self.spikes = [np.zeros((self.batch, l.n_out)) for l in self.cfg.layers]
        self.spike_count = np.zeros(len(self.layers), dtype=np.int64)
        self.steps = 0

    def step(self, inputs):
        """Inputs (B, n_in) float magnitudes (0: no event); returns the output y(t) (B, n_out)."""
        q = np.asarray(inputs, dtype=np.float64)
        if q.shape != (self.batch, self.cfg.layers[0].n_in):
            raise ValueError(f"inputs must have shape {(self.batch, self.cfg.layers[0].n_in)}, not {q.shape}")
        return self.step_quantized(F.Q.from_float(q) if self.model == "fixed" else q)

    def step_quantized(self, q, traces=True):
        """:meth:`step` with inputs already quantized (Q raw int64 in fixed point, floats in float).
        ``traces=False``: no layer updates its presynaptic traces (only learning reads them)."""
        fixed = self.model == "fixed"
        for n, layer in enumerate(self.layers):
            q = layer.step(q, traces=traces)
            self.spikes[n] = F.Q.to_float(q) if fixed else q
            if self.cfg.layers[n].encoder != "none":
                self.spike_count[n] += int(np.count_nonzero(q))
        self.steps += 1
        out = self.layers[-1].y
        return F.X.to_float(out) if fixed else out.copy()

    def learn(self, err):
        """Apply the online rule for err = dL/dy_out(t) (B, n_out); B must be 1 (plain SGD)."""
        if self.batch != 1 and not self.members:
            raise ValueError(f"online learning runs in stream order with batch 1, not batch {self.batch} "
                             "(independent learners: members=True)")
        e = np.asarray(err, dtype=np.float64)
        if self.model == "fixed":
            e = F.ERR.from_float(e)
        for n in range(len(self.layers) - 1, -1, -1):
            e = self.layers[n].learn(e, below=n > 0)     # the first layer's error below goes nowhere

    def set_learning_shift(self, extra):
        """Scale every learning rate by 2**-extra (a schedule step); 0 restores the config.

        Members mode: ``extra`` is an int or one int per member.
        """
        if self.members:
            for layer in self.layers:
                layer.set_learning_shift(extra)
            return
        for layer, co in zip(self.layers, self.cfg.derived()):
            if self.model == "fixed":
                layer.coefs = type(co)(**{**co.__dict__, "shift_w": co.shift_w + extra,
                                          "shift_v": co.shift_v + extra, "shift_b": co.shift_b + extra})
            else:
                layer.lr = {k: co.as_float(f"shift_{k}") * 2.0 ** -extra for k in ("w", "v", "b")}

    def get_params(self, member=None):
        """Weights per layer; members mode: those of ``member`` (all, stacked, if None)."""
        if member is None:
            return [layer.get_params() for layer in self.layers]
        if not self.members:
            raise ValueError("get_params(member) needs a network with members=True")
        return [layer.get_params(member) for layer in self.layers]


def stack_params(member_params):
    """Per-member weights (a list of ``get_params()``-style lists) stacked per layer along a
    leading member axis, for ``Network(..., members=True)``."""
    return [{k: np.stack([np.asarray(mp[n][k], dtype=np.float64) for mp in member_params]) for k in ("W", "V", "b")}
            for n in range(len(member_params[0]))]


def make_network(cfg: NetworkConfig, model="float", batch=1, params=None, members=False):
    """Build a network with weights from ``cfg.init_params()`` (or ``params``)."""
    return Network(cfg, model, batch=batch, params=params, members=members)
