"""``gammacore verify``: a random layer or network on the chip in an RTL simulator against the golden model."""
import json
import tempfile
import time
from pathlib import Path

from .cli import CliError

EXAMPLES = [
    "gammacore verify --sim verilator --steps 50",
    "gammacore verify --sim icarus --layers 3 --learn --mode async-priority --json verify.json",
    "gammacore verify --lanes 4 --layers 2 --neurons 10 --learn",
]


def add_arguments(p):
    p.add_argument("--sim", default="verilator", metavar="{icarus,verilator,amaranth}",
                   help="simulator: Verilator or Icarus through cocotb, or amaranth.sim (default verilator)")
    p.add_argument("--inputs", type=int, default=8, metavar="N", help="input channels (default 8)")
    p.add_argument("--neurons", type=int, default=16, metavar="N", help="neurons (default 16)")
    p.add_argument("--buckets", type=int, default=4, metavar="K", help="gamma buckets per neuron (default 4)")
    p.add_argument("--steps", type=int, default=20, metavar="T", help="time steps (default 20)")
    p.add_argument("--rate", type=float, default=0.5, help="probability of an event per input and step (default 0.5)")
    p.add_argument("--seed", type=int, default=1, help="seed of the layer, the inputs and the stalls")
    p.add_argument("--layers", type=int, metavar="L",
                   help="run a random L-layer network (hidden layers of --neurons, a linear output layer of "
                        "--outputs) instead of one layer of --neurons with an encoder; both on the whole chip "
                        "(bus, network core, router)")
    p.add_argument("--outputs", type=int, default=4, metavar="N", help="output neurons with --layers (default 4)")
    p.add_argument("--learn", action="store_true",
                   help="stream random errors and learn online on about half of the steps (whole chip; "
                        "implies --layers 2 unless given); every final weight is compared too")
    p.add_argument("--mode", default="sync", metavar="{sync,async-random,async-priority}",
                   help="execution mode of the whole chip (implies --layers 2 unless given): layer-synchronous, "
                        "or asynchronous with pending spikes dispatched in seeded-random or priority order; "
                        "every spike is compared in firing order (default sync)")
    p.add_argument("--lanes", type=int, metavar="P",
                   help="lanes of the chip's network core (neurons per clock, P >= 1, default 1; with "
                        "--netlist: the board build's, which must equal it if given)")
    p.add_argument("--netlist", metavar="BOARD",
                   help="run on the gate-level board instead: BOARD's default build as yosys maps it (the "
                        "netlist nextpnr places), with the vendor cell models, driven through its UART pins by "
                        "the host driver; the PLL has no model, the core is clocked directly. Also runs the "
                        "same case on the RTL of that build and checks the clocks of every step are equal")
    p.add_argument("--json", metavar="PATH", help="write the report to this JSON file")


LIMITS = {"inputs": 2047, "neurons": 2047, "buckets": 16, "steps": 100000, "outputs": 2047}
MAX_LANES = 64


def run(args):
    if args.sim not in ("icarus", "verilator", "amaranth"):
        raise CliError(f"unknown simulator {args.sim!r}; expected icarus, verilator or amaranth")
    for name, hi in LIMITS.items():
        v = getattr(args, name)
        if not 1 <= v <= hi:
            raise CliError(f"--{name} expects an integer in 1..{hi}, not {v}")
    if not 0 <= args.rate <= 1:
        raise CliError(f"--rate expects a probability in [0, 1], not {args.rate}")
    args.lanes = getattr(args, "lanes", None)    # (callers that build their own Namespace may omit it)
    if args.lanes is not None:
        from ..rtl.net_memories import check_lanes
        try:
            check_lanes(args.lanes)
        except ValueError as exc:
            raise CliError(f"--lanes: {exc}") from None
        if args.lanes > MAX_LANES:
            raise CliError(f"--lanes expects at most {MAX_LANES}, not {args.lanes}")
    json_path = Path(args.json) if args.json else None
    if json_path is not None and not json_path.parent.is_dir():
        raise CliError(f"--json: directory {str(json_path.parent)!r} does not exist")

    from ..regmap import Mode
    try:
        Mode.from_label(args.mode)
    except ValueError as exc:
        raise CliError(f"--mode: {exc}") from None
    netlist = getattr(args, "netlist", None)    # (callers that build their own Namespace may omit it)
    if (args.learn or args.mode != "sync" or netlist) and args.layers is None:
        args.layers = 2
    if netlist:
        return _run_netlist(args, json_path)
    if args.layers is not None:
        if not 1 <= args.layers <= 8:
            raise CliError(f"--layers expects an integer in 1..8, not {args.layers}")
        return _run_chip(args, json_path)

    # one layer of --inputs x --neurons with a sigma-delta encoder (every spike compared) on
    # the network core of the whole chip
    return _run_chip(args, json_path, single=True)


