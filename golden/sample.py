"""One sample run as the chip's sample sequencer runs it: the specification of its results.

:func:`run_sample` takes a fixed-point :class:`~gammacore.golden.network.Network` (batch 1)
and one sample as the sample memory holds it (:func:`gammacore.regmap.sample_words`): per
step its input events and whether it carries the loss, and the label. It clears the state,
runs the steps, and at each loss step feeds the output layer's y to the loss unit
(:func:`~gammacore.golden.fixedpoint.loss_unit`; for a squared-error sample, with targets
instead of a label, :func:`~gammacore.golden.fixedpoint.mse_unit`), learns from its errors
when ``learn``, and sums the results the chip leaves in the slot
(gammacore.regmap.ResultField): the score of each output (the sum of its y over the loss
steps, SCORE raw), the argmax of the scores (the first of equal ones), the loss sum
(LOSS_SUM raw) and the output layer's spikes.

Training sample by sample with it, in the order and schedule of
:func:`~gammacore.golden.train.train`, is exactly ``train(..., chip_loss=True)``
(tests/test_golden_models.py checks it).
"""
import numpy as np

from . import fixedpoint as fp
from . import formats as F

__all__ = ["run_sample", "run_sample_words"]


def run_sample(net, q, mask, label, learn, target=None):
    """Run one sample on ``net`` (fixed point, batch 1); returns the results dict.

    q : (T, n_in) Q raw input magnitudes (0 = no event); mask : (T,) loss steps; label : int
    (softmax cross-entropy), or None with ``target`` (T, n_out) X raw: a squared-error sample
    (the rows of the loss steps are used).
    Returns {"steps", "score" (n_out,) SCORE raw, "argmax", "loss_sum" LOSS_SUM raw, "spikes"}.
    """
    if net.model != "fixed" or net.batch != 1:
        raise ValueError(f"run_sample runs a fixed-point network of batch 1, not {net.model!r} batch {net.batch}")
    q = np.asarray(q, dtype=np.int64)
    n_out = net.cfg.layers[-1].n_out
    if (label is None) == (target is None):
        raise ValueError("a sample has a label (softmax cross-entropy) or targets (squared error), "
                         f"not {'both' if target is not None else 'neither'}")
    if target is not None:
        target = np.asarray(target, dtype=np.int64)
        if target.shape != (len(q), n_out):
            raise ValueError(f"targets of shape {target.shape}, expected ({len(q)}, {n_out}): one per step and output")
    elif not 0 <= int(label) < n_out:
        raise ValueError(f"label {label} is outside the output layer's 0..{n_out - 1}")
    net.reset()
    score = np.zeros(n_out, dtype=np.int64)
    loss_sum = 0
    spikes = 0
    labels = None if label is None else np.array([int(label)])
    for t in range(len(q)):
        # an inference sample skips the traces, as the chip does (Cmd.NO_TRACES): they feed
        # only learning, and the next sample starts from a reset
        net.step_quantized(q[t][None], traces=learn)
        out = net.layers[-1]
        spikes += int(np.count_nonzero(out.q))
        if mask[t]:
            y = out.y
            score += y[0]
            if target is None:
                err, loss, _ = fp.loss_unit(y, labels)
            else:
                err, loss = fp.mse_unit(y, target[t][None])
            loss_sum += int(loss[0])
            if learn:
                net.learn(F.ERR.to_float(err))
    return {"steps": len(q), "score": score, "argmax": int(np.argmax(score)),
            "loss_sum": int(F.LOSS_SUM.saturate(loss_sum)), "spikes": spikes}


def run_sample_words(net, words, learn):
    """:func:`run_sample` of a slot's words (:func:`gammacore.regmap.decode_sample`)."""
    from .. import regmap as R
    n_in, n_out = net.cfg.layers[0].n_in, net.cfg.layers[-1].n_out
    label, steps, targets = R.decode_sample(words, n_out)
    q = np.zeros((len(steps), n_in), dtype=np.int64)
    target = None
    if targets is not None:
        target = np.array([t if t is not None else (0,) * n_out for t in targets], dtype=np.int64)
    for t, (events, _) in enumerate(steps):
        for source, mag in events:
            if source >= n_in:
                raise ValueError(f"event source {source} is outside layer 0's inputs 0..{n_in - 1}")
            q[t, source] += mag
    return run_sample(net, q, [loss for _, loss in steps], label, learn, target=target)
