"""Asynchronous execution (docs/model.md section 6, seed 002): no layer barrier, bit-exact.

Layer-synchronous execution evaluates every neuron once per step, after all of its inputs
of the step are in. Asynchronous execution evaluates a neuron whenever an event reaches it
and lets it fire at once; spikes that are pending dispatch one at a time (F = 1) in a
scheduling order. The buckets are linear, so adding an event's ``W q`` to Z^1 the moment it
arrives gives the same end-of-step Z as accumulating A first: only *when* neurons fire, and
with what magnitude, changes.

One step, in this order (this is the definition the RTL implements):

1. buckets and presynaptic traces: layer 0 takes the host's inputs of the step as in sync
   mode (:func:`~gammacore.golden.fixedpoint.bucket_step` with A = the accumulated events,
   the traces with ``trace_input(q)``); every other layer decays with no input (A = 0).
2. every neuron of every layer is evaluated in order (layer, then index): its encoder
   estimate decays (:func:`~gammacore.golden.fixedpoint.encoder_decay`), x and y are
   computed, and the spike count n (:func:`~gammacore.golden.fixedpoint.encoder_count`);
   a neuron with an encoder and n >= 1 becomes *pending*, with a key.
3. while a neuron is pending: the one with the largest key fires (ties: the lowest layer,
   then the lowest index) with its current n and theta
   (:func:`~gammacore.golden.fixedpoint.encoder_fire`); its spike is delivered to the next
   layer at once, ``Z_j^1 <- sat(Z_j^1 + W[j,i] q)`` for every j and
   ``yhat_i^1 <- sat(yhat_i^1 + (q << 12))``, and every neuron of that layer is
   re-evaluated (x, y, n; a pending neuron whose n fell to 0 stops being pending; in
   priority order its key follows its n). A neuron fires at most once per step.
4. every adaptation decays (:func:`~gammacore.golden.fixedpoint.adapt_decay`).

Keys: ``priority`` - the spike count n (the neuron over its threshold by the most
thresholds goes first); ``random`` - a 16-bit value drawn from :class:`Lfsr16` when the
neuron becomes pending (neurons become pending in evaluation order, so the draws are in
that order). The LFSR starts from the configured seed and restarts from it at
:meth:`AsyncRunner.reset` (the chip's CLEAR command); the same seed gives the same order.

The host's events enter layer 0 through the accumulator, as in sync mode, because they
all belong to the step boundary; delivering them one by one into Z^1 would give the same
result except where an intermediate sum saturates.

Learning (``learn``) is the layer's own rule on the end-of-step state, as in sync mode.
"""
import numpy as np

from . import fixedpoint as fp
from . import formats as F

__all__ = ["Lfsr16", "AsyncRunner", "MODES", "evaluate_modes", "decision_step", "step_figures"]

MODES = ("sync", "async-random", "async-priority")


class Lfsr16:
    """16-bit Galois LFSR, taps 0xB400 (x^16 + x^14 + x^13 + x^11 + 1), period 65535."""

    TAPS = 0xB400

    def __init__(self, seed):
        seed = int(seed) & 0xFFFF
        if seed == 0:
            raise ValueError("the LFSR seed must be a non-zero 16-bit value, not 0")
        self.state = seed

    def next(self):
        lsb = self.state & 1
        self.state >>= 1
        if lsb:
            self.state ^= self.TAPS
        return self.state


