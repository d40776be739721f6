"""Boards: utilisation, Fmax and synaptic event rate per board, and the largest layer that fits.

    .venv/bin/python benchmarks/bench_boards.py [--boards icebreaker ulx3s-12f ...] [--sizes 64 128 256]

For every board the design is built with ``gammacore.boards.flow.build`` (yosys + nextpnr,
YoWASP) at the board's default core clock, for square layers (inputs = neurons = n, K = 4)
of growing n until one does not fit; the last that fits is the board's largest layer. The
layer core does one multiply-accumulate per clock (one lane), so its peak synaptic event rate
is the clock; the device's limit is its hard multipliers times the achieved Fmax. The
iCEBreaker is also built with the MAC lane alone (``probe-mac``) since the whole layer core
does not fit the UP5K (see the JSON's ``error``).
"""
import argparse
import time

from _common import write

from gammacore.boards.flow import BuildFailed, build
from gammacore.boards.table import BOARDS, Size

SIZES = [32, 64, 128, 256, 512]


def one(b, design, size, out):
    t0 = time.monotonic()
    row = {"board": b.name, "device": b.device, "design": design, "inputs": size.inputs,
           "neurons": size.neurons, "buckets": size.buckets, "synapses": size.synapses}
    try:
        r = build(b, design, size, out=out, progress=lambda phase: print(f"  {b.name} {design} n={size.neurons}: {phase}", flush=True))
    except BuildFailed as exc:
        row.update(fits=False, error=str(exc), seconds=time.monotonic() - t0)
        print(f"  -> does not fit: {exc}", flush=True)
        return row
    clock = r["clock_mhz"] * 1e6
    row.update(
        fits=True, resources=r["resources"], clock_mhz=r["clock_mhz"], fmax_mhz=r["fmax_mhz"],
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--boards", nargs="+", default=list(BOARDS), choices=list(BOARDS))
    ap.add_argument("--sizes", nargs="+", type=int, default=SIZES, help="n of the square layers tried")
    ap.add_argument("--out", default="build/bench_boards", help="build directories")
    args = ap.parse_args()
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
