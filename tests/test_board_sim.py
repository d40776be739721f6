"""The simulated board end to end: native Verilator harness, pty, UART link, driver, CLI.

These talk to the whole top level (UART pins included) through a pseudo-terminal with
pyserial, as a real board is driven - and hold it to the golden model bit for bit.
"""
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from gammacore import regmap as R
from gammacore.host.cmd_run import COMPARED
from gammacore.host.session import open_chip
from gammacore.rtl.soc import SIM_CAPACITY, SIM_LANES
from gammacore.sim.net_case import make_net_case
from rtl_helpers import assert_final_params, assert_sample_result

GAMMACORE = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "gammacore"


@pytest.fixture(scope="module")
def chip():
    with open_chip("sim") as (c, info):
        assert info["simulated"] and info["pty"].startswith("/dev/pts/")
        yield c


def test_identity_and_capacity(chip):
    ident = chip.identity()
    assert ident["id"] == f"{R.CHIP_ID:#010x}" and ident["capacity"] == SIM_CAPACITY.as_dict()
    assert ident["learning"] and ident["statistics_counters"] and not ident["pow2_buckets"]
    assert ident["lanes"] == SIM_LANES


@pytest.mark.parametrize("seed,mode", [(1, "sync"), (2, "sync"), (3, "async-random"), (4, "async-priority")])
def test_network_with_learning_bit_exact_through_the_uart(chip, seed, mode):
    """A random 3-layer network, loaded through the link, stepped and trained with streamed
    errors: every output packet, every output x and every final master word equals golden;
    in the asynchronous modes the packets arrive in the golden firing order."""
    rng = np.random.default_rng(seed)
    sizes = tuple(int(n) for n in rng.integers(2, 9, size=4))
    case = make_net_case(seed, sizes, SIM_CAPACITY.buckets, T=25, p_learn=0.6, mode=mode)
    print(f"seed={seed} sizes={sizes} mode={mode}")
    chip.load(case["cfg"], case["initial"], route_hidden_to_host=True, mode=mode, seed=case["lfsr_seed"])
    n0 = case["sizes"][0]
    step0 = chip.counters()["steps"]
    for t, step in enumerate(case["steps"]):
        q = np.zeros(n0, dtype=np.int64)
        for src, mag in step["events"]:
            q[src] = mag
        packets, x = chip.step(q)
        assert [p[:2] for p in packets] == [tuple(p[:2]) for p in step["packets"]], f"seed={seed} step {t}"
        assert all(p[2] == (step0 + t) % (1 << chip.out_format().step_bits) for p in packets), \
            f"seed={seed} step {t}: step field"
        assert x.tolist() == step["x_out"], f"seed={seed} step {t}"
        if step["err"] is not None:
            chip.learn(step["err"])
    got = chip.read_params()
    W = np.concatenate([p["W"].ravel() for p in got])
    assert W.tolist() == case["final"]["W"], f"seed={seed}: final W differs"
    assert np.concatenate([p["V"].ravel() for p in got]).tolist() == case["final"]["V"]
    assert np.concatenate([p["b"] for p in got]).tolist() == case["final"]["B"]
    counters = chip.counters()
    assert counters["busy"] is False and counters["refused"] == 0


def test_samples_through_the_uart_equal_golden(chip):
    """Whole samples on the sample sequencer through the link, two queued: every result and
    every final master word equals golden.sample; a bad sample the driver would refuse, sent
    raw, is refused by the chip with a counted bus error and runs nothing."""
    from gammacore.host.link import BusError
    from gammacore.sim.sample_case import make_sample_case
    case = make_sample_case(21, (3, 6, 3), SIM_CAPACITY.buckets, n_samples=6, max_T=12, out_encoder=True)
    print(f"seed=21 learn={[s['learn'] for s in case['samples']]}")
    chip.load(case["cfg"], case["initial"])
    # a sample into a free slot is written and queued in one round trip (one pipeline)
    chip.sample_words()                     # CAP_SAMPLE, read once
    rt0 = chip.link.stats()["round_trips"]
    tickets = [chip.submit_sample(s["q"], s["mask"], s["label"], s["learn"]) for s in case["samples"][:2]]
    assert chip.link.stats()["round_trips"] - rt0 == 2
    # the third goes into slot 0 once its sample is done: the older results read, the new
    # sample written and queued, one pipeline after the poll that finds slot 0 done
    while chip.link.read(R.Reg.SAMPLE_STATUS, 1)[0] & 1:
        pass
    rt0 = chip.link.stats()["round_trips"]
    tickets.append(chip.submit_sample(**{k: case["samples"][2][k] for k in ("q", "mask", "label", "learn")}))
    assert chip.link.stats()["round_trips"] - rt0 == 2 and tickets[0]["result"] is not None
    tickets += [chip.submit_sample(s["q"], s["mask"], s["label"], s["learn"]) for s in case["samples"][3:]]
    for n, (t, s) in enumerate(zip(tickets, case["samples"])):
        assert_sample_result(chip.sample_result(t), s["want"], f"sample {n}")
    assert_final_params(chip.read_params(), case["final"])
    before = chip.counters()
    chip.link.write(R.mem_addr(R.Region.SAMPLE, 0), [1 | 3 << 16, 0])     # label 3 of outputs 0..2
    with pytest.raises(BusError):
        chip.link.write(R.Reg.SAMPLE_CTRL, [R.sample_command(0, True)])
    after = chip.counters()
    assert after["bus_errors"] == before["bus_errors"] + 1 and after["steps"] == before["steps"]


