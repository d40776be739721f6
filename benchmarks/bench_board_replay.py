"""Simulated board: the Verilated model's own speed, on a recorded session, build against build.

    .venv/bin/python benchmarks/bench_board_replay.py [--task coincidence] [--limit 10] [--rounds 5]

Records the bytes of a short on-chip demo on the simulated board (sim/board_harness.cpp with
$GAMMACORE_BOARD_RECORD: each host byte with the clock it started on rx, each byte the
design sent with its clock), then replays the recording without host or pty
(benchmarks/board_replay.cpp) on the board as built now and as built before issue 15's change
(``rtl=False``: the reset on the input pin, -O2, Verilator's tables), alternating the two
``--rounds`` times. Figures: each build's median cycles per second and the ratio; every
replay must send the recorded bytes at the recorded clocks (else the build changed what the
board does).
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from _common import write

from gammacore.host.demo import run_demo
from gammacore.host.session import SIM_DIVISOR, open_chip
from gammacore.sim.board import build

REPLAY = Path(__file__).with_name("board_replay.cpp")
VARIANTS = {"now": {}, "before": {"rtl": False}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="coincidence")
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    from amaranth.back import verilog

    from gammacore.rtl.soc import SIM_CAPACITY, SIM_LANES, SoC
    with tempfile.TemporaryDirectory() as tmp:
        recording = Path(tmp) / "session.txt"
        os.environ["GAMMACORE_BOARD_RECORD"] = str(recording)
        try:
            with open_chip("sim") as (chip, info):
                rep = run_demo(chip, args.task, args.epochs, args.limit, progress=False, log=lambda *a: None)
        finally:
            del os.environ["GAMMACORE_BOARD_RECORD"]
        text = verilog.convert(SoC(SIM_CAPACITY, divisor=SIM_DIVISOR, lanes=SIM_LANES), name="top")
        built = {name: build(text, harness=REPLAY, log=print, **kw) for name, kw in VARIANTS.items()}
        # two fresh copies of each: the same executable file ran up to 25 % slower or faster
        # than a byte-for-byte copy of it, steadily (where its pages lie in memory, presumably)
        binaries = []
        for name, exe in built.items():
            for copy in "ab":
                binaries.append((name, Path(tmp) / f"{name}-{copy}"))
                shutil.copy2(exe, binaries[-1][1])
        runs = {name: [] for name in VARIANTS}
        for _ in range(args.rounds):
            for name, exe in binaries:
                res = subprocess.run([str(exe), str(recording), "--divisor", str(SIM_DIVISOR)],
                                     capture_output=True, text=True)
                m = re.search(r"(\d+) cycles in ([\d.]+) s .* (\d+) differ", res.stdout)
                if res.returncode != 0 or not m:
                    raise SystemExit(f"{name}: the replay differs from the recording: {res.stdout}{res.stderr}")
                runs[name].append(int(m.group(1)) / float(m.group(2)))
                print(name, res.stdout.strip(), flush=True)
    out = {"task": args.task, "limit": args.limit, "epochs": args.epochs, "rounds": args.rounds,
           "demo_equal": [rep["accuracy_equal"], rep["weights_equal"]],
           "builds": {name: {"median_cycles_per_second": statistics.median(r), "cycles_per_second": r}
                      for name, r in runs.items()}}
    now, before = (statistics.median(r) for r in runs.values())
    out["ratio"] = now / before
    write("board_replay", {**out, "command": "python benchmarks/bench_board_replay.py "
                           f"--task {args.task} --limit {args.limit} --epochs {args.epochs} --rounds {args.rounds}"})


if __name__ == "__main__":
    main()
