"""On-chip online learning of a reference task, side by side with the golden model.

By default each sample goes to the chip whole (:meth:`~gammacore.host.driver.Chip.train`):
the chip's sample sequencer runs its steps, its loss unit computes the errors (integer
softmax cross-entropy, :func:`gammacore.golden.fixedpoint.loss_unit`) and the chip learns;
the host keeps two samples queued and reads each one's results. The golden model is trained
with the same loss unit (``train(..., chip_loss=True)``). With ``host_errors`` the host
instead streams each sample's input events step by step, reads the output layer's x,
computes the float softmax errors and streams them back (the golden model then trains with
the host's loss). Sample order, learning-rate schedule, state reset per sample and
evaluation (the test set after every epoch, which leaves the weights unchanged) are those of
the golden ``train``, so the chip's test accuracy after every epoch and its final weights
must equal the golden model's for the same seed: the demo checks both. The golden model
trains in a second process while the chip runs (the simulated board and the host take about
one core and a half, the golden model's fixed point the rest), so the demo's wall time is
the longer of the two, not their sum.
"""
import multiprocessing
import os
import signal
import time

import numpy as np
from tqdm import tqdm

from .. import regmap as R
from ..golden import fixedpoint as fp
from ..golden import formats as F
from ..golden.loss import softmax_ce
from ..golden.network import make_network
from ..golden.presets import preset, schedule
from ..golden.tasks import make_task
from ..golden.train import train

__all__ = ["run_demo", "run_sample", "record_sample", "write_plots", "core_load"]


def run_sample(chip, xi, mi, label=None, learn=False, record=None):
    """One sample on the chip: returns (score, loss_sum, loss_n)."""
    chip.clear()
    score = np.zeros(chip.cfg.layers[-1].n_out)
    loss_sum, loss_n = 0.0, 0
    for t in range(xi.shape[0]):
        q = F.Q.from_float(xi[t])
        packets, x = chip.step(q)
        y = F.X.to_float(x if chip.cfg.layers[-1].readout == "linear" else np.maximum(x, 0))
        if record is not None:
            record(t, q, packets, y)
        if mi[t]:
            score += y
            if learn:
                loss, err = softmax_ce(y[None], np.array([label]))
                chip.learn(F.ERR.from_float(err[0]))
                loss_sum += float(loss[0])
                loss_n += 1
    return score, loss_sum, loss_n


def run_demo(chip, task_name, epochs, limit, seed=0, dt=1e-3, progress=True, log=print, host_errors=False):
    """Train on the chip, evaluate on the chip, run the golden model; returns the report.

    ``limit``: the first ``limit`` train and test samples (None: all). ``host_errors``: the
    host's per-step loop with host-computed errors instead of the chip's sample sequencer."""
    task = make_task(task_name, dt=dt, seed=seed)
    cfg = preset(task_name, dt=dt, seed=seed)
    plan = schedule(task_name).with_epochs(epochs)
    x_tr, y_tr, m_tr = task.x_train[:limit], task.y_train[:limit], task.m_train[:limit]
    x_te, y_te, m_te = task.x_test[:limit], task.y_test[:limit], task.m_test[:limit]
    net = make_network(cfg, "fixed", batch=1)
    t_all = time.perf_counter()
    golden_job = _golden_start(task_name, dt, seed, plan, limit, not host_errors, progress)
    log(f"golden model: the same training in fixed point (seed {seed}, "
        f"{'host' if host_errors else 'chip'} loss unit)"
        + (", alongside in a second process" if golden_job is not None else ", after the chip's"))
    try:
        t0 = time.perf_counter()
        chip.load(cfg, net.layers)
        load_s = time.perf_counter() - t0
        rng = np.random.default_rng([seed, 3])
        start = core_load(chip)
        t0 = time.perf_counter()
        total = epochs * (len(x_tr) + len(x_te))
        if not host_errors:
            correct, steps, curve = _autonomous(chip, plan, seed, (x_tr, y_tr, m_tr), (x_te, y_te, m_te),
                                                task_name, progress)
        else:
            correct, steps, curve = _host_loop(chip, plan, rng, epochs, (x_tr, y_tr, m_tr), (x_te, y_te, m_te),
                                               total, task_name, progress)
        chip_s = time.perf_counter() - t0
        load = core_load(chip, start)
        chip_acc = correct / len(x_te)
        masters = chip.read_params()
    except BaseException:
        _golden_abort(golden_job)
        raise
    gold = _golden_finish(golden_job, task_name, dt, seed, plan, limit, not host_errors, log, progress)
    wall_s = time.perf_counter() - t_all
    weights_equal = all(
        np.array_equal(F.W.to_float(fp.forward_from_master(m["W"])), g["W"])
        and np.array_equal(F.V.to_float(fp.forward_from_master(m["V"])), g["V"])
        and np.array_equal(F.B.to_float(fp.forward_from_master(m["b"])), g["b"])
        for m, g in zip(masters, gold["params"]))
    counters = chip.counters()
    return {
        "task": task_name, "seed": seed, "dt": dt, "epochs": epochs,
        "path": "host-errors" if host_errors else "autonomous",
        "train_samples": int(len(x_tr)), "test_samples": int(len(x_te)),
        "chip_test_accuracy": chip_acc, "golden_test_accuracy": gold["test_accuracy"],
        "accuracy_equal": chip_acc == gold["test_accuracy"], "weights_equal": bool(weights_equal),
        "steps": steps, "chip_wall_seconds": chip_s, "load_seconds": load_s,
        "steps_per_second": steps / chip_s if chip_s > 0 else None,
        "core_busy_fraction": load["busy_fraction"], "clocks": load["clocks"], "busy_clocks": load["busy_clocks"],
        "golden_wall_seconds": gold["wall_seconds"], "golden_alongside": golden_job is not None,
        "wall_seconds": wall_s, "curve": curve, "golden_curve": gold["curve"],
        "curve_equal": [c["test_accuracy"] for c in curve] == [g["test_accuracy"] for g in gold["curve"]],
        "counters": counters,
        "_cfg": cfg, "_task": task, "_masters": masters,
    }


