"""``gammacore status``: chip identity, capacity, step counter and every counter."""
import json
from pathlib import Path

from ..protocol import UART_BAUD
from .cli import CliError

HELP = "show the chip's identity, build parameters, step counter and every event and error counter"


def add_arguments(p):
    p.add_argument("--port", default="sim", help="serial port of a board or 'sim' (default sim)")
    p.add_argument("--baud", type=int, default=UART_BAUD, help=f"UART baud rate of a real board (default {UART_BAUD}, what `gammacore build` makes)")
    p.add_argument("--json", metavar="PATH", help="write the status to this JSON file")


def run(args):
    if args.json is not None and not Path(args.json).resolve().parent.is_dir():
        raise CliError(f"--json: directory {str(Path(args.json).parent)!r} does not exist")
    from .session import open_chip
    with open_chip(args.port, baud=args.baud) as (chip, info):
        status = {"port": args.port, "simulated": info["simulated"], **chip.identity(), "counters": chip.counters()}
        status["link"] = chip.link.stats() if hasattr(chip.link, "stats") else {}
    print(f"chip        {status['id']} ({'simulated board' if status['simulated'] else args.port})")
    print("capacity    " + ", ".join(f"{k} {v}" for k, v in status["capacity"].items()))
    print(f"features    power-of-two buckets {'yes' if status['pow2_buckets'] else 'no'}, "
          f"asynchronous modes {'yes' if status['async_modes'] else 'no'}, "
          f"learning unit {'yes' if status['learning'] else 'no (inference-only build)'}, "
          f"statistics counters {'yes' if status['statistics_counters'] else 'no (lean build)'}")
    for k, v in status["counters"].items():
        print(f"{k:<12}{'-' if v is None else v}")
    for k, v in status["link"].items():
        print(f"link {k:<7}{v}")
    if args.json:
        Path(args.json).write_text(json.dumps(status, indent=2) + "\n")
    return 0
