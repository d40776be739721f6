"""The user's own event data as a :class:`~gammacore.golden.tasks.Task` (docs/data.md).

Three file formats, chosen by content:

* **Events** (``.npz`` with ``events`` and ``labels``): ``events`` is an object array with
  one tonic-style structured array per sample, fields ``t`` (microseconds, >= 0), ``x``
  (the input channel, >= 0) and optionally ``p`` (the polarity; spikes into the network are
  positive, so p is not used). The events are binned at ``dt``: the input magnitude of
  channel c at step s is the number of the sample's events with x = c and
  floor(t / dt) = s (saturating at the spike format's maximum, 64). Every sample is padded
  to the steps of the longest one. The input count is the largest channel + 1, the class
  count the largest label + 1 (an optional scalar ``n_inputs`` / ``n_classes`` in the
  file, or the network's sizes, set them instead).
* **Arrays** (``.npz`` with ``x``, ``y`` and optionally ``mask``): x (samples, steps,
  inputs) of non-negative magnitudes, y (samples,) integer labels, mask (samples, steps)
  the steps that carry the loss.
* **SHD / SSC** (HDF5, as distributed by Zenke's lab): ``spikes/times`` (seconds, one
  array per sample), ``spikes/units`` (channels) and ``labels``. Read with h5py, binned as
  events are. Nothing is downloaded: give the path of a file you have.

Without a mask the loss is on the second half of the steps (the steps from T // 2 on). A
held-out test split (``test_fraction`` of the samples, by default 0.2) is fixed by
``seed``. Errors name the file, the field and the bad value (:class:`DataError`).
"""
import math
from pathlib import Path

import numpy as np

from . import formats as F
from .config import LayerConfig, NetworkConfig
from .tasks import Task

__all__ = ["DataError", "load_data", "network_for", "check_fits", "bin_events", "DEFAULT_HIDDEN",
           "MAX_DENSE_BYTES"]

#: neurons of the hidden layer of a network sized from the data (:func:`network_for`)
DEFAULT_HIDDEN = 64
#: the dense (samples, steps, inputs) arrays a file may expand to; beyond it, a clear error
MAX_DENSE_BYTES = 2 << 30


class DataError(ValueError):
    """A data file that cannot be used; the message names the file, the field and the value."""


def load_data(path, dt=1e-3, seed=0, test_fraction=0.2, n_in=None, n_classes=None, limit=None):
    """Load a data file as a Task with a seeded held-out split.

    Parameters
    ----------
    path : an ``.npz`` (events or arrays) or an SHD/SSC HDF5 file (``.h5``, ``.hdf5``).
    dt : seconds per step, for binning events (arrays files are taken as they are).
    seed : fixes the train/test split.
    n_in, n_classes : the network's sizes, when it is given; every channel must be below
        n_in and every label below n_classes. None: taken from the data.
    limit : keep only the first ``limit`` train and test samples of the split (before
        binning, so a large file costs only what is kept). The steps per sample, the input
        count and the split do not depend on it.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {str(path)!r} not found")
    if not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0:
        raise DataError(f"dt must be a positive number of seconds, not {dt!r}")
    if not 0 < test_fraction < 1:
        raise DataError(f"test_fraction must be in (0, 1), not {test_fraction!r}")
    if _is_hdf5(path):
        times, units, labels, meta = _read_hdf5(path)
        kind = "events"
    else:
        kind, content = _read_npz(path)
        if kind == "events":
            times, units, labels, meta = content
        else:
            x, labels, mask, meta = content
    where = str(path)
    n_in = n_in if n_in is not None else meta.get("n_inputs")
    n_classes = n_classes if n_classes is not None else meta.get("n_classes")
    labels = _check_labels(labels, n_classes, where, "labels" if kind == "events" else "y")
    n_classes = int(labels.max()) + 1 if n_classes is None else int(n_classes)
    n = len(labels)
    if n < 2:
        raise DataError(f"{where}: needs at least 2 samples (one to train, one to test), has {n}")
    train_idx, test_idx = _split(n, test_fraction, seed)
    if limit is not None:
        train_idx, test_idx = train_idx[:limit], test_idx[:limit]
    keep = np.concatenate([train_idx, test_idx])
    if kind == "events":
        x = _bin(times, units, keep, dt, n_in, where)   # every sample checked, the kept ones binned
        steps = x.shape[1]
        mask = np.zeros((len(keep), steps), dtype=bool)
        mask[:, steps // 2:] = True
    else:
        channels = x.shape[2]
        if n_in is not None:
            if channels > n_in:
                raise DataError(f"{where}: field 'x' has {channels} input channels, the network has n_in = {n_in}; "
                                f"channel {channels - 1} is outside the inputs 0..{n_in - 1}")
            x = np.concatenate([x, np.zeros(x.shape[:2] + (n_in - channels,))], axis=2)
        x, mask = x[keep], mask[keep]
    y = labels[keep]
    k = len(train_idx)
    name = f"data:{path.name}"
    return Task(name, float(dt), x[:k], y[:k], mask[:k], x[k:], y[k:], mask[k:], n_classes)


def bin_events(t_us, ch, dt, steps, n_in):
    """Dense (steps, n_in) input magnitudes of one sample's events: event counts per
    (floor(t / dt), channel), saturating at the Q format's largest value."""
    s = _step_of(t_us, dt)
    out = np.zeros((steps, n_in))
    np.add.at(out, (s, np.asarray(ch, dtype=np.int64)), 1.0)
    return np.minimum(out, F.Q.max_value)


