"""``gammacore verify``: a random layer in an RTL simulator against the golden model."""
import json
import tempfile
import time
from pathlib import Path

from .cli import CliError

EXAMPLES = [
    "gammacore verify --sim verilator --steps 50",
    "gammacore verify --sim icarus --layers 3 --learn --mode async-priority --json verify.json",
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
                   help="run a random L-layer network on the whole chip (bus, network core, router) instead "
                        "of one layer on the layer core: hidden layers of --neurons, an output layer of --outputs")
    p.add_argument("--outputs", type=int, default=4, metavar="N", help="output neurons with --layers (default 4)")
    p.add_argument("--learn", action="store_true",
                   help="stream random errors and learn online on about half of the steps (whole chip; "
                        "implies --layers 2 unless given); every final weight is compared too")
    p.add_argument("--mode", default="sync", metavar="{sync,async-random,async-priority}",
                   help="execution mode of the whole chip (implies --layers 2 unless given): layer-synchronous, "
                        "or asynchronous with pending spikes dispatched in seeded-random or priority order; "
                        "every spike is compared in firing order (default sync)")
    p.add_argument("--json", metavar="PATH", help="write the report to this JSON file")


LIMITS = {"inputs": 2047, "neurons": 2047, "buckets": 16, "steps": 100000, "outputs": 2047}


def run(args):
    if args.sim not in ("icarus", "verilator", "amaranth"):
        raise CliError(f"unknown simulator {args.sim!r}; expected icarus, verilator or amaranth")
    for name, hi in LIMITS.items():
        v = getattr(args, name)
        if not 1 <= v <= hi:
            raise CliError(f"--{name} expects an integer in 1..{hi}, not {v}")
    if not 0 <= args.rate <= 1:
        raise CliError(f"--rate expects a probability in [0, 1], not {args.rate}")
    json_path = Path(args.json) if args.json else None
    if json_path is not None and not json_path.parent.is_dir():
        raise CliError(f"--json: directory {str(json_path.parent)!r} does not exist")

    from ..regmap import Mode
    try:
        Mode.from_label(args.mode)
    except ValueError as exc:
        raise CliError(f"--mode: {exc}") from None
    if (args.learn or args.mode != "sync") and args.layers is None:
        args.layers = 2
    if args.layers is not None:
        if not 1 <= args.layers <= 8:
            raise CliError(f"--layers expects an integer in 1..8, not {args.layers}")
        return _run_chip(args, json_path)

    from ..sim.layer_case import first_mismatch, make_case
    case = make_case(args.seed, args.inputs, args.neurons, args.buckets, args.steps, args.rate)
    start = time.perf_counter()
    if args.sim == "amaranth":
        from ..sim.amaranth_layer import run_amaranth
        observed = run_amaranth(case)
    else:
        from ..rtl.layer_core import LayerCore
        dut = LayerCore(args.inputs, args.neurons, args.buckets, W=case["W"], V=case["V"], b=case["b"])
        observed = _cocotb(args, dut, "layer_core", "gammacore.sim.tb_layer_core", case)
    wall = time.perf_counter() - start
    mismatch = first_mismatch(case, observed)
    report = {"match": mismatch is None, "first_mismatch": mismatch, "simulator": args.sim,
              "seed": args.seed, "inputs": args.inputs, "neurons": args.neurons, "buckets": args.buckets,
              "steps": args.steps, "events": sum(len(e) for e in case["events"]),
              "spikes": sum(len(s) for s in case["expected"]["spikes"]),
              "cycles": int(sum(observed["cycles"])), "cycles_per_step": observed["cycles"],
              "wall_seconds": wall}
    return _report(report, json_path)


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


def _report(report, json_path):
    for key in ("match", "first_mismatch", "simulator", "mode", "seed", "events", "spikes", "steps", "cycles",
                "learn_steps", "learn_cycles"):
        if key in report:
            print(f"{key:<15} {report[key]}")
    if json_path is not None:
        try:
            json_path.write_text(json.dumps(report, indent=2) + "\n")
        except OSError as exc:
            raise CliError(f"cannot write --json {str(json_path)!r}: {exc.strerror}") from None
    return 0 if report["match"] else 1


def _run_chip(args, json_path):
    from ..sim.amaranth_chip import first_net_mismatch, run_chip_amaranth
    from ..sim.net_case import case_json, make_net_case
    sizes = (args.inputs,) + (args.neurons,) * (args.layers - 1) + (args.outputs,)
    case = make_net_case(args.seed, sizes, args.buckets, args.steps, rate=args.rate,
                         p_learn=0.5 if args.learn else 0.0, mode=args.mode)
    start = time.perf_counter()
    if args.sim == "amaranth":
        observed = run_chip_amaranth(case)
    else:
        from ..rtl.chip import Chip
        observed = _cocotb(args, Chip(case["capacity"]), "chip", "gammacore.sim.tb_chip", case_json(case))
    wall = time.perf_counter() - start
    mismatch = first_net_mismatch(case, observed)
    report = {"match": mismatch is None, "first_mismatch": mismatch, "simulator": args.sim,
              "seed": args.seed, "sizes": list(sizes), "buckets": args.buckets, "layers": args.layers,
              "learn": args.learn, "mode": args.mode, "steps": args.steps,
              "events": sum(len(s["events"]) for s in case["steps"]),
              "spikes": sum(len(s["packets"]) for s in case["steps"]),
              "cycles": int(sum(observed["cycles"])), "cycles_per_step": observed["cycles"],
              "learn_steps": len(observed["learn_cycles"]), "learn_cycles": int(sum(observed["learn_cycles"])),
              "wall_seconds": wall}
    return _report(report, json_path)
