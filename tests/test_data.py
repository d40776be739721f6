"""The user's own data: event .npz, (x, y, mask) .npz and SHD/SSC HDF5 files, train and run --data."""
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gammacore.golden.data import DataError, load_data, network_for

GAMMACORE = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "gammacore"
EVENT = np.dtype([("t", "<i8"), ("x", "<i8"), ("p", "<i8")])


def gc(*args, timeout=600):
    return subprocess.run([str(GAMMACORE), *args], capture_output=True, text=True, timeout=timeout)


def make_events(n=60, seed=0, channels=6, span_us=20_000):
    """Class c fires channels 2c and 2c + 1 a few times in the first half; channel 5 is noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    events = np.empty(n, dtype=object)
    for i, c in enumerate(labels):
        t = np.sort(rng.integers(0, span_us // 2, size=8))
        x = np.where(np.arange(8) % 2 == 0, 2 * c, 2 * c + 1)
        noise_t = rng.integers(0, span_us, size=2)
        ev = np.zeros(10, dtype=EVENT)
        ev["t"] = np.concatenate([t, noise_t])
        ev["x"] = np.concatenate([x, [channels - 1] * 2])
        ev["p"] = 1
        events[i] = ev[np.argsort(ev["t"], kind="stable")]
    return events, labels


def save_events(path, events, labels, **extra):
    np.savez(path, events=events, labels=labels, **extra)
    return path


def test_events_are_binned_at_dt(tmp_path):
    ev = np.zeros(4, dtype=EVENT)
    ev["t"] = [0, 999, 2500, 2600]
    ev["x"] = [1, 1, 3, 3]
    events = np.empty(3, dtype=object)
    events[0], events[1], events[2] = ev, ev[:1], ev[2:]
    task = load_data(save_events(tmp_path / "e.npz", events, np.array([0, 1, 2])), dt=1e-3, test_fraction=0.34)
    assert task.n_in == 4 and task.n_classes == 3 and task.steps == 3
    x = np.concatenate([task.x_train, task.x_test])
    y = np.concatenate([task.y_train, task.y_test])
    full = x[list(y).index(0)]
    assert full[0, 1] == 2 and full[2, 3] == 2 and full.sum() == 4
    assert x[list(y).index(2)][2, 3] == 2 and x[list(y).index(2)].sum() == 2
    assert not task.m_train[:, :1].any() and task.m_train[:, 1:].all()
    half = load_data(tmp_path / "e.npz", dt=0.5e-3, test_fraction=0.34)
    assert half.steps == 6


def test_split_is_fixed_by_the_seed(tmp_path):
    path = save_events(tmp_path / "e.npz", *make_events(50))
    a, b, c = (load_data(path, seed=s) for s in (1, 1, 2))
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.x_test, c.x_test)
    assert len(a.x_train) == 40 and len(a.x_test) == 10
    limited = load_data(path, seed=1, limit=5)
    assert np.array_equal(limited.x_test, a.x_test[:5]) and limited.steps == a.steps


def test_arrays_and_hdf5_files(tmp_path):
    import h5py
    events, labels = make_events(20)
    ev_task = load_data(save_events(tmp_path / "e.npz", events, labels), seed=3)
    with h5py.File(tmp_path / "shd.h5", "w") as f:
        vf, vu = h5py.vlen_dtype(np.float32), h5py.vlen_dtype(np.uint16)
        times, units = np.empty(len(events), dtype=object), np.empty(len(events), dtype=object)
        for i, e in enumerate(events):
            times[i], units[i] = (e["t"] * 1e-6).astype(np.float32), e["x"].astype(np.uint16)
        f.create_dataset("spikes/times", data=times, dtype=vf)
        f.create_dataset("spikes/units", data=units, dtype=vu)
        f.create_dataset("labels", data=labels.astype(np.uint16))
    h5_task = load_data(tmp_path / "shd.h5", seed=3)
    assert np.array_equal(h5_task.x_train, ev_task.x_train) and np.array_equal(h5_task.y_test, ev_task.y_test)
    x = np.concatenate([ev_task.x_train, ev_task.x_test])
    y = np.concatenate([ev_task.y_train, ev_task.y_test])
    m = np.ones(x.shape[:2], dtype=bool)
    np.savez(tmp_path / "a.npz", x=x, y=y, mask=m)
    arr = load_data(tmp_path / "a.npz", seed=0)
    assert arr.n_in == 6 and arr.m_test.all() and len(arr.x_train) + len(arr.x_test) == 20


@pytest.mark.parametrize("case,words", [
    ("no_t", ["'t'", "events[0]"]),
    ("no_labels", ["'labels'"]),
    ("label_outside", ["labels[", "= 5", "0..1"]),
    ("negative_time", ["'t'", "-5", ">= 0"]),
    ("channel_outside", ["'x'", "channel 5", "0..3"]),
    ("negative_label", ["'labels'", "-1"]),
    ("arrays_no_y", ["'y'"]),
    ("two_d_sensor", ["'y'", "events[0]", "y * width + x"]),
    ("arrays_negative_x", ["'x'", "-1.0"]),
])
def test_bad_files_name_the_field(tmp_path, case, words):
    events, labels = make_events(10)
    path = tmp_path / "bad.npz"
    if case == "no_t":
        bare = np.empty(len(events), dtype=object)
        for i, e in enumerate(events):
            bare[i] = np.zeros(len(e), dtype=[("ts", "<i8"), ("x", "<i8"), ("p", "<i8")])
        save_events(path, bare, labels)
    elif case == "no_labels":
        np.savez(path, events=events)
    elif case == "label_outside":
        labels = labels.copy()
        labels[3] = 5
        save_events(path, events, labels, n_classes=np.int64(2))
    elif case == "negative_time":
        events[4]["t"][0] = -5
        save_events(path, events, labels)
    elif case == "channel_outside":
        save_events(path, events, labels, n_inputs=np.int64(4))
    elif case == "negative_label":
        labels = labels.copy()
        labels[0] = -1
        save_events(path, events, labels)
    elif case == "two_d_sensor":
        dvs = np.empty(len(events), dtype=object)
        for i, e in enumerate(events):
            dvs[i] = np.zeros(len(e), dtype=[("x", "<i8"), ("y", "<i8"), ("p", "<i8"), ("t", "<i8")])
        save_events(path, dvs, labels)
    elif case == "arrays_no_y":
        np.savez(path, x=np.zeros((4, 5, 2)))
    elif case == "arrays_negative_x":
        x = np.zeros((4, 5, 2))
        x[1, 2, 1] = -1
        np.savez(path, x=x, y=np.array([0, 1, 0, 1]))
    with pytest.raises(DataError) as err:
        load_data(path)
    for w in words:
        assert w in str(err.value), str(err.value)
    assert str(path) in str(err.value)
    res = gc("train", "--data", str(path), "--no-progress")
    assert res.returncode == 2 and "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    for w in words:
        assert w in res.stderr, res.stderr


def test_train_on_own_events_learns_and_reports_test_accuracy(tmp_path):
    path = save_events(tmp_path / "e.npz", *make_events(120))
    out, net = tmp_path / "r.json", tmp_path / "net.json"
    res = gc("train", "--data", str(path), "--dt", "0.001", "--epochs", "3", "--seed", "2", "--json", str(out),
             "--save", str(net), "--no-progress")
    assert res.returncode == 0, res.stderr
    rep = json.loads(out.read_text())
    assert rep["task"] == "data:e.npz" and rep["test_samples"] == 24 and rep["train_samples"] == 96
    assert rep["test_accuracy"] >= 0.9, rep["test_accuracy"]
    layers = rep["network"]["layers"]
    assert [(l["n_in"], l["n_out"]) for l in layers] == [(6, 64), (64, 2)]
    saved = json.loads(net.read_text())
    assert saved["data"] == str(path.resolve()) and saved["task"] == "data:e.npz"


def test_train_data_with_a_config(tmp_path):
    path = save_events(tmp_path / "e.npz", *make_events(30))
    cfg = tmp_path / "cfg.json"
    network_for(8, 3, 1e-3, hidden=16).save(cfg)
    res = gc("train", "--data", str(path), "--config", str(cfg), "--epochs", "1", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "network                 8-16-3" in res.stdout or "8-16-3" in res.stdout
    network_for(4, 2, 1e-3, hidden=16).save(cfg)
    res = gc("train", "--data", str(path), "--config", str(cfg), "--epochs", "1", "--no-progress")
    assert res.returncode == 2 and "channel 5" in res.stderr and "0..3" in res.stderr and "Traceback" not in res.stderr


def test_task_or_data_is_required():
    res = gc("train")
    assert res.returncode == 2 and "--task" in res.stderr and "--data" in res.stderr
    res = gc("train", "--task", "digits", "--data", "x.npz")
    assert res.returncode == 2 and "not both" in res.stderr
    res = gc("train", "--data", "x.npz", "--port", "sim")
    assert res.returncode == 2 and "--data is not available with --port" in res.stderr


def test_run_data_on_the_simulated_board_equals_golden(tmp_path):
    path = save_events(tmp_path / "e.npz", *make_events(40))
    net, out = tmp_path / "net.json", tmp_path / "run.json"
    res = gc("train", "--data", str(path), "--epochs", "1", "--save", str(net), "--no-progress")
    assert res.returncode == 0, res.stderr
    res = gc("run", str(net), "--data", str(path), "--limit", "4", "--json", str(out), "--no-progress", timeout=1200)
    assert res.returncode == 0, res.stdout + res.stderr
    rep = json.loads(out.read_text())
    assert rep["equal"] and rep["samples"] == 4 and rep["task"] == "data:e.npz"


def test_run_finds_the_saved_data_file_and_asks_for_data_otherwise(tmp_path):
    import argparse

    from gammacore.host.cli import CliError
    from gammacore.host.cmd_run import _task_of, load_network
    path = save_events(tmp_path / "e.npz", *make_events(30))
    net = tmp_path / "net.json"
    res = gc("train", "--data", str(path), "--epochs", "1", "--seed", "5", "--save", str(net), "--no-progress")
    assert res.returncode == 0, res.stderr
    saved, cfg, params = load_network(net)
    args = argparse.Namespace(data=None, network=str(net), limit=100)
    task = _task_of(args, saved, cfg)
    assert np.array_equal(task.x_test, load_data(path, seed=5).x_test)
    del saved["data"]
    with pytest.raises(CliError) as err:
        _task_of(args, saved, cfg)
    assert "data:e.npz" in str(err.value) and "--data" in str(err.value)


def test_arrays_labels_are_named_y(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((4, 5, 2)), y=np.array([0, 1, 2, 1]))
    with pytest.raises(DataError) as err:
        load_data(tmp_path / "a.npz", n_classes=2)
    assert "y[2] = 2" in str(err.value) and "0..1" in str(err.value)
