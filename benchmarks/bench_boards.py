"""Boards: utilisation, Fmax and synaptic event rate per board, and the largest layer that fits.

    .venv/bin/python benchmarks/bench_boards.py [--boards icebreaker ulx3s-12f ...] [--sizes 64 128 256]
    .venv/bin/python benchmarks/bench_boards.py --soc [--boards ...] [--soc-sizes 16 32 64] [--clock MHZ]

For every board the design is built with ``gammacore.boards.flow.build`` (yosys + nextpnr,
YoWASP) at the board's default core clock, for square layers (inputs = neurons = n, K = 4)
of growing n until one does not fit; the last that fits is the board's largest layer. The
layer core does one multiply-accumulate per clock (one lane), so its peak synaptic event rate
is the clock; the device's limit is its hard multipliers times the achieved Fmax. The
iCEBreaker is also built with the MAC lane alone (``probe-mac``) since the whole layer core
does not fit the UP5K (see the JSON's ``error``).

``--soc`` searches the whole chip instead (``soc``: UART link, network core, router, with
the board's chip options, e.g. inference-only on the iCEBreaker): two layers of n x n, K = 4,
n growing through ``--soc-sizes`` until a build does not fit, misses timing or is stopped
(``--timeout`` per tool, 25 minutes by default), at the board's core clock (or ``--clock``).
Every attempt keeps nextpnr's whole utilisation table; the iCEBreaker's first attempt also
keeps the cells per module (:func:`gammacore.boards.flow.module_stats`). Writes
``boards_soc.json`` (updating the entries of the boards searched, keeping the others).
"""
import argparse
import json
import re
import time
from pathlib import Path

from _common import RESULTS, write

from gammacore.boards.flow import BuildFailed, build, module_stats
from gammacore.boards.table import BOARDS, Size

SIZES = [32, 64, 128, 256, 512]
SOC_SIZES = [16, 32, 64, 96, 128, 192]


def utilisation(log_text):
    """Every line of nextpnr's utilisation table: {cell: [used, available]}."""
    return {cell: [int(used), int(avail)] for cell, used, avail in
            re.findall(r"Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", log_text)}


def one(b, design, size, out, clock=None, options=None, timeout=None):
    t0 = time.monotonic()
    row = {"board": b.name, "device": b.device, "design": design, "layers": size.layers, "inputs": size.inputs,
           "neurons": size.neurons, "buckets": size.buckets, "synapses": size.synapses}
    try:
        r = build(b, design, size, out=out, clock=clock, options=options, timeout=timeout,
                  progress=lambda phase: print(f"  {b.name} {design} n={size.neurons}: {phase}", flush=True))
    except BuildFailed as exc:
        row.update(fits=False, error=str(exc), seconds=time.monotonic() - t0)
        log = Path(out) / "nextpnr.log"
        if log.exists():
            row["utilisation"] = utilisation(log.read_text(errors="replace"))
        print(f"  -> does not fit: {exc}", flush=True)
        return row
    clock = r["clock_mhz"] * 1e6
    row.update(
        fits=True, options=r["options"], resources=r["resources"], clock_mhz=r["clock_mhz"], fmax_mhz=r["fmax_mhz"],
        constraint_mhz=r["constraint_mhz"], timing_met=r["timing_met"],
        events_per_s=clock * 1,  # one MAC per clock, one lane
        events_per_s_at_fmax=r["fmax_mhz"] * 1e6,
        device_limit_per_s=b.multipliers * r["fmax_mhz"] * 1e6, multipliers=b.multipliers,
        seconds=time.monotonic() - t0,
    )
    row["fraction_of_limit"] = row["events_per_s"] / row["device_limit_per_s"]
    print(f"  -> fits: Fmax {r['fmax_mhz']:.2f} MHz (constraint {r['constraint_mhz']:.2f}), "
          f"{row['events_per_s'] / 1e6:.1f} M events/s of {row['device_limit_per_s'] / 1e6:.0f} M", flush=True)
    return row


