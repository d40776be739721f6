"""``gammacore verify``: match report, JSON, mismatch exit status, bad input."""
import argparse
import json
import subprocess
from pathlib import Path

import pytest

from gammacore.host import cmd_verify
from gammacore.sim.host_script import first_net_mismatch
from gammacore.sim.net_case import make_net_case

GAMMACORE = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "gammacore"


def test_verify_amaranth_matches_and_writes_json(tmp_path):
    out = tmp_path / "v.json"
    res = subprocess.run([str(GAMMACORE), "verify", "--sim", "amaranth", "--inputs", "3", "--neurons", "5",
                          "--buckets", "2", "--steps", "6", "--seed", "4", "--json", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    rep = json.loads(out.read_text())
    assert rep["match"] is True and rep["first_mismatch"] is None
    assert rep["steps"] == 6 and rep["events"] > 0 and rep["cycles"] == sum(rep["cycles_per_step"])
    # one layer of 3 x 5 on the chip's network core, its spikes compared
    assert rep["layers"] == 1 and rep["sizes"] == [3, 5] and rep["inputs"] == 3 and rep["neurons"] == 5
    assert rep["spikes"] > 0


def test_verify_reports_first_mismatch_and_exits_1(monkeypatch, capsys):
    """A core that drops one spike is caught, named, and the exit status is 1."""
    import gammacore.sim.amaranth_chip as ac
    real = ac.run_chip_amaranth

    def faulty(case, **kw):
        obs = real(case, **kw)
        step = next(t for t, s in enumerate(obs["packets"]) if s)
        obs["packets"][step] = obs["packets"][step][1:]
        return obs

    monkeypatch.setattr(ac, "run_chip_amaranth", faulty)
    args = argparse.Namespace(sim="amaranth", inputs=3, neurons=4, buckets=2, steps=5, rate=0.6, seed=2, json=None,
                              layers=None, outputs=4, learn=False, mode="sync")
    assert cmd_verify.run(args) == 1
    out = capsys.readouterr().out
    assert "match           False" in out and "step" in out


def test_first_mismatch_names_state_words():
    case = make_net_case(3, (2, 3), 2, 4, p_learn=0.0, out_encoder=True)
    observed = {"packets": [s["packets"] for s in case["steps"]], "x_out": [s["x_out"] for s in case["steps"]],
                **{k: list(v) for k, v in case["final"].items()}}
    assert first_net_mismatch(case, observed) is None
    observed["D"][1] += 1
    assert first_net_mismatch(case, observed) == \
        f"final D[1] = {case['final']['D'][1] + 1} != golden {case['final']['D'][1]}"


@pytest.mark.parametrize("args,word", [(["--sim", "modelsim"], "modelsim"), (["--neurons", "0"], "--neurons"),
                                       (["--buckets", "17"], "--buckets"), (["--rate", "2"], "--rate"),
                                       (["--json", "/no/dir/x.json"], "/no/dir")])
def test_verify_bad_input(args, word):
    res = subprocess.run([str(GAMMACORE), "verify", *args], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and word in res.stderr and "Traceback" not in res.stderr


def test_verify_chip_with_learning_matches_and_writes_json(tmp_path):
    out = tmp_path / "chip.json"
    res = subprocess.run([str(GAMMACORE), "verify", "--sim", "amaranth", "--layers", "3", "--learn",
                          "--inputs", "3", "--neurons", "5", "--outputs", "2", "--buckets", "2", "--steps", "8",
                          "--seed", "7", "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    rep = json.loads(out.read_text())
    assert rep["match"] is True and rep["sizes"] == [3, 5, 5, 2] and rep["layers"] == 3
    assert rep["learn_steps"] > 0 and rep["learn_cycles"] > 0 and rep["spikes"] > 0


def test_verify_chip_mismatch_exits_1(monkeypatch, capsys):
    """A chip whose learning unit rounds one bit differently is caught by the final-weight check."""
    import gammacore.rtl.learning as lu
    monkeypatch.setattr(lu, "GRAD_ALIGN", lu.GRAD_ALIGN + 1)
    args = argparse.Namespace(sim="amaranth", inputs=3, neurons=4, buckets=2, steps=8, rate=0.6, seed=3,
                              json=None, layers=2, outputs=2, learn=True, mode="sync")
    assert cmd_verify.run(args) == 1
    assert "match           False" in capsys.readouterr().out


def test_verify_async_modes_match_and_order_is_checked(tmp_path, monkeypatch, capsys):
    """--mode runs the asynchronous dispatch; a golden LFSR with other taps (another random
    order, same spikes per step) is caught as a mismatch."""
    out = tmp_path / "async.json"
    res = subprocess.run([str(GAMMACORE), "verify", "--sim", "amaranth", "--mode", "async-priority", "--layers", "3",
                          "--inputs", "4", "--neurons", "6", "--outputs", "3", "--buckets", "2", "--steps", "8",
                          "--rate", "0.8", "--learn", "--seed", "5", "--json", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    rep = json.loads(out.read_text())
    assert rep["match"] is True and rep["mode"] == "async-priority" and rep["spikes"] > 0
    from gammacore.golden.async_model import Lfsr16
    monkeypatch.setattr(Lfsr16, "TAPS", 0xD008)
    args = argparse.Namespace(sim="amaranth", inputs=4, neurons=6, buckets=2, steps=8, rate=0.8, seed=5,
                              json=None, layers=3, outputs=3, learn=False, mode="async-random")
    assert cmd_verify.run(args) == 1
    assert "match           False" in capsys.readouterr().out


def test_verify_lanes_runs_the_laned_core_and_reports_it(tmp_path):
    """--lanes P builds the chip with P lanes: the same single-layer case matches golden at
    P = 1, 3 and 4 (a layer of 9 neurons: not a multiple of 4), the JSON names P, and the laned
    cores take fewer clocks."""
    reps = {}
    for lanes in (1, 3, 4):
        out = tmp_path / f"p{lanes}.json"
        res = subprocess.run([str(GAMMACORE), "verify", "--sim", "amaranth", "--lanes", str(lanes), "--inputs", "3",
                              "--neurons", "9", "--buckets", "2", "--steps", "6", "--seed", "6", "--json", str(out)],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        assert f"lanes           {lanes}" in res.stdout
        reps[lanes] = json.loads(out.read_text())
        assert reps[lanes]["match"] is True and reps[lanes]["lanes"] == lanes and reps[lanes]["spikes"] > 0
    for lanes in (3, 4):
        assert reps[1]["events"] == reps[lanes]["events"] and reps[1]["spikes"] == reps[lanes]["spikes"]
        assert reps[lanes]["cycles"] < reps[1]["cycles"], (reps[1]["cycles"], reps[lanes]["cycles"])


@pytest.mark.parametrize("argv,needle", [
    (["--lanes", "-3"], "--lanes: lanes must be a whole number of at least 1 (1, 2, 3, 4, ...), not -3"),
    (["--lanes", "0"], "--lanes: lanes must be a whole number of at least 1 (1, 2, 3, 4, ...), not 0"),
    (["--lanes", "128", "--layers", "2"], "--lanes expects at most 64, not 128"),
    (["--lanes", "4", "--netlist", "ulx3s-85f"], "--lanes 4: the ulx3s-85f build has 2 lanes"),
    (["--layers", "9"], "--layers expects an integer in 1..8, not 9"),
    (["--layers", "2", "--outputs", "0"], "--outputs expects an integer in 1..2047, not 0"),
    (["--mode", "async"], "--mode: unknown mode 'async'; expected one of sync, async-random, async-priority"),
])
def test_verify_chip_bad_input(argv, needle):
    res = subprocess.run([str(GAMMACORE), "verify", *argv], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and needle in res.stderr, res.stderr