def _step_of(t_us, dt):
    """Step index floor(t / dt) of times in microseconds (a time on a step boundary, up to
    float rounding, starts that step)."""
    return np.floor(np.asarray(t_us, dtype=np.float64) / (dt * 1e6) + 1e-9).astype(np.int64)


def network_for(n_in, n_classes, dt, seed=0, hidden=DEFAULT_HIDDEN):
    """The network a data set gets by default: n_in inputs, one ReLU hidden layer of
    ``hidden`` sigma-delta neurons, a linear readout of n_classes (LayerConfig's defaults
    otherwise: K = 4 buckets of 2, 4, 8 and 16 ms)."""
    layers = (LayerConfig(int(n_in), int(hidden)),
              LayerConfig(int(hidden), int(n_classes), readout="linear", encoder="none"))
    return NetworkConfig(dt=dt, layers=layers, init_seed=seed).validate()


def check_fits(cfg, task, source="the network"):
    """DataError unless ``cfg`` takes the task's inputs and classes."""
    n_in, n_out = cfg.layers[0].n_in, cfg.layers[-1].n_out
    if task.n_in != n_in:
        raise DataError(f"{source} has {n_in} inputs, the data {task.n_in} channels")
    if task.n_classes > n_out:
        raise DataError(f"{source} has {n_out} outputs, the data {task.n_classes} classes")


# --- reading ------------------------------------------------------------------------------