#: the golden run's progress bar in its second process: the line below the chip's bar
GOLDEN_BAR = {"desc": "golden model (alongside)", "position": 1, "leave": False, "mininterval": 0.5}


def _golden_train(task_name, dt, seed, plan, limit, chip_loss, progress=False, nice=0):
    """The demo's golden run (fixed point, the chip's training exactly): the result dict of
    :func:`gammacore.golden.train.train`. Runs in a second process (``nice`` lowers its
    priority there, so the simulated board and the host keep theirs); ``progress``: tqdm
    options of its bar, or False."""
    if nice:
        os.nice(nice)
    task = make_task(task_name, dt=dt, seed=seed)
    cfg = preset(task_name, dt=dt, seed=seed)
    return train(cfg, task, model="fixed", schedule=plan, seed=seed, limit=limit, progress=progress,
                 chip_loss=chip_loss)


def _golden_child(conn, *args):
    """The second process: the golden run, its result (or its error) sent back on ``conn``."""
    try:
        result = ("ok", _golden_train(*args, nice=5))    # args end with the progress option
    except BaseException as exc:            # reported by the parent, which raises it
        import traceback
        result = ("error", "".join(traceback.format_exception(exc)))
    try:
        conn.send(result)
        conn.close()
    except OSError:                         # the parent stopped listening (its run failed)
        pass


def _golden_start(task_name, dt, seed, plan, limit, chip_loss, progress):
    """Start the golden run in a second process; returns (process, pipe end), or None when no
    process can be started (then :func:`_golden_finish` runs it in this one). ``progress``:
    its bar (:data:`GOLDEN_BAR`, on the line below the chip's) if true."""
    try:
        ctx = multiprocessing.get_context("spawn")
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_golden_child, args=(send, task_name, dt, seed, plan, limit, chip_loss,
                                                       GOLDEN_BAR if progress else False),
                           name="gammacore-golden", daemon=True)
        proc.start()
        send.close()
        return proc, recv
    except (OSError, RuntimeError, ValueError):
        return None


def _golden_abort(job):
    """Stop the golden run's process (the chip's run failed: nothing will wait for it)."""
    if job is None:
        return
    proc, recv = job
    recv.close()
    # an interrupt first: the process unwinds and releases what it holds (tqdm's lock is a
    # named semaphore, reported as leaked after a plain terminate)
    if proc.pid is not None and proc.is_alive():
        os.kill(proc.pid, signal.SIGINT)
        proc.join(timeout=10)
    if proc.is_alive():
        proc.terminate()
        proc.join(timeout=10)


