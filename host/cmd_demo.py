"""``gammacore demo``: on-chip online learning of a reference task, checked against the golden model."""
import json
from pathlib import Path

from .cli import CliError, add_baud, add_port

EXAMPLES = [
    "gammacore demo coincidence --plots demo-plots --json demo.json",
    "gammacore demo digits --limit 100 --port /dev/ttyUSB1 --baud 115200",
    "gammacore demo coincidence --port sim --limit 50 --host-errors",
    "gammacore demo coincidence --full --json demo-full.json",
]

#: the simulated board's defaults (a subset: its speed bounds the run); a real board trains the
#: whole task with the golden preset's epochs by default
SIM_DEFAULTS = {"coincidence": {"epochs": 2, "limit": 400}, "digits": {"epochs": 2, "limit": None}}


def add_arguments(p):
    p.add_argument("task", choices=sorted(SIM_DEFAULTS), help="reference task")
    add_port(p)
    add_baud(p)
    p.add_argument("--epochs", type=int,
                   help="training epochs (default: the golden preset's, coincidence 16, digits 40, on a real board; "
                        "coincidence 2, digits 2 on the simulated board)")
    p.add_argument("--limit", type=int,
                   help="train and test samples taken from the task (default: all, but coincidence 400 on the "
                        "simulated board, whose speed bounds the run; the golden model runs the same subset)")
    p.add_argument("--full", action="store_true",
                   help="the whole task with the golden preset's schedule on any board, the simulated one too "
                        "(coincidence: 16 epochs of all 1,000 train samples, tested on all 400 after each; digits: "
                        "40 epochs of 1,438, tested on 359); on the simulated board the coincidence run took 20 "
                        "minutes here on a quiet machine")
    p.add_argument("--seed", type=int, default=0, help="seed of the task split, weights and sample order")
    p.add_argument("--json", metavar="PATH", help="write the report to this JSON file")
    p.add_argument("--plots", metavar="DIR", help="write spike rasters, bucket traces, learning curve and "
                                                  "learned bucket weights (PNG) to DIR")
    p.add_argument("--host-errors", action="store_true",
                   help="the host's per-step loop: it streams each step's events, reads the outputs, computes the "
                        "float softmax errors and streams them back (default: whole samples on the chip's sample "
                        "sequencer, errors from its loss unit, two samples queued)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_size(args):
    """(epochs, limit) of a demo run from its arguments: the whole task with the preset's
    epochs on a real board or with ``--full``, the simulated board's subset otherwise;
    ``--epochs`` and ``--limit`` override either (not with ``--full``). CliError on bad values."""
    from ..golden.presets import schedule
    from .session import is_simulated
    if args.full and (args.epochs is not None or args.limit is not None):
        raise CliError(f"--full trains the whole task with the preset's epochs: give it without --epochs "
                       f"and --limit (got --epochs {args.epochs}, --limit {args.limit})")
    if args.full or not is_simulated(args.port):
        d = {"epochs": schedule(args.task).epochs, "limit": None}
    else:
        d = SIM_DEFAULTS[args.task]
    epochs = d["epochs"] if args.epochs is None else args.epochs
    limit = d["limit"] if args.limit is None else args.limit
    if not 1 <= epochs <= 1000:
        raise CliError(f"--epochs expects an integer in 1..1000, not {epochs}")
    if limit is not None and limit < 1:
        raise CliError(f"--limit expects a positive number of samples, not {limit}")
    return epochs, limit


def run(args):
    epochs, limit = run_size(args)
    for opt, path in (("--json", args.json), ("--plots", args.plots)):
        if path is not None and not Path(path).resolve().parent.is_dir():
            raise CliError(f"{opt}: directory {str(Path(path).parent)!r} does not exist")
    from .demo import record_sample, run_demo, write_plots
    from .session import open_chip
    with open_chip(args.port, baud=args.baud) as (chip, info):
        ident = chip.identity()
        print(f"chip {ident['id']} on {args.port}" + (f" (simulated board, pty {info['pty']})" if info["simulated"] else ""))
        report = run_demo(chip, args.task, epochs, limit, seed=args.seed, progress=not args.no_progress,
                          host_errors=args.host_errors)
        plots = []
        if args.plots:
            rec = record_sample(chip, report["_task"])
            plots = [str(p) for p in write_plots(report, rec, Path(args.plots))]
        board = info.get("board")
    if board is not None and board.stats:
        report["simulated_board"] = board.stats
    public = {k: v for k, v in report.items() if not k.startswith("_")}
    public["port"] = args.port
    public["plots"] = plots
    rows = [("task", args.task), ("train / test samples", f"{public['train_samples']} / {public['test_samples']}"),
            ("epochs", epochs), ("chip test accuracy", f"{public['chip_test_accuracy']:.4f}"),
            ("golden test accuracy", f"{public['golden_test_accuracy']:.4f}"),
            ("equal (accuracy, weights)", f"{public['accuracy_equal']}, {public['weights_equal']}"),
            ("test accuracy per epoch", " ".join(f"{c['test_accuracy']:.3f}" for c in public["curve"])
             + ("  (= golden)" if public["curve_equal"] else "  (golden: " + " ".join(
                 f"{g['test_accuracy']:.3f}" for g in public["golden_curve"]) + ")")),
            ("steps on chip", public["steps"]), ("chip wall time", f"{public['chip_wall_seconds']:.1f} s"),
            ("golden wall time", f"{public['golden_wall_seconds']:.1f} s"
             + (" (alongside, second process)" if public["golden_alongside"] else "")),
            ("wall time (all)", f"{public['wall_seconds']:.1f} s"),
            ("steps per second", f"{public['steps_per_second']:.0f}"),
            ("path", public["path"]),
            ("core busy", "n/a" if public["core_busy_fraction"] is None
             else f"{100 * public['core_busy_fraction']:.1f} % of {public['clocks']:,} clocks")]
    if "simulated_board" in public:
        rows.append(("simulated board", public["simulated_board"].replace("board: ", "")))
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    for p in plots:
        print(f"plot: {p}")
    if args.json:
        Path(args.json).write_text(json.dumps(public, indent=2, default=float) + "\n")
    if not (public["accuracy_equal"] and public["weights_equal"] and public["curve_equal"]):
        print("MISMATCH: the chip and the golden model disagree")
        return 1
    return 0
