"""Random multi-layer network cases with their golden results, shared by the chip benches.

A case holds a random network (NetworkConfig and bit-exact golden FixedLayers), the input
events of every step, the errors streamed for learning (or None on steps without
learning), and what the golden model produced: every spike of every layer as the chip's
output packets (global source, q, step mod 2**step_bits of the chip's output packet layout,
:func:`gammacore.regmap.out_format`), the output layer's x each step, and the final master
weights and state words.
"""
import copy
import dataclasses

import numpy as np

from .. import regmap as R
from ..golden import fixedpoint as fp
from ..golden import formats as F
from ..golden.config import LayerConfig, NetworkConfig
from ..golden.network import Network

__all__ = ["random_network", "make_net_case", "chip_words", "case_json"]


#: the memory regions a net case compares after its last step, and how each is read from a
#: fixed-point layer (batch 1), in the chip's word order
FINAL_REGIONS = {"W": lambda l: l.W_master, "V": lambda l: l.V_master, "B": lambda l: l.b_master,
                 "Z": lambda l: l.Z[0], "TRACE": lambda l: l.trace[0], "X": lambda l: l.x[0],
                 "E": lambda l: l.e[0], "D": lambda l: l.d[0]}


def final_words(layers, regions):
    """The words of each region named in ``regions`` (of :data:`FINAL_REGIONS`), every
    layer's in turn, as the chip's memories hold them."""
    return {name: np.concatenate([FINAL_REGIONS[name](l).ravel() for l in layers]).tolist() for name in regions}


def random_network(rng, sizes, K, dt=1e-3, out_encoder=False):
    """A fixed-point Network with layer sizes ``sizes`` (n_in, n1, ..., n_out), random time
    constants, encoder settings, learning rates and weights; the output layer is linear
    without encoder, hidden layers are ReLU with sigma-delta encoders. ``out_encoder``: the
    output layer has a sigma-delta encoder too (its spikes go to the host) and a random
    readout, ReLU or linear (the single-layer cases of ``gammacore verify``)."""
    taus = tuple(float(t) for t in np.sort(rng.uniform(0.0015, 0.03, size=K)))
    layers = []
    for n, (a, b) in enumerate(zip(sizes, sizes[1:])):
        last = n == len(sizes) - 2
        lr = {k: float(2.0 ** rng.integers(-2, 6)) for k in ("eta_w", "eta_v", "eta_b")}
        readout, encoder = ("linear", "none") if last else ("relu", "sigma-delta")
        if last and out_encoder:
            readout, encoder = ("relu" if rng.integers(0, 2) else "linear"), "sigma-delta"
        layers.append(LayerConfig(int(a), int(b), taus=taus, readout=readout, encoder=encoder,
                                  theta0=float(rng.uniform(0.01, 0.3)), m_f=float(rng.uniform(0, 0.3)),
                                  tau_theta=float(rng.uniform(0.005, 0.05)), n_max=int(rng.integers(1, 16)), **lr))
    cfg = NetworkConfig(dt=dt, layers=tuple(layers), init_seed=int(rng.integers(1 << 30)), init_gain=2.0).validate()
    params = cfg.init_params()
    for p in params:
        p["V"] = rng.normal(0.3, 0.5, size=p["V"].shape)
        p["b"] = rng.normal(0, 0.3, size=p["b"].shape)
    return Network(cfg, "fixed", params=params)


