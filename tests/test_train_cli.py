"""``gammacore train``: a short real run, its JSON, and every bad-input path."""
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gammacore.golden.tasks import coincidence, digits

GAMMACORE = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "gammacore"


def gc(*args):
    return subprocess.run([str(GAMMACORE), *args], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("task,model", [("coincidence", "fixed"), ("digits", "float")])
def test_short_training_run_writes_json(tmp_path, task, model):
    out = tmp_path / "r.json"
    res = gc("train", "--task", task, "--model", model, "--epochs", "2", "--limit", "40",
             "--seed", "3", "--json", str(out), "--plots", str(tmp_path / "plots"), "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "test accuracy" in res.stdout
    data = json.loads(out.read_text())
    for key in ("task", "model", "dt", "seed", "train_accuracy", "test_accuracy",
                "spikes_per_neuron_per_step", "steps", "wall_seconds"):
        assert key in data
    assert data["task"] == task and data["model"] == model and data["seed"] == 3
    assert 0 <= data["test_accuracy"] <= 1 and data["spikes_per_neuron_per_step"] > 0
    assert len(data["curve"]) == 2
    png = (tmp_path / "plots" / "learning_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_config_file_is_used(tmp_path):
    from gammacore.golden.presets import preset
    cfg = preset("coincidence")
    path = tmp_path / "net.json"
    cfg.save(path)
    res = gc("train", "--task", "coincidence", "--config", str(path), "--epochs", "1", "--limit", "10", "--no-progress")
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("args,words", [
    (["--task", "mnist"], ["mnist", "coincidence"]),
    (["--task", "digits", "--model", "analog"], ["analog", "fixed"]),
    (["--task", "digits", "--dt", "0"], ["--dt", "'0'"]),
    (["--task", "digits", "--dt", "-0.001"], ["--dt", "-0.001"]),
    (["--task", "digits", "--dt", "fast"], ["--dt", "fast"]),
    (["--task", "digits", "--epochs", "0"], ["--epochs", "0"]),
    (["--task", "digits", "--limit", "-5"], ["--limit", "-5"]),
    (["--task", "digits", "--json", "/no/such/dir/r.json"], ["/no/such/dir"]),
    (["--task", "digits", "--config", "/no/such/net.json"], ["/no/such/net.json"]),
    (["--task", "digits", "--loss-unit", "fpga"], ["fpga", "'host' or 'chip'"]),
    (["--task", "digits", "--loss-unit", "chip", "--model", "float"], ["--loss-unit chip", "'float'"]),
])
def test_bad_input_is_one_clear_line(args, words):
    res = gc("train", *args)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    for w in words:
        assert w in res.stderr, res.stderr


def test_malformed_config_file_is_named(tmp_path):
    path = tmp_path / "net.json"
    path.write_text('{"dt": 0.001, "layers": [{"n_in": 2, "n_out": 2, "readout": "tanh"}]}')
    res = gc("train", "--task", "coincidence", "--config", str(path))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "net.json" in res.stderr and "tanh" in res.stderr


def test_coincidence_is_the_same_physical_task_at_any_dt():
    coarse, fine = coincidence(dt=1e-3, seed=4, n_train=50, n_test=10), coincidence(dt=1e-4, seed=4, n_train=50, n_test=10)
    assert np.array_equal(coarse.y_train, fine.y_train)
    for ch in range(2):
        t_coarse = np.argmax(coarse.x_train[:, :, ch], axis=1) * 1e-3
        t_fine = np.argmax(fine.x_train[:, :, ch], axis=1) * 1e-4
        assert np.max(np.abs(t_coarse - t_fine)) <= 0.5e-3 + 0.5e-4 + 1e-12
    assert fine.steps == 10 * coarse.steps


def test_coincidence_labels_follow_the_delay():
    t = coincidence(dt=1e-3, seed=1, n_train=300, n_test=0)
    ta = np.argmax(t.x_train[:, :, 0], axis=1)
    tb = np.argmax(t.x_train[:, :, 1], axis=1)
    d = (tb - ta) * 1e-3
    assert np.all(np.abs(d[t.y_train == 1] - 0.010) <= 0.0025)
    assert np.all(np.abs(d[t.y_train == 0] - 0.010) >= 0.0035)
    assert 0.35 < t.y_train.mean() < 0.65


def test_digits_split_is_fixed_stratified_and_disjoint():
    a, b = digits(seed=0), digits(seed=0)
    assert np.array_equal(a.y_test, b.y_test) and np.array_equal(a.x_test, b.x_test)
    assert len(a.y_train) + len(a.y_test) == 1797
    counts = np.bincount(a.y_test, minlength=10)
    assert counts.min() >= 30
    assert a.x_train.max() <= 1.0 and a.n_in == 8


def test_validation_split_holds_out_the_end_of_the_training_set_and_never_the_test_set():
    t = digits(seed=1)
    v = t.validation_split(0.2)
    n = len(t.y_train)
    n_fit = int(round(0.8 * n))
    assert np.array_equal(v.x_train, t.x_train[:n_fit]) and np.array_equal(v.y_train, t.y_train[:n_fit])
    assert np.array_equal(v.x_test, t.x_train[n_fit:]) and np.array_equal(v.m_test, t.m_train[n_fit:])
    assert len(v.y_train) + len(v.y_test) == n and v.n_classes == t.n_classes
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=f"validation fraction must be in \\(0, 1\\), not {bad}"):
            t.validation_split(bad)