def _cocotb(args, dut, name, tb_module, case_data):
    """Export ``dut``, run the cocotb bench on it with the case, return what it observed."""
    from ..sim import runner
    with tempfile.TemporaryDirectory(prefix="gammacore-verify-") as tmp:
        tmp = Path(tmp)
        (tmp / "case.json").write_text(json.dumps(case_data))
        v = runner.export(dut, name, tmp / f"{name}.v")
        log = tmp / "simulator.log"
        try:
            runner.run(args.sim, v, name, tb_module, tmp / "build",
                       extra_env={"GAMMACORE_CASE": str(tmp / "case.json"),
                                  "GAMMACORE_OUT": str(tmp / "observed.json")}, seed=args.seed, log_file=log)
        except Exception as exc:
            if not (tmp / "observed.json").exists():
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                raise CliError(f"the {args.sim} simulation did not complete: {exc}\n{tail}") from None
        return json.loads((tmp / "observed.json").read_text())


def _case_figures(args, sizes, case, observed, lanes):
    """The report fields of a network case and what the simulation observed on it."""
    return {"seed": args.seed, "sizes": list(sizes), "buckets": args.buckets, "layers": args.layers, "lanes": lanes,
            "learn": args.learn, "mode": args.mode, "steps": args.steps,
            "events": sum(len(s["events"]) for s in case["steps"]),
            "spikes": sum(len(s["packets"]) for s in case["steps"]),
            "cycles": int(sum(observed["cycles"])), "cycles_per_step": observed["cycles"],
            "learn_steps": len(observed["learn_cycles"]), "learn_cycles": int(sum(observed["learn_cycles"]))}


def _report(report, json_path):
    for key in ("match", "first_mismatch", "simulator", "mode", "lanes", "seed", "events", "spikes", "steps", "cycles",
                "learn_steps", "learn_cycles"):
        if key in report:
            print(f"{key:<15} {report[key]}")
    if json_path is not None:
        try:
            json_path.write_text(json.dumps(report, indent=2) + "\n")
        except OSError as exc:
            raise CliError(f"cannot write --json {str(json_path)!r}: {exc.strerror}") from None
    return 0 if report["match"] else 1


def _run_chip(args, json_path, single=False):
    """A random network case on the chip; ``single``: one layer of --inputs x --neurons whose
    encoder sends its spikes to the host (the default case of ``verify``)."""
    from ..sim.amaranth_chip import first_net_mismatch, run_chip_amaranth
    from ..sim.net_case import case_json, make_net_case
    if single:
        args.layers = 1
        sizes = (args.inputs, args.neurons)
    else:
        sizes = (args.inputs,) + (args.neurons,) * (args.layers - 1) + (args.outputs,)
    case = make_net_case(args.seed, sizes, args.buckets, args.steps, rate=args.rate,
                         p_learn=0.5 if args.learn else 0.0, mode=args.mode, out_encoder=single)
    lanes = args.lanes or 1
    start = time.perf_counter()
    if args.sim == "amaranth":
        observed = run_chip_amaranth(case, lanes=lanes)
    else:
        from ..rtl.chip import Chip
        observed = _cocotb(args, Chip(case["capacity"], lanes=lanes), "chip", "gammacore.sim.tb_chip",
                           case_json(case))
    wall = time.perf_counter() - start
    mismatch = first_net_mismatch(case, observed)
    report = {"match": mismatch is None, "first_mismatch": mismatch, "simulator": args.sim,
              **_case_figures(args, sizes, case, observed, lanes), "wall_seconds": wall}
    if single:
        report.update(inputs=args.inputs, neurons=args.neurons)
    return _report(report, json_path)


