"""Host driver of the chip: load a network, run steps, stream events and errors, read back.

Works over anything with the word-access API of :class:`gammacore.host.link.Link`
(``read(addr, count, fixed=False) -> list[int]``, ``write(addr, words, fixed=False)``): the
UART link to a real or simulated board, or a memory-mapped (PCIe-style) register window.
Every address comes from :mod:`gammacore.regmap`.

Transfers that do not wait for each other's results go out as one pipeline
(:meth:`gammacore.host.link.Link.pipeline`: no round trip between them) when the link has one:
a step's events, STEP and the output read; a learning pass's errors and LEARN (posted,
:meth:`gammacore.host.link.Link.post`: the next step's transfers go out behind them without
waiting); a load's writes and its read-back; the parameter read.

:meth:`Chip.train` is the training loop on the chip's sample sequencer: epochs of whole
samples in the golden training's order and learning-rate schedule, two queued at a time, an
optional test set after every epoch, a history of train loss and test accuracy per epoch.

Loading is verified: after writing a network, the driver reads every descriptor-derived
memory word back and raises :class:`ChipError` naming the first difference, so the chip is
never left half configured without the caller knowing.
"""
import time

import numpy as np

from .. import regmap as R
from ..golden import formats as F

__all__ = ["Chip", "ChipError"]


class ChipError(Exception):
    """The chip did not do what was asked (refused, timed out, wrong read-back)."""


