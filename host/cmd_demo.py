"""``gammacore demo``: on-chip online learning of a reference task, checked against the golden model."""
import json
from pathlib import Path

from ..protocol import UART_BAUD
from .cli import CliError

HELP = "train a reference task online on the chip (simulated board by default) and compare with the golden model"

DEFAULTS = {"coincidence": {"epochs": 2, "limit": 400}, "digits": {"epochs": 1, "limit": 200}}


def add_arguments(p):
    p.add_argument("task", choices=sorted(DEFAULTS), help="reference task")
    p.add_argument("--port", default="sim",
                   help="serial port of a board (/dev/ttyUSB1, socket://host:port) or 'sim' for the "
                        "simulated board (default sim)")
    p.add_argument("--baud", type=int, default=UART_BAUD, help=f"UART baud rate of a real board (default {UART_BAUD}, what `gammacore build` makes)")
    p.add_argument("--epochs", type=int, help="training epochs (default: coincidence 2, digits 1)")
    p.add_argument("--limit", type=int,
                   help="train and test samples taken from the task (default: coincidence 400, digits 200 - "
                        "the UART, not the chip, bounds the speed; the golden model runs the same subset)")
    p.add_argument("--seed", type=int, default=0, help="seed of the task split, weights and sample order")
    p.add_argument("--json", metavar="PATH", help="write the report to this JSON file")
    p.add_argument("--plots", metavar="DIR", help="write spike rasters, bucket traces, learning curve and "
                                                  "learned bucket weights (PNG) to DIR")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args):
    d = DEFAULTS[args.task]
    epochs = d["epochs"] if args.epochs is None else args.epochs
    limit = d["limit"] if args.limit is None else args.limit
    if not 1 <= epochs <= 1000:
        raise CliError(f"--epochs expects an integer in 1..1000, not {epochs}")
    if limit < 1:
        raise CliError(f"--limit expects a positive number of samples, not {limit}")
    for opt, path in (("--json", args.json), ("--plots", args.plots)):
        if path is not None and not Path(path).resolve().parent.is_dir():
            raise CliError(f"{opt}: directory {str(Path(path).parent)!r} does not exist")
    from .demo import record_sample, run_demo, write_plots
    from .session import open_chip
    with open_chip(args.port, baud=args.baud) as (chip, info):
        ident = chip.identity()
        print(f"chip {ident['id']} on {args.port}" + (f" (simulated board, pty {info['pty']})" if info["simulated"] else ""))
        report = run_demo(chip, args.task, epochs, limit, seed=args.seed, progress=not args.no_progress)
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
            ("steps on chip", public["steps"]), ("chip wall time", f"{public['chip_wall_seconds']:.1f} s"),
            ("steps per second", f"{public['steps_per_second']:.0f}")]
    if "simulated_board" in public:
        rows.append(("simulated board", public["simulated_board"].replace("board: ", "")))
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    for p in plots:
        print(f"plot: {p}")
    if args.json:
        Path(args.json).write_text(json.dumps(public, indent=2, default=float) + "\n")
    if not (public["accuracy_equal"] and public["weights_equal"]):
        print("MISMATCH: the chip and the golden model disagree")
        return 1
    return 0