def _run_netlist(args, json_path):
    """The gate-level board of ``args.netlist`` against golden, and its clocks against the RTL's."""
    import sys

    from ..boards.table import board as lookup
    from ..sim.board import SimulatedBoard
    from ..sim.board_case import first_mismatch, run_on_chip
    from ..sim.net_case import make_net_case
    from ..sim.netlist import NetlistBoard, RtlBoard
    from .driver import Chip
    from .link import Link
    from .session import NETLIST_TIMEOUT
    from .transport import open_transport
    b = lookup(args.netlist)
    opts = b.options
    if args.learn and not opts.get("learning", True):
        raise CliError(f"--learn: the {b.name} build is inference-only (learning=False)")
    if args.mode != "sync" and not opts.get("async_modes", True):
        raise CliError(f"--mode {args.mode}: the {b.name} build is sync-only (async_modes=False)")
    if args.layers > b.size.layers:
        raise CliError(f"--layers {args.layers}: the {b.name} build has {b.size.layers} layers")
    if args.buckets != b.size.buckets:
        raise CliError(f"--buckets {args.buckets}: the {b.name} build has K = {b.size.buckets}")
    lanes = opts.get("lanes", 1)
    if args.lanes not in (None, lanes):
        raise CliError(f"--lanes {args.lanes}: the {b.name} build has {lanes} lane{'s' * (lanes > 1)} "
                       f"(the netlist is its default build; leave --lanes out)")
    sizes = (args.inputs,) + (args.neurons,) * (args.layers - 1) + (args.outputs,)
    if max(sizes) > max(b.size.inputs, b.size.neurons) or sizes[0] > b.size.inputs or \
            max(sizes[1:]) > b.size.neurons:
        raise CliError(f"layer sizes {sizes} do not fit the {b.name} build ({b.size.inputs} inputs, "
                       f"{b.size.neurons} neurons per layer)")
    case = make_net_case(args.seed, sizes, args.buckets, args.steps, rate=args.rate,
                         p_learn=0.5 if args.learn else 0.0, mode=args.mode)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)
    try:
        gate, rtl = NetlistBoard(b, log=log), RtlBoard(b, log=log)
    except RuntimeError as exc:
        raise CliError(str(exc)) from None
    runs = {}
    for name, sim in (("netlist", gate), ("rtl", rtl)):
        start = time.perf_counter()
        with SimulatedBoard(sim.binary, sim.divisor) as board:
            transport = open_transport(board.port)
            try:
                obs = run_on_chip(Chip(Link(transport, timeout=NETLIST_TIMEOUT), poll_timeout=NETLIST_TIMEOUT), case)
            finally:
                transport.close()
        wall = time.perf_counter() - start
        import re
        m = re.match(r"board: (\d+) cycles in ([\d.]+) s \((\d+) cycles/s\)", board.stats or "")
        if m is None:
            raise CliError(f"the {name} board did not report its statistics: {board.stats!r}")
        runs[name] = {"obs": obs, "wall_seconds": wall, "board_cycles": int(m.group(1)),
                      "cycles_per_second": int(m.group(3)), "harness": board.stats,
                      "model_errors": board.model_errors, "model_notes": board.model_notes}
    obs = runs["netlist"]["obs"]
    mismatch = first_mismatch(case, obs)
    model_errors = runs["netlist"]["model_errors"] + runs["rtl"]["model_errors"]
    if mismatch is None and model_errors:
        mismatch = f"the cell models reported what the device leaves undefined: {model_errors[0]}"
    same_clocks = (obs["cycles"], obs["learn_cycles"]) == (runs["rtl"]["obs"]["cycles"], runs["rtl"]["obs"]["learn_cycles"])
    if mismatch is None and not same_clocks:
        mismatch = (f"clocks per step differ from the RTL's: netlist {obs['cycles']} / learning {obs['learn_cycles']}, "
                    f"RTL {runs['rtl']['obs']['cycles']} / {runs['rtl']['obs']['learn_cycles']}")
    rtl_mismatch = first_mismatch(case, runs["rtl"]["obs"])
    net = gate.net
    report = {"match": mismatch is None, "first_mismatch": mismatch, "simulator": "verilator (gate level)",
              "netlist": args.netlist, "netlist_path": str(net["netlist"]), "cells": net["cells"],
              "clock_mhz": net["clk_freq"] / 1e6, "uart_divisor": net["divisor"],
              "pll": "not modelled: the core clock is driven directly",
              **_case_figures(args, sizes, case, obs, lanes),
              "same_clocks_as_rtl": same_clocks, "rtl_match": rtl_mismatch is None,
              "model_errors": model_errors, "model_notes": runs["netlist"]["model_notes"],
              "netlist_board_cycles": runs["netlist"]["board_cycles"],
              "netlist_cycles_per_second": runs["netlist"]["cycles_per_second"],
              "rtl_cycles_per_second": runs["rtl"]["cycles_per_second"],
              "wall_seconds": runs["netlist"]["wall_seconds"], "rtl_wall_seconds": runs["rtl"]["wall_seconds"]}
    print(f"{'netlist':<15} {args.netlist} ({net['netlist']}), PLL not modelled: core clocked directly")
    print(f"{'same_clocks':<15} {same_clocks} (netlist vs RTL, every step and learning pass)")
    notes = runs["netlist"]["model_notes"]
    if notes:
        print(f"{'block RAMs':<15} {len(notes)} read a word the other port wrote in that clock (undefined on the "
              f"device; the model gave them random words{', and every result above still matched' * (mismatch is None)})")
    print(f"{'speed':<15} netlist {report['netlist_cycles_per_second']:.0f} cycles/s, "
          f"RTL {report['rtl_cycles_per_second']:.0f} cycles/s (board cycles / wall seconds of the run)")
    return _report(report, json_path)
