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
