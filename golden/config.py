"""Network configuration: layer sizes, time constants, encoder and learning parameters.

Time constants are in seconds and learning rates per second of physical time (docs/model.md
section 1 and 4); :meth:`NetworkConfig.derived` turns them into the per-step coefficients
for a given ``dt``. Both models use the same quantized coefficients (COEF raw / 2**16) and
the same power-of-two learning rates, so the float model differs from the fixed-point one
only by rounding of states.
"""
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from . import fixedpoint as fp
from . import formats as F

__all__ = ["LayerConfig", "NetworkConfig", "LayerCoefs"]

READOUTS = ("relu", "linear")
ENCODERS = ("sigma-delta", "bypass", "none")


@dataclass(frozen=True)
class LayerConfig:
    """One layer: ``n_in`` inputs, ``n_out`` neurons, K = len(taus) buckets.

    Parameters
    ----------
    taus : bucket time constants in seconds; alpha_k = exp(-dt / tau_k).
    readout : "relu" (hidden) or "linear" (output layer on the loss path).
    encoder : "sigma-delta"; "bypass" (ablation: q = (1 - alpha_e) y every step); "none"
        (the output layer, read by the host).
    theta0, m_f, tau_theta, n_max : encoder threshold, multiplicative adaptation, its
        decay time constant in seconds, largest number of thresholds per spike.
    eta_w, eta_v, eta_b : learning rates per second; applied as 2**-lr_shift(eta, dt).
    """
    n_in: int
    n_out: int
    taus: tuple = (0.002, 0.004, 0.008, 0.016)
    readout: str = "relu"
    encoder: str = "sigma-delta"
    theta0: float = 0.05
    m_f: float = 0.05
    tau_theta: float = 0.02
    n_max: int = 15
    eta_w: float = 4.0
    eta_v: float = 1.0
    eta_b: float = 1.0

    def validate(self, where="layer"):
        for name in ("n_in", "n_out"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{where}: {name} must be a positive integer, not {v!r}")
        if not isinstance(self.taus, tuple) or len(self.taus) < 1:
            raise ValueError(f"{where}: taus must be a non-empty list of seconds, not {self.taus!r}")
        for t in self.taus:
            if not isinstance(t, (int, float)) or isinstance(t, bool) or not math.isfinite(t) or t <= 0:
                raise ValueError(f"{where}: every tau must be a positive number of seconds, not {t!r}")
        if self.readout not in READOUTS:
            raise ValueError(f"{where}: readout must be one of {READOUTS}, not {self.readout!r}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"{where}: encoder must be one of {ENCODERS}, not {self.encoder!r}")
        for name in ("theta0", "tau_theta", "eta_w", "eta_v", "eta_b"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{where}: {name} must be a positive number, not {v!r}")
        if not isinstance(self.m_f, (int, float)) or not 0 <= self.m_f < 1:
            raise ValueError(f"{where}: m_f must be a number in [0, 1), not {self.m_f!r}")
        if F.THETA.from_float(self.theta0) < 1:
            raise ValueError(f"{where}: theta0 = {self.theta0!r} is below one LSB of {F.THETA}")
        if not isinstance(self.n_max, int) or not 1 <= self.n_max <= F.N_MAX:
            raise ValueError(f"{where}: n_max must be an integer in 1..{F.N_MAX}, not {self.n_max!r}")

    @property
    def K(self):
        return len(self.taus)

    def check_member_weights(self, members, W, V, b):
        """Raise ValueError unless W, V, b are per-member weights of this layer for ``members``
        independent learners ((M, n_out, n_in), (M, n_out, K), (M, n_out))."""
        want = ((members, self.n_out, self.n_in), (members, self.n_out, self.K), (members, self.n_out))
        got = tuple(np.shape(a) for a in (W, V, b))
        if got != want:
            raise ValueError(f"per-member weights W, V, b must have shapes {want}, not {got}")


@dataclass(frozen=True)
class LayerCoefs:
    """Per-step coefficients of one layer for a given dt, raw (COEF, shifts) and as floats."""
    alpha: np.ndarray        # (K,) COEF raw
    beta: np.ndarray         # (K,) COEF raw, 2**16 - alpha
    alpha_e: int             # COEF raw: alpha_1 of the receiving layer (own alpha_1 if last)
    alpha_theta: int
    m_f: int
    theta0: int              # THETA raw
    shift_w: int
    shift_v: int
    shift_b: int

    def as_float(self, name):
        v = getattr(self, name)
        if name.startswith("shift"):
            return 2.0 ** -v
        if name == "theta0":
            return F.THETA.to_float(v)
        return np.asarray(v, dtype=np.float64) / (1 << F.COEF.frac) if np.ndim(v) else v / (1 << F.COEF.frac)


@dataclass(frozen=True)
class NetworkConfig:
    """A feed-forward SpikingGamma network: ``dt`` seconds per step and its layers."""
    dt: float
    layers: tuple
    init_seed: int = 0
    init_gain: float = 1.0

    def validate(self):
        if not isinstance(self.dt, (int, float)) or isinstance(self.dt, bool) or not math.isfinite(self.dt) or self.dt <= 0:
            raise ValueError(f"dt must be a positive number of seconds, not {self.dt!r}")
        if not isinstance(self.layers, tuple) or not self.layers:
            raise ValueError(f"a network needs at least one layer, not {self.layers!r}")
        for n, layer in enumerate(self.layers):
            if not isinstance(layer, LayerConfig):
                raise ValueError(f"layer {n} must be a LayerConfig, not {layer!r}")
            layer.validate(f"layer {n}")
            if n and layer.n_in != self.layers[n - 1].n_out:
                raise ValueError(f"layer {n}: n_in = {layer.n_in} but layer {n - 1} has n_out = {self.layers[n - 1].n_out}")
        if not isinstance(self.init_seed, int) or self.init_seed < 0:
            raise ValueError(f"init_seed must be a non-negative integer, not {self.init_seed!r}")
        return self

    def derived(self):
        """Per-layer :class:`LayerCoefs` for this dt."""
        self.validate()
        out = []
        for n, layer in enumerate(self.layers):
            alpha = fp.coef_from_float(np.exp(-self.dt / np.asarray(layer.taus, dtype=np.float64)))
            receiver = self.layers[n + 1] if n + 1 < len(self.layers) else layer
            alpha_e = int(fp.coef_from_float(math.exp(-self.dt / receiver.taus[0])))
            out.append(LayerCoefs(
                alpha=alpha, beta=fp.beta_from_alpha(alpha), alpha_e=alpha_e,
                alpha_theta=int(fp.coef_from_float(math.exp(-self.dt / layer.tau_theta))),
                m_f=int(fp.coef_from_float(layer.m_f)) if layer.m_f > 0 else 0,
                theta0=F.THETA.from_float(layer.theta0),
                shift_w=fp.lr_shift(layer.eta_w, self.dt), shift_v=fp.lr_shift(layer.eta_v, self.dt),
                shift_b=fp.lr_shift(layer.eta_b, self.dt)))
        return out

    def init_params(self):
        """Initial W, V, b per layer as floats already on the forward grids (W/V/B formats).

        W ~ N(0, gain / n_in) (He-like for ReLU), V = 1/K on every bucket (unit total DC
        gain), b = 0. Seeded by ``init_seed``.
        """
        rng = np.random.default_rng(self.init_seed)
        params = []
        for layer in self.layers:
            W = rng.standard_normal((layer.n_out, layer.n_in)) * math.sqrt(2.0 * self.init_gain / layer.n_in)
            V = np.full((layer.n_out, layer.K), 1.0 / layer.K)
            b = np.zeros(layer.n_out)
            params.append({"W": F.W.to_float(F.W.from_float(W)), "V": F.V.to_float(F.V.from_float(V)),
                           "b": F.B.to_float(F.B.from_float(b))})
        return params

    # --- JSON -------------------------------------------------------------------------

    def to_dict(self):
        d = asdict(self)
        d["layers"] = [dict(asdict(l), taus=list(l.taus)) for l in self.layers]
        return d

    @classmethod
    def from_dict(cls, d, source="configuration"):
        if not isinstance(d, dict):
            raise ValueError(f"{source}: expected a JSON object, not {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"{source}: unknown field(s) {sorted(unknown)}; expected {sorted(known)}")
        if "layers" not in d or not isinstance(d["layers"], list):
            raise ValueError(f"{source}: 'layers' must be a list of layer objects")
        layer_fields = {f.name for f in fields(LayerConfig)}
        layers = []
        for n, ld in enumerate(d["layers"]):
            if not isinstance(ld, dict):
                raise ValueError(f"{source}: layers[{n}] must be an object, not {ld!r}")
            bad = set(ld) - layer_fields
            if bad:
                raise ValueError(f"{source}: layers[{n}] has unknown field(s) {sorted(bad)}; expected {sorted(layer_fields)}")
            missing = {"n_in", "n_out"} - set(ld)
            if missing:
                raise ValueError(f"{source}: layers[{n}] lacks {sorted(missing)}")
            ld = dict(ld)
            if "taus" in ld:
                if not isinstance(ld["taus"], list):
                    raise ValueError(f"{source}: layers[{n}].taus must be a list of seconds, not {ld['taus']!r}")
                ld["taus"] = tuple(ld["taus"])
            layers.append(LayerConfig(**ld))
        if "dt" not in d:
            raise ValueError(f"{source}: missing field 'dt'")
        cfg = cls(**dict(d, layers=tuple(layers)))
        try:
            return cfg.validate()
        except ValueError as exc:
            raise ValueError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path):
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ValueError(f"cannot read configuration {str(path)!r}: {exc.strerror}") from None
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"configuration {str(path)!r} is not valid JSON: {exc}") from None
        return cls.from_dict(d, source=f"configuration {str(path)!r}")

    def save(self, path):
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def with_dt(self, dt):
        """The same physical network at another time step."""
        return NetworkConfig(dt=dt, layers=self.layers, init_seed=self.init_seed, init_gain=self.init_gain).validate()
