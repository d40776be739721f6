"""Encoder units (pipelined, and on one shared multiplier) vs golden.fixedpoint.encoder_step,
neuron by neuron, under stalls."""
import numpy as np
import pytest

from gammacore.golden import fixedpoint as fp
from gammacore.golden import formats as F
from gammacore.rtl.encoder import Encoder
from gammacore.rtl.encoder_serial import SerialEncoder
from rtl_helpers import receive, run, seeded, send


UNITS = pytest.mark.parametrize("unit", [Encoder, SerialEncoder])


def run_encoder(unit, seed, rng, y, e, d, cfg, flags=(1, 1, 1)):
    """Stream (y, e, d) through a ``unit`` configured with ``cfg`` and the step-part flags
    (decay_e, fire, decay_d) under random input stalls and output back-pressure; returns the
    outputs as dicts (q, e, d, n), having checked each output's spike flag against q != 0."""
    dut = unit()
    got = []

    async def producer(ctx):
        for name, value in cfg.items():
            ctx.set(getattr(dut, name), value)
        for name, value in zip(("decay_e", "fire", "decay_d"), flags):
            ctx.set(getattr(dut, name), value)
        await send(ctx, dut.i, [{"y": int(a), "e": int(b), "d": int(c)} for a, b, c in zip(y, e, d)], rng)

    async def consumer(ctx):
        out = await receive(ctx, dut.o, len(y), np.random.default_rng(seed + 50))
        got.extend({"q": o.q, "e": o.e, "d": o.d, "n": o.n, "spike": o.spike} for o in out)

    run(dut, producer, consumer)
    assert len(got) == len(y), f"seed={seed}: {len(got)} outputs, expected {len(y)}"
    for i, g in enumerate(got):
        assert g.pop("spike") == (g["q"] != 0), f"seed={seed} neuron {i}: the spike flag with q {g['q']}"
    return got


@UNITS
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_encoder_matches_golden(seed, unit):
    rng = seeded(seed)
    n = 120
    y = rng.integers(F.X.from_float(-2.0), F.X.from_float(40.0), size=n)
    e = rng.integers(0, F.ENC.from_float(40.0), size=n)
    d = rng.integers(0, F.ADAPT.from_float(float(rng.choice([0.01, 1.0, 70.0]))), size=n)
    y[:10] = F.X.max                   # saturating spikes
    e[10:20] = y[10:20]                # no spike
    cfg = {"theta0": int(rng.integers(1, F.THETA.from_float(2.0))), "alpha_e": int(rng.integers(1, 65536)),
           "alpha_theta": int(rng.integers(1, 65536)), "m_f": int(rng.integers(0, 65536)),
           "n_max": int(rng.integers(1, 16))}
    q, e2, d2 = fp.encoder_step(y, e, d, **cfg)
    want = [{"q": int(a), "e": int(b), "d": int(c)} for a, b, c in zip(q, e2, d2)]
    assert any(w["q"] for w in want) and not all(w["q"] for w in want)
    got = run_encoder(unit, seed, rng, y, e, d, cfg)
    for i, (g, w) in enumerate(zip(got, want)):
        g = {k: g[k] for k in w}
        assert g == w, f"seed={seed} neuron {i}: rtl {g} golden {w} cfg {cfg}"


@UNITS
@pytest.mark.parametrize("flags", [(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1), (1, 0, 1)])
def test_encoder_parts_match_golden_split(flags, unit):
    """The asynchronous mode's parts of a step (decay e, count, fire, decay d), each switched
    on or off, against the golden split functions; the count n is compared on every neuron."""
    decay_e, fire, decay_d = flags
    seed = 100 + 4 * decay_e + 2 * fire + decay_d
    rng = seeded(seed)
    n = 80
    y = rng.integers(F.X.from_float(-2.0), F.X.from_float(40.0), size=n)
    e = rng.integers(0, F.ENC.from_float(40.0), size=n)
    d = rng.integers(0, F.ADAPT.from_float(1.0), size=n)
    cfg = {"theta0": int(rng.integers(1, F.THETA.from_float(2.0))), "alpha_e": int(rng.integers(1, 65536)),
           "alpha_theta": int(rng.integers(1, 65536)), "m_f": int(rng.integers(0, 65536)),
           "n_max": int(rng.integers(1, 16))}
    e1 = fp.encoder_decay(e, cfg["alpha_e"]) if decay_e else e
    cnt, theta = fp.encoder_count(y, e1, d, cfg["theta0"], cfg["n_max"])
    q, e2, d2 = fp.encoder_fire(cnt if fire else 0 * cnt, theta, e1, d, cfg["m_f"])
    d3 = fp.adapt_decay(d2, cfg["alpha_theta"]) if decay_d else d2
    want = [{"q": int(a), "e": int(b), "d": int(c), "n": int(k)} for a, b, c, k in zip(q, e2, d3, cnt)]
    assert any(w["n"] for w in want) and not all(w["n"] for w in want)
    got = run_encoder(unit, seed, rng, y, e, d, cfg, flags)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"seed={seed} flags={flags} neuron {i}: rtl {g} golden {w} cfg {cfg}"


@UNITS
@pytest.mark.parametrize("seed", [7, 8])
def test_encoder_full_range_matches_golden(seed, unit):
    """Estimates and adaptations of either sign over their whole range (the serial unit splits
    the 32-bit words into halves and corrects for the sign), coefficients up to 65535."""
    rng = seeded(seed)
    n = 60
    y = rng.integers(F.X.min, F.X.max, size=n, endpoint=True)
    e = rng.integers(F.ENC.min, F.ENC.max, size=n, endpoint=True)
    d = rng.integers(F.ADAPT.min, F.ADAPT.max, size=n, endpoint=True)
    e[:8] = [F.ENC.min, F.ENC.max, -1, 0, 1, -(1 << 16), (1 << 16) - 1, -(1 << 31) + (1 << 16)]
    d[8:16] = [F.ADAPT.min, F.ADAPT.max, -1, 0, 1, -(1 << 16), (1 << 16) - 1, -12345]
    y[16:24] = e[16:24]
    cfg = {"theta0": int(rng.integers(1, F.THETA.max + 1)), "alpha_e": 65535, "alpha_theta": int(rng.integers(1, 65536)),
           "m_f": int(rng.integers(0, 65536)), "n_max": 15}
    q, e2, d2 = fp.encoder_step(y, e, d, **cfg)
    want = [{"q": int(a), "e": int(b), "d": int(c)} for a, b, c in zip(q, e2, d2)]
    got = run_encoder(unit, seed, rng, y, e, d, cfg)
    for i, (g, w) in enumerate(zip(got, want)):
        g = {k: g[k] for k in w}
        assert g == w, f"seed={seed} neuron {i}: rtl {g} golden {w} e={e[i]} d={d[i]} cfg {cfg}"
