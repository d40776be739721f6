"""Asynchronous scheduler of the network core: the LFSR of the random order and each layer's leader.

The asynchronous modes (:class:`gammacore.regmap.Mode`; the definition is
:mod:`gammacore.golden.async_model`) keep a pending word per neuron (written by the neuron
pass, :class:`~gammacore.rtl.neuron_pass.NeuronPass`): pending, fired, key. The key is the
spike count in priority order, or the next value of a 16-bit LFSR when the neuron becomes
pending in random order; the LFSR restarts from ``seed`` at every clear (``ctrl.reseed``)
and steps whenever the neuron pass takes its value (``lfsr_advance``).

The next spike is the pending neuron with the largest key, ties to the lowest layer, then
the lowest index. Only two layers' pending words change between two spikes: the firing
neuron's (it becomes fired) and those of the layer its spike goes to (re-evaluated). So the
scheduler keeps each layer's *leader* (pending, key and index of its first neuron with the
largest key) in registers, and finds the next spike among the leaders:

- ``ctrl.track`` starts a layer's leader afresh (``ctrl.layer_index``): the neuron pass
  that evaluates every neuron of the layer (its first evaluation of the step, or the
  re-evaluation after a spike arrives) writes each neuron's word, in index order, and the
  scheduler follows those writes (``pend``, the pass's write port, registered here);
- the firing layer's leader is found again by a scan of its pending words, as the fired
  neuron's word has changed. The scan reads the scheduler's own copy of the pending table
  (written with it, from ``pend``), so it runs in the background: ``ctrl.scan`` starts it
  while the firing neuron's pass runs (the current descriptor is the firing layer's: its
  ``n_base`` and ``n_out`` are latched, and the fired neuron ``best_j`` is skipped - its word
  becomes fired, not pending), one word per clock, with a tracker of its own, while the
  spike is routed, fanned out and the next layer re-evaluated (only that layer's words and
  the fired one are written meanwhile); ``ctrl.scan_done`` once all are compared;
- ``ctrl.select`` starts the selection over layers 0 .. ``ctrl.n_layers`` - 1: the first
  two layers' leaders in the next clock, then one leader per clock (``ctrl.select_done``
  at the end: 2 clocks after ``ctrl.select`` for one or two layers, ``n_layers`` for
  more), the largest key, ties keep the first; ``found``, ``best_l``, ``best_j``.

A leader follows the last word written: the selection must start at least a clock after
the tracked pass's last write and once the scan is done (the sequencer's ``SELECT_START``).
"""
from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .descriptors import descriptor_layout
from .net_memories import memory_shapes, pending_layout

__all__ = ["AsyncScheduler", "scheduler_control", "pending_write"]


def scheduler_control(layers, max_layer):
    """The sequencer's side of the scheduler."""
    return wiring.Signature({
        "reseed": Out(1),               # the LFSR restarts from the seed (clear)
        "track": Out(1),                # layer_index's leader starts afresh (an evaluation pass follows)
        "layer_index": Out(range(layers)),  # the layer tracked
        "scan": Out(1),                 # scan the firing layer (best_l, the current descriptor) but best_j
        "scan_done": In(1),
        "select": Out(1),               # start the selection over the leaders
        "n_layers": Out(range(layers + 1)),
        "select_done": In(1),
        "found": In(1), "best_l": In(range(layers)), "best_j": In(range(max_layer)),
    })


def pending_write(capacity):
    """The neuron pass's write of a pending word: the neuron (index in its layer), its word's
    address in the pending table and the word."""
    return wiring.Signature({"en": Out(1), "j": Out(range(capacity.max_layer)),
                             "addr": Out(range(memory_shapes(capacity)["PEND"][1])), "word": Out(pending_layout)})