def search(b, design, sizes, buckets, out):
    rows = []
    for n in sizes:
        row = one(b, design, Size(1, n, n, buckets), f"{out}/{b.name}-{design}-{n}")
        rows.append(row)
        if not row["fits"]:
            break
    fit = [r for r in rows if r["fits"] and r["timing_met"]]
    return rows, (fit[-1] if fit else None)


def soc_search(b, sizes, clock, out, timeout, options=None, modules=False):
    """The whole chip, two layers of n x n, K = 4, n growing until a build fails or misses timing."""
    rows = []
    for n in sizes:
        where = f"{out}/{b.name}-soc-{n}"
        row = one(b, "soc", Size(2, n, n, 4), where, clock=clock, options=options, timeout=timeout)
        if modules and not rows:
            row["modules"] = module_stats(b, where, timeout)
        rows.append(row)
        if not row["fits"] or not row["timing_met"]:
            break
    fit = [r for r in rows if r["fits"] and r["timing_met"]]
    return rows, (fit[-1] if fit else None)


def main_soc(args):
    # boards searched by earlier runs are kept (one board per run: the searches are long)
    previous = RESULTS / "boards_soc.json"
    boards = json.loads(previous.read_text())["boards"] if previous.exists() else {}
    for name in args.boards:
        b = BOARDS[name]
        clock = b.core_clock if args.clock is None else args.clock * 1e6
        print(f"{name}: soc at {clock / 1e6:g} MHz, options {b.options}", flush=True)
        rows, best = soc_search(b, args.soc_sizes, clock, args.out, args.timeout, modules=b.family == "ice40")
        entry = {"device": b.device, "multipliers": b.multipliers, "core_clock_mhz": clock / 1e6,
                 "options": b.options, "attempts": rows, "largest": best}
        if b.family == "ice40":
            # the same chip with the default options, for comparison
            rows, _ = soc_search(b, args.soc_sizes[:1], clock, args.out + "/default-options", args.timeout,
                                 options={}, modules=True)
            entry["default_options"] = rows
        boards[name] = entry
    write("boards_soc", {
        "what": "whole chip (soc: UART link, network core, router; the board's chip options) of two layers "
                "n x n, K = 4, per board, n growing until a build does not fit or misses timing; events/s = "
                "core clock (one MAC per clock); device limit = multipliers x Fmax",
        "sizes": args.soc_sizes, "timeout_s": args.timeout, "boards": boards,
    })


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", nargs="+", default=list(BOARDS), choices=list(BOARDS))
    ap.add_argument("--sizes", nargs="+", type=int, default=SIZES, help="n of the square layers tried")
    ap.add_argument("--soc", action="store_true", help="search the whole chip's size (boards_soc.json)")
    ap.add_argument("--soc-sizes", nargs="+", type=int, default=SOC_SIZES, help="n of the soc's two layers tried")
    ap.add_argument("--clock", type=float, metavar="MHZ", help="soc core clock (default: the board's)")
    ap.add_argument("--timeout", type=float, default=1500, help="seconds each tool may run (soc search)")
    ap.add_argument("--out", default="build/bench_boards", help="build directories")
    args = ap.parse_args()
    if args.soc:
        return main_soc(args)
    boards = {}
    for name in args.boards:
        b = BOARDS[name]
        print(f"{name}: core clock {b.core_clock / 1e6:g} MHz", flush=True)
        entry = {"device": b.device, "multipliers": b.multipliers, "core_clock_mhz": b.core_clock / 1e6}
        rows, best = search(b, "probe", args.sizes, 4, args.out)
        entry["layer_core"] = {"attempts": rows, "largest": best}
        if b.family == "ice40":
            rows, best = search(b, "probe-mac", args.sizes, 4, args.out)
            entry["mac_lane"] = {"attempts": rows, "largest": best}
        boards[name] = entry
    write("boards", {
        "what": "square layers (inputs = neurons = n, K = 4) built per board until one does not fit; "
                "events/s = core clock (one MAC per clock, one lane); device limit = multipliers x Fmax",
        "sizes": args.sizes, "boards": boards,
    })


if __name__ == "__main__":
    main()