def _golden_finish(job, task_name, dt, seed, plan, limit, chip_loss, log, progress):
    """The golden run's result: the second process's (waited for), or run here if it could not
    start."""
    if job is None:
        return _golden_train(task_name, dt, seed, plan, limit, chip_loss,
                             progress={"desc": "golden model"} if progress else False)
    proc, recv = job
    try:
        if not recv.poll():
            log("golden model: waiting for it to finish")
        kind, value = recv.recv()
    except EOFError:
        proc.join(timeout=10)
        raise RuntimeError(f"the golden model's process ended without a result (exit code {proc.exitcode})") from None
    finally:
        recv.close()
    proc.join(timeout=10)
    if kind != "ok":
        raise RuntimeError(f"the golden model failed in its process:\n{value}")
    return value


def core_load(chip, start=None):
    """The core's busy clocks and all clocks (Reg.BUSY_CLOCKS, Reg.CLOCKS); with ``start``
    (an earlier reading) the differences since then and the busy fraction."""
    busy, clocks = (int(w) for w in chip.link.read(R.Reg.BUSY_CLOCKS, 2))
    if start is None:
        return {"busy_clocks": busy, "clocks": clocks}
    d_busy = (busy - start["busy_clocks"]) & 0xFFFFFFFF
    d_clocks = (clocks - start["clocks"]) & 0xFFFFFFFF
    # a lean build (no statistics counters) reads 0: no fraction
    return {"busy_clocks": d_busy, "clocks": d_clocks, "busy_fraction": d_busy / d_clocks if d_clocks else None}


def _autonomous(chip, plan, seed, train_set, test_set, task_name, progress):
    """Training and per-epoch test on the chip's sample sequencer (:meth:`Chip.train`, two
    samples queued at a time)."""
    history = chip.train(train_set, schedule=plan, seed=seed, test=test_set,
                         progress={"desc": f"demo {task_name} on chip"} if progress else False)
    curve = [{"epoch": h["epoch"], "train_loss": h["train_loss"], "test_accuracy": h["test_accuracy"]}
             for h in history]
    return history[-1]["test_correct"], sum(h["steps"] for h in history), curve


def _host_loop(chip, plan, rng, epochs, train_set, test_set, total, task_name, progress):
    """Training and per-epoch test by the host's per-step loop (host-computed errors)."""
    (x_tr, y_tr, m_tr), (x_te, y_te, m_te) = train_set, test_set
    curve, steps = [], 0
    with tqdm(total=total, desc=f"demo {task_name} on chip", unit="sample", disable=not progress) as bar:
        seen = 0
        for epoch in range(epochs):
            loss_sum, loss_n = 0.0, 0
            for i in rng.permutation(len(x_tr)):
                if (shift := plan.change_at(seen, len(x_tr))) is not None:
                    chip.set_learning_shift(shift)
                seen += 1
                _, ls, ln = run_sample(chip, x_tr[i], m_tr[i], y_tr[i], learn=True)
                loss_sum, loss_n = loss_sum + ls, loss_n + ln
                steps += x_tr.shape[1]
                bar.update(1)
            correct = 0
            for i in range(len(x_te)):
                score, _, _ = run_sample(chip, x_te[i], m_te[i])
                correct += int(np.argmax(score) == y_te[i])
                steps += x_te.shape[1]
                bar.update(1)
            curve.append({"epoch": epoch + 1, "train_loss": loss_sum / max(loss_n, 1),
                          "test_accuracy": correct / len(x_te)})
            bar.set_postfix(loss=f"{curve[-1]['train_loss']:.3f}", test=f"{curve[-1]['test_accuracy']:.3f}")
    return correct, steps, curve


def record_sample(chip, task, index=0, neuron=None):
    """Run one test sample with hidden spikes routed to the host and a neuron's buckets read
    every step; returns arrays for the plots."""
    cfg = chip.cfg
    K = cfg.layers[0].K
    chip.route_hidden_to_host(True)
    xi, mi = task.x_test[index], task.m_test[index]
    hidden = chip.descs[0]
    if neuron is None:
        V = np.array([R.s32(w) for w in chip.link.read(R.mem_addr(R.Region.V, 0), cfg.layers[0].n_out * K)])
        neuron = int(np.argmax(np.abs(V.reshape(-1, K)).sum(axis=1)))
    rec = {"inputs": [], "spikes": [], "y": [], "Z": [], "neuron": neuron, "label": int(task.y_test[index])}

    def record(t, q, packets, y):
        rec["inputs"] += [(t, i, F.Q.to_float(q[i])) for i in np.flatnonzero(q)]
        rec["spikes"] += [(t, src, F.Q.to_float(mag)) for src, mag, _ in packets]
        rec["y"].append(y)
        z = chip.link.read(R.mem_addr(R.Region.Z, (hidden["n_base"] + neuron) * K), K)
        rec["Z"].append([F.Z.to_float(R.s32(w)) for w in z])

    run_sample(chip, xi, mi, record=record)
    chip.route_hidden_to_host(False)
    rec["mask"] = mi
    return rec


