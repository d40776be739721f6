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
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from .config import NetworkConfig
from .loss import softmax_ce
from .network import make_network
from .tasks import Task

__all__ = ["Schedule", "evaluate", "train"]


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
        for t in range(xb.shape[1]):
            y = net.step(xb[:, t])
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
          limit=None, progress=True):
    """Train online; returns a dict of results and the learning curve.

    ``schedule``: a :class:`Schedule` (default: the task's, :func:`~gammacore.golden.presets.schedule`);
    ``epochs`` overrides its number of epochs.
    """
    if schedule is None:
        from .presets import schedule as preset_schedule
        schedule = preset_schedule(task.name)
    schedule = schedule.with_epochs(epochs)
    epochs = schedule.epochs
    if cfg.layers[0].n_in != task.n_in or cfg.layers[-1].n_out != task.n_classes:
        raise ValueError(f"network {cfg.layers[0].n_in}->{cfg.layers[-1].n_out} does not fit task "
                         f"{task.name!r} ({task.n_in} inputs, {task.n_classes} classes)")
    x_tr, y_tr, m_tr = task.x_train, task.y_train, task.m_train
    x_te, y_te, m_te = task.x_test, task.y_test, task.m_test
    if limit is not None:
        x_tr, y_tr, m_tr = x_tr[:limit], y_tr[:limit], m_tr[:limit]
        x_te, y_te, m_te = x_te[:limit], y_te[:limit], m_te[:limit]
    rng = np.random.default_rng([seed, 3])
    net = make_network(cfg, model, batch=1)
    start = time.perf_counter()
    curve = []
    bar = tqdm(total=epochs * len(x_tr), desc=f"train {task.name} ({model})", unit="sample",
               disable=not progress, leave=False)
    seen = 0
    for epoch in range(epochs):
        loss_sum, loss_n = 0.0, 0
        for i in rng.permutation(len(x_tr)):
            if (shift := schedule.change_at(seen, len(x_tr))) is not None:
                net.set_learning_shift(shift)
            seen += 1
            net.reset()
            xi, mi, li = x_tr[i], m_tr[i], np.array([y_tr[i]])
            for t in range(xi.shape[0]):
                y = net.step(xi[None, t])
                if mi[t]:
                    loss, err = softmax_ce(y, li)
                    net.learn(err)
                    loss_sum += float(loss[0])
                    loss_n += 1
            bar.update(1)
        test = evaluate(cfg, net.get_params(), model, x_te, y_te, m_te)
        curve.append({"epoch": epoch + 1, "train_loss": loss_sum / max(loss_n, 1),
                      "test_accuracy": test["accuracy"]})
        bar.set_postfix(loss=f"{curve[-1]['train_loss']:.3f}", test=f"{test['accuracy']:.3f}")
    bar.close()
    train_wall = time.perf_counter() - start
    params = net.get_params()
    tr = evaluate(cfg, params, model, x_tr, y_tr, m_tr)
    te = evaluate(cfg, params, model, x_te, y_te, m_te)
    return {
        "task": task.name, "model": model, "dt": task.dt, "seed": seed, "epochs": epochs,
        "schedule_phases": schedule.phases,
        "train_accuracy": tr["accuracy"], "test_accuracy": te["accuracy"],
        "test_loss": te["loss"], "spikes_per_neuron_per_step": te["spikes_per_neuron_per_step"],
        "steps": int(task.steps), "train_samples": int(len(x_tr)), "test_samples": int(len(x_te)),
        "wall_seconds": time.perf_counter() - start, "train_wall_seconds": train_wall,
        "curve": curve, "params": params,
    }
