"""Random layer test cases with their golden results, shared by every layer-core bench.

A case is plain JSON-able data: sizes, configuration words, initial weights (raw), the
input events of every step, and what the golden FixedLayer produced: every spike (step,
neuron, magnitude) and the final x, e, d, Z and trace words.
"""
import dataclasses

import numpy as np

from ..golden import fixedpoint as fp
from ..golden import formats as F
from ..golden.config import LayerConfig, NetworkConfig
from ..golden.fixed_model import FixedLayer

__all__ = ["random_layer", "random_events", "make_case"]


def random_layer(rng, n_in, n_out, K):
    """A FixedLayer with random time constants, encoder settings and weights."""
    taus = tuple(float(t) for t in np.sort(rng.uniform(0.0015, 0.03, size=K)))
    relu = bool(rng.integers(0, 2))
    lc = LayerConfig(n_in, n_out, taus=taus, readout="relu" if relu else "linear",
                     theta0=float(rng.uniform(0.01, 0.3)), m_f=float(rng.uniform(0, 0.3)),
                     tau_theta=float(rng.uniform(0.005, 0.05)), n_max=int(rng.integers(1, 16)))
    cfg = NetworkConfig(dt=1e-3, layers=(lc,)).validate()
    W = rng.normal(0, 1.0, size=(n_out, n_in))
    V = rng.normal(0.3, 0.5, size=(n_out, K))
    b = rng.normal(0, 0.3, size=n_out)
    return FixedLayer(lc, cfg.derived()[0], W, V, b)


def random_events(rng, T, n_in, rate):
    """Q raw input magnitudes (T, n_in): at most one event per source per step."""
    q = np.zeros((T, n_in), dtype=np.int64)
    hit = rng.random((T, n_in)) < rate
    q[hit] = rng.integers(1, F.Q.from_float(3.0), size=int(hit.sum()))
    return q


def make_case(seed, n_in, n_out, K, T, rate=0.5, pow2=False):
    """Build a random layer and inputs, run the golden model, return the case dict.

    With ``pow2`` the bucket rates are exact powers of two (beta_k = 2**-s_k, alpha_1 =
    1 - 2**-s_1) and the case's "alpha"/"beta" words are the shifts s_k, as the
    power-of-two layer core takes them.
    """
    rng = np.random.default_rng(seed)
    layer = random_layer(rng, n_in, n_out, K)
    shifts = None
    if pow2:
        shifts = [int(s) for s in np.sort(rng.integers(1, 9, size=K))]
        beta = np.array([1 << (16 - s) for s in shifts], dtype=np.int64)
        layer.coefs = dataclasses.replace(layer.coefs, alpha=fp.beta_from_alpha(beta), beta=beta)
    q_steps = random_events(rng, T, n_in, rate)
    c = layer.coefs
    case = {
        "seed": seed, "n_in": n_in, "n_out": n_out, "K": K, "T": T,
        "W": layer.W.ravel().tolist(), "V": layer.V.ravel().tolist(), "b": layer.b.tolist(),
        "config": {"alpha_e": c.alpha_e, "alpha_theta": c.alpha_theta, "m_f": c.m_f,
                   "theta0": c.theta0, "n_max": layer.cfg.n_max, "relu": int(layer.cfg.readout == "relu")},
        "alpha": shifts if pow2 else [int(a) for a in c.alpha],
        "beta": shifts if pow2 else [int(b) for b in c.beta], "pow2": pow2,
        "events": [[[int(i), int(q[i])] for i in rng.permutation(n_in) if q[i]] for q in q_steps],
    }
    spikes = []
    for q in q_steps:
        out = layer.step(q[None])[0]
        spikes.append([[int(j), int(out[j])] for j in np.flatnonzero(out)])
    case["expected"] = {"spikes": spikes, "x": layer.x[0].tolist(), "e": layer.e[0].tolist(),
                        "d": layer.d[0].tolist(), "Z": layer.Z[0].ravel().tolist(),
                        "trace": layer.trace[0].ravel().tolist()}
    return case


def first_mismatch(case, observed):
    """None if the observed run equals the golden one, else a description of the first difference."""
    exp = case["expected"]
    for t, (want, got) in enumerate(zip(exp["spikes"], observed["spikes"])):
        if [list(w) for w in want] != [list(g) for g in got]:
            return f"step {t}: spikes {got} != golden {want}"
    if len(observed["spikes"]) != len(exp["spikes"]):
        return f"{len(observed['spikes'])} steps completed, golden has {len(exp['spikes'])}"
    for key in ("x", "e", "d", "Z", "trace"):
        if key in observed:
            for i, (w, g) in enumerate(zip(exp[key], observed[key])):
                if int(w) != int(g):
                    return f"final {key}[{i}] = {g} != golden {w}"
    return None
