"""Online training and batched evaluation of a network on a task.

Training is what the chip does: plain SGD with batch 1, in stream order, an update at
every step that carries a loss (softmax cross-entropy of y_out(t) against the label). The
learning rates follow a :class:`Schedule`: they halve (shift + 1) after each equal share of
the run's training samples, a count of samples rather than of epochs or steps, so the
schedule means the same at any dt and with any subset. Evaluation runs the same
network on many samples at once (batching is for speed only); a sample's class is the
argmax of y_out summed over its loss steps.
"""
import time
from dataclasses import dataclass, replace

import numpy as np
from tqdm import tqdm

from . import fixedpoint as fp
from . import formats as F
from .config import NetworkConfig
from .loss import softmax_ce
from .network import make_network, stack_params
from .tasks import Task

__all__ = ["Schedule", "evaluate", "train", "train_many"]


@dataclass(frozen=True)
class Schedule:
    """``epochs`` passes over the training set in ``phases`` equal shares of samples; every
    learning rate is halved at the start of each share after the first (rate * 2**-phase).

    Training escapes the plateau it starts on at full rate, and the halvings then settle it:
    the first share must be long enough for the escape (benchmarks/README.md, robustness).
    """
    epochs: int
    phases: int = 4

    def __post_init__(self):
        for name in ("epochs", "phases"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"schedule: {name} must be a positive integer, not {v!r}")

    def shift(self, seen, n_train):
        """The extra learning-rate shift before training sample number ``seen`` (0-based)."""
        total = self.epochs * n_train
        return min(seen * self.phases // total, self.phases - 1)

    def change_at(self, seen, n_train):
        """The shift to set before sample ``seen`` if it differs from the one before, else None."""
        s = self.shift(seen, n_train)
        return s if seen == 0 or s != self.shift(seen - 1, n_train) else None

    def with_epochs(self, epochs):
        return Schedule(epochs if epochs is not None else self.epochs, self.phases)


def evaluate(cfg: NetworkConfig, params, model, x, labels, mask, batch=500):
    """Accuracy, mean loss and spikes per (spiking) neuron per step on a data set."""
    correct, loss_sum, loss_n, spikes, neuron_steps = 0, 0.0, 0, 0, 0
    spiking = [n for n, l in enumerate(cfg.layers) if l.encoder != "none"]
    n_spiking = sum(cfg.layers[n].n_out for n in spiking)
    for lo in range(0, len(x), batch):
        xb, yb, mb = x[lo:lo + batch], labels[lo:lo + batch], mask[lo:lo + batch]
        net = make_network(cfg, model, batch=len(xb), params=params)
        score = np.zeros((len(xb), cfg.layers[-1].n_out))
        xq = F.Q.from_float(xb) if model == "fixed" else np.asarray(xb, dtype=np.float64)
        for t in range(xb.shape[1]):
            y = net.step_quantized(xq[:, t])
            m = mb[:, t]
            if m.any():
                score[m] += y[m]
                loss, _ = softmax_ce(y[m], yb[m])
                loss_sum += float(loss.sum())
                loss_n += int(m.sum())
        correct += int(np.sum(score.argmax(axis=1) == yb))
        spikes += int(net.spike_count[spiking].sum()) if spiking else 0
        neuron_steps += n_spiking * len(xb) * xb.shape[1]
    return {"accuracy": correct / len(x), "loss": loss_sum / max(loss_n, 1),
            "spikes_per_neuron_per_step": spikes / neuron_steps if neuron_steps else 0.0}


def train(cfg: NetworkConfig, task: Task, model="fixed", epochs=None, seed=0, schedule=None,
          limit=None, progress=True, chip_loss=False):
    """Train online; returns a dict of results and the learning curve.

    ``schedule``: a :class:`Schedule` (default: the task's, :func:`~gammacore.golden.presets.schedule`);
    ``epochs`` overrides its number of epochs. The same run as :func:`train_many` with one member.
    """
    return train_many([cfg], [task], model, seeds=[seed], epochs=epochs, schedule=schedule,
                      limit=limit, progress=progress, chip_loss=chip_loss)[0]


def train_many(cfgs, tasks, model="fixed", seeds=(0,), epochs=None, schedule=None, limit=None,
               progress=True, chip_loss=False, init_params=None):
    """Train M independent networks in lockstep; one :func:`train` result dict per member.

    Member s is ``train(cfgs[s], tasks[s], model, seed=seeds[s], schedule=...)``: its own
    weights (from ``cfgs[s].init_params()``), data, sample order (seeded by ``seeds[s]``),
    learning-rate schedule, per-epoch test evaluation and final evaluation, with exactly
    the results of that run alone, fixed point and float. The members run as the batch
    axis of one network with per-member weights (``Network(..., members=True)``); at a
    step where a member has no loss it gets a zero error, which leaves its weights exactly
    unchanged. Vectorizing over members is for speed only.

    The members' configurations must differ at most in ``init_seed``; their tasks must
    have the same shapes (same task and dt, any data seed). ``schedule``: one
    :class:`Schedule` for all, one per member, or None (each task's preset); the members'
    schedules must have the same number of epochs (``epochs`` overrides it for all).
    ``progress``: a progress bar if true; a dict gives it tqdm options (desc, position).
    ``chip_loss`` (fixed point only): the errors come from the chip's loss unit
    (:func:`~gammacore.golden.fixedpoint.loss_unit`, integer softmax) instead of the
    host's float softmax rounded to ERR.
    ``init_params``: one initial parameter list per member (the form of
    :meth:`NetworkConfig.init_params`, values on the forward grids) instead of each
    member's ``cfgs[s].init_params()``; for measuring how far a run moves when its start does.
    """
    if chip_loss and model != "fixed":
        raise ValueError(f"chip_loss is the fixed-point loss unit; it needs model 'fixed', not {model!r}")
    cfgs, tasks, seeds = list(cfgs), list(tasks), list(seeds)
    M = len(cfgs)
    if M < 1 or len(tasks) != M or len(seeds) != M:
        raise ValueError(f"train_many needs as many tasks and seeds as configurations, not "
                         f"{len(cfgs)} configurations, {len(tasks)} tasks, {len(seeds)} seeds")
    if schedule is None or isinstance(schedule, Schedule):
        schedules = [schedule] * M
    else:
        schedules = list(schedule)
        if len(schedules) != M:
            raise ValueError(f"train_many: {len(schedules)} schedules for {M} members")
    for s, task in enumerate(tasks):
        if schedules[s] is None:
            from .presets import schedule as preset_schedule
            schedules[s] = preset_schedule(task.name)
        schedules[s] = schedules[s].with_epochs(epochs)
    epochs = schedules[0].epochs
    if any(sch.epochs != epochs for sch in schedules):
        raise ValueError(f"train_many: the members' schedules must have the same epochs, not "
                         f"{[sch.epochs for sch in schedules]}")
    cfg = cfgs[0]
    for s, (c, task) in enumerate(zip(cfgs, tasks)):
        if c.layers[0].n_in != task.n_in or c.layers[-1].n_out != task.n_classes:
            raise ValueError(f"network {c.layers[0].n_in}->{c.layers[-1].n_out} does not fit task "
                             f"{task.name!r} ({task.n_in} inputs, {task.n_classes} classes)")
        if replace(c, init_seed=0) != replace(cfg, init_seed=0):
            raise ValueError(f"train_many: member {s}'s configuration differs from member 0's in more than init_seed")
    data = []
    for task in tasks:
        d = [task.x_train, task.y_train, task.m_train, task.x_test, task.y_test, task.m_test]
        if limit is not None:
            d = [a[:limit] for a in d]
        data.append(d)
    shapes = {tuple(a.shape for a in d[:3]) for d in data}
    if len(shapes) != 1:
        raise ValueError(f"train_many: the members' training sets differ in shape: {sorted(shapes)}")
    n_train, T = data[0][0].shape[:2]
    starts = [c.init_params() for c in cfgs] if init_params is None else list(init_params)
    if len(starts) != M:
        raise ValueError(f"train_many: {len(starts)} initial parameter lists for {M} members")
    rngs = [np.random.default_rng([seed, 3]) for seed in seeds]
    net = make_network(cfg, model, batch=M, members=True,
                       params=stack_params(starts))
    start = time.perf_counter()
    curves = [[] for _ in range(M)]
    desc = f"train {tasks[0].name} ({model})" + (f" x{M}" if M > 1 else "")
    bar_opts = dict(desc=desc, unit="sample", leave=False)
    if isinstance(progress, dict):          # tqdm options (e.g. desc, position) for the bar
        bar_opts.update(progress)
    bar = tqdm(total=epochs * n_train, disable=not progress, **bar_opts)
    members = np.arange(M)
    seen = 0
    shift = np.zeros(M, dtype=np.int64)
    for epoch in range(epochs):
        loss_sum, loss_n = np.zeros(M), np.zeros(M, dtype=np.int64)
        orders = np.stack([rng.permutation(n_train) for rng in rngs], axis=1)   # (n_train, M)
        for idx in orders:
            changes = [sch.change_at(seen, n_train) for sch in schedules]
            if any(c is not None for c in changes):
                shift = np.array([s_ if c is None else c for s_, c in zip(shift, changes)], dtype=np.int64)
                net.set_learning_shift(shift)
            seen += 1
            net.reset()
            xb = np.stack([data[s][0][i] for s, i in zip(members, idx)], axis=1)   # (T, M, n_in)
            xb = F.Q.from_float(xb) if model == "fixed" else xb   # what step() does, once per sample
            mb = np.stack([data[s][2][i] for s, i in zip(members, idx)], axis=1)   # (T, M)
            lb = np.array([data[s][1][i] for s, i in zip(members, idx)])
            any_loss = mb.any(axis=1)
            loss_n += mb.sum(axis=0)
            for t in range(T):
                y = net.step_quantized(xb[t])
                if any_loss[t]:
                    m = mb[t]
                    if chip_loss:
                        err, loss, _ = fp.loss_unit(net.layers[-1].y, lb)
                        err, loss = F.ERR.to_float(err), F.LOSS.to_float(loss)
                    else:
                        loss, err = softmax_ce(y, lb)
                    err *= m[:, None]      # no loss for this member at this step: zero error, no update
                    net.learn(err)
                    loss_sum += np.where(m, loss, 0.0)    # + 0.0 leaves a member's sum as it is
            bar.update(1)
        for s in range(M):
            test = evaluate(cfg, net.get_params(s), model, *data[s][3:])
            curves[s].append({"epoch": epoch + 1, "train_loss": float(loss_sum[s] / max(loss_n[s], 1)),
                              "test_accuracy": test["accuracy"]})
        bar.set_postfix(loss=f"{np.mean([c[-1]['train_loss'] for c in curves]):.3f}",
                        test=f"{np.mean([c[-1]['test_accuracy'] for c in curves]):.3f}")
    bar.close()
    train_wall = time.perf_counter() - start
    results = []
    for s in range(M):
        params = net.get_params(s)
        tr = evaluate(cfg, params, model, *data[s][:3])
        te = evaluate(cfg, params, model, *data[s][3:])
        task = tasks[s]
        results.append({
            "task": task.name, "model": model, "dt": task.dt, "seed": seeds[s], "epochs": epochs,
            "schedule_phases": schedules[s].phases, "loss_unit": "chip" if chip_loss else "host",
            "train_accuracy": tr["accuracy"], "test_accuracy": te["accuracy"],
            "test_loss": te["loss"], "spikes_per_neuron_per_step": te["spikes_per_neuron_per_step"],
            "steps": int(task.steps), "train_samples": int(n_train), "test_samples": int(len(data[s][3])),
            "wall_seconds": time.perf_counter() - start, "train_wall_seconds": train_wall,
            "curve": curves[s], "params": params,
        })
    return results