def test_squared_error_samples_through_the_uart_equal_golden(chip):
    """Squared-error samples (a target per output at each loss step, the chip forms the
    errors and the loss) mixed with labelled ones, through the driver's train_sample,
    infer_sample and submit_sample: every result and every final master word equals
    golden.sample's."""
    from gammacore.sim.sample_case import make_sample_case
    seed = 23
    case = make_sample_case(seed, (3, 6, 3), SIM_CAPACITY.buckets, n_samples=8, max_T=12, out_encoder=True, p_mse=0.6)
    kinds = [("mse" if s["target"] is not None else "ce", s["learn"]) for s in case["samples"]]
    print(f"seed={seed} samples={kinds}")
    assert {("mse", True), ("mse", False), ("ce", True)} <= set(kinds), f"seed={seed}"
    chip.load(case["cfg"], case["initial"])
    for n, s in enumerate(case["samples"]):
        if s["target"] is None:
            got = chip.sample_result(chip.submit_sample(s["q"], s["mask"], s["label"], s["learn"]))
        elif s["learn"]:
            got = chip.train_sample(s["q"], s["mask"], target=s["target"])
        else:
            got = chip.infer_sample(s["q"], s["mask"], target=s["target"])
        assert_sample_result(got, s["want"], f"seed={seed}: sample {n}")
    assert_final_params(chip.read_params(), case["final"], f"seed={seed}:")


def test_load_verifies_and_reports_what_does_not_fit(chip):
    case = make_net_case(3, (2, 300, 2), SIM_CAPACITY.buckets, T=1)
    with pytest.raises(ValueError, match="needs .* neurons"):
        chip.load(case["cfg"], case["initial"])


