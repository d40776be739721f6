"""Packaging: one distribution, import root gammacore, a console script that explains itself."""
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GAMMACORE = REPO / ".venv" / "bin" / "gammacore"


@pytest.mark.parametrize("name", ["golden", "rtl", "sim", "boards", "host"])
def test_subpackages_live_under_gammacore_only(name, tmp_path):
    ok = subprocess.run([sys.executable, "-c", f"import gammacore.{name}"], cwd=tmp_path)
    assert ok.returncode == 0
    bare = subprocess.run([sys.executable, "-c", f"import {name}"], cwd=tmp_path, capture_output=True)
    assert bare.returncode != 0, f"a top-level package {name!r} is importable outside the repository"


def test_cli_help_lists_commands():
    from gammacore.host.cli import COMMANDS
    out = subprocess.run([str(GAMMACORE), "--help"], capture_output=True, text=True, check=True).stdout
    for name in COMMANDS:
        assert name in out


def test_cli_unknown_command_is_a_clear_error():
    res = subprocess.run([str(GAMMACORE), "no-such-command"], capture_output=True, text=True)
    assert res.returncode == 2
    assert "no-such-command" in res.stderr and "Traceback" not in res.stderr