class Chip:
    """One chip behind ``link``."""

    def __init__(self, link, poll_timeout=10.0):
        self.link, self.poll_timeout = link, poll_timeout
        self.cfg = None
        self.descs = None
        self.host_packets = True
        self._out = None            # the chip's output packet layout, learned from its capacity
        self._sample_words = None   # words of a sample slot (Reg.CAP_SAMPLE), learned once
        self._slots = {}            # sample slot -> its ticket, while queued or running
        self._next_slot = 0
        self._tickets = 0
        self._max_layer = None      # for the results' layout (Reg.CAP_MAX_LAYER), learned at load()

    def _pipeline(self, ops):
        """Run ``ops`` (:meth:`gammacore.host.link.Link.pipeline`'s) in order, without a round
        trip between them if the link pipelines (one after the other otherwise)."""
        if hasattr(self.link, "pipeline"):
            return self.link.pipeline(ops)
        from .link import LinkError
        out = []
        for index, (kind, addr, arg, *fixed) in enumerate(ops):
            try:
                if kind == "write":
                    self.link.write(addr, arg, *fixed)
                    out.append(None)
                else:
                    out.append(self.link.read(addr, arg, *fixed))
            except LinkError as exc:
                exc.index = index           # which transfer failed, as Link.pipeline says
                raise
        return out

    # --- identity and counters ----------------------------------------------------------
    def identity(self):
        words = self.link.read(R.Reg.ID, 10)
        if words[0] != R.CHIP_ID:
            raise ChipError(f"no gammacore chip answers: identity word {words[0]:#010x}, expected {R.CHIP_ID:#010x}")
        cap = R.Capacity(*words[1:7])
        return {"id": f"{words[0]:#010x}", "capacity": cap.as_dict(), "pow2_buckets": bool(words[7] & R.CapFlag.POW2),
                "async_modes": bool(words[7] & R.CapFlag.ASYNC),
                "learning": bool(words[7] & R.CapFlag.LEARNING), "statistics_counters": bool(words[7] & R.CapFlag.COUNTERS),
                "lanes": int(words[8]), "sample_words": int(words[9])}

    def capacity(self):
        return R.Capacity(**self.identity()["capacity"])

    def out_format(self):
        """The layout of the chip's output packet words (gammacore.regmap.out_format), from
        its capacity words (read once)."""
        if self._out is None:
            self._out = self.capacity().out_format
        return self._out

    def counters(self):
        """The chip's counters by name; None for the statistics counters a lean build
        (``CapFlag.COUNTERS`` clear) does not have."""
        from ..rtl.chip import STATISTICS
        lean = not self.identity()["statistics_counters"]
        names = [r for r in R.Reg if R.Reg.STEPS <= r <= R.Reg.CLOCKS]
        words = self.link.read(R.Reg.STEPS, len(names))
        out = {r.name.lower(): None if lean and r in STATISTICS else int(w) for r, w in zip(names, words)}
        status = self.link.read(R.Reg.STATUS, 4)
        out["busy"] = bool(status[0] & R.Status.BUSY)
        out["out_ready"] = bool(status[0] & R.Status.OUT_READY)
        out["n_layers"] = int(status[1])
        out["mode"] = R.Mode(status[2]).label if status[2] < len(R.Mode) else int(status[2])
        out["lfsr_seed"] = int(status[3])
        out["out_level"] = int(self.link.read(R.Reg.OUT_LEVEL, 1)[0])
        from ..rtl.link import COUNTERS as LINK_COUNTERS
        for name, w in zip(LINK_COUNTERS, self.link.read(R.Reg.LINK_COUNTERS, len(LINK_COUNTERS))):
            out[f"link_{name}"] = None if lean else int(w)
        return out

    # --- configuration --------------------------------------------------------------------
    def load(self, cfg, layers, route_hidden_to_host=False, verify=True, mode="sync", seed=1):
        """Load NetworkConfig ``cfg`` with golden FixedLayers ``layers`` (their master words and
        coefficients; a power-of-two chip needs power-of-two bucket rates), in execution
        ``mode`` ("sync", "async-random", "async-priority") with LFSR ``seed``."""
        ident = self.identity()
        cap = R.Capacity(**ident["capacity"])
        cap.check(cfg)
        self._max_layer = cap.max_layer     # the sample results' layout
        mode = R.Mode.from_label(mode)
        if mode != R.Mode.SYNC and not ident["async_modes"]:
            raise ChipError(f"this chip has no asynchronous modes (mode {mode.label!r} asked)")
        pow2 = ident["pow2_buckets"]
        self.wait_idle()
        plan = R.load_plan(cfg, layers, route_hidden_to_host=route_hidden_to_host, pow2=pow2, mode=mode, seed=seed)
        self._pipeline([("write", addr, words) for addr, words in plan])
        self.cfg, self.descs = cfg, R.descriptors(cfg, [layer.coefs for layer in layers], pow2=pow2)
        self.host_packets = route_hidden_to_host or cfg.layers[-1].encoder != "none"
        if verify:
            # registers and descriptors are write-only (N_LAYERS checked below)
            mem = [(addr, words) for addr, words in plan if addr >= R.MEM_BASE]
            back = self._pipeline([("read", addr, len(words)) for addr, words in mem])
            for (addr, words), got in zip(mem, back):
                for n, (w, g) in enumerate(zip(words, got)):
                    if (int(w) & 0xFFFFFFFF) != int(g):
                        raise ChipError(f"configuration incomplete: word {addr + n:#08x} reads {int(g):#010x}, "
                                        f"wrote {int(w) & 0xFFFFFFFF:#010x}; the chip is NOT configured")
            n, got_mode, got_seed = self.link.read(R.Reg.N_LAYERS, 3)
            if (n, got_mode, got_seed) != (len(cfg.layers), int(mode), int(seed)):
                raise ChipError(f"configuration incomplete: layers/mode/seed read {n}/{got_mode}/{got_seed}, "
                                f"expected {len(cfg.layers)}/{int(mode)}/{int(seed)}")
        self.clear()

    def route_hidden_to_host(self, on):
        """Send the hidden layers' spikes to the host too (rasters), or only to the next layer."""
        route = int(R.Route.NEXT | (R.Route.HOST if on else 0))
        for d in self.descs[:-1]:
            self.link.write(R.mem_addr(R.Region.ROUTE, d["n_base"]), [route] * d["n_out"])
        self.host_packets = bool(on) or self.cfg.layers[-1].encoder != "none"

    def set_learning_shift(self, extra):
        """Every learning rate times 2**-extra (as golden Network.set_learning_shift)."""
        K = self.cfg.layers[0].K
        self.wait_samples()
        for n, d in enumerate(self.descs):
            for name in ("shift_w", "shift_v", "shift_b"):
                value = d[name] + extra
                if not 0 <= value < (1 << F.LR_SHIFT.width):
                    raise ChipError(f"learning-rate shift {value} of layer {n} is outside 0..63")
                self.link.write(R.desc_addr(n, name, K), [value])

    # --- running ----------------------------------------------------------------------------
    def command(self, cmd, wait=True):
        """Issue a command; with ``wait`` the write returns once it is done (or the output FIFO is full)."""
        self.link.write(R.Reg.CTRL, [int(cmd) | (R.Cmd.WAIT if wait else 0)])

    def wait_idle(self, packets=None):
        """Poll until the chip is idle (no command, no sample queued or running); output packets
        read meanwhile (not while a sample runs: its sequencer reads them) are appended to
        ``packets``."""
        deadline = time.monotonic() + self.poll_timeout
        while True:
            status = self.link.read(R.Reg.STATUS, 1)[0]
            if status & R.Status.OUT_READY and not status & R.Status.SAMPLE:
                self._drain(packets)
            if not status & (R.Status.BUSY | R.Status.SAMPLE):
                break
            if time.monotonic() > deadline:
                raise ChipError(f"the chip stayed busy for {self.poll_timeout} s")
        if status & R.Status.OUT_READY:
            self._drain(packets)

    def _drain(self, packets):
        while True:
            level = self.link.read(R.Reg.OUT_LEVEL, 1)[0]
            if level == 0:
                return
            words = self.link.read(R.Reg.OUT, min(level, 64), fixed=True)
            fmt = self.out_format()
            for w in words:
                pkt = R.decode_out(w, fmt)
                if pkt is not None and packets is not None:
                    packets.append(pkt)

    def _settle(self, packets=None):
        # after a WAIT command the chip is done unless the output FIFO filled up, which
        # can only happen when packets are routed to the host
        if self.host_packets:
            self.wait_idle(packets)

    def clear(self):
        self.command(R.Cmd.CLEAR)
        self._settle()

    def step(self, q):
        """One time step with input magnitudes ``q`` (n_in Q raw, 0 = no event); returns the
        output packets (source, q, step mod 2**step_bits of :meth:`out_format`; mod 16 on a
        chip of up to 2,048 neurons) and the output layer's x (raw)."""
        q = np.asarray(q, dtype=np.int64)
        events = [R.event_word(i, q[i]) for i in np.flatnonzero(q)]
        ops = [("write", R.Reg.EVENT, events, True)] if events else []
        ops.append(("write", R.Reg.CTRL, [int(R.Cmd.STEP) | R.Cmd.WAIT]))
        packets = []
        last = len(self.descs) - 1
        if self.host_packets:
            self._pipeline(ops)
            self._settle(packets)
            return packets, self.read_x(last)
        # no packets for the host: the step is done when its WAIT write is answered
        d = self.descs[last]
        x = self._pipeline(ops + [("read", R.mem_addr(R.Region.X, d["n_base"]), d["n_out"])])[-1]
        return packets, np.array([R.s32(w) for w in x], dtype=np.int64)

    def read_x(self, layer):
        d = self.descs[layer]
        return np.array([R.s32(w) for w in self.link.read(R.mem_addr(R.Region.X, d["n_base"]), d["n_out"])],
                        dtype=np.int64)

    def learn(self, err):
        """Online update from the output errors ``err`` (ERR raw)."""
        ops = [("write", R.mem_addr(R.Region.ERR, 0), [int(e) & 0xFFFFFFFF for e in err]),
               ("write", R.Reg.CTRL, [int(R.Cmd.LEARN) | R.Cmd.WAIT])]
        if hasattr(self.link, "post") and not self.host_packets:
            # nothing to wait for: the next transfer (the next step's) goes out behind these
            # and collects their answers (a refused LEARN raises there, naming the posted write)
            self.link.post(ops)
            return
        self._pipeline(ops)
        self._settle()

    # --- whole samples on the chip's sample sequencer ---------------------------------------
    def sample_words(self):
        """Words of one slot of the chip's sample memory (``Reg.CAP_SAMPLE``, read once)."""
        if self._sample_words is None:
            self._sample_words = int(self.link.read(R.Reg.CAP_SAMPLE, 1)[0])
        return self._sample_words

    def submit_sample(self, q, mask, label, learn, target=None):
        """Write one sample into a free slot and queue it; returns its ticket for
        :meth:`sample_result`. q : (T, n_in) Q raw magnitudes (0 = no event); mask : (T,) the
        steps that carry the loss; label : its class (softmax cross-entropy), or None with
        ``target`` (T, n_out) X raw: a squared-error sample (the loss steps' rows are its
        targets; :func:`gammacore.golden.fixedpoint.mse_unit`). With both slots taken, waits
        for the older one and keeps its results for :meth:`sample_result`. A sample the chip
        would refuse raises :class:`ChipError` naming the value, before anything is written."""
        if self.cfg is None:
            raise ChipError("no network loaded: call load() first")
        if self.sample_words() == 0:
            raise ChipError("this chip has no sample sequencer (CAP_SAMPLE reads 0; a build with --samples has "
                            "one); run samples step by step (gammacore demo --host-errors)")
        try:
            words = R.sample_words(q, mask, label, n_in=self.cfg.layers[0].n_in, n_out=self.cfg.layers[-1].n_out,
                                   capacity=self.sample_words(), target=target)
        except ValueError as exc:
            raise ChipError(f"sample refused: {exc}") from None
        slot = self._next_slot
        # the older sample's results (when its slot is taken: polled until done), this
        # sample's words and its SAMPLE_CTRL in one pipeline: one round trip on a link with a
        # window (the link executes them in order, so the results are read before the slot
        # is written again)
        older = self._slots.get(slot)       # kept there until its results are read
        ops = []
        if older is not None:
            self._wait_slot(slot)
            ops.append(self._results_op(slot))
        ops += [("write", R.mem_addr(R.Region.SAMPLE, slot * self.sample_words()), words),
                ("write", R.Reg.SAMPLE_CTRL, [R.sample_command(slot, learn)])]
        from .link import BusError
        try:
            out = self._pipeline(ops)
        except BusError as exc:
            if exc.index != len(ops) - 1:
                raise
            kind = "targets" if target is not None else f"label {int(label)}"
            raise ChipError(f"the chip refused the sample ({len(words) - 1} words after its header, T = "
                            f"{len(mask)} steps, {kind}, slot {slot}): its network, mode or build "
                            f"does not take it ({exc})") from None
        if older is not None:
            older["result"] = self._parse_results(out[0])
        self._tickets += 1
        ticket = {"n": self._tickets, "slot": slot, "result": None}
        self._slots[slot] = ticket
        self._next_slot = (slot + 1) % R.SAMPLE_SLOTS
        return ticket

    def sample_result(self, ticket):
        """The results of a submitted sample (waits for it): {"steps", "score" (n_out,) the sum
        of each output's y over the loss steps (SCORE raw), "argmax", "loss_sum" (LOSS_SUM raw),
        "spikes" (output packets of the sample)}."""
        if ticket["result"] is None:
            self._finish(ticket["slot"])
        return ticket["result"]

    def _finish(self, slot):
        ticket = self._slots.pop(slot)
        self._wait_slot(slot)
        ticket["result"] = self._parse_results(self._pipeline([self._results_op(slot)])[0])

    def _wait_slot(self, slot):
        """Poll ``SAMPLE_STATUS`` until ``slot`` is neither queued nor running."""
        deadline = time.monotonic() + self.poll_timeout
        while self.link.read(R.Reg.SAMPLE_STATUS, 1)[0] >> slot & 1:
            if time.monotonic() > deadline:
                raise ChipError(f"sample slot {slot} stayed busy for {self.poll_timeout} s")

    def _results_op(self, slot):
        """The read of a finished slot's results (a :meth:`_pipeline` op)."""
        return ("read", R.result_addr(slot, 0, self._max_layer), R.ResultField.SCORE + 2 * self.cfg.layers[-1].n_out)

    def _parse_results(self, words):
        """A slot's results from its words (:meth:`sample_result`'s dict)."""
        n_out = self.cfg.layers[-1].n_out
        F_ = R.ResultField
        score = []
        for j in range(n_out):
            v = int(words[F_.SCORE + 2 * j]) | int(words[F_.SCORE + 2 * j + 1]) << 32
            score.append(v - (1 << 64) if v >> 63 else v)
        return {"steps": int(words[F_.STEPS]), "score": np.array(score, dtype=np.int64),
                "argmax": int(words[F_.ARGMAX]),
                "loss_sum": int(words[F_.LOSS_LO]) | int(words[F_.LOSS_HI]) << 32,
                "spikes": int(words[F_.SPIKES])}

    def wait_samples(self):
        """Wait until no sample is queued or running (their results are kept for their tickets)."""
        for slot in list(self._slots):
            self._finish(slot)

    def train_sample(self, q, mask, label=None, target=None):
        """Run one sample with learning (the chip's loss unit gives the errors: softmax
        cross-entropy against ``label``, or squared error against ``target`` (T, n_out) X raw,
        see :meth:`submit_sample`); returns its results (:meth:`sample_result`)."""
        return self.sample_result(self.submit_sample(q, mask, label, True, target=target))

    def infer_sample(self, q, mask, label=None, target=None):
        """Run one sample without learning; returns its results (:meth:`sample_result`;
        ``label`` (default 0) or ``target`` only enter the loss sum)."""
        if label is None and target is None:
            label = 0
        return self.sample_result(self.submit_sample(q, mask, label, False, target=target))

    def infer_set(self, q, mask, labels, bar=None, targets=None):
        """Run every sample of a set (``q`` (samples, T, n_in) Q raw, ``mask`` (samples, T),
        ``labels`` (samples,), or None with ``targets`` (samples, T, n_out) X raw) on the
        sample sequencer without learning, two queued at a time; returns each sample's results
        (:meth:`sample_result`). ``bar``: a tqdm bar advanced per sample sent."""
        tickets = []
        for i in range(len(q)):
            if targets is None:
                tickets.append(self.submit_sample(q[i], mask[i], labels[i], learn=False))
            else:
                tickets.append(self.submit_sample(q[i], mask[i], None, learn=False, target=targets[i]))
            if bar is not None:
                bar.update(1)
        return [self.sample_result(t) for t in tickets]

    def train(self, data, epochs=None, schedule=None, seed=0, test=None, progress=False, on_epoch=None):
        """Train the loaded network online on the chip's sample sequencer, as the golden
        ``train(..., chip_loss=True)`` trains it; returns the history, one dict per epoch.

        data : a :class:`~gammacore.golden.tasks.Task` (its training split) or its arrays
            ``(x, labels, mask)``: x (n, T, n_in) input magnitudes as a Task holds them (floats,
            0 = no event; each goes to the chip as Q raw, ``F.Q.from_float``), labels (n,),
            mask (n, T) the steps that carry the loss. Labels of shape (n, T, n_out), floats,
            are targets instead: squared-error samples (each goes to the chip as X raw; the
            loss steps' targets are used), and the history has no test accuracy.
        epochs : passes over ``data`` (overrides the schedule's).
        schedule : a :class:`~gammacore.golden.train.Schedule` of learning-rate shifts (the
            rates halve after each equal share of the run's samples); None: a Task's preset
            (:func:`gammacore.golden.presets.schedule`), constant rates (one phase) for arrays.
        seed : the sample order, an int (``numpy.random.default_rng([seed, 3])``, the golden
            training's order for the same seed) or a ``numpy.random.Generator``.
        test : None, or a Task (its test split) or arrays ``(x, labels, mask)``: run after
            every epoch without learning (the weights are unchanged by it, every sample starts
            from a cleared state), its accuracy is the share of samples whose chip argmax equals
            the label.
        progress : a tqdm progress bar if true (a dict gives tqdm options, e.g. desc).
        on_epoch : called with each epoch's dict as soon as it is complete.

        Two samples stay queued on the chip (the host writes the next one while the chip runs
        the current one). Each history dict: "epoch" (1-based), "train_loss" (the chip's loss
        sums over the epoch, LOSS_SUM, divided by its loss steps), "train_loss_sum" (LOSS_SUM
        raw), "samples", "steps", "seconds", and with ``test`` "test_accuracy", "test_correct",
        "test_loss". Bad arguments raise :class:`ChipError` naming the value, before any sample
        is sent.
        """
        from ..golden.train import Schedule
        if self.cfg is None:
            raise ChipError("train: no network loaded: call load() first")
        if self.sample_words() == 0:
            raise ChipError("train: this chip has no sample sequencer (CAP_SAMPLE reads 0; a build with --samples "
                            "has one); train step by step instead (gammacore demo --host-errors)")
        xq, y, m = self._sample_set(data, "data", split="train")
        if test is not None:
            xqt, yt, mt = self._sample_set(test, "test", split="test")
            if (y.ndim == 3) != (yt.ndim == 3):
                raise ChipError("train: data and test must both have labels or both targets")
        if schedule is None:
            from ..golden.tasks import Task
            if isinstance(data, Task):
                from ..golden.presets import schedule as preset_schedule
                schedule = preset_schedule(data.name)
            elif epochs is None:
                raise ChipError("train: give epochs (or a schedule) with arrays; only a Task has a preset schedule")
            else:
                schedule = Schedule(1, phases=1)
        if not isinstance(schedule, Schedule):
            raise ChipError(f"train: schedule must be a gammacore.golden.train.Schedule, not {schedule!r}")
        if epochs is not None and (not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool)
                                   or epochs < 1):
            raise ChipError(f"train: epochs must be a positive integer, not {epochs!r}")
        plan = schedule.with_epochs(None if epochs is None else int(epochs))
        if isinstance(seed, np.random.Generator):
            rng = seed
        elif isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
            rng = np.random.default_rng([int(seed), 3])
        else:
            raise ChipError(f"train: seed must be a non-negative integer or a numpy Generator, not {seed!r}")
        if on_epoch is not None and not callable(on_epoch):
            raise ChipError(f"train: on_epoch must be callable, not {on_epoch!r}")
        from tqdm import tqdm
        bar_opts = {"desc": "train on chip", "unit": "sample"}
        if isinstance(progress, dict):
            bar_opts.update(progress)
        n, T = xq.shape[:2]
        total = plan.epochs * (n + (len(xqt) if test is not None else 0))
        history, seen = [], 0
        with tqdm(total=total, disable=not progress, **bar_opts) as bar:
            for epoch in range(plan.epochs):
                t0 = time.perf_counter()
                tickets = []
                for i in rng.permutation(n):
                    if (shift := plan.change_at(seen, n)) is not None:
                        self.set_learning_shift(shift)      # waits for the queued samples
                    seen += 1
                    if y.ndim == 3:
                        tickets.append(self.submit_sample(xq[i], m[i], None, learn=True, target=y[i]))
                    else:
                        tickets.append(self.submit_sample(xq[i], m[i], y[i], learn=True))
                    bar.update(1)
                loss = sum(self.sample_result(t)["loss_sum"] for t in tickets)
                loss_n = int(m.sum())
                rec = {"epoch": epoch + 1, "train_loss": F.LOSS_SUM.to_float(loss) / max(loss_n, 1),
                       "train_loss_sum": int(loss), "samples": int(n), "steps": int(n * T)}
                if test is not None:
                    mse = yt.ndim == 3
                    results = self.infer_set(xqt, mt, None if mse else yt, bar=bar, targets=yt if mse else None)
                    rec["test_loss"] = F.LOSS_SUM.to_float(sum(r["loss_sum"] for r in results)) / max(int(mt.sum()), 1)
                    if not mse:
                        correct = sum(int(r["argmax"] == yt[i]) for i, r in enumerate(results))
                        rec.update(test_accuracy=correct / len(xqt), test_correct=int(correct))
                    rec["steps"] += int(xqt.shape[0] * xqt.shape[1])
                rec["seconds"] = time.perf_counter() - t0
                history.append(rec)
                bar.set_postfix({"loss": f"{rec['train_loss']:.3f}",
                                 **({"test": f"{rec['test_accuracy']:.3f}"} if "test_accuracy" in rec else {})})
                if on_epoch is not None:
                    on_epoch(rec)
        return history

    def _sample_set(self, data, name, split):
        """(x as Q raw words, labels, mask) of a Task's ``split`` or of an (x, labels, mask)
        tuple, checked against the loaded network (ChipError naming the value otherwise);
        labels of shape (n, T, n_out) are targets, returned as X raw words."""
        from ..golden.tasks import Task
        if isinstance(data, Task):
            x, y, m = (getattr(data, f"{k}_{split}") for k in ("x", "y", "m"))
        else:
            try:
                x, y, m = data
            except (TypeError, ValueError):
                raise ChipError(f"train: {name} must be a Task or a tuple (x, labels, mask), not "
                                f"{type(data).__name__}") from None
        x, y, m = np.asarray(x, dtype=np.float64), np.asarray(y), np.asarray(m)
        n_in, n_out = self.cfg.layers[0].n_in, self.cfg.layers[-1].n_out
        if x.ndim != 3 or x.shape[0] < 1 or x.shape[1] < 1 or x.shape[2] != n_in:
            raise ChipError(f"train: {name} x has shape {x.shape}, expected (samples >= 1, steps >= 1, {n_in}) "
                            f"for the loaded network's {n_in} inputs")
        if y.ndim == 3:
            if y.shape != x.shape[:2] + (n_out,):
                raise ChipError(f"train: {name} targets have shape {y.shape}, expected {x.shape[:2] + (n_out,)} "
                                f"(samples, steps, the output layer's {n_out})")
            y = np.asarray(y, dtype=np.float64)
            lim = F.X.to_float(F.X.max)
            if not np.all(np.isfinite(y)) or np.abs(y).max() > lim:
                bad = float(y[~np.isfinite(y) | (np.abs(y) > lim)].flat[0])
                raise ChipError(f"train: {name} target {bad} is outside the outputs' range -{lim:g}..{lim:g}")
        elif y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
            raise ChipError(f"train: {name} labels have shape {y.shape} and type {y.dtype}, expected {x.shape[0]} "
                            f"integers, or targets of shape {x.shape[:2] + (n_out,)}")
        elif y.min() < 0 or y.max() >= n_out:
            bad = int(y[(y < 0) | (y >= n_out)][0])
            raise ChipError(f"train: {name} label {bad} is outside the output layer's 0..{n_out - 1}")
        if m.shape != x.shape[:2]:
            raise ChipError(f"train: {name} mask has shape {m.shape}, expected {x.shape[:2]} (samples, steps)")
        if not np.all(np.isfinite(x)) or x.min() < 0:
            raise ChipError(f"train: {name} x holds {float(x[~np.isfinite(x) | (x < 0)].flat[0])}; input magnitudes "
                            f"must be finite and >= 0")
        if x.shape[1] >= 1 << R.SAMPLE_STEPS_BITS:
            raise ChipError(f"train: {name} samples have {x.shape[1]} steps, a sample holds 1..{(1 << R.SAMPLE_STEPS_BITS) - 1}")
        xq = F.Q.from_float(x)
        targets = F.X.from_float(y) if y.ndim == 3 else None
        words = R.sample_lengths(xq, m, target=targets)
        if words.max() > self.sample_words():
            i = int(np.argmax(words))
            raise ChipError(f"train: {name} sample {i} takes {int(words[i])} words, a slot of the sample memory holds "
                            f"{self.sample_words()} (CAP_SAMPLE); train it step by step (gammacore demo --host-errors)")
        return xq, targets if targets is not None else y.astype(np.int64), m.astype(bool)

    def read_params(self):
        """Master words of every layer: [{"W": (n_out, n_in), "V": (n_out, K), "b": (n_out,)}]."""
        K = self.cfg.layers[0].K
        ops = []
        for lc, d in zip(self.cfg.layers, self.descs):
            ops += [("read", R.mem_addr(R.Region.W, d["w_base"]), lc.n_in * lc.n_out),
                    ("read", R.mem_addr(R.Region.V, d["n_base"] * K), lc.n_out * K),
                    ("read", R.mem_addr(R.Region.B, d["n_base"]), lc.n_out)]
        words = iter(np.array([R.s32(w) for w in ws], dtype=np.int64) for ws in self._pipeline(ops))
        return [{"W": next(words).reshape(lc.n_out, lc.n_in), "V": next(words).reshape(lc.n_out, K),
                 "b": next(words)} for lc in self.cfg.layers]
