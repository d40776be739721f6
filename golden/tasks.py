"""Reference tasks (docs/model.md section 7): generated or shipped inside a package, never downloaded.

A task is a :class:`Task`: inputs (n, T, n_in) of event magnitudes (0 = no event), integer
labels, and a (n, T) mask of the steps that carry the loss. Train/test splits are fixed by
the seed.
"""
from dataclasses import dataclass

import numpy as np

__all__ = ["Task", "coincidence", "digits", "TASKS", "make_task"]


@dataclass
class Task:
    name: str
    dt: float
    x_train: np.ndarray
    y_train: np.ndarray
    m_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    m_test: np.ndarray
    n_classes: int

    @property
    def n_in(self):
        return self.x_train.shape[2]

    @property
    def steps(self):
        return self.x_train.shape[1]

    def validation_split(self, fraction=0.2):
        """This task with its test set replaced by the last ``fraction`` of its training set
        (which is in seeded random order), trained on the rest: for choosing settings
        without looking at the test split."""
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"validation fraction must be in (0, 1), not {fraction!r}")
        n = len(self.x_train)
        n_fit = int(round((1.0 - fraction) * n))
        if not 0 < n_fit < n:
            raise ValueError(f"validation fraction {fraction!r} leaves {n_fit} of {n} training samples to fit")
        return Task(self.name, self.dt, self.x_train[:n_fit], self.y_train[:n_fit], self.m_train[:n_fit],
                    self.x_train[n_fit:], self.y_train[n_fit:], self.m_train[n_fit:], self.n_classes)


def _check_dt(dt):
    if not isinstance(dt, (int, float)) or isinstance(dt, bool) or not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a positive number of seconds, not {dt!r}")


def coincidence(dt=1e-3, seed=0, n_train=1000, n_test=400, delay=0.010, tolerance=0.002,
                duration=0.050, noise_rate=0.0):
    """Delayed coincidence detection, defined in physical time (seconds).

    Two input channels each carry one spike of magnitude 1, A at t_A and B at t_B = t_A + D;
    the earlier of the two is at U[2, 12] ms. Class 1 iff D is within ``delay +- tolerance``
    (B follows A by the delay); class 0 draws D from the rest of [-10, 22] ms outside
    ``delay +- 2 tolerance`` (B too early, too late, or before A). Optional background
    events on both channels at ``noise_rate`` per second. The loss is on every step from 3 ms after the later spike
    to the end of the sample (``duration``). Spike times are drawn in seconds and placed at
    step round(t / dt), so the same seed gives the same physical task at any dt.
    """
    _check_dt(dt)
    latest = 0.012 + max(0.022, delay + tolerance) + 0.003
    if not duration >= latest:
        raise ValueError(f"duration = {duration!r} s is too short: the later event and its 3 ms "
                         f"come as late as {latest:g} s")
    rng = np.random.default_rng([seed, 1])
    n = n_train + n_test
    T = int(round(duration / dt))
    label = rng.integers(0, 2, size=n)
    first = rng.uniform(0.002, 0.012, size=n)
    pos = rng.uniform(delay - tolerance, delay + tolerance, size=n)
    lo, hi = delay - 2 * tolerance, delay + 2 * tolerance
    span = (lo - (-0.010)) + (0.022 - hi)
    u = rng.uniform(0, span, size=n)
    neg = np.where(u < lo + 0.010, -0.010 + u, hi + (u - (lo + 0.010)))
    d = np.where(label == 1, pos, neg)
    t_a = first - np.minimum(d, 0.0)
    t_b = t_a + d
    x = np.zeros((n, T, 2))
    mask = np.zeros((n, T), dtype=bool)
    idx = np.arange(n)
    x[idx, np.round(t_a / dt).astype(int), 0] = 1.0
    x[idx, np.round(t_b / dt).astype(int), 1] = 1.0
    if noise_rate > 0:
        k = rng.poisson(noise_rate * duration, size=(n, 2))
        for i in range(n):
            for c in range(2):
                x[i, np.round(rng.uniform(0, duration, size=k[i, c]) / dt).astype(int).clip(0, T - 1), c] = 1.0
    start = np.round((np.maximum(t_a, t_b) + 0.003) / dt).astype(int)
    for i in range(n):
        mask[i, start[i]:] = True
    return Task("coincidence", dt, x[:n_train], label[:n_train], mask[:n_train],
                x[n_train:], label[n_train:], mask[n_train:], 2)


def digits(dt=1e-3, seed=0, steps_per_column=4, tail_steps=4, test_fraction=0.2):
    """Sequential digits: scikit-learn's bundled 8x8 digits (1797 samples, no download).

    The 8 rows are 8 input channels; the image is presented column by column, each column
    for ``steps_per_column`` steps (one event per non-zero pixel per step, magnitude
    pixel / 16 in [0, 1]), followed by ``tail_steps`` silent steps. The loss is on the
    steps of the last two columns and the tail. Stratified train/test split fixed by
    ``seed`` (test_fraction of each class). ``dt`` only labels the physical step length.
    """
    _check_dt(dt)
    from sklearn.datasets import load_digits
    data = load_digits()
    imgs = data.images / 16.0
    labels = data.target
    cols = np.repeat(imgs.transpose(0, 2, 1), steps_per_column, axis=1)   # (n, 8*S, 8 rows)
    x = np.concatenate([cols, np.zeros((len(imgs), tail_steps, 8))], axis=1)
    T = x.shape[1]
    mask = np.zeros((len(imgs), T), dtype=bool)
    mask[:, 6 * steps_per_column:] = True
    rng = np.random.default_rng([seed, 2])
    test = np.zeros(len(imgs), dtype=bool)
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        test[rng.choice(idx, size=int(round(test_fraction * len(idx))), replace=False)] = True
    order_tr = rng.permutation(np.flatnonzero(~test))
    order_te = np.flatnonzero(test)
    return Task("digits", dt, x[order_tr], labels[order_tr], mask[order_tr],
                x[order_te], labels[order_te], mask[order_te], 10)


TASKS = {"coincidence": coincidence, "digits": digits}


def make_task(name, dt=1e-3, seed=0, **kwargs):
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {sorted(TASKS)}")
    return TASKS[name](dt=dt, seed=seed, **kwargs)
