"""Layer core vs the golden FixedLayer: every spike and every final state word, under stalls."""
import numpy as np
import pytest
from amaranth.sim import Simulator

from gammacore.golden import formats as F
from gammacore.golden.fixed_model import FixedLayer
from gammacore.rtl.layer_core import LayerCore, Region
from gammacore.sim.layer_case import random_events, random_layer
from rtl_helpers import seeded


def config_values(layer, relu):
    c = layer.coefs
    return {"alpha_e": c.alpha_e, "alpha_theta": c.alpha_theta, "m_f": c.m_f, "theta0": c.theta0,
            "n_max": layer.cfg.n_max, "relu": int(relu)}


def run_core(layer, relu, q_steps, rng, p_idle=0.3, p_stall=0.3, load_by_port=False):
    """Run the RTL core over all steps; returns (spikes per step, cycles per step, final memories)."""
    N, I, K = layer.cfg.n_out, layer.cfg.n_in, layer.cfg.K
    W, V, b = layer.W.ravel().tolist(), layer.V.ravel().tolist(), layer.b.tolist()
    dut = LayerCore(I, N, K) if load_by_port else LayerCore(I, N, K, W=W, V=V, b=b)
    spikes, cycles, final = [], [], {}

    async def driver(ctx):
        for k in range(K):
            ctx.set(dut.alpha[k], int(layer.coefs.alpha[k]))
            ctx.set(dut.beta[k], int(layer.coefs.beta[k]))
        for name, value in config_values(layer, relu).items():
            ctx.set(getattr(dut, name), value)
        if load_by_port:
            for region, values in ((Region.W, W), (Region.V, V), (Region.B, b)):
                for addr, value in enumerate(values):
                    ctx.set(dut.cfg_region, region)
                    ctx.set(dut.cfg_addr, addr)
                    ctx.set(dut.cfg_data, value)
                    ctx.set(dut.cfg_we, 1)
                    await ctx.tick()
            ctx.set(dut.cfg_we, 0)
        for q in q_steps:
            evs = [(i, int(q[i])) for i in rng.permutation(I) if q[i]]
            for src, mag in evs:
                while rng.random() < p_idle:
                    ctx.set(dut.events.valid, 0)
                    await ctx.tick()
                ctx.set(dut.events.valid, 1)
                ctx.set(dut.events.payload, {"source": src, "q": mag})
                await ctx.tick().until(dut.events.ready)
            ctx.set(dut.events.valid, 0)
            ctx.set(dut.step, 1)
            await ctx.tick().until(dut.busy)
            ctx.set(dut.step, 0)
            got = []
            while True:
                ready = int(rng.random() >= p_stall)
                ctx.set(dut.spikes.ready, ready)
                _, _, valid, payload, done = await ctx.tick().sample(dut.spikes.valid, dut.spikes.payload, dut.done)
                if valid and ready:
                    got.append((payload.neuron, payload.q))
                if done:
                    break
            ctx.set(dut.spikes.ready, 0)
            spikes.append(got)
            cycles.append(ctx.get(dut.cycles))
        for name, mem in dut.memories.items():
            final[name] = [ctx.get(mem.data[i]) for i in range(mem.depth)]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(driver)
    sim.run()
    return spikes, cycles, final


def golden_run(layer, q_steps):
    spikes = []
    for q in q_steps:
        out = layer.step(q[None])[0]
        spikes.append([(j, int(out[j])) for j in np.flatnonzero(out)])
    return spikes


def check(seed, n_in, n_out, K, T, rate, **kw):
    rng = seeded(seed)
    layer = random_layer(rng, n_in, n_out, K)
    relu = layer.cfg.readout == "relu"
    q_steps = random_events(rng, T, n_in, rate)
    golden = FixedLayer(layer.cfg, layer.coefs, F.W.to_float(layer.W), F.V.to_float(layer.V), F.B.to_float(layer.b))
    want = golden_run(golden, q_steps)
    got, cycles, mem = run_core(layer, relu, q_steps, rng, **kw)
    for t, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"seed={seed} step {t}: rtl spikes {g} golden {w}"
    assert sum(len(w) for w in want) > 0, f"seed={seed}: test produced no spikes"
    assert mem["Z"] == golden.Z[0].ravel().tolist(), f"seed={seed}: Z"
    assert mem["trace"] == golden.trace[0].ravel().tolist(), f"seed={seed}: trace"
    assert mem["e"] == golden.e[0].tolist() and mem["d"] == golden.d[0].tolist(), f"seed={seed}: encoder state"
    assert mem["x"] == golden.x[0].tolist(), f"seed={seed}: x"
    assert all(a == 0 for a in mem["A"]) and all(q == 0 for q in mem["qin"])
    return cycles, q_steps


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 6])
def test_layer_core_matches_golden(seed):
    rng = np.random.default_rng(seed)
    check(seed, int(rng.integers(1, 7)), int(rng.integers(1, 9)), int(rng.integers(1, 5)), T=12, rate=0.5)


def test_weights_loaded_through_configuration_port():
    check(21, 3, 4, 3, T=8, rate=0.6, load_by_port=True)


def test_cycles_per_step_without_stalls():
    """Without idle cycles or back-pressure a step costs N*(E+1) + (N + I)*K + pipeline fill."""
    n_in, n_out, K = 4, 5, 3
    cycles, q = check(31, n_in, n_out, K, T=6, rate=0.5, p_idle=0.0, p_stall=0.0)
    for c, qs in zip(cycles, q):
        E = int(np.count_nonzero(qs))
        ideal = (n_out + n_in) * K + n_out * K + E * (n_out + 1)
        assert ideal <= c <= ideal + 20, (c, ideal)


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="n_out"):
        LayerCore(2, 0, 4)
    with pytest.raises(ValueError, match="lanes"):
        LayerCore(2, 2, 4, lanes=2)
