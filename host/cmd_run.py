"""``gammacore run``: inference of a trained network on a task's test set, on the chip."""
import json
import time
from pathlib import Path

import numpy as np

from .cli import CliError

HELP = "run a trained network (gammacore train --save) on a task's test set on the chip and compare with golden"


def add_arguments(p):
    p.add_argument("network", help="network file written by `gammacore train --save PATH`")
    p.add_argument("--port", default="sim", help="serial port of a board or 'sim' (default sim)")
    p.add_argument("--baud", type=int, default=3_000_000, help="UART baud rate of a real board")
    p.add_argument("--limit", type=int, default=100, metavar="N", help="test samples (default 100)")
    p.add_argument("--json", metavar="PATH", help="write the report to this JSON file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def load_network(path):
    """(saved dict, NetworkConfig, params) of a `train --save` file, with clear errors."""
    from ..golden.config import NetworkConfig
    try:
        saved = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise CliError(f"network file {str(path)!r} is not JSON: {exc}") from None
    if not isinstance(saved, dict) or saved.get("format") != "gammacore-network-1":
        raise CliError(f"{str(path)!r} is not a gammacore network file (written by `gammacore train --save`)")
    cfg = NetworkConfig.from_dict(saved["network"], source=str(path)).validate()
    params = [{k: np.asarray(v, dtype=np.float64) for k, v in p.items()} for p in saved["params"]]
    for n, (lc, p) in enumerate(zip(cfg.layers, params)):
        if p["W"].shape != (lc.n_out, lc.n_in) or p["V"].shape != (lc.n_out, lc.K) or p["b"].shape != (lc.n_out,):
            raise CliError(f"{str(path)!r}: the weights of layer {n} do not match its sizes")
    return saved, cfg, params


def run(args):
    if args.limit < 1:
        raise CliError(f"--limit expects a positive number of samples, not {args.limit}")
    if args.json is not None and not Path(args.json).resolve().parent.is_dir():
        raise CliError(f"--json: directory {str(Path(args.json).parent)!r} does not exist")
    saved, cfg, params = load_network(args.network)
    from tqdm import tqdm

    from ..golden.network import make_network
    from ..golden.tasks import make_task
    from ..golden.train import evaluate
    from .demo import run_sample
    from .session import open_chip
    task = make_task(saved["task"], dt=saved["dt"], seed=saved["seed"])
    x, y, m = task.x_test[:args.limit], task.y_test[:args.limit], task.m_test[:args.limit]
    net = make_network(cfg, "fixed", batch=1, params=params)
    with open_chip(args.port, baud=args.baud) as (chip, info):
        chip.load(cfg, net.layers)
        t0 = time.perf_counter()
        correct = 0
        for i in tqdm(range(len(x)), desc="run on chip", unit="sample", disable=args.no_progress):
            score, _, _ = run_sample(chip, x[i], m[i])
            correct += int(np.argmax(score) == y[i])
        wall = time.perf_counter() - t0
        counters = chip.counters()
    gold = evaluate(cfg, params, "fixed", x, y, m)
    report = {"task": saved["task"], "network": str(args.network), "port": args.port, "samples": int(len(x)),
              "chip_test_accuracy": correct / len(x), "golden_test_accuracy": gold["accuracy"],
              "equal": correct / len(x) == gold["accuracy"], "steps": int(len(x) * x.shape[1]),
              "wall_seconds": wall, "counters": counters}
    for k in ("task", "samples", "chip_test_accuracy", "golden_test_accuracy", "equal", "steps", "wall_seconds"):
        print(f"{k:<22}{report[k]}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["equal"] else 1