class AsyncScheduler(wiring.Component):
    """LFSR, the layers' leaders, the firing layer's scan and the selection.

    Parameters
    ----------
    capacity : :class:`gammacore.regmap.Capacity`
    registered : the pending word registered after its read, before the compare with the
        leader's key (for Fmax: the block RAM's clock-to-out does not meet the 16-bit compare
        and the leader registers' enables; a scan takes a clock more)

    The copy of the pending table is written a clock after the neuron pass's write (``pend``
    registered here), as the core's table is when its write is registered.

    Attributes
    ----------
    seed : the LFSR's seed, in;  lfsr_next : the LFSR's next value, out;  lfsr_advance : step it, in
    layer : the current descriptor, in;  ctrl : :func:`scheduler_control`, flipped
    pend : the neuron pass's pending-word writes (:func:`pending_write`), flipped
    """

    def __init__(self, capacity, registered=True):
        c = self.cap = capacity
        self.registered = registered
        super().__init__({
            "seed": In(16), "lfsr_next": Out(16), "lfsr_advance": In(1),
            "layer": In(descriptor_layout(c.buckets)),
            "ctrl": In(scheduler_control(c.layers, c.max_layer)),
            "pend": In(pending_write(c)),
        })

    def elaborate(self, platform):
        m = Module()
        c, L, ML = self.cap, self.cap.layers, self.cap.max_layer
        d, ctl = self.layer, self.ctrl

        lfsr = Signal(16, init=1)
        m.d.comb += self.lfsr_next.eq((lfsr >> 1) ^ Mux(lfsr[0], 0xB400, 0))
        with m.If(self.lfsr_advance):
            m.d.sync += lfsr.eq(self.lfsr_next)
        with m.If(ctl.reseed):
            m.d.sync += lfsr.eq(self.seed)

        lead_ok = Array(Signal(name=f"lead_ok{n}") for n in range(L))
        lead_key = Array(Signal(16, name=f"lead_key{n}") for n in range(L))
        lead_j = Array(Signal(range(ML), name=f"lead_j{n}") for n in range(L))

        # the neuron pass's writes, registered: the tracked layer's candidates and the copy's writes
        w_en, w_j, w_word = Signal(), Signal(range(ML)), Signal(pending_layout)
        w_addr = Signal.like(self.pend.addr)
        m.d.sync += [w_en.eq(self.pend.en), w_j.eq(self.pend.j), w_addr.eq(self.pend.addr), w_word.eq(self.pend.word)]
        m.submodules.copy = copy = Memory(shape=pending_layout, depth=memory_shapes(c)["PEND"][1], init=[])
        wr, rd = copy.write_port(), copy.read_port()
        m.d.comb += [wr.addr.eq(w_addr), wr.data.eq(w_word), wr.en.eq(w_en)]

        # ---- the tracked layer's leader: from the evaluation pass's writes ----------------
        t_l = Signal(range(L))
        t_ok, t_key = Signal(), Signal(16)
        with m.If(w_en & w_word.pending & (~t_ok | (w_word.key > t_key))):
            m.d.sync += [t_ok.eq(1), t_key.eq(w_word.key), lead_ok[t_l].eq(1), lead_key[t_l].eq(w_word.key),
                         lead_j[t_l].eq(w_j)]
        with m.If(ctl.track):
            m.d.sync += [t_l.eq(ctl.layer_index), t_ok.eq(0), lead_ok[ctl.layer_index].eq(0)]

        # ---- the firing layer's scan (in the background, from the copy) ------------------
        s_l, s_skip = Signal(range(L)), Signal(range(ML))
        s_base, s_n = Signal.like(self.pend.addr), Signal(range(ML + 1))
        s_ok, s_key = Signal(), Signal(16)
        sj = Signal(range(ML + 1))
        issue, read = Signal(), Signal()
        m.d.comb += [issue.eq(sj != s_n), read.eq(issue & (sj != s_skip)),
                     rd.addr.eq(s_base + sj), rd.en.eq(read)]
        r_valid, r_j = Signal(), Signal(range(ML))
        m.d.sync += [r_valid.eq(read), r_j.eq(sj)]
        with m.If(issue):
            m.d.sync += sj.eq(sj + 1)
        if self.registered:
            c_valid, c_j, c_word = Signal(), Signal(range(ML)), Signal(pending_layout)
            m.d.sync += [c_valid.eq(r_valid), c_j.eq(r_j), c_word.eq(rd.data)]
        else:
            c_valid, c_j, c_word = r_valid, r_j, rd.data
        m.d.comb += ctl.scan_done.eq(~issue & ~r_valid & ~c_valid)
        with m.If(c_valid & c_word.pending & (~s_ok | (c_word.key > s_key))):
            m.d.sync += [s_ok.eq(1), s_key.eq(c_word.key), lead_ok[s_l].eq(1), lead_key[s_l].eq(c_word.key),
                         lead_j[s_l].eq(c_j)]
        with m.If(ctl.scan):
            m.d.sync += [s_l.eq(ctl.best_l), s_skip.eq(ctl.best_j), s_base.eq(d.n_base), s_n.eq(d.n_out),
                         sj.eq(0), s_ok.eq(0), lead_ok[ctl.best_l].eq(0)]

        # ---- the selection: layers 0 and 1 in the clock after ``ctrl.select``, then one layer's
        # leader per clock. That clock is the first a leader followed from the last write is
        # final in: the sequencer starts the selection in the clock after that write, and the
        # leader takes it, registered, a clock later. The pair's compare reads the two
        # leaders' registers (no multiplexer); a network of one or two layers is selected in it.
        sel_go = Signal()
        m.d.sync += sel_go.eq(ctl.select)
        if L > 2:
            # the layers after the first two: one per clock (built only if the capacity has them)
            sel_i = Signal(range(L + 1))
            selecting = Signal()
            best_key = Signal(16)
            m.d.comb += ctl.select_done.eq(~sel_go & ~selecting)
            with m.If(selecting):
                m.d.sync += sel_i.eq(sel_i + 1)
                with m.If(sel_i + 1 == ctl.n_layers):
                    m.d.sync += selecting.eq(0)
                with m.If(lead_ok[sel_i] & (~ctl.found | (lead_key[sel_i] > best_key))):
                    m.d.sync += [ctl.found.eq(1), best_key.eq(lead_key[sel_i]), ctl.best_l.eq(sel_i),
                                 ctl.best_j.eq(lead_j[sel_i])]
        else:
            m.d.comb += ctl.select_done.eq(~sel_go)
        with m.If(sel_go):
            # the first two layers' leaders: the second wins with a larger key only (ties keep
            # the first); a second layer beyond the network's is not a candidate
            ok1, key1, j1 = ((lead_ok[1] & (ctl.n_layers > 1)), lead_key[1], lead_j[1]) if L > 1 else (0, 0, 0)
            second = Signal()
            m.d.comb += second.eq(ok1 & (~lead_ok[0] | (key1 > lead_key[0])))
            m.d.sync += [ctl.found.eq(lead_ok[0] | ok1), ctl.best_l.eq(second),
                         ctl.best_j.eq(Mux(second, j1, lead_j[0]))]
            if L > 2:
                m.d.sync += [selecting.eq(ctl.n_layers > 2), sel_i.eq(2),
                             best_key.eq(Mux(second, key1, lead_key[0]))]
        return m
