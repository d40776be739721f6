"""The host driver over a memory-mapped register window (the PCIe path), file-backed here.

No PCIe board is attached, so the window is a file: the test fills in the identity words a
chip would answer with, lets the driver load a network through the window, and checks that
every word landed at its address in the chip's register map (gammacore.regmap) - the same
map the UART link carries.
"""
import numpy as np

from gammacore import regmap as R
from gammacore.host.driver import Chip
from gammacore.host.transport import MmioWindow
from gammacore.sim.net_case import make_net_case

WORDS = 1 << 24     # the whole bus address space, sparse file


def test_driver_loads_a_network_through_a_register_window(tmp_path):
    case = make_net_case(5, (3, 6, 4, 2), 4, T=1)
    cap = R.Capacity(4, 64, 64, 1024, 4, 32)
    with MmioWindow(tmp_path / "bar0", words=WORDS, create=True) as win:
        win.write(R.Reg.ID, [R.CHIP_ID, cap.layers, cap.neurons, cap.inputs, cap.synapses, cap.buckets,
                             cap.max_layer, 0])
        win.write(R.Reg.N_LAYERS, [0])
        chip = Chip(win)
        # the window has no chip behind it: N_LAYERS must read back as written for load's check
        chip.load(case["cfg"], case["initial"], verify=True)
        assert win.read(R.Reg.N_LAYERS, 1) == [3]
        assert win.read(R.Reg.CTRL, 1)[0] & 7 == int(R.Cmd.CLEAR)
        for addr, words in R.load_plan(case["cfg"], case["initial"], route_hidden_to_host=False):
            assert win.read(addr, len(words)) == [int(w) & 0xFFFFFFFF for w in words], f"{addr:#x}"
        params = chip.read_params()
        for got, layer in zip(params, case["initial"]):
            assert np.array_equal(got["W"], layer.W_master) and np.array_equal(got["b"], layer.b_master)


def _sample_chip(win, cap, sample_words):
    """A driver on ``win`` after the identity words a one-lane chip of capacity ``cap`` with a
    sample sequencer of ``sample_words`` words per slot answers with."""
    win.write(R.Reg.ID, [R.CHIP_ID, cap.layers, cap.neurons, cap.inputs, cap.synapses, cap.buckets,
                         cap.max_layer, 0, 1, sample_words])
    return Chip(win)


def test_driver_refuses_bad_samples_naming_the_value_before_writing(tmp_path):
    import pytest
    from gammacore.host.driver import ChipError
    case = make_net_case(6, (3, 4, 2), 2, T=1)
    cap = R.Capacity(4, 64, 64, 1024, 2, 32)
    with MmioWindow(tmp_path / "bar0", words=WORDS, create=True) as win:
        chip = _sample_chip(win, cap, sample_words=8)
        chip.load(case["cfg"], case["initial"], verify=False)
        q = np.zeros((2, 3), dtype=np.int64)
        q[0, 1] = 100
        for args, match in [((q, [0, 1], 2), "label 2 is outside the output layer's 0..1"),
                            ((np.zeros((0, 3)), [], 0), "1..65535 steps, not 0"),
                            ((np.ones((2, 4), dtype=np.int64), [0, 1], 0), "event source 3 is outside layer 0's inputs"),
                            ((np.ones((2, 3), dtype=np.int64), [0, 1], 0), "takes 9 words, a slot of the sample memory holds 8")]:
            with pytest.raises(ChipError, match=match):
                chip.train_sample(*args)
        tgt = np.array([[0, 0], [-4096, 1 << 22]])
        for kwargs, match in [(dict(label=1, target=tgt), "a label .* or targets .*, not both"),
                              (dict(target=tgt[:, :1]), r"targets of shape \(2, 1\), expected \(2, 2\)"),
                              (dict(target=tgt << 20), f"target {-4096 << 20} \\(X raw\\) is outside X's")]:
            with pytest.raises(ChipError, match=match):
                chip.train_sample(q, [0, 1], **kwargs)
        assert win.read(R.mem_addr(R.Region.SAMPLE, 0), 16) == [0] * 16
        assert win.read(R.Reg.SAMPLE_CTRL, 1) == [0]
        # a good sample is written into slot 0 and queued there
        chip.submit_sample(q, [0, 1], 1, learn=True)
        assert win.read(R.mem_addr(R.Region.SAMPLE, 0), 5) == R.sample_words(q, [0, 1], 1) + [0]
        assert win.read(R.Reg.SAMPLE_CTRL, 1) == [R.sample_command(0, True)]
        # a squared-error sample: its targets after the loss step's marker, in slot 1
        chip.submit_sample(q, [0, 1], None, learn=False, target=tgt)
        want = R.sample_words(q, [0, 1], None, target=tgt)
        assert want[-2:] == [(-4096) & 0xFFFFFFFF, 1 << 22] and want[0] == 2 | R.SAMPLE_MSE
        assert win.read(R.mem_addr(R.Region.SAMPLE, 8), len(want)) == want
        assert win.read(R.Reg.SAMPLE_CTRL, 1) == [R.sample_command(1, False)]


