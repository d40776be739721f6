"""Sample-sequencer cases: a random network, random samples, and the golden results.

:func:`make_sample_case` draws a small random network (gammacore.sim.net_case) and samples
(random steps, events, loss steps, labels, train or infer; about 40 % of the steps
repeat the step before, so the markers' runs are replayed; with ``p_mse``, that share of
the samples are squared-error samples, with random targets instead of a label), runs them through
:func:`gammacore.golden.sample.run_sample` in order, and keeps every sample's results and the
final master weights. :func:`run_samples` is what the host does on the chip: write each
sample into a free slot while the other runs, queue it with ``Reg.SAMPLE_CTRL``, and read the
results of each finished slot.
"""
import copy

import numpy as np

from .. import regmap as R
from ..golden import formats as F
from ..golden.sample import run_sample
from .net_case import final_words, random_network

__all__ = ["make_sample_case", "run_samples", "read_results"]


def make_sample_case(seed, sizes, K, n_samples, max_T=6, rate=0.4, p_learn=0.7, out_encoder=False, p_mse=0.0):
    rng = np.random.default_rng(seed)
    net = random_network(rng, sizes, K, out_encoder=out_encoder)
    initial = copy.deepcopy(net.layers)
    n_in, n_out = sizes[0], sizes[-1]
    samples = []
    for _ in range(n_samples):
        T = int(rng.integers(1, max_T + 1))
        q = np.where(rng.random((T, n_in)) < rate, rng.integers(1, F.Q.from_float(3.0), size=(T, n_in)), 0)
        mask = rng.random(T) < 0.6
        # targets around the outputs' scale, some (one in ten, scaled by ERR's range) far enough
        # that their errors saturate (drawn only for cases with squared-error samples: the
        # other cases' draws stay as they were)
        target = np.zeros((T, n_out), dtype=np.int64)
        if p_mse:
            far = -F.ERR.min_value          # ERR's range is [min_value, -min_value)
            target = F.X.from_float(rng.normal(0, 2.0, (T, n_out)) * np.where(rng.random((T, n_out)) < 0.1, far, 1))
        for t in np.flatnonzero(rng.random(T) < 0.4):     # runs of equal steps (one marker, R repeats)
            if t:
                q[t], mask[t], target[t] = q[t - 1], mask[t - 1], target[t - 1]
        mse = bool(p_mse and rng.random() < p_mse)
        label = None if mse else int(rng.integers(n_out))
        target = target if mse else None
        learn = bool(rng.random() < p_learn)
        want = run_sample(net, q, mask, label, learn, target=target)
        samples.append({"words": R.sample_words(q, mask, label, target=target), "learn": learn, "want": want,
                        "q": q, "mask": mask, "label": label, "target": target})
    # the state after the last sample too: an inference sample leaves the traces as the
    # sample's CLEAR left them (zero; Cmd.NO_TRACES)
    final = final_words(net.layers, ("W", "V", "B", "Z", "TRACE"))
    need = R.Capacity.for_config(net.cfg)
    return {"seed": seed, "sizes": list(sizes), "cfg": net.cfg, "initial": initial, "samples": samples,
            "final": final, "capacity": need, "n_out": n_out}


async def read_results(host, slot, n_out, max_layer):
    """The results of a finished ``slot`` (the dict of golden run_sample)."""
    rd = lambda f: host.request(R.result_addr(slot, f, max_layer))
    score = []
    for j in range(n_out):
        lo = int(await rd(R.ResultField.SCORE + 2 * j))
        hi = int(await rd(R.ResultField.SCORE + 2 * j + 1))
        v = hi << 32 | lo
        score.append(v - (1 << 64) if v >> 63 else v)
    loss = int(await rd(R.ResultField.LOSS_LO)) | int(await rd(R.ResultField.LOSS_HI)) << 32
    return {"steps": int(await rd(R.ResultField.STEPS)), "score": score,
            "argmax": int(await rd(R.ResultField.ARGMAX)), "loss_sum": loss,
            "spikes": int(await rd(R.ResultField.SPIKES))}


async def run_samples(host, case, sample_words, on_running=None):
    """Run the case's samples on the chip through ``host`` (a HostScript): each is written
    into a free slot (while the other slot's sample runs) and queued; results are read as
    slots finish. ``on_running(host, n)`` (async): called while sample n is queued or
    running. Returns the results in sample order."""
    max_layer = case["capacity"].max_layer
    results = [None] * len(case["samples"])
    in_slot = {}                     # slot -> sample index queued there, results not read yet

    async def collect(block_slot=None):
        status = int(await host.request(R.Reg.SAMPLE_STATUS))
        for slot, n in list(in_slot.items()):
            if not status >> slot & 1:
                results[n] = await read_results(host, slot, case["n_out"], max_layer)
                del in_slot[slot]
        return status

    for n, sample in enumerate(case["samples"]):
        slot = n % R.SAMPLE_SLOTS
        while slot in in_slot:
            await collect()
        await host.write_block(R.mem_addr(R.Region.SAMPLE, slot * sample_words), sample["words"])
        await host.request(R.Reg.SAMPLE_CTRL, R.sample_command(slot, sample["learn"]))
        in_slot[slot] = n
        if on_running is not None:
            await on_running(host, n)
    while in_slot:
        await collect()
    return results
