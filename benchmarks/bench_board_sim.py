"""Simulated board: clock cycles per second, and the wall time of the on-chip demos.

    .venv/bin/python benchmarks/bench_board_sim.py [--digits-limit 200] [--digits-epochs 1]

The simulated board is the SoC (UART link + chip, capacity SIM_CAPACITY) Verilated with the
native harness of sim/board_harness.cpp behind a pty, driven through pyserial like a real
board (UART divisor 4). Figures:

- cycles per second with the link saturated (back-to-back 64-word READs), from the
  harness's own cycle count and wall time;
- the digits demo (and the default coincidence demo) on the board: chip wall time, steps
  per second, the board's cycles per second over the run, and that the chip's accuracy and
  weights equal the golden model's.
"""
import argparse
import re
import time

from _common import write

from gammacore import regmap as R
from gammacore.host.demo import run_demo
from gammacore.host.session import open_chip


def board_rate(stats):
    m = re.search(r"(\d+) cycles in ([\d.]+) s \((\d+) cycles/s\)", stats or "")
    return {"cycles": int(m.group(1)), "seconds": float(m.group(2)), "cycles_per_second": int(m.group(3))} if m else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--digits-limit", type=int, default=200)
    ap.add_argument("--digits-epochs", type=int, default=1)
    ap.add_argument("--coincidence-limit", type=int, default=400)
    ap.add_argument("--coincidence-epochs", type=int, default=2)
    args = ap.parse_args()
    out = {}
    with open_chip("sim") as (chip, info):
        cap = chip.capacity()
        # the bucket weights V: addressed directly, readable with no network loaded (a W
        # address is a weight only once a layer's descriptor holds it: refused before)
        n = min(1024, cap.neurons * cap.buckets)
        t0 = time.perf_counter()
        words = 0
        while time.perf_counter() - t0 < 10:
            words += len(chip.link.read(R.mem_addr(R.Region.V, 0), n))
        dt = time.perf_counter() - t0
        board = info["board"]
    out["saturated_link"] = {"words_read": words, "seconds": dt, "payload_bytes_per_second": 4 * words / dt,
                             "board": board_rate(board.stats)}
    print(out["saturated_link"], flush=True)
    for task, limit, epochs in (("digits", args.digits_limit, args.digits_epochs),
                                ("coincidence", args.coincidence_limit, args.coincidence_epochs)):
        with open_chip("sim") as (chip, info):
            rep = run_demo(chip, task, epochs, limit, progress=True)
            board = info["board"]
        row = {k: v for k, v in rep.items() if not k.startswith("_") and k != "counters"}
        row["board"] = board_rate(board.stats)
        out[f"{task}_demo"] = row
        print(task, row, flush=True)
    write("board_sim", {**out, "command": "python benchmarks/bench_board_sim.py"})


if __name__ == "__main__":
    main()