def test_train_refuses_bad_arguments_naming_the_value_before_sending(tmp_path):
    import pytest
    from gammacore.golden.train import Schedule
    from gammacore.host.driver import ChipError
    case = make_net_case(6, (3, 4, 2), 2, T=1)
    cap = R.Capacity(4, 64, 64, 1024, 2, 32)
    with MmioWindow(tmp_path / "bar0", words=WORDS, create=True) as win:
        chip = _sample_chip(win, cap, sample_words=64)
        with pytest.raises(ChipError, match="no network loaded"):
            chip.train((np.zeros((2, 4, 3)), np.zeros(2, int), np.ones((2, 4), bool)), epochs=1)
        chip.load(case["cfg"], case["initial"], verify=False)
        x, y, m = np.zeros((2, 4, 3)), np.array([0, 1]), np.ones((2, 4), bool)
        for kwargs, match in [
                (dict(data=(x, y, m), epochs=0), "epochs must be a positive integer, not 0"),
                (dict(data=(x, y, m), epochs=2.5), "epochs must be a positive integer, not 2.5"),
                (dict(data=(x, y, m)), "give epochs"),
                (dict(data=(x, y, m), schedule="fast"), "schedule must be a .*Schedule, not 'fast'"),
                (dict(data=(x, y, m), epochs=1, seed=-1), "seed must be .* not -1"),
                (dict(data=(x, np.array([0, 2]), m), epochs=1), "data label 2 is outside the output layer's 0..1"),
                (dict(data=(np.zeros((2, 4, 5)), y, m), epochs=1), r"data x has shape \(2, 4, 5\), expected .* 3 inputs"),
                (dict(data=(x, y, m[:, :3]), epochs=1), r"data mask has shape \(2, 3\), expected \(2, 4\)"),
                (dict(data=(x, y.astype(float), m), epochs=1), "labels have shape .* float64"),
                (dict(data=(-x - 1, y, m), epochs=1), "data x holds -1.0"),
                (dict(data=[x, y], epochs=1), "data must be a Task or a tuple"),
                (dict(data=(x, y, m), epochs=1, test=(x, np.array([5, 0]), m)), "test label 5 is outside"),
                (dict(data=(x, np.zeros((2, 4, 3)), m), epochs=1),
                 r"data targets have shape \(2, 4, 3\), expected \(2, 4, 2\)"),
                (dict(data=(x, np.full((2, 4, 2), 600.0), m), epochs=1), "data target 600.0 is outside the outputs' range"),
                (dict(data=(x, np.zeros((2, 4, 2)), m), epochs=1, test=(x, y, m)),
                 "data and test must both have labels or both targets"),
                (dict(data=(x, y, m), schedule=Schedule(1), on_epoch=3), "on_epoch must be callable, not 3"),
                (dict(data=(np.ones((3, 30, 3)) + np.arange(30)[None, :, None] % 2, np.zeros(3, int),
                            np.ones((3, 30), bool)), epochs=1),              # no two equal steps: no runs
                 r"data sample 0 takes 121 words, a slot of the sample memory holds 64")]:
            with pytest.raises(ChipError, match=match):
                chip.train(**kwargs)
        assert win.read(R.mem_addr(R.Region.SAMPLE, 0), 16) == [0] * 16
        assert win.read(R.Reg.SAMPLE_CTRL, 1) == [0]
