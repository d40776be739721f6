"""``gammacore train``: online training of the golden model on a reference task."""
import json
import math
from pathlib import Path

import numpy as np

from .cli import CliError, add_baud, add_port

EXAMPLES = [
    "gammacore train --task digits --save digits.json --json report.json",
    "gammacore train --task coincidence --dt 0.0005 --model float --plots plots/",
    "gammacore train --task coincidence --port sim --limit 100   # on the simulated chip",
    "gammacore train --data my_events.npz --dt 0.002 --save mine.json --json report.json",
]


def _positive_float(text):
    try:
        v = float(text)
    except ValueError:
        raise CliError(f"--dt expects a positive number of seconds, not {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise CliError(f"--dt expects a positive number of seconds, not {text!r}")
    return v


def add_arguments(p):
    p.add_argument("--task", metavar="{coincidence,digits}",
                   help="coincidence: delayed coincidence detection (2 channels, physical-time "
                        "definition); digits: scikit-learn's 8x8 digits presented column by column")
    p.add_argument("--data", metavar="PATH",
                   help="train on your own data instead of --task: events (.npz of tonic-style (t, x, p) arrays "
                        "and labels, binned at --dt), an (x, y, mask) .npz, or an SHD/SSC HDF5 file; the network "
                        "is sized from the data (one hidden layer) unless --config is given (docs/data.md)")
    p.add_argument("--model", default="fixed", metavar="{float,fixed}",
                   help="float model or the bit-exact fixed-point model the chip implements (default fixed)")
    p.add_argument("--loss-unit", default="host", metavar="{host,chip}",
                   help="who computes the softmax cross-entropy errors of the fixed-point model: 'host' "
                        "(float, rounded to the chip's error format; the chip's --host-errors path) or "
                        "'chip' (the integer loss unit of docs/model.md section 5, which the chip's sample sequencer "
                        "uses; --port always trains on that path)")
    p.add_argument("--dt", default="0.001", metavar="SECONDS",
                   help="time step in seconds (default 0.001); the task and all time constants are "
                        "defined in seconds, so the same physical problem is solved at any dt")
    p.add_argument("--seed", type=int, default=0, help="seed of the data split, weights and sample order")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: the task's preset)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="use only the first N training and N test samples (quick runs)")
    p.add_argument("--config", metavar="PATH", help="network parameter file (JSON, see NetworkConfig.to_dict)")
    p.add_argument("--json", metavar="PATH", help="write the results to this JSON file")
    add_port(p, default=None,
             help="train on the chip instead of the golden model: a board's serial port or 'sim' for the "
                  "simulated board (fixed point; the golden model runs the same training and must agree)")
    add_baud(p)
    p.add_argument("--save", metavar="PATH",
                   help="write the trained network (configuration and weights, JSON) for `gammacore run`")
    p.add_argument("--plots", metavar="DIR", help="write learning_curve.png (loss and test accuracy per epoch) here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _data_task(args, dt):
    """(NetworkConfig, Task) of ``--data``: the network of --config, or one sized from the data."""
    from ..golden.config import NetworkConfig
    from ..golden.data import check_fits, load_data, network_for
    if args.config:
        cfg = NetworkConfig.load(args.config).with_dt(dt)
        task = load_data(args.data, dt=dt, seed=args.seed, n_in=cfg.layers[0].n_in,
                         n_classes=cfg.layers[-1].n_out, limit=args.limit)
        check_fits(cfg, task, f"--config {args.config!r}")
    else:
        task = load_data(args.data, dt=dt, seed=args.seed, limit=args.limit)
        cfg = network_for(task.n_in, task.n_classes, dt, seed=args.seed)
    return cfg, task


def run(args):
    from ..golden.config import NetworkConfig
    from ..golden.presets import preset, schedule
    from ..golden.tasks import TASKS, make_task
    from ..golden.train import train

    if args.data is not None:
        if args.task is not None:
            raise CliError(f"give --task or --data, not both (--task {args.task!r}, --data {args.data!r})")
    elif args.task is None:
        raise CliError("expected --task {coincidence,digits} or --data PATH")
    elif args.task not in TASKS:
        raise CliError(f"unknown task {args.task!r}; expected one of {', '.join(sorted(TASKS))}")
    if args.model not in ("float", "fixed"):
        raise CliError(f"unknown model {args.model!r}; expected 'float' or 'fixed'")
    if args.loss_unit not in ("host", "chip"):
        raise CliError(f"unknown --loss-unit {args.loss_unit!r}; expected 'host' or 'chip'")
    if args.loss_unit == "chip" and args.model != "fixed":
        raise CliError(f"--loss-unit chip is the fixed-point loss unit; it needs --model fixed, not {args.model!r}")
    if args.loss_unit == "chip" and args.port is not None:
        raise CliError("--loss-unit chip runs on the golden model only: the chip has no loss unit yet (issue 15)")
    dt = _positive_float(args.dt)
    plan = schedule(args.task)
    epochs = plan.epochs if args.epochs is None else args.epochs
    if epochs < 1:
        raise CliError(f"--epochs expects a positive integer, not {epochs}")
    if args.limit is not None and args.limit < 1:
        raise CliError(f"--limit expects a positive integer, not {args.limit}")
    if args.seed < 0:
        raise CliError(f"--seed expects a non-negative integer, not {args.seed}")
    json_path = Path(args.json) if args.json else None
    if json_path is not None and not json_path.parent.is_dir():
        raise CliError(f"--json: directory {str(json_path.parent)!r} does not exist")
    save_path = Path(args.save) if args.save else None
    if save_path is not None and not save_path.resolve().parent.is_dir():
        raise CliError(f"--save: directory {str(save_path.parent)!r} does not exist")
    plots = Path(args.plots) if args.plots else None
    if plots is not None and plots.exists() and not plots.is_dir():
        raise CliError(f"--plots expects a directory, not the file {str(plots)!r}")
    if args.port is not None:
        return _train_on_chip(args, dt, epochs, json_path)
    if args.data is not None:
        cfg, task = _data_task(args, dt)
    elif args.config:
        cfg = NetworkConfig.load(args.config).with_dt(dt)
    else:
        cfg = preset(args.task, dt=dt, seed=args.seed)
    if args.data is None:
        task = make_task(args.task, dt=dt, seed=args.seed)
    res = train(cfg, task, args.model, schedule=plan.with_epochs(epochs), seed=args.seed, limit=args.limit,
                progress=not args.no_progress, chip_loss=args.loss_unit == "chip")
    rows = [("task", res["task"]), ("model", res["model"]), ("loss unit", res["loss_unit"]), ("dt [s]", f"{res['dt']:g}"),
            ("seed", res["seed"]), ("epochs", res["epochs"]),
            ("network", "-".join(str(n) for n in [cfg.layers[0].n_in] + [l.n_out for l in cfg.layers])),
            ("train accuracy", f"{100 * res['train_accuracy']:.2f} %"),
            ("test accuracy", f"{100 * res['test_accuracy']:.2f} %"),
            ("spikes / neuron / step", f"{res['spikes_per_neuron_per_step']:.4f}"),
            ("steps per sample", res["steps"]), ("wall time", f"{res['wall_seconds']:.1f} s")]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    if plots is not None:
        plots.mkdir(parents=True, exist_ok=True)
        print(f"plot: {plot_learning_curve(res, plots / 'learning_curve.png')}")
    if save_path is not None:
        saved = {"format": "gammacore-network-1", "task": res["task"], "dt": res["dt"], "seed": res["seed"],
                 "model": res["model"], "network": cfg.to_dict(),
                 "params": [{k: np.asarray(v).tolist() for k, v in p.items()} for p in res["params"]]}
        if args.data is not None:
            saved["data"] = str(Path(args.data).resolve())
        try:
            save_path.write_text(json.dumps(saved) + "\n")
        except OSError as exc:
            raise CliError(f"cannot write --save {str(save_path)!r}: {exc.strerror}") from None
        print(f"network: {save_path}")
    if json_path is not None:
        out = {k: v for k, v in res.items() if k != "params"}
        out["network"] = cfg.to_dict()
        try:
            json_path.write_text(json.dumps(out, indent=2) + "\n")
        except OSError as exc:
            raise CliError(f"cannot write --json {str(json_path)!r}: {exc.strerror}") from None
    return 0


def _train_on_chip(args, dt, epochs, json_path):
    """``--port``: online training on the chip (host.demo), checked against the golden model."""
    if args.model != "fixed":
        raise CliError(f"--port trains the chip, which is fixed point: --model must be 'fixed', not {args.model!r}")
    for opt in ("config", "save", "plots", "data"):
        if getattr(args, opt):
            raise CliError(f"--{opt} is not available with --port (use `gammacore demo --plots` for chip plots)")
    from .demo import run_demo
    from .session import open_chip
    with open_chip(args.port, baud=args.baud) as (chip, info):
        rep = run_demo(chip, args.task, epochs, args.limit, seed=args.seed, dt=dt, progress=not args.no_progress)
    out = {k: v for k, v in rep.items() if not k.startswith("_")}
    for k in ("task", "train_samples", "test_samples", "epochs", "chip_test_accuracy", "golden_test_accuracy",
              "accuracy_equal", "weights_equal", "curve_equal", "steps", "chip_wall_seconds"):
        print(f"{k:<22}{out[k]}")
    if json_path is not None:
        json_path.write_text(json.dumps(out, indent=2, default=float) + "\n")
    return 0 if out["accuracy_equal"] and out["weights_equal"] and out["curve_equal"] else 1


def plot_learning_curve(res, path):
    """Training loss and test accuracy per epoch, one figure."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    epochs = [c["epoch"] for c in res["curve"]]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(epochs, [c["train_loss"] for c in res["curve"]], "o-", color="tab:red", label="train loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("train loss (cross-entropy per loss step)")
    ax2 = ax.twinx()
    ax2.plot(epochs, [100 * c["test_accuracy"] for c in res["curve"]], "s-", color="tab:blue", label="test accuracy")
    ax2.set_ylabel("test accuracy [%]")
    ax.set_title(f"{res['task']} ({res['model']} model, dt = {res['dt'] * 1e3:g} ms, seed {res['seed']})")
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.legend(loc="lower center", ncol=2, frameon=False)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
