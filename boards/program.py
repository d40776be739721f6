"""Loading a bitstream into a board with openFPGALoader, or iceprog for iCE40 boards.

The tool is ``$OPENFPGALOADER`` (or ``openFPGALoader`` on PATH); iCE40 boards fall back to
``$ICEPROG`` (or ``iceprog``). Bitstreams are loaded into the FPGA's SRAM (lost at power-off);
openFPGALoader writes the configuration flash with ``flash=True``.
"""
import os
import shutil
import subprocess

__all__ = ["ProgramError", "find_programmer", "program_command", "program"]

#: phrases of openFPGALoader / iceprog output that mean "no board attached"
NO_BOARD = ("no device found", "unable to open ftdi", "can't find iCE FTDI", "no cable",
            "usb_open() failed", "device not found", "jtag init failed", "failed to open")


class ProgramError(Exception):
    """No programmer tool, no board, or the tool failed."""


def find_programmer(board, env=None):
    """(kind, command) of the first programmer available for ``board``; ProgramError if none.

    kind is "openfpgaloader" or "iceprog".
    """
    env = os.environ if env is None else env
    candidates = [("openfpgaloader", "OPENFPGALOADER", "openFPGALoader")]
    if board.family == "ice40":
        candidates.append(("iceprog", "ICEPROG", "iceprog"))
    for kind, var, default in candidates:
        cmd = env.get(var) or default
        if shutil.which(cmd, path=env.get("PATH")):
            return kind, cmd
    names = " or ".join(default for _, _, default in candidates)
    raise ProgramError(f"no programmer found for {board.name}: install {names} (or point "
                       f"{' / '.join(var for _, var, _ in candidates)} at it)")


def program_command(board, kind, cmd, bitstream, *, flash=False):
    """Command line that loads ``bitstream`` into ``board`` with the programmer ``kind``."""
    if kind == "openfpgaloader":
        return [cmd, "-b", board.programmer, *(["-f"] if flash else []), str(bitstream)]
    if kind == "iceprog":
        return [cmd, *([] if flash else ["-S"]), str(bitstream)]
    raise ValueError(f"programmer kind must be 'openfpgaloader' or 'iceprog', not {kind!r}")


def program(board, bitstream, *, flash=False, env=None, timeout=300):
    """Load ``bitstream`` into ``board``; returns the tool's output, ProgramError on failure."""
    env = dict(os.environ if env is None else env)
    kind, cmd = find_programmer(board, env)
    argv = program_command(board, kind, cmd, bitstream, flash=flash)
    res = subprocess.run(argv, capture_output=True, text=True, errors="replace", env=env, timeout=timeout)
    output = res.stdout + res.stderr
    if res.returncode != 0:
        if any(p.lower() in output.lower() for p in NO_BOARD):
            raise ProgramError(f"no {board.name} board found by {cmd} (is it plugged in, and may "
                               f"this user access it?)")
        last = [l for l in output.splitlines() if l.strip()][-1:] or ["no output"]
        raise ProgramError(f"{cmd} failed (exit {res.returncode}): {last[0]}")
    return output