def _is_hdf5(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89HDF\r\n\x1a\n"


def _read_npz(path):
    where = str(path)
    try:
        data = np.load(path, allow_pickle=True)
        files = set(data.files)
    except Exception as exc:
        raise DataError(f"{where} is not a NumPy .npz file: {exc}") from None
    meta = {}
    for key in ("n_inputs", "n_classes"):
        if key in files:
            v = data[key]
            if v.ndim != 0 or not np.issubdtype(v.dtype, np.integer) or int(v) < 1:
                raise DataError(f"{where}: field {key!r} must be a positive integer scalar, not {v!r}")
            meta[key] = int(v)
    if "events" in files:
        if "labels" not in files:
            raise DataError(f"{where}: missing field 'labels' (the class of each sample in 'events')")
        events = data["events"]
        labels = data["labels"]
        if events.ndim != 1:
            raise DataError(f"{where}: field 'events' must be a 1-d array of per-sample event arrays, "
                            f"not shape {events.shape}")
        if len(labels) != len(events):
            raise DataError(f"{where}: field 'labels' has {len(labels)} entries, 'events' {len(events)} samples")
        times, units = [], []
        for i, ev in enumerate(events):
            ev = np.asarray(ev)
            names = ev.dtype.names or ()
            missing = [f for f in ("t", "x") if f not in names]
            if missing:
                raise DataError(f"{where}: events[{i}] lacks field(s) {missing}; expected a structured array "
                                f"with fields t (microseconds), x (channel) and p (polarity), "
                                f"not fields {list(names)}")
            if "y" in names:
                raise DataError(f"{where}: events[{i}] has a field 'y' (a 2-d sensor such as DVS Gesture's); "
                                f"gammacore takes one channel per event: combine them into x first, "
                                f"e.g. x = y * width + x, and drop y")
            times.append(ev["t"])
            units.append(ev["x"])
        return "events", (times, units, labels, meta)
    if "x" in files or "y" in files:
        missing = [f for f in ("x", "y") if f not in files]
        if missing:
            raise DataError(f"{where}: missing field(s) {missing}; an arrays file holds x (samples, steps, inputs), "
                            f"y (samples,) and optionally mask (samples, steps)")
        x = np.asarray(data["x"], dtype=np.float64)
        y = data["y"]
        if x.ndim != 3:
            raise DataError(f"{where}: field 'x' must be (samples, steps, inputs), not shape {x.shape}")
        if not np.all(np.isfinite(x)) or np.any(x < 0):
            bad = x[~np.isfinite(x) | (x < 0)][0]
            raise DataError(f"{where}: field 'x' holds {bad!r}; input magnitudes must be finite and >= 0")
        if y.shape != (x.shape[0],):
            raise DataError(f"{where}: field 'y' must have shape ({x.shape[0]},) (one label per sample), "
                            f"not {y.shape}")
        if "mask" in files:
            mask = np.asarray(data["mask"])
            if mask.shape != x.shape[:2]:
                raise DataError(f"{where}: field 'mask' must have shape {x.shape[:2]} (samples, steps), "
                                f"not {mask.shape}")
            mask = mask.astype(bool)
        else:
            mask = np.zeros(x.shape[:2], dtype=bool)
            mask[:, x.shape[1] // 2:] = True
        if not mask.any(axis=1).all():
            i = int(np.flatnonzero(~mask.any(axis=1))[0])
            raise DataError(f"{where}: field 'mask' has no loss step in sample {i}")
        return "arrays", (x, y, mask, meta)
    raise DataError(f"{where}: missing fields: expected 'events' and 'labels' (event data) or 'x' and 'y' "
                    f"(arrays), found {sorted(files)}")


def _read_hdf5(path):
    import h5py
    where = str(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{where} cannot be read as HDF5: {exc}") from None
    with f:
        for key in ("spikes/times", "spikes/units", "labels"):
            if key not in f:
                raise DataError(f"{where}: missing field {key!r}; an SHD/SSC file holds spikes/times (seconds), "
                                f"spikes/units (channels) and labels")
        times = [np.round(np.asarray(t, dtype=np.float64) * 1e6, 3) for t in f["spikes/times"]]
        units = [np.asarray(u) for u in f["spikes/units"]]
        labels = np.asarray(f["labels"])
    if len(times) != len(units) or len(times) != len(labels):
        raise DataError(f"{where}: spikes/times has {len(times)} samples, spikes/units {len(units)}, "
                        f"labels {len(labels)}; expected the same count")
    return times, units, labels, {}


def _check_labels(labels, n_classes, where, field):
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        if labels.ndim == 1 and np.issubdtype(labels.dtype, np.floating) and np.all(labels == np.round(labels)):
            labels = labels.astype(np.int64)
        else:
            raise DataError(f"{where}: field {field!r} must be a 1-d array of integer classes, "
                            f"not {labels.dtype} of shape {labels.shape}")
    labels = labels.astype(np.int64)
    if len(labels) and labels.min() < 0:
        raise DataError(f"{where}: field {field!r} holds {int(labels.min())}; classes are 0, 1, 2, ...")
    if n_classes is not None and len(labels) and labels.max() >= n_classes:
        i = int(np.argmax(labels >= n_classes))
        raise DataError(f"{where}: {field}[{i}] = {int(labels[i])} is outside the classes 0..{n_classes - 1}")
    return labels


def _split(n, test_fraction, seed):
    rng = np.random.default_rng([int(seed), 4])
    order = rng.permutation(n)
    n_test = min(n - 1, max(1, int(round(test_fraction * n))))
    return order[n_test:], np.sort(order[:n_test])


def _bin(times, units, keep, dt, n_in, where):
    channels = 0
    last = 0.0
    for i in range(len(times)):
        t = np.asarray(times[i], dtype=np.float64)
        x = np.asarray(units[i])
        if t.shape != x.shape or t.ndim != 1:
            raise DataError(f"{where}: sample {i} has {t.size} times and {x.size} channels; expected one of each "
                            f"per event")
        if t.size == 0:
            continue
        if not np.all(np.isfinite(t)) or t.min() < 0:
            bad = t[~np.isfinite(t) | (t < 0)][0]
            raise DataError(f"{where}: sample {i}, field 't' holds {bad!r}; event times must be >= 0 microseconds")
        if not np.issubdtype(x.dtype, np.integer):
            raise DataError(f"{where}: sample {i}, field 'x' must hold integer channels, not {x.dtype}")
        if x.min() < 0:
            raise DataError(f"{where}: sample {i}, field 'x' holds channel {int(x.min())}; channels are 0, 1, 2, ...")
        if n_in is not None and x.max() >= n_in:
            raise DataError(f"{where}: sample {i}, field 'x' holds channel {int(x.max())}, outside the inputs "
                            f"0..{n_in - 1}")
        channels = max(channels, int(x.max()) + 1)
        last = max(last, float(t.max()))
    n_in = channels if n_in is None else int(n_in)
    if n_in < 1:
        raise DataError(f"{where}: the samples hold no events, so there are no input channels")
    steps = int(_step_of(last, dt)) + 1
    size = len(keep) * steps * n_in * 8
    if size > MAX_DENSE_BYTES:
        raise DataError(f"{where}: {len(keep)} samples x {steps} steps x {n_in} channels at dt = {dt:g} s need "
                        f"{size / 2**30:.1f} GiB; use a larger --dt or --limit")
    x = np.zeros((len(keep), steps, n_in))
    for row, i in enumerate(keep):
        if np.size(times[i]):
            x[row] = bin_events(times[i], units[i], dt, steps, n_in)
    return x
