"""``gammacore run``: inference of a trained network on a task's test set, on the chip."""
import json
import time
from pathlib import Path

import numpy as np

from .cli import CliError, add_baud, add_port

EXAMPLES = [
    "gammacore run digits.json --limit 50",
    "gammacore run mine.json --data my_events.npz --json run.json",
    "gammacore run digits.json --mode async-priority --port /dev/ttyUSB1 --baud 115200 --json run.json",
    "gammacore run digits.json --per-step --limit 20",
]
#: the figures on which the chip must equal the golden model (``run_on_chip`` and
#: :func:`gammacore.golden.async_model.evaluate_modes` both give them; the sample path the
#: first two only)
COMPARED = ("accuracy", "spikes_per_inference", "first_correct_step_mean", "decision_step_mean")


def add_arguments(p):
    p.add_argument("network", help="network file written by `gammacore train --save PATH`")
    add_port(p)
    add_baud(p)
    p.add_argument("--data", metavar="PATH",
                   help="run on the held-out split of this data file (as `gammacore train --data` takes it, "
                        "split with the network's seed) instead of the network's task; default: the file the "
                        "network was trained on, if it was")
    p.add_argument("--limit", type=int, default=100, metavar="N", help="test samples (default 100)")
    p.add_argument("--mode", default="sync", metavar="{sync,async-random,async-priority}",
                   help="execution mode on the chip: layer-synchronous, or asynchronous with pending spikes "
                        "dispatched in seeded-random or priority order (default sync)")
    p.add_argument("--lfsr-seed", type=int, default=1, metavar="S",
                   help="seed of the random dispatch order, 1..65535 (default 1); restarts every sample")
    p.add_argument("--per-step", action="store_true",
                   help="the host's per-step loop (events, STEP and the outputs read every step), which also gives "
                        "the first correct step and the decision step (default: whole samples on the chip's sample "
                        "sequencer when it has one and every sample fits its slots, two queued; per step otherwise)")
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


def run_on_chip(port, baud, cfg, params, task, limit, mode="sync", lfsr_seed=1, progress=True, count_cycles=False,
                path="auto"):
    """The test set (first ``limit`` samples) on the chip in ``mode``: accuracy, spikes per
    inference (every spike the router saw), and on the per-step path the mean first correct
    step and decision step, as :func:`gammacore.golden.async_model.evaluate_modes` defines
    them; with ``count_cycles`` also the chip's mean clock cycles per step (one more register
    read per step, per-step path). Returns (figures, wall seconds, counters, path).

    ``path``: "samples" - each sample whole on the chip's sample sequencer
    (:meth:`~gammacore.host.driver.Chip.infer_sample`, two queued; the chip gives each
    sample's score and argmax, not its outputs per step, so no step figures); "steps" - the
    host's per-step loop (events, STEP and the outputs read every step); "auto" - "samples"
    when the chip has a sample sequencer (``Reg.CAP_SAMPLE`` > 0), every sample fits one of
    its slots and no ``count_cycles``, else "steps"."""
    from .. import regmap as R
    from tqdm import tqdm

    from ..golden import formats as F
    from ..golden.async_model import step_figures
    from ..golden.network import make_network
    from .demo import run_sample
    from .driver import ChipError
    from .session import open_chip
    if path not in ("auto", "samples", "steps"):
        raise ValueError(f"path must be 'auto', 'samples' or 'steps', not {path!r}")
    if path == "samples" and count_cycles:
        raise ValueError("count_cycles reads the chip's cycles every step: path 'steps' or 'auto' only, not 'samples'")
    x, y, m = task.x_test[:limit], task.y_test[:limit], task.m_test[:limit]
    net = make_network(cfg, "fixed", batch=1, params=params)
    with open_chip(port, baud=baud) as (chip, info):
        chip.load(cfg, net.layers, mode=mode, seed=lfsr_seed)
        has_samples = chip.sample_words() > 0
        if path == "samples" and not has_samples:
            raise ChipError("this chip has no sample sequencer (CAP_SAMPLE reads 0; a build with --samples has one); "
                            "run step by step (gammacore run --per-step)")
        xq = F.Q.from_float(x)
        if path == "auto":
            # the sample path when the chip has one and every sample fits a slot (header, events, step ends)
            words = R.sample_lengths(xq, m)
            fits = has_samples and x.shape[1] < 1 << R.SAMPLE_STEPS_BITS and words.max() <= chip.sample_words()
            path = "samples" if fits and not count_cycles else "steps"
        spikes_at = lambda c: c["to_next"] + c["to_host"] + c["unrouted"]
        start = spikes_at(chip.counters())
        t0 = time.perf_counter()
        correct, rights, cycles = 0, [], []
        bar = tqdm(total=len(x), desc=f"run on chip ({mode}, {path})", unit="sample", disable=not progress)
        if path == "samples":
            results = chip.infer_set(xq, m, y, bar=bar)
            correct = sum(int(r["argmax"] == y[i]) for i, r in enumerate(results))
        else:
            for i in range(len(x)):
                right = np.zeros(x.shape[1], dtype=bool)

                def record(t, q, packets, yt):
                    right[t] = np.argmax(yt) == y[i]
                    if count_cycles:
                        cycles.append(chip.link.read(R.Reg.CYCLES, 1)[0])
                score, _, _ = run_sample(chip, x[i], m[i], record=record)
                correct += int(np.argmax(score) == y[i])
                rights.append(right)
                bar.update(1)
        bar.close()
        wall = time.perf_counter() - t0
        counters = chip.counters()
    fig = {"accuracy": correct / len(x), "spikes_per_inference": (spikes_at(counters) - start) / len(x),
           **(step_figures(rights) if path == "steps" else {}), "samples": int(len(x))}
    if count_cycles:
        fig["cycles_per_step"] = float(np.mean(cycles))
    return fig, wall, counters, path


