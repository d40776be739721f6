"""Shared helpers of the benchmark scripts: machine description and JSON output."""
import json
import os
import platform
import subprocess
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine():
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        commit = ""
    return {"python": platform.python_version(), "cpu_count": os.cpu_count(), "machine": platform.machine(),
            "commit": commit, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def write(name, data):
    """Write benchmarks/results/<name>.json and print it."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = dict(data, machine=machine())
    path.write_text(json.dumps(data, indent=2, default=float) + "\n")
    print(json.dumps(data, indent=2, default=float))
    print(f"wrote {path}")
    return path


def parse_seeds(text):
    """Seeds from the command line: "0-4", "0,2" or "0-2,5" -> (0, 1, 2, 5)."""
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    return tuple(out)
