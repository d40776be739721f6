"""``gammacore run``: inference of a trained network on a task's test set, on the chip."""
import json
import time
from pathlib import Path

import numpy as np

from ..protocol import UART_BAUD
from .cli import CliError

HELP = "run a trained network (gammacore train --save) on a task's test set on the chip and compare with golden"
#: the figures on which the chip must equal the golden model (``run_on_chip`` and
#: :func:`gammacore.golden.async_model.evaluate_modes` both give them)
COMPARED = ("accuracy", "spikes_per_inference", "first_correct_step_mean", "decision_step_mean")


def add_arguments(p):
    p.add_argument("network", help="network file written by `gammacore train --save PATH`")
    p.add_argument("--port", default="sim", help="serial port of a board or 'sim' (default sim)")
    p.add_argument("--baud", type=int, default=UART_BAUD, help=f"UART baud rate of a real board (default {UART_BAUD}, what `gammacore build` makes)")
    p.add_argument("--limit", type=int, default=100, metavar="N", help="test samples (default 100)")
    p.add_argument("--mode", default="sync", metavar="{sync,async-random,async-priority}",
                   help="execution mode on the chip: layer-synchronous, or asynchronous with pending spikes "
                        "dispatched in seeded-random or priority order (default sync)")
    p.add_argument("--lfsr-seed", type=int, default=1, metavar="S",
                   help="seed of the random dispatch order, 1..65535 (default 1); restarts every sample")
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


def run_on_chip(port, baud, cfg, params, task, limit, mode="sync", lfsr_seed=1, progress=True, count_cycles=False):
    """The test set (first ``limit`` samples) on the chip in ``mode``: accuracy, spikes per
    inference (every spike the router saw), the mean first correct step and decision step, as
    :func:`gammacore.golden.async_model.evaluate_modes` defines them; with ``count_cycles``
    also the chip's mean clock cycles per step (one more register read per step). Returns
    (figures, wall seconds, counters)."""
    from .. import regmap as R
    from tqdm import tqdm

    from ..golden.async_model import step_figures
    from ..golden.network import make_network
    from .demo import run_sample
    from .session import open_chip
    x, y, m = task.x_test[:limit], task.y_test[:limit], task.m_test[:limit]
    net = make_network(cfg, "fixed", batch=1, params=params)
    with open_chip(port, baud=baud) as (chip, info):
        chip.load(cfg, net.layers, mode=mode, seed=lfsr_seed)
        spikes_at = lambda c: c["to_next"] + c["to_host"] + c["unrouted"]
        start = spikes_at(chip.counters())
        t0 = time.perf_counter()
        correct, rights, cycles = 0, [], []
        for i in tqdm(range(len(x)), desc=f"run on chip ({mode})", unit="sample", disable=not progress):
            right = np.zeros(x.shape[1], dtype=bool)

            def record(t, q, packets, yt):
                right[t] = np.argmax(yt) == y[i]
                if count_cycles:
                    cycles.append(chip.link.read(R.Reg.CYCLES, 1)[0])
            score, _, _ = run_sample(chip, x[i], m[i], record=record)
            correct += int(np.argmax(score) == y[i])
            rights.append(right)
        wall = time.perf_counter() - t0
        counters = chip.counters()
    fig = {"accuracy": correct / len(x), "spikes_per_inference": (spikes_at(counters) - start) / len(x),
           **step_figures(rights), "samples": int(len(x))}
    if count_cycles:
        fig["cycles_per_step"] = float(np.mean(cycles))
    return fig, wall, counters


def run(args):
    if args.limit < 1:
        raise CliError(f"--limit expects a positive number of samples, not {args.limit}")
    if args.json is not None and not Path(args.json).resolve().parent.is_dir():
        raise CliError(f"--json: directory {str(Path(args.json).parent)!r} does not exist")
    from ..regmap import Mode
    try:
        Mode.from_label(args.mode)
    except ValueError as exc:
        raise CliError(f"--mode: {exc}") from None
    if not 1 <= args.lfsr_seed <= 0xFFFF:
        raise CliError(f"--lfsr-seed expects an integer in 1..65535, not {args.lfsr_seed}")
    saved, cfg, params = load_network(args.network)
    from ..golden.tasks import make_task
    task = make_task(saved["task"], dt=saved["dt"], seed=saved["seed"])
    chip_fig, wall, counters = run_on_chip(args.port, args.baud, cfg, params, task, args.limit, args.mode,
                                           args.lfsr_seed, progress=not args.no_progress)
    from ..golden.async_model import evaluate_modes
    gold = evaluate_modes(cfg, params, task, modes=[args.mode], limit=args.limit, seed=args.lfsr_seed)[args.mode]
    report = {"task": saved["task"], "network": str(args.network), "port": args.port, "mode": args.mode,
              "samples": chip_fig["samples"], "chip": chip_fig, "golden": gold,
              "equal": all(chip_fig[k] == gold[k] for k in COMPARED),
              "steps": int(chip_fig["samples"] * task.x_test.shape[1]), "wall_seconds": wall, "counters": counters}
    print(f"{'task':<22}{report['task']}\n{'mode':<22}{args.mode}\n{'samples':<22}{report['samples']}")
    print(f"{'':<22}{'chip':>12}{'golden':>12}")
    for k in COMPARED:
        fmt = lambda v: "-" if v is None else f"{v:.4f}"
        print(f"{k:<22}{fmt(chip_fig[k]):>12}{fmt(gold[k]):>12}")
    for k in ("equal", "steps", "wall_seconds"):
        print(f"{k:<22}{report[k]}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["equal"] else 1
