"""The CLI's own help: every command shows examples, and the examples parse."""
import shlex
import subprocess
from pathlib import Path

import pytest

from gammacore.host.cli import COMMANDS, _module, build_parser

REPO = Path(__file__).resolve().parents[1]
GAMMACORE = REPO / ".venv" / "bin" / "gammacore"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_help_has_an_example(name):
    out = subprocess.run([str(GAMMACORE), name, "--help"], capture_output=True, text=True, check=True).stdout
    assert "example" in out
    assert f"gammacore {name} " in out.split("example", 1)[1], f"`gammacore {name} --help` shows no example of itself"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_example_parses(name):
    parser = build_parser()
    examples = _module(name).EXAMPLES
    assert examples
    for line in examples:
        argv = shlex.split(line, comments=True)
        assert argv[:2] == ["gammacore", name]
        args = parser.parse_args(argv[1:])
        assert args._command == name


def test_no_unused_help_constants():
    for name in COMMANDS:
        assert not hasattr(_module(name), "HELP"), f"gammacore.host.cmd_{name} still defines HELP (COMMANDS has it)"


def test_port_and_baud_are_defined_once():
    sources = {p.name: p.read_text() for p in (REPO / "host").glob("cmd_*.py")}
    for fname, text in sources.items():
        assert '"--port"' not in text and '"--baud"' not in text, f"host/{fname} defines --port/--baud itself"
    parser = build_parser()
    for name in ("run", "status", "demo", "train"):
        argv = [name] + (["x.json"] if name == "run" else ["coincidence"] if name == "demo" else
                         ["--task", "digits"] if name == "train" else [])
        args = parser.parse_args(argv + ["--port", "/dev/ttyUSB1", "--baud", "115200"])
        assert (args.port, args.baud) == ("/dev/ttyUSB1", 115200)


def test_bad_baud_is_a_clear_error():
    res = subprocess.run([str(GAMMACORE), "status", "--baud", "fast"], capture_output=True, text=True)
    assert res.returncode == 2
    assert "'fast'" in res.stderr and "baud" in res.stderr and "Traceback" not in res.stderr


def test_demo_full_refuses_a_subset():
    """--full is the whole task with the preset's epochs: with --limit or --epochs it is a
    clear error (exit 2, both values named) before any board starts."""
    res = subprocess.run([str(GAMMACORE), "demo", "coincidence", "--full", "--limit", "50"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2, res.stdout + res.stderr
    assert "--full" in res.stderr and "--limit 50" in res.stderr and "Traceback" not in res.stderr
    assert "chip 0x" not in res.stdout          # refused before a chip was opened


@pytest.mark.parametrize("argv, expected", [
    (["coincidence"], (2, 400)),                                       # the simulated board: a subset
    (["digits", "--port", "sim-netlist:ulx3s-85f"], (2, None)),       # all samples, 2 epochs
    (["coincidence", "--full"], (16, None)),                           # the whole task on it too
    (["coincidence", "--port", "/dev/ttyUSB1"], (16, None)),           # a real board: the whole task
    (["digits", "--port", "socket://board:7000"], (40, None)),
    (["digits", "--port", "/dev/ttyUSB1", "--limit", "50"], (40, 50)),
    (["coincidence", "--epochs", "3"], (3, 400)),
])
def test_demo_trains_the_whole_task_on_a_real_board(argv, expected):
    from gammacore.golden.presets import schedule
    from gammacore.host.cmd_demo import run_size
    args = build_parser().parse_args(["demo"] + argv)
    assert run_size(args) == expected
    assert schedule("coincidence").epochs == 16 and schedule("digits").epochs == 40