def test_status_cli_on_the_simulated_board(tmp_path):
    out = tmp_path / "status.json"
    res = subprocess.run([str(GAMMACORE), "status", "--port", "sim", "--json", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    st = json.loads(out.read_text())
    assert st["simulated"] is True and st["capacity"] == SIM_CAPACITY.as_dict()
    assert set(st["counters"]) >= {"steps", "cycles", "events_in", "refused", "unrouted", "bus_errors"}


@pytest.mark.parametrize("path", ["autonomous", "host-errors"])
def test_demo_on_the_simulated_board_equals_golden(tmp_path, path):
    out = tmp_path / "demo.json"
    extra = ["--host-errors"] if path == "host-errors" else []
    res = subprocess.run([str(GAMMACORE), "demo", "coincidence", "--epochs", "2", "--limit", "6", "--no-progress",
                          "--json", str(out), "--plots", str(tmp_path / "plots")] + extra,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
    rep = json.loads(out.read_text())
    assert rep["accuracy_equal"] and rep["weights_equal"], rep
    assert rep["path"] == path and 0 < rep["core_busy_fraction"] <= 1
    assert rep["train_samples"] == 6 and rep["steps"] == 2 * 12 * 50     # the test set after each epoch
    assert rep["curve_equal"] and [c["epoch"] for c in rep["curve"]] == [1, 2]
    assert [c["test_accuracy"] for c in rep["curve"]] == [g["test_accuracy"] for g in rep["golden_curve"]]
    assert rep["curve"][-1]["test_accuracy"] == rep["chip_test_accuracy"]
    # the golden model trained in a second process, alongside the chip
    assert rep["golden_alongside"] is True
    assert rep["wall_seconds"] >= max(rep["chip_wall_seconds"], rep["golden_wall_seconds"])
    for name in ("rasters", "buckets", "learning_curve", "bucket_weights"):
        assert (tmp_path / "plots" / f"{name}.png").stat().st_size > 10_000


def test_demo_stops_its_golden_process_when_the_chip_fails():
    """run_demo starts the golden run in a second process before the chip's; when the chip's
    run fails, that process is stopped and the chip's error comes out (no CLI left waiting
    minutes for a golden run nobody reads)."""
    import multiprocessing
    import time

    from gammacore.host.demo import run_demo

    class BrokenChip:
        def load(self, cfg, layers):
            time.sleep(1.0)             # the golden process is running by now
            raise RuntimeError("link lost")

    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="link lost"):
        run_demo(BrokenChip(), "coincidence", epochs=16, limit=None, progress=False, log=lambda *a: None)
    for proc in multiprocessing.active_children():
        proc.join(timeout=10)
    assert multiprocessing.active_children() == []
    assert time.monotonic() - t0 < 60           # the whole golden run takes minutes


def test_board_cli_refuses_icarus():
    res = subprocess.run([str(GAMMACORE), "board", "--sim", "--simulator", "icarus"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "Verilator only" in res.stderr


def test_unreachable_port_is_one_line_not_a_traceback(tmp_path):
    """A port with nothing behind it: the link times out and the CLI says so in one line."""
    import os
    import pty
    master, slave = pty.openpty()
    try:
        res = subprocess.run([str(GAMMACORE), "status", "--port", os.ttyname(slave)],
                             capture_output=True, text=True, timeout=120)
    finally:
        os.close(master)
        os.close(slave)
    assert res.returncode == 3 and "chip error" in res.stderr and "Traceback" not in res.stderr, res.stderr


def test_train_save_then_run_on_the_simulated_board(tmp_path):
    net = tmp_path / "net.json"
    res = subprocess.run([str(GAMMACORE), "train", "--task", "coincidence", "--epochs", "1", "--limit", "20",
                          "--no-progress", "--save", str(net)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    # (sync per step is the driver's step loop of test_network_with_learning_bit_exact_through_the_uart)
    for mode, path in (("sync", "samples"), ("async-random", "samples"), ("async-random", "steps")):
        out = tmp_path / f"run-{mode}-{path}.json"
        extra = ["--per-step"] if path == "steps" else []
        res = subprocess.run([str(GAMMACORE), "run", str(net), "--limit", "8", "--mode", mode, "--lfsr-seed", "77",
                              "--no-progress", "--json", str(out)] + extra, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stdout + res.stderr
        rep = json.loads(out.read_text())
        assert rep["equal"] and rep["samples"] == 8 and rep["steps"] == 8 * 50 and rep["mode"] == mode
        assert rep["path"] == path
        assert rep["compared"] == (["accuracy", "spikes_per_inference"] if path == "samples" else list(COMPARED))
        assert rep["chip"]["spikes_per_inference"] > 0 and rep["chip"] == {k: rep["golden"][k] for k in rep["chip"]}
    res = subprocess.run([str(GAMMACORE), "run", str(net), "--mode", "fifo"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "--mode: unknown mode 'fifo'" in res.stderr, res.stderr


def test_run_rejects_a_file_that_is_not_a_network(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"task": "digits"}')
    res = subprocess.run([str(GAMMACORE), "run", str(bad)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "not a gammacore network file" in res.stderr


def test_train_on_the_simulated_board_equals_golden(tmp_path):
    out = tmp_path / "t.json"
    res = subprocess.run([str(GAMMACORE), "train", "--task", "digits", "--port", "sim", "--epochs", "1",
                          "--limit", "4", "--no-progress", "--json", str(out)], capture_output=True, text=True,
                         timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
    rep = json.loads(out.read_text())
    assert rep["accuracy_equal"] and rep["weights_equal"] and rep["curve_equal"] and rep["steps"] == 8 * 36


def test_chip_train_loop_equals_golden_train_every_epoch(chip):
    """Chip.train (whole samples, two queued, learning-rate shifts, the test set after every
    epoch) on the coincidence preset: every epoch's train loss and test accuracy and every
    final weight equal the golden ``train(..., chip_loss=True)`` with the same seed and
    schedule; the per-epoch test runs leave the training as it is."""
    from gammacore.golden import fixedpoint as fp
    from gammacore.golden import formats as F
    from gammacore.golden.network import make_network
    from gammacore.golden.presets import preset
    from gammacore.golden.tasks import make_task
    from gammacore.golden.train import Schedule, train
    seed, limit = int(np.random.default_rng().integers(1000)), 8
    print(f"seed={seed}")
    task = make_task("coincidence", seed=seed)
    cfg = preset("coincidence", seed=seed)
    plan = Schedule(epochs=2, phases=3)       # shifts 0, 1, 2 within the run: one change mid-epoch
    chip.load(cfg, make_network(cfg, "fixed", batch=1).layers)
    seen = []
    tr = (task.x_train[:limit], task.y_train[:limit], task.m_train[:limit])
    te = (task.x_test[:limit], task.y_test[:limit], task.m_test[:limit])
    history = chip.train(tr, schedule=plan, seed=seed, test=te, on_epoch=seen.append)
    gold = train(cfg, task, model="fixed", schedule=plan, seed=seed, limit=limit, progress=False, chip_loss=True)
    assert seen == history and [h["epoch"] for h in history] == [1, 2]
    for h, g in zip(history, gold["curve"]):
        assert (h["train_loss"], h["test_accuracy"]) == (g["train_loss"], g["test_accuracy"]), f"seed={seed} {h} {g}"
        assert h["samples"] == limit and h["steps"] == 2 * limit * task.steps
    for m, g in zip(chip.read_params(), gold["params"]):
        assert np.array_equal(F.W.to_float(fp.forward_from_master(m["W"])), g["W"]), f"seed={seed}"
        assert np.array_equal(F.V.to_float(fp.forward_from_master(m["V"])), g["V"]), f"seed={seed}"
        assert np.array_equal(F.B.to_float(fp.forward_from_master(m["b"])), g["b"]), f"seed={seed}"
    assert history[-1]["test_accuracy"] == gold["test_accuracy"]


def test_reset_wrapper_takes_the_designs_leds_width():
    """The RTL board's wrapper declares ``leds`` as wide as the design's port (no -Wno-WIDTH
    needed for a design with fewer or more LEDs), found in the module's body or header."""
    from gammacore.sim.board import RESET_CLOCKS, RESET_WRAPPER, _port_width
    text = ("module top_x(output [9:0] leds); endmodule\n"
            "module top(clk, rst, rx, tx, leds);\n  input clk;\n  output leds;\n  wire leds;\nendmodule\n"
            "module wide(input clk, output reg [6:0] leds, output tx);\nendmodule\n")
    assert [_port_width(text, m, "leds") for m in ("top", "top_x", "wide")] == [1, 10, 7]
    with pytest.raises(RuntimeError, match="no port leds"):
        _port_width("module top(input ledsx); endmodule\n", "top", "leds")
    wrapper = RESET_WRAPPER.format(n=RESET_CLOCKS, top="top", leds_msb=6)
    assert "output [6:0] leds" in wrapper and f"8'd{RESET_CLOCKS}" in wrapper


def test_train_loop_with_targets_equals_golden(chip):
    """Chip.train on squared-error data (targets per step and output instead of labels):
    the golden loop of run_sample in train's order and schedule gives every epoch's loss sum,
    the test loss and every final master word; the history has no test accuracy."""
    import copy

    from gammacore.golden import formats as F
    from gammacore.golden.sample import run_sample
    from gammacore.golden.train import Schedule
    from gammacore.sim.net_case import random_network
    seed = 24
    print(f"seed={seed}")
    rng = np.random.default_rng(seed)
    net = random_network(rng, (3, 6, 2), SIM_CAPACITY.buckets)
    initial = copy.deepcopy(net.layers)
    n, T = 6, 10
    x = np.where(rng.random((n, T, 3)) < 0.4, rng.uniform(0.2, 2.0, (n, T, 3)), 0.0)
    target = rng.normal(0, 1.0, (n, T, 2))
    mask = np.arange(T)[None, :].repeat(n, 0) >= 4
    plan = Schedule(2, phases=2)
    chip.load(net.cfg, initial)
    hist = chip.train((x, target, mask), schedule=plan, seed=seed, test=(x[:3], target[:3], mask[:3]))
    # golden: the same samples, order and learning-rate shifts
    order = np.random.default_rng([seed, 3])
    xq, tq = F.Q.from_float(x), F.X.from_float(target)
    seen, sums = 0, []
    for _ in range(plan.epochs):
        total = 0
        for i in order.permutation(n):
            if (shift := plan.change_at(seen, n)) is not None:
                net.set_learning_shift(shift)
            seen += 1
            total += run_sample(net, xq[i], mask[i], None, learn=True, target=tq[i])["loss_sum"]
        sums.append(total)
    test_sum = sum(run_sample(net, xq[i], mask[i], None, learn=False, target=tq[i])["loss_sum"] for i in range(3))
    assert [h["train_loss_sum"] for h in hist] == sums and sums[0] > 0, f"seed={seed}"
    assert hist[-1]["test_loss"] == F.LOSS_SUM.to_float(test_sum) / int(mask[:3].sum()), f"seed={seed}"
    assert all("test_accuracy" not in h for h in hist)
    got = chip.read_params()
    for g, layer in zip(got, net.layers):
        assert np.array_equal(g["W"], layer.W_master) and np.array_equal(g["V"], layer.V_master), f"seed={seed}"
        assert np.array_equal(g["b"], layer.b_master), f"seed={seed}"
    assert not np.array_equal(got[-1]["W"], initial[-1].W_master), f"seed={seed}: nothing learned"
