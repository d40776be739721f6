"""``gammacore build``: synthesise, place and route a design for a board; report size and Fmax.

Exit status 0 when the bitstream is written and timing is met, 1 when the design does not fit
or misses timing (the message says which), 2 on bad input.
"""
import argparse
import json
import sys
import time
from pathlib import Path

from .cli import CliError, add_baud

EXAMPLES = [
    "gammacore build --board icebreaker",
    "gammacore build --board ulx3s-85f --layers 2 --inputs 64 --neurons 64 --clock 25 --json build.json",
]

LIMITS = {"layers": 64, "inputs": 65536, "neurons": 65536, "buckets": 16}


def add_arguments(p):
    from ..boards.flow import DESIGNS
    from ..boards.table import BOARDS
    p.add_argument("--board", required=True, metavar="{" + ",".join(BOARDS) + "}", help="target board")
    p.add_argument("--design", metavar="{" + ",".join(DESIGNS) + "}",
                   help="soc: the chip with its UART (default once it exists); probe-chip: the chip "
                        "without UART, probe: the network core with one layer, probe-mac: the same, "
                        "inference-only and sync-only (the MAC lane), each behind a scan chain")
    for name, what in (("layers", "layers"), ("inputs", "inputs of the first layer"),
                       ("neurons", "neurons per layer"), ("buckets", "gamma buckets K")):
        p.add_argument(f"--{name}", type=int, metavar="N",
                       help=f"{what} (default: the board's" + ("; 1 for probe and probe-mac)" if name == "layers" else ")"))
    p.add_argument("--pow2", action="store_true",
                   help="power-of-two bucket rates: the bucket pass shifts instead of multiplying (fewer DSPs)")
    p.add_argument("--learning", action=argparse.BooleanOptionalAction, default=None,
                   help="soc/probe-chip: with the learning unit, or an inference-only chip that refuses "
                        "LEARN (default: the board's)")
    p.add_argument("--serial-encoder", action=argparse.BooleanOptionalAction, default=None,
                   help="soc/probe-chip: the encoder for few logic cells, one neuron per 10 clocks (3 multipliers) "
                        "(default: the board's)")
    p.add_argument("--async-modes", action=argparse.BooleanOptionalAction, default=None,
                   help="soc/probe-chip: with the asynchronous modes (MODE async-random, async-priority), "
                        "or a sync-only chip (default: the board's)")
    p.add_argument("--counters", action=argparse.BooleanOptionalAction, default=None,
                   help="soc/probe-chip: with the statistics counters (events in, refused, unrouted, to next, "
                        "to host, the link's), or a lean chip where they read 0 (default: the board's)")
    p.add_argument("--samples", action=argparse.BooleanOptionalAction, default=None,
                   help="soc/probe-chip: with the sample sequencer (whole samples on chip: the sample memory "
                        "and the loss unit) (default: the board's; on for the ULX3S 45F/85F)")
    p.add_argument("--lanes", type=int, metavar="P", default=None,
                   help="soc/probe-chip: lanes of the network core (P >= 1): P multiply-accumulates per "
                        "clock in the event fan-out (default: the board's: 2 on the ULX3S 85F, 1 elsewhere)")
    add_baud(p, default=None, help="UART baud rate of the soc design (default: the host's, 3000000); refused "
                                   "when the core clock over an integer divisor misses it by more than 2 %%")
    p.add_argument("--clock", type=float, metavar="MHZ", help="core clock target in MHz (default: the board's)")
    p.add_argument("--out", metavar="DIR", help="build directory (default build/<board>-<design>)")
    p.add_argument("--json", metavar="PATH", help="write the report to this JSON file")
    p.add_argument("--seed", type=int, default=None,
                   help="nextpnr placement seed (default: the board's: 3 on the ULX3S 85F, 1 elsewhere)")