def make_net_case(seed, sizes, K, T, rate=0.5, p_learn=0.5, pow2=False, mode="sync", out_encoder=False,
                  capacity=None, neuron_base=0):
    """Build a random network, inputs and errors; run the golden model; return the case.

    ``pow2``: every layer's bucket rates are exact powers of two (beta_k = 2**-s), for the
    chip's shift-instead-of-multiply bucket pass. ``mode``: "sync", "async-random" or
    "async-priority" (:mod:`gammacore.golden.async_model`; spikes in firing order, the
    LFSR seeded from the case seed). ``out_encoder``: see :func:`random_network`.
    ``capacity``: the chip's (:class:`gammacore.regmap.Capacity`; default the smallest that
    holds the network from ``neuron_base``), whose output packet layout gives the packets'
    step modulus. ``neuron_base``: the first layer's n_base on the chip
    (:func:`gammacore.regmap.descriptors`); the case's packets carry the sources there.
    """
    mode = R.Mode.from_label(mode)
    lfsr_seed = 1 + seed % 0xFFFF
    rng = np.random.default_rng(seed)
    net = random_network(rng, sizes, K, out_encoder=out_encoder)
    cfg = net.cfg
    if pow2:
        for layer in net.layers:
            beta = np.array([1 << (16 - int(s)) for s in np.sort(rng.integers(1, 9, size=K))], dtype=np.int64)
            layer.coefs = dataclasses.replace(layer.coefs, alpha=fp.beta_from_alpha(beta), beta=beta)
    initial = copy.deepcopy(net.layers)
    descs = R.descriptors(cfg, [layer.coefs for layer in net.layers], pow2=pow2, neuron_base=neuron_base)
    if capacity is None:
        need = R.Capacity.for_config(cfg)
        capacity = R.Capacity(need.layers, need.neurons + neuron_base, need.inputs, need.synapses, need.buckets,
                              need.max_layer)
    if capacity.neurons < descs[-1]["n_base"] + sizes[-1]:
        raise ValueError(f"the network from neuron {neuron_base} needs {descs[-1]['n_base'] + sizes[-1]} "
                         f"neurons, the capacity holds {capacity.neurons}")
    steps_mod = 1 << capacity.out_format.step_bits
    n_in, n_out = sizes[0], sizes[-1]
    runner = None
    if mode != R.Mode.SYNC:
        from ..golden.async_model import AsyncRunner
        runner = AsyncRunner(net, order=mode.label.split("-")[1], seed=lfsr_seed)
    steps = []
    for t in range(T):
        q = np.zeros(n_in, dtype=np.int64)
        hit = rng.random(n_in) < rate
        q[hit] = rng.integers(1, F.Q.from_float(3.0), size=int(hit.sum()))
        events = [(int(i), int(q[i])) for i in rng.permutation(n_in) if q[i]]
        packets = []
        if runner is None:
            x = q[None]
            for layer, desc in zip(net.layers, descs):
                x = layer.step(x)
                packets += [(desc["n_base"] + int(j), int(x[0, j]), t % steps_mod) for j in np.flatnonzero(x[0])]
        else:
            spikes, _ = runner.step(q)
            packets = [(descs[l]["n_base"] + j, qs, t % steps_mod) for l, j, qs in spikes]
        x_out = net.layers[-1].x[0].tolist()
        err = None
        if rng.random() < p_learn:
            err = rng.integers(-F.ERR.from_float(2.0), F.ERR.from_float(2.0), size=n_out)
            err[rng.random(n_out) < 0.2] = 0
            e = err[None]
            for layer in reversed(net.layers):
                e = layer.learn(e)
            err = [int(v) for v in err]
        steps.append({"events": events, "packets": packets, "x_out": x_out, "err": err})
    final = final_words(net.layers, FINAL_REGIONS)
    return {"seed": seed, "sizes": list(sizes), "K": K, "T": T, "cfg": cfg, "initial": initial, "pow2": pow2,
            "mode": mode.label, "lfsr_seed": lfsr_seed,
            "capacity": capacity, "steps": steps, "final": final, "neuron_base": neuron_base,
            "final_bases": {"V": neuron_base * K, "B": neuron_base, "Z": neuron_base * K, "X": neuron_base,
                            "E": neuron_base, "D": neuron_base},
            "out_base": descs[-1]["n_base"]}


def chip_words(case):
    """The bus writes that load the case's initial network (gammacore.regmap.load_plan)."""
    return R.load_plan(case["cfg"], case["initial"], pow2=case.get("pow2", False),
                       mode=R.Mode.from_label(case.get("mode", "sync")), seed=case.get("lfsr_seed", 1),
                       neuron_base=case.get("neuron_base", 0))


def case_json(case):
    """What a testbench needs of a case, as JSON-able data (no golden objects)."""
    return {"seed": case["seed"], "sizes": case["sizes"], "K": case["K"], "out_base": case["out_base"],
            "plan": [[int(a), [int(w) for w in words]] for a, words in chip_words(case)],
            "steps": [{"events": s["events"], "err": s["err"]} for s in case["steps"]],
            "final_lengths": {k: len(v) for k, v in case["final"].items()},
            "final_bases": case.get("final_bases", {})}