class AsyncRunner:
    """Runs the FixedLayers of a fixed-point :class:`~gammacore.golden.network.Network` asynchronously.

    Parameters
    ----------
    net : Network (model "fixed", batch 1)
    order : "random" or "priority"
    seed : LFSR seed (random order)
    """

    def __init__(self, net, order="priority", seed=1):
        if net.model != "fixed" or net.batch != 1:
            raise ValueError("asynchronous execution runs a fixed-point network with batch 1")
        if order not in ("random", "priority"):
            raise ValueError(f"order must be 'random' or 'priority', not {order!r}")
        self.net, self.order, self.seed, self.lfsr = net, order, seed, Lfsr16(seed)
        self.layers = net.layers

    def reset(self):
        """Zero every state word and restart the LFSR from the seed (the chip's CLEAR)."""
        self.net.reset()
        self.lfsr = Lfsr16(self.seed)

    # --- pieces ------------------------------------------------------------------------
    def _deliver(self, l, i, q):
        layer = self.layers[l]
        layer.Z[0, :, 0] = F.Z.saturate(layer.Z[0, :, 0] + layer.W[:, i] * int(q))
        layer.trace[0, i, 0] = F.TRACE.saturate(int(layer.trace[0, i, 0]) + int(fp.trace_input(int(q))))

    def _evaluate(self, l):
        """x, y of every neuron of layer l; update the pending set."""
        layer, cfg = self.layers[l], self.net.cfg.layers[l]
        layer.x = fp.dendrite(layer.V[None], layer.Z, layer.b[None])
        layer.y = layer.x if cfg.readout == "linear" else fp.relu(layer.x)
        if cfg.encoder != "sigma-delta":
            return
        n, _ = fp.encoder_count(layer.y[0], layer.e[0], layer.d[0], layer.coefs.theta0, cfg.n_max)
        for j in range(cfg.n_out):
            key = (l, j)
            if self.fired[l][j]:
                continue
            if n[j] >= 1:
                if key not in self.pending:
                    self.pending[key] = int(n[j]) if self.order == "priority" else self.lfsr.next()
                elif self.order == "priority":
                    self.pending[key] = int(n[j])
            else:
                self.pending.pop(key, None)

    def _select(self):
        return max(self.pending, key=lambda k: (self.pending[k], -k[0], -k[1]))

    # --- a step ------------------------------------------------------------------------
    def step(self, q_in):
        """Input magnitudes (n_in,) Q raw; returns (spikes, x_out): spikes in firing order as
        (layer, neuron, q), x_out the output layer's x (raw) at the end of the step."""
        q_in = np.asarray(q_in, dtype=np.int64)
        L = len(self.layers)
        for n, (layer, cfg) in enumerate(zip(self.layers, self.net.cfg.layers)):
            c = layer.coefs
            q = q_in[None] if n == 0 else np.zeros_like(layer.trace[..., 0])
            layer.A = fp.accumulate(layer.W, q)
            layer.Z = fp.bucket_step(layer.Z, layer.A, c.alpha, c.beta)
            layer.trace = fp.bucket_step(layer.trace, fp.trace_input(q), c.alpha, c.beta)
            if cfg.encoder == "sigma-delta":
                layer.e = fp.encoder_decay(layer.e, c.alpha_e)
            layer.q = np.zeros_like(layer.q)
        self.pending = {}
        self.fired = [np.zeros(cfg.n_out, dtype=bool) for cfg in self.net.cfg.layers]
        for l in range(L):
            self._evaluate(l)
        spikes = []
        while self.pending:
            l, j = self._select()
            del self.pending[(l, j)]
            layer, cfg = self.layers[l], self.net.cfg.layers[l]
            n, theta = fp.encoder_count(int(layer.y[0, j]), int(layer.e[0, j]), int(layer.d[0, j]),
                                        layer.coefs.theta0, cfg.n_max)
            q, e, d = fp.encoder_fire(n, theta, int(layer.e[0, j]), int(layer.d[0, j]), layer.coefs.m_f)
            layer.e[0, j], layer.d[0, j], layer.q[0, j] = e, d, q
            self.fired[l][j] = True
            spikes.append((l, j, int(q)))
            if l + 1 < L:
                self._deliver(l + 1, j, q)
                self._evaluate(l + 1)
        for layer, cfg in zip(self.layers, self.net.cfg.layers):
            if cfg.encoder == "sigma-delta":
                layer.d = fp.adapt_decay(layer.d, layer.coefs.alpha_theta)
        for n, layer in enumerate(self.layers):
            self.net.spikes[n] = F.Q.to_float(layer.q)
            if self.net.cfg.layers[n].encoder != "none":
                self.net.spike_count[n] += int(np.count_nonzero(layer.q))
        self.net.steps += 1
        return spikes, self.layers[-1].x[0].copy()


def decision_step(right):
    """The first step from which the output is right until the end of the sample, or None.

    right : per step, whether argmax y_out(t) equals the label.
    """
    right = np.asarray(right, dtype=bool)
    wrong = np.flatnonzero(~right)
    first = 0 if len(wrong) == 0 else int(wrong[-1]) + 1
    return first if first < len(right) else None


def step_figures(rights):
    """Timing figures over samples, ``rights`` one per sample (per step, whether argmax
    y_out(t) equals the label): the mean decision step (:func:`decision_step`) and the mean
    first correct step (the first step that is right), each over the samples that have one."""
    decisions = [s for s in map(decision_step, rights) if s is not None]
    firsts = [int(np.argmax(r)) for r in rights if np.any(r)]
    return {"decision_step_mean": float(np.mean(decisions)) if decisions else None,
            "samples_with_decision": len(decisions),
            "first_correct_step_mean": float(np.mean(firsts)) if firsts else None}


def evaluate_modes(cfg, params, task, modes=MODES, limit=None, seed=1, progress=None):
    """Test-set figures of trained weights ``params`` under each execution mode.

    Per mode: accuracy (argmax of y_out summed over the loss steps, as in training),
    spikes per inference (all spiking layers, per sample), the first correct step (the
    first step at which argmax y_out(t) equals the label) and the decision step: the first
    step from which argmax y_out(t) equals the label until the end of the sample (each
    over the samples that have one), in steps and seconds. Batch 1, fixed point.
    """
    from .network import make_network
    x, labels, mask = task.x_test, task.y_test, task.m_test
    if limit is not None:
        x, labels, mask = x[:limit], labels[:limit], mask[:limit]
    out = {}
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        correct, spikes, rights = 0, 0, []
        for n in range(len(x)):
            net = make_network(cfg, "fixed", batch=1, params=params)
            runner = None if mode == "sync" else AsyncRunner(net, order=mode.split("-")[1], seed=seed)
            score = np.zeros(cfg.layers[-1].n_out)
            right = np.zeros(x.shape[1], dtype=bool)
            for t in range(x.shape[1]):
                if runner is None:
                    y = net.step(x[n, t][None])[0]
                else:
                    _, xo = runner.step(F.Q.from_float(x[n, t]))
                    y = F.X.to_float(xo)
                right[t] = np.argmax(y) == labels[n]
                if mask[n, t]:
                    score += y
            correct += int(np.argmax(score) == labels[n])
            spikes += int(net.spike_count.sum())
            rights.append(right)
            if progress:
                progress(1)
        fig = step_figures(rights)
        out[mode] = {"accuracy": correct / len(x), "spikes_per_inference": spikes / len(x), **fig,
                     "decision_seconds_mean": None if fig["decision_step_mean"] is None
                     else fig["decision_step_mean"] * task.dt,
                     "samples": len(x)}
    return out