def _task_of(args, saved, cfg):
    """The task to run: ``--data``, the data file the network was trained on, or its built-in task."""
    data = args.data if args.data is not None else saved.get("data")
    if data is None:
        from ..golden.tasks import TASKS, make_task
        if saved["task"] not in TASKS:
            raise CliError(f"network {str(args.network)!r} is for {saved['task']!r}, not a built-in task "
                           f"({', '.join(sorted(TASKS))}): give its data with --data PATH")
        return make_task(saved["task"], dt=saved["dt"], seed=saved["seed"])
    from ..golden.data import check_fits, load_data
    task = load_data(data, dt=saved["dt"], seed=saved["seed"], n_in=cfg.layers[0].n_in,
                     n_classes=cfg.layers[-1].n_out, limit=args.limit)
    check_fits(cfg, task, f"network {str(args.network)!r}")
    return task


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
    task = _task_of(args, saved, cfg)
    chip_fig, wall, counters, path = run_on_chip(args.port, args.baud, cfg, params, task, args.limit, args.mode,
                                                 args.lfsr_seed, progress=not args.no_progress,
                                                 path="steps" if args.per_step else "auto")
    from ..golden.async_model import evaluate_modes
    gold = evaluate_modes(cfg, params, task, modes=[args.mode], limit=args.limit, seed=args.lfsr_seed)[args.mode]
    compared = [k for k in COMPARED if k in chip_fig]
    report = {"task": saved["task"], "network": str(args.network), "port": args.port, "mode": args.mode,
              "path": path, "samples": chip_fig["samples"], "chip": chip_fig, "golden": gold, "compared": compared,
              "equal": all(chip_fig[k] == gold[k] for k in compared),
              "steps": int(chip_fig["samples"] * task.x_test.shape[1]), "wall_seconds": wall, "counters": counters}
    print(f"{'task':<22}{report['task']}\n{'mode':<22}{args.mode}\n{'path':<22}"
          f"{'whole samples on the chip' if path == 'samples' else 'per step (host loop)'}\n"
          f"{'samples':<22}{report['samples']}")
    print(f"{'':<22}{'chip':>12}{'golden':>12}")
    for k in COMPARED:
        fmt = lambda v: "-" if v is None else f"{v:.4f}"
        chip_v = fmt(chip_fig[k]) if k in chip_fig else "n/a"
        print(f"{k:<22}{chip_v:>12}{fmt(gold[k]):>12}")
    if path == "samples":
        print("(the step figures need the outputs of every step: --per-step)")
    for k in ("equal", "steps", "wall_seconds"):
        print(f"{k:<22}{report[k]}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["equal"] else 1
