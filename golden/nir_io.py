"""Networks in and out as NIR graphs (the Neuromorphic Intermediate Representation, ``nir``).

**Export** (:func:`to_nir`). Each layer n of a network becomes

    l{n}.W        Affine(weight = W, bias = 0)              the synaptic weights
    l{n}.Z1..ZK   LI nodes, Z1 -> Z2 -> ... -> ZK           the K gamma buckets, one per tau_k
    l{n}.V1..VK   Affine(weight = diag(V[:, k]), bias)      bucket k weighted by V[:, k]; V1 carries b
    l{n}.readout  Scale(1)                                  sums V1..VK (NIR sums a node's inputs)

joined input -> l0.W -> l0.Z1, l{n}.Zk -> l{n}.Z(k+1) and l{n}.Vk, l{n}.Vk -> l{n}.readout
-> l{n+1}.W ... -> output. Bucket k's LI has tau = tau_k, v_leak = 0 and r = tau_1 / dt for
bucket 1 (an event of magnitude q, held for one step, adds q) and r = 1 for the others
(tau_k dZ^k/dt = Z^(k-1) - Z^k). The continuous LI is what NIR states; the chip runs the
exact discrete cascade with alpha = exp(-dt / tau) (docs/model.md section 2).

NIR has no ReLU and no sigma-delta encoder, and ``nir.read`` refuses node types it does not
know, so the readout ('relu' | 'linear'), the encoder ('sigma-delta' | 'none') with
theta0, m_f, tau_theta and n_max, the learning rates and dt are stored in the **graph's
metadata** as ``layer{n}.<name>`` (and ``note`` says so). A tool that ignores the metadata
sees a linear, non-spiking network.

**Import** (:func:`from_nir`). A graph written by :func:`to_nir` (metadata ``format`` =
``gammacore-nir-1``) comes back exactly: every parameter equal. Other tools' graphs are
read when they are chains of Affine/Linear + LI/CubaLI nodes (with Scale and Input/Output):
each Affine/Linear starts a layer, its LI nodes (a CubaLI counts as two: tau_syn then
tau_mem) become the buckets, and the layer's output is the last bucket (V = 0, ..., 0, 1).
What does not map exactly is listed in the returned notes; other node types (LIF, IF,
CubaLIF, Conv, pooling, Delay, Threshold, ...) are refused with a message naming the node.
"""
from pathlib import Path

import numpy as np

from .config import LayerConfig, NetworkConfig

__all__ = ["NirError", "to_nir", "from_nir", "write_nir", "read_nir", "saved_network", "FORMAT"]

FORMAT = "gammacore-nir-1"
#: the LayerConfig fields NIR cannot express, kept in the graph's metadata per layer
LAYER_META = ("readout", "encoder", "theta0", "m_f", "tau_theta", "n_max", "eta_w", "eta_v", "eta_b")
NOTE = ("gammacore SpikingGamma network. Per layer n: l{n}.W (Affine, the synaptic weights) -> l{n}.Z1..ZK "
        "(LI, the gamma buckets in cascade) -> l{n}.V1..VK (Affine, diag(V[:,k]); V1 carries the bias b) -> "
        "l{n}.readout (Scale 1, the sum). NIR has no ReLU and no sigma-delta encoder: each layer's readout "
        "(relu|linear) and encoder (sigma-delta|none; theta0, m_f, tau_theta, n_max) are stated in this "
        "metadata as layer{n}.*, with the learning rates and dt; without them the graph is a linear, "
        "non-spiking approximation.")


class NirError(ValueError):
    """A NIR graph gammacore cannot map; the message names the node and what was expected."""


# --- export ------------------------------------------------------------------------------