def _table(r):
    lines = [f"board      {r['board']} ({r['device']} {r['package']})",
             f"design     {r['design']}  layers={r['size']['layers']} inputs={r['size']['inputs']} "
             f"neurons={r['size']['neurons']} buckets={r['size']['buckets']} synapses={r['synapses']}"
             + (" pow2" if r["pow2"] else "")
             + "".join(f" {k.replace('_', '-')}={v if k == 'lanes' else 'on' if v else 'off'}"
                     for k, v in r.get("options", {}).items())]
    for key, label in (("lut", "LUT"), ("ff", "FF"), ("dsp", "DSP"), ("bram", "BRAM"), ("spram", "SPRAM")):
        u = r["resources"].get(key)
        if u is not None:
            lines.append(f"{label:<10} {u['used']:>7} / {u['available']:<7} {100 * u['used'] / u['available']:5.1f}%")
    lines.append(f"clock      {r['constraint_mhz']:.2f} MHz constraint (PLL {r['clock_mhz']:.3f} MHz), "
                 f"Fmax {r['fmax_mhz']:.2f} MHz - {'met' if r['timing_met'] else 'NOT MET'} (nextpnr seed {r['seed']})")
    if r.get("uart_baud") is not None:
        lines.append(f"UART       {r['uart_baud']:.0f} baud ({r['uart_divisor']} clocks per bit); the host opens "
                     f"{r['host_baud']} baud ({100 * (r['uart_baud'] / r['host_baud'] - 1):+.1f} %)")
    lines.append(f"bitstream  {r['bitstream']}")
    return "\n".join(lines)


def run(args):
    from ..boards.flow import CHIP_OPTIONS, DESIGNS, SINGLE_LAYER, BuildFailed, build, default_design
    from ..boards.table import Size, board as lookup
    b = lookup(args.board)
    design = args.design or default_design()
    if design not in DESIGNS:
        raise CliError(f"unknown design {design!r}; expected one of {', '.join(DESIGNS)}")
    fields = {}
    for name, hi in LIMITS.items():
        v = getattr(args, name)
        if v is not None and not 1 <= v <= hi:
            raise CliError(f"--{name} expects an integer in 1..{hi}, not {v}")
        if v is None:
            v = 1 if name == "layers" and design in SINGLE_LAYER else getattr(b.size, name)
        fields[name] = v
    size = Size(**fields)
    try:
        size.capacity()             # a capacity the chip's formats cannot address: refused before synthesis
    except ValueError as exc:
        raise CliError(f"the size {size.layers} x {size.inputs} -> {size.neurons} (K = {size.buckets}): {exc}") from None
    if args.lanes is not None:
        from ..rtl.net_memories import check_lanes
        try:
            check_lanes(args.lanes)
        except ValueError as exc:
            raise CliError(f"--lanes: {exc}") from None
    options = dict(b.options)
    for name in CHIP_OPTIONS:
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    if args.lanes is not None and (refused := b.lanes_refused(design, size, options)):
        # more lanes than the board holds: refused here, not after minutes of synthesis
        raise CliError(f"--lanes {args.lanes}: {refused}")
    if args.clock is not None and not args.clock > 0:
        raise CliError(f"--clock expects a frequency in MHz > 0, not {args.clock}")
    clock = b.core_clock if args.clock is None else args.clock * 1e6
    baud = b.host_baud if args.baud is None else args.baud
    if not 1200 <= baud <= clock / 4:
        raise CliError(f"--baud expects 1200..{clock / 4:.0f} (a quarter of the core clock), not {baud}")
    if design == "soc":
        from ..boards.flow import uart_divisor
        from ..boards.top import pll_params
        try:
            uart_divisor(pll_params(b, clock).f_out, baud)
        except ValueError as exc:
            raise CliError(f"{exc}" + ("" if args.baud is None else f" (--baud {args.baud})")) from None
    json_path = Path(args.json) if args.json else None
    if json_path is not None and not json_path.parent.is_dir():
        raise CliError(f"--json: directory {str(json_path.parent)!r} does not exist")

    t0 = time.monotonic()

    def progress(phase):
        print(f"[{time.monotonic() - t0:7.1f} s] {phase}", file=sys.stderr, flush=True)

    try:
        report = build(b, design, size, clock=clock, out=args.out, seed=args.seed, pow2=args.pow2,
                       baud=baud, options=options, progress=progress)
    except BuildFailed as exc:
        print(f"gammacore build: {exc}", file=sys.stderr)
        if json_path is not None:
            json_path.write_text(json.dumps({"board": b.name, "design": design, "size": fields,
                                             "error": str(exc)}, indent=1) + "\n")
        return 1
    print(_table(report))
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=1) + "\n")
    if not report["timing_met"]:
        print(f"gammacore build: timing not met: Fmax {report['fmax_mhz']:.2f} MHz < "
              f"{report['constraint_mhz']:.2f} MHz; lower --clock or the size", file=sys.stderr)
        return 1
    return 0
