"""``gammacore status``: chip identity, capacity, step counter and every counter."""
import json
from pathlib import Path

from .cli import CliError, add_baud, add_port

EXAMPLES = [
    "gammacore status --port sim",
    "gammacore status --port /dev/ttyUSB1 --baud 115200 --json status.json",
]


def add_arguments(p):
    add_port(p)
    add_baud(p)
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