def to_nir(cfg, params, extra=None):
    """The NIRGraph of NetworkConfig ``cfg`` with weights ``params`` ([{"W", "V", "b"}] floats).

    ``extra``: more metadata (e.g. the task and seed of a saved network)."""
    import nir
    cfg.validate()
    nodes = {"input": nir.Input(input_type={"input": np.array([cfg.layers[0].n_in])})}
    edges = []
    prev = "input"
    meta = {"format": FORMAT, "note": NOTE, "dt": float(cfg.dt), "layers": len(cfg.layers),
            "init_seed": int(cfg.init_seed), "init_gain": float(cfg.init_gain)}
    for n, (lc, p) in enumerate(zip(cfg.layers, params)):
        W = np.asarray(p["W"], dtype=np.float64)
        V = np.asarray(p["V"], dtype=np.float64)
        b = np.asarray(p["b"], dtype=np.float64)
        if W.shape != (lc.n_out, lc.n_in) or V.shape != (lc.n_out, lc.K) or b.shape != (lc.n_out,):
            raise NirError(f"layer {n}: weights of shapes W {W.shape}, V {V.shape}, b {b.shape} do not match "
                           f"n_in = {lc.n_in}, n_out = {lc.n_out}, K = {lc.K}")
        N = lc.n_out
        nodes[f"l{n}.W"] = nir.Affine(weight=W.copy(), bias=np.zeros(N))
        edges.append((prev, f"l{n}.W"))
        for k, tau in enumerate(lc.taus):
            r = tau / cfg.dt if k == 0 else 1.0
            nodes[f"l{n}.Z{k + 1}"] = nir.LI(tau=np.full(N, float(tau)), r=np.full(N, r), v_leak=np.zeros(N))
            edges.append((f"l{n}.W" if k == 0 else f"l{n}.Z{k}", f"l{n}.Z{k + 1}"))
            nodes[f"l{n}.V{k + 1}"] = nir.Affine(weight=np.diag(V[:, k]), bias=b.copy() if k == 0 else np.zeros(N))
            edges.append((f"l{n}.Z{k + 1}", f"l{n}.V{k + 1}"))
            edges.append((f"l{n}.V{k + 1}", f"l{n}.readout"))
        nodes[f"l{n}.readout"] = nir.Scale(scale=np.ones(N))
        prev = f"l{n}.readout"
        for name in LAYER_META:
            meta[f"layer{n}.{name}"] = getattr(lc, name)
    nodes["output"] = nir.Output(output_type={"output": np.array([cfg.layers[-1].n_out])})
    edges.append((prev, "output"))
    for k, v in (extra or {}).items():
        meta[k] = v
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def write_nir(path, cfg, params, extra=None):
    """Write the network as a NIR file (HDF5)."""
    import nir
    nir.write(str(path), to_nir(cfg, params, extra))


# --- import ------------------------------------------------------------------------------

def read_nir(path, dt=None):
    """(NetworkConfig, params, metadata, notes) of the NIR file ``path``; see :func:`from_nir`."""
    import nir
    path = Path(path)
    if not path.is_file():
        raise NirError(f"NIR file {str(path)!r} not found")
    try:
        graph = nir.read(str(path))
    except Exception as exc:
        raise NirError(f"{str(path)!r} cannot be read as a NIR graph: {type(exc).__name__}: {exc}") from None
    try:
        return from_nir(graph, dt=dt)
    except NirError as exc:
        raise NirError(f"{str(path)!r}: {exc}") from None


def _py(v):
    """A metadata value as a plain Python value (h5py gives NumPy scalars and bytes)."""
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v[()]
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def from_nir(graph, dt=None):
    """(NetworkConfig, params, metadata, notes) of a NIRGraph.

    ``dt``: the step for a graph that does not state one (default 1 ms, with a note).
    ``notes`` lists what was approximated (empty for a gammacore graph: exact)."""
    meta = {k: _py(v) for k, v in (graph.metadata or {}).items()}
    if meta.get("format") == FORMAT:
        cfg, params = _from_own(graph, meta)
        return cfg, params, meta, []
    return _from_chain(graph, meta, dt)


def _node(graph, name, types):
    node = graph.nodes.get(name)
    if node is None:
        raise NirError(f"missing node {name!r} (a {FORMAT} graph has it)")
    if type(node).__name__ not in types:
        raise NirError(f"node {name!r} is a {type(node).__name__}, expected {' or '.join(types)}")
    return node


def _from_own(graph, meta):
    try:
        n_layers, dt = int(meta["layers"]), float(meta["dt"])
    except KeyError as exc:
        raise NirError(f"metadata lacks {exc.args[0]!r} (a {FORMAT} graph has it)") from None
    layers, params = [], []
    for n in range(n_layers):
        W = np.asarray(_node(graph, f"l{n}.W", ("Affine", "Linear")).weight, dtype=np.float64)
        taus, Vs, b = [], [], None
        k = 1
        while f"l{n}.Z{k}" in graph.nodes:
            li = _node(graph, f"l{n}.Z{k}", ("LI",))
            tau = np.asarray(li.tau, dtype=np.float64).ravel()
            if tau.size != W.shape[0] or np.any(tau != tau[0]):
                raise NirError(f"node 'l{n}.Z{k}': tau must be one value for all {W.shape[0]} neurons, not {tau!r}")
            taus.append(float(tau[0]))
            aff = _node(graph, f"l{n}.V{k}", ("Affine",))
            M = np.asarray(aff.weight, dtype=np.float64)
            if M.shape != (W.shape[0], W.shape[0]) or np.any(M != np.diag(np.diag(M))):
                raise NirError(f"node 'l{n}.V{k}': weight must be diagonal ({W.shape[0]} x {W.shape[0]}, "
                               f"diag(V[:, {k - 1}])), not of shape {M.shape} with off-diagonal terms")
            Vs.append(np.diag(M).copy())
            if k == 1:
                b = np.asarray(aff.bias, dtype=np.float64)
            k += 1
        if not taus:
            raise NirError(f"layer {n} has no bucket node 'l{n}.Z1'")
        kw = {}
        for name in LAYER_META:
            key = f"layer{n}.{name}"
            if key not in meta:
                raise NirError(f"metadata lacks {key!r} (the layer's {name}, which NIR cannot express)")
            kw[name] = meta[key]
        layers.append(LayerConfig(n_in=W.shape[1], n_out=W.shape[0], taus=tuple(taus), **kw))
        params.append({"W": W, "V": np.stack(Vs, axis=1), "b": b})
    cfg = NetworkConfig(dt=dt, layers=tuple(layers), init_seed=int(meta.get("init_seed", 0)),
                        init_gain=float(meta.get("init_gain", 1.0)))
    try:
        cfg.validate()
    except ValueError as exc:
        raise NirError(str(exc)) from None
    return cfg, params


MAPPED = ("Input", "Output", "Affine", "Linear", "LI", "CubaLI", "Scale")


def _from_chain(graph, meta, dt):
    notes = []
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        if kind not in MAPPED:
            raise NirError(f"node {name!r} is a {kind}, which has no SpikingGamma equivalent; gammacore imports "
                           f"chains of Affine/Linear and LI/CubaLI nodes (with Scale, Input, Output)")
    succ, pred = {}, {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    for name in graph.nodes:
        if len(succ.get(name, [])) > 1 or len(pred.get(name, [])) > 1:
            raise NirError(f"node {name!r} has {len(pred.get(name, []))} inputs and {len(succ.get(name, []))} "
                           f"outputs; only chains (one input, one output per node) can be imported from other tools")
    starts = [n for n, node in graph.nodes.items() if type(node).__name__ == "Input"]
    if len(starts) != 1:
        raise NirError(f"expected one Input node, found {len(starts)}: {starts}")
    chain, name = [], starts[0]
    while succ.get(name):
        name = succ[name][0]
        chain.append(name)
    if not chain or type(graph.nodes[chain[-1]]).__name__ != "Output":
        raise NirError("the chain from the Input node does not end in an Output node")
    if dt is None:
        dt = float(meta["dt"]) if isinstance(meta.get("dt"), (int, float)) else None
    if dt is None:
        dt = 1e-3
        notes.append("the graph states no time step; dt = 1 ms (give --dt to choose)")
    layers, params = [], []
    cur = None
    for name in chain[:-1]:
        node = graph.nodes[name]
        kind = type(node).__name__
        if kind in ("Affine", "Linear"):
            if cur is not None:
                layers.append(cur)
            W = np.asarray(node.weight, dtype=np.float64)
            if W.ndim != 2:
                raise NirError(f"node {name!r}: weight of shape {W.shape}, expected (outputs, inputs)")
            bias = np.asarray(getattr(node, "bias", np.zeros(W.shape[0])), dtype=np.float64).reshape(-1)
            if np.any(bias != 0):
                notes.append(f"{name}: the Affine's bias (a constant input current) becomes the layer's bias b "
                             f"(a constant offset of x)")
            cur = {"name": name, "W": W, "b": bias if bias.size == W.shape[0] else np.zeros(W.shape[0]),
                   "taus": [], "scale": np.ones(W.shape[0])}
            continue
        if cur is None:
            raise NirError(f"node {name!r} ({kind}) comes before the first Affine/Linear node; expected Affine or Linear")
        if kind == "Scale":
            cur["scale"] = cur["scale"] * np.asarray(node.scale, dtype=np.float64).reshape(-1)
            continue
        taus = [("tau", node.tau)] if kind == "LI" else [("tau_syn", node.tau_syn), ("tau_mem", node.tau_mem)]
        if np.any(np.asarray(node.v_leak) != 0):
            notes.append(f"{name}: v_leak is not 0; the gamma buckets leak to 0 (v_leak dropped)")
        if kind == "CubaLI":
            notes.append(f"{name}: the CubaLI's synaptic and membrane filters become two buckets "
                         f"(tau_syn, then tau_mem); its r and w_in gains are dropped")
        elif kind == "LI":
            notes.append(f"{name}: LI gain r dropped (every gamma bucket has unit DC gain)")
        for field, arr in taus:
            arr = np.asarray(arr, dtype=np.float64).reshape(-1)
            if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
                raise NirError(f"node {name!r}: {field} must be positive seconds, not {arr!r}")
            if np.ptp(arr) > 1e-12 * abs(arr.mean()):
                notes.append(f"{name}: {field} differs between neurons ({arr.min():g}..{arr.max():g} s); gammacore "
                             f"has one per layer and bucket, the mean {arr.mean():g} s is used")
            cur["taus"].append(float(arr.mean()))
    if cur is not None:
        layers.append(cur)
    if not layers:
        raise NirError("the graph has no Affine/Linear node; expected at least one layer")
    cfg_layers = []
    for n, L in enumerate(layers):
        if not L["taus"]:
            raise NirError(f"layer {n} (node {L['name']!r}) has no LI/CubaLI node after it; a SpikingGamma layer "
                           f"needs at least one bucket")
        last = n == len(layers) - 1
        K = len(L["taus"])
        V = np.zeros((L["W"].shape[0], K))
        V[:, -1] = L["scale"]
        if not last:
            notes.append(f"layer {n}: ReLU readout and sigma-delta encoder with gammacore's defaults inserted "
                         f"(the graph has no spiking nonlinearity gammacore can map)")
        cfg_layers.append(LayerConfig(n_in=L["W"].shape[1], n_out=L["W"].shape[0], taus=tuple(L["taus"]),
                                      readout="linear" if last else "relu",
                                      encoder="none" if last else "sigma-delta"))
        params.append({"W": L["W"], "V": V, "b": L["b"]})
    notes.insert(0, "the output is each layer's last bucket (V = 0, ..., 0, 1)")
    try:
        cfg = NetworkConfig(dt=dt, layers=tuple(cfg_layers)).validate()
    except ValueError as exc:
        raise NirError(str(exc)) from None
    return cfg, params, meta, notes


def saved_network(cfg, params, meta, source):
    """The ``gammacore train --save`` dict of an imported network."""
    return {"format": "gammacore-network-1", "task": meta.get("task", f"nir:{Path(source).name}"),
            "dt": cfg.dt, "seed": int(meta.get("seed", 0)), "model": meta.get("model", "fixed"),
            "network": cfg.to_dict(),
            "params": [{k: np.asarray(v, dtype=np.float64).tolist() for k, v in p.items()} for p in params],
            **({"data": meta["data"]} if "data" in meta else {})}