def write_plots(report, rec, out_dir):
    """PNG figures: spike rasters, bucket traces, learning curve, learned bucket weights."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg, dt = report["_cfg"], report["dt"]
    paths = []

    fig, axes = plt.subplots(3, 1, figsize=(8, 7), sharex=True)
    ins = np.array(rec["inputs"]).reshape(-1, 3)
    axes[0].scatter(ins[:, 0] * dt * 1e3, ins[:, 1], s=6 + 30 * ins[:, 2], marker="|")
    axes[0].set_ylabel("input channel")
    sp = np.array(rec["spikes"]).reshape(-1, 3)
    axes[1].scatter(sp[:, 0] * dt * 1e3, sp[:, 1], s=4 + 20 * sp[:, 2], marker="|", color="C1")
    axes[1].set_ylabel("hidden neuron")
    y = np.array(rec["y"])
    for c in range(y.shape[1]):
        axes[2].plot(np.arange(len(y)) * dt * 1e3, y[:, c], label=f"class {c}", lw=1.5 if c == rec["label"] else 0.8)
    axes[2].set_ylabel("output y")
    axes[2].set_xlabel("time (ms)")
    axes[2].legend(fontsize=7, ncol=5)
    axes[0].set_title(f"{report['task']}: one test sample on the chip (label {rec['label']})")
    fig.tight_layout()
    paths.append(out_dir / "rasters.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 3.5))
    Z = np.array(rec["Z"])
    for k in range(Z.shape[1]):
        ax.plot(np.arange(len(Z)) * dt * 1e3, Z[:, k], label=f"bucket {k + 1}")
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("Z")
    ax.set_title(f"bucket traces of hidden neuron {rec['neuron']} (read from the chip every step)")
    ax.legend()
    fig.tight_layout()
    paths.append(out_dir / "buckets.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 3.8))
    curve, gold = report["curve"], report["golden_curve"]
    epochs = [c["epoch"] for c in curve]
    ax_acc.plot(epochs, [100 * c["test_accuracy"] for c in curve], "o-", lw=2.5, label="chip")
    ax_acc.plot([g["epoch"] for g in gold], [100 * g["test_accuracy"] for g in gold], "s--", color="k", ms=4,
                label="golden model")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.set_ylim(0, 102)
    ax_acc.set_title(f"test set after each epoch: chip {report['chip_test_accuracy']:.3f}, "
                     f"golden {report['golden_test_accuracy']:.3f}", fontsize=9)
    ax_acc.legend()
    ax_loss.plot(epochs, [c["train_loss"] for c in curve], "o-", lw=2.5, label="chip")
    ax_loss.plot([g["epoch"] for g in gold], [g["train_loss"] for g in gold], "s--", color="k", ms=4,
                 label="golden model")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("mean online training loss")
    ax_loss.set_title(f"{'host' if report['path'] == 'host-errors' else 'chip'} loss unit, "
                      "over each epoch's loss steps", fontsize=9)
    ax_loss.legend()
    for ax in (ax_acc, ax_loss):
        ax.set_xticks(epochs if len(epochs) <= 20 else epochs[::max(1, len(epochs) // 10)])
    fig.tight_layout()
    paths.append(out_dir / "learning_curve.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    V = F.V.to_float(fp.forward_from_master(report["_masters"][0]["V"]))
    taus = np.array(cfg.layers[0].taus)
    delay = np.cumsum(taus) * 1e3
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), gridspec_kw={"width_ratios": [3, 2]})
    im = axes[0].imshow(V, aspect="auto", cmap="coolwarm", vmin=-np.abs(V).max(), vmax=np.abs(V).max())
    axes[0].set_xticks(range(V.shape[1]), labels=[str(k + 1) for k in range(V.shape[1])])
    axes[0].set_xlabel("bucket k")
    axes[0].set_ylabel("hidden neuron")
    axes[0].set_title("learned bucket weights V")
    fig.colorbar(im, ax=axes[0])
    w = np.abs(V)
    eff = (w * delay).sum(axis=1) / np.maximum(w.sum(axis=1), 1e-9)
    axes[1].hist(eff, bins=15)
    axes[1].set_xlabel("effective delay (ms)\n|V|-weighted mean of the bucket delays")
    axes[1].set_ylabel("neurons")
    fig.tight_layout()
    paths.append(out_dir / "bucket_weights.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths
