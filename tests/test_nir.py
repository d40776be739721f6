"""NIR out and in: the exact round trip, the graph's shape, other tools' graphs, refusals."""
import json
import subprocess
from pathlib import Path

import nir
import numpy as np
import pytest

from gammacore.golden.config import LayerConfig, NetworkConfig
from gammacore.golden.network import make_network
from gammacore.golden.nir_io import NirError, from_nir, read_nir, to_nir, write_nir

GAMMACORE = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "gammacore"


def gc(*args):
    return subprocess.run([str(GAMMACORE), *args], capture_output=True, text=True, timeout=600)


def odd_network():
    """Three layers, different K and parameters per layer, weights off the fixed-point grid."""
    layers = (LayerConfig(3, 5, taus=(0.001, 0.0035), theta0=0.07, m_f=0.1, tau_theta=0.03, n_max=7,
                          eta_w=3.0, eta_v=0.5, eta_b=0.25),
              LayerConfig(5, 4, taus=(0.002, 0.004, 0.009), encoder="bypass"),
              LayerConfig(4, 2, taus=(0.003,), readout="linear", encoder="none"))
    cfg = NetworkConfig(dt=0.0005, layers=layers, init_seed=7, init_gain=2.5).validate()
    rng = np.random.default_rng(1)
    params = [{"W": rng.standard_normal((l.n_out, l.n_in)) / 3, "V": rng.standard_normal((l.n_out, l.K)),
               "b": rng.standard_normal(l.n_out)} for l in layers]
    return cfg, params


def test_round_trip_is_exact(tmp_path):
    cfg, params = odd_network()
    write_nir(tmp_path / "n.nir", cfg, params, {"task": "digits", "seed": 4})
    cfg2, params2, meta, notes = read_nir(tmp_path / "n.nir")
    assert notes == [] and cfg2 == cfg and meta["task"] == "digits" and meta["seed"] == 4
    for a, b in zip(params, params2):
        for k in ("W", "V", "b"):
            assert a[k].shape == b[k].shape and np.array_equal(a[k], b[k]), k


def test_graph_shape_and_metadata():
    cfg, params = odd_network()
    g = to_nir(cfg, params)
    kinds = {name: type(node).__name__ for name, node in g.nodes.items()}
    assert kinds["l0.W"] == "Affine" and kinds["l0.Z1"] == kinds["l0.Z2"] == "LI" and kinds["l0.V2"] == "Affine"
    assert kinds["l1.Z3"] == "LI" and "l1.Z4" not in kinds and kinds["l2.readout"] == "Scale"
    assert ("l0.Z1", "l0.Z2") in g.edges and ("l0.readout", "l1.W") in g.edges and ("l2.readout", "output") in g.edges
    assert np.array_equal(g.nodes["l0.W"].weight, params[0]["W"])
    assert np.array_equal(np.diag(g.nodes["l1.V3"].weight), params[1]["V"][:, 2])
    assert np.array_equal(g.nodes["l0.V1"].bias, params[0]["b"]) and not g.nodes["l0.V2"].bias.any()
    assert np.all(g.nodes["l1.Z2"].tau == 0.004)
    m = g.metadata
    assert (m["layer0.theta0"], m["layer0.m_f"], m["layer0.tau_theta"], m["layer0.n_max"]) == (0.07, 0.1, 0.03, 7)
    assert m["layer1.encoder"] == "bypass" and m["layer2.readout"] == "linear"
    assert "metadata" in m["note"] and "sigma-delta" in m["note"]


def test_cli_export_import_round_trip(tmp_path):
    net, graph, back = tmp_path / "net.json", tmp_path / "net.nir", tmp_path / "back.json"
    res = gc("train", "--task", "coincidence", "--epochs", "1", "--limit", "20", "--no-progress", "--save", str(net))
    assert res.returncode == 0, res.stderr
    res = gc("export", "--nir", str(graph), str(net))
    assert res.returncode == 0, res.stderr
    assert nir.read(str(graph)).metadata["layer0.encoder"] in ("sigma-delta", b"sigma-delta")
    res = gc("import", "--nir", str(graph), "--save", str(back))
    assert res.returncode == 0 and "exact" in res.stdout, res.stdout + res.stderr
    assert json.loads(back.read_text()) == json.loads(net.read_text())


def foreign_graph(extra=None):
    rng = np.random.default_rng(2)
    W1, W2 = rng.standard_normal((4, 3)), rng.standard_normal((2, 4))
    nodes = {"in": nir.Input(input_type={"input": np.array([3])}),
             "fc1": nir.Linear(weight=W1),
             "li1": nir.LI(tau=np.full(4, 0.005), r=np.ones(4), v_leak=np.zeros(4)),
             "cuba": nir.CubaLI(tau_syn=np.full(4, 0.002), tau_mem=np.array([0.01, 0.01, 0.02, 0.02]),
                                r=np.ones(4), v_leak=np.zeros(4)),
             "fc2": nir.Affine(weight=W2, bias=np.array([0.5, 0.0])),
             "li2": nir.LI(tau=np.full(2, 0.008), r=np.ones(2), v_leak=np.zeros(2)),
             "out": nir.Output(output_type={"output": np.array([2])})}
    edges = [("in", "fc1"), ("fc1", "li1"), ("li1", "cuba"), ("cuba", "fc2"), ("fc2", "li2"), ("li2", "out")]
    for name, node, edge in (extra or []):
        nodes[name] = node
        edges.append(edge)
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), W1, W2


def test_other_tools_chain_is_mapped_and_approximations_named():
    g, W1, W2 = foreign_graph()
    cfg, params, meta, notes = from_nir(g, dt=0.0005)
    assert cfg.dt == 0.0005 and [l.K for l in cfg.layers] == [3, 1]
    assert cfg.layers[0].taus == (0.005, 0.002, 0.015) and cfg.layers[1].taus == (0.008,)
    assert (cfg.layers[0].readout, cfg.layers[1].readout) == ("relu", "linear")
    assert np.array_equal(params[0]["W"], W1) and np.array_equal(params[1]["b"], [0.5, 0.0])
    assert np.array_equal(params[0]["V"], np.tile([0.0, 0.0, 1.0], (4, 1)))
    text = "\n".join(notes)
    for words in ("cuba", "tau_mem differs", "fc2", "bias", "last bucket", "ReLU"):
        assert words in text, (words, text)
    net = make_network(cfg, "float", params=params)
    y = [net.step(np.array([[1.0, 0.0, 0.5]])) for _ in range(5)]
    assert np.any(np.asarray(y) != 0)


@pytest.mark.parametrize("extra,words", [
    ([("lif", nir.LIF(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2)), ("li2", "lif"))],
     ["'lif'", "LIF", "Affine/Linear"]),
    ([("li3", nir.LI(tau=np.full(4, 0.001), r=np.ones(4), v_leak=np.zeros(4)), ("li1", "li3"))],
     ["'li1'", "chains"]),
])
def test_unmappable_graphs_are_refused(tmp_path, extra, words):
    g, _, _ = foreign_graph(extra)
    with pytest.raises(NirError) as err:
        from_nir(g)
    for w in words:
        assert w in str(err.value), str(err.value)
    nir.write(str(tmp_path / "bad.nir"), g)
    res = gc("import", "--nir", str(tmp_path / "bad.nir"), "--save", str(tmp_path / "x.json"))
    assert res.returncode == 2 and "Traceback" not in res.stderr and "bad.nir" in res.stderr
    assert words[0] in res.stderr and not (tmp_path / "x.json").exists()


def test_bad_paths_are_one_line(tmp_path):
    res = gc("import", "--nir", str(tmp_path / "none.nir"), "--save", str(tmp_path / "x.json"))
    assert res.returncode == 2 and "none.nir" in res.stderr and "Traceback" not in res.stderr
    (tmp_path / "junk.nir").write_text("not hdf5")
    res = gc("import", "--nir", str(tmp_path / "junk.nir"), "--save", str(tmp_path / "x.json"))
    assert res.returncode == 2 and "junk.nir" in res.stderr and "Traceback" not in res.stderr
    res = gc("export", "--nir", str(tmp_path / "o.nir"), str(tmp_path / "missing.json"))
    assert res.returncode == 2 and "missing.json" in res.stderr and "Traceback" not in res.stderr
