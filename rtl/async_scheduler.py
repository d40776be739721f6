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
- the firing layer's leader is found again by a scan of its pending words (``ctrl.active``
  after ``ctrl.track``, one word per clock from the current descriptor's ``n_base``;
  ``ctrl.layer_done`` once all are read), as the fired neuron's word has changed;
- ``ctrl.select`` starts the selection: one leader per clock over layers 0 ..
  ``ctrl.n_layers`` - 1 (``ctrl.select_done`` at the end), the largest key, ties keep the
  first; ``found``, ``best_l``, ``best_j``.

A leader follows the last word written: the selection must start at least a clock after
the tracked pass's last write (the sequencer's ``SELECT_START``). The scan's memory port is
the one :data:`~gammacore.rtl.net_memories.OWNERSHIP` gives :attr:`Engine.SCAN`.
"""
from amaranth.hdl import Array, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .descriptors import descriptor_layout
from .net_memories import Engine, client_signature, pending_layout

__all__ = ["AsyncScheduler", "scheduler_control", "pending_write"]


def scheduler_control(layers, max_layer):
    """The sequencer's side of the scheduler."""
    return wiring.Signature({
        "reseed": Out(1),               # the LFSR restarts from the seed (clear)
        "track": Out(1),                # layer_index's leader starts afresh (a pass or scan follows)
        "layer_index": Out(range(layers)),  # the layer tracked or scanned
        "active": Out(1),               # scan the current descriptor's pending words
        "layer_done": In(1),
        "select": Out(1),               # start the selection over the leaders
        "n_layers": Out(range(layers + 1)),
        "select_done": In(1),
        "found": In(1), "best_l": In(range(layers)), "best_j": In(range(max_layer)),
    })


def pending_write(max_layer):
    """The neuron pass's write of a pending word: the neuron (index in its layer) and the word."""
    return wiring.Signature({"en": Out(1), "j": Out(range(max_layer)), "word": Out(pending_layout)})


class AsyncScheduler(wiring.Component):
    """LFSR, the layers' leaders, the firing layer's scan and the selection.

    Parameters
    ----------
    capacity : :class:`gammacore.regmap.Capacity`
    registered : the pending word registered after its read, before the compare with the
        leader's key (for Fmax: the block RAM's clock-to-out does not meet the 16-bit compare
        and the leader registers' enables; a scan takes a clock more)

    Attributes
    ----------
    seed : the LFSR's seed, in;  lfsr_next : the LFSR's next value, out;  lfsr_advance : step it, in
    layer : the current descriptor, in;  ctrl : :func:`scheduler_control`, flipped
    pend : the neuron pass's pending-word writes (:func:`pending_write`), flipped
    mem : the pending table's read port, flipped
    """

    def __init__(self, capacity, registered=True):
        c = self.cap = capacity
        self.registered = registered
        super().__init__({
            "seed": In(16), "lfsr_next": Out(16), "lfsr_advance": In(1),
            "layer": In(descriptor_layout(c.buckets)),
            "ctrl": In(scheduler_control(c.layers, c.max_layer)),
            "pend": In(pending_write(c.max_layer)),
            "mem": In(client_signature(c, Engine.SCAN)),
        })

    def elaborate(self, platform):
        m = Module()
        L, ML = self.cap.layers, self.cap.max_layer
        d, ctl, P = self.layer, self.ctrl, self.mem.PEND
        m.d.comb += P.rd.en.eq(0)

        lfsr = Signal(16, init=1)
        m.d.comb += self.lfsr_next.eq((lfsr >> 1) ^ Mux(lfsr[0], 0xB400, 0))
        with m.If(self.lfsr_advance):
            m.d.sync += lfsr.eq(self.lfsr_next)
        with m.If(ctl.reseed):
            m.d.sync += lfsr.eq(self.seed)

        # ---- the tracked layer's leader: from the neuron pass's writes or the scan ---------
        lead_ok = Array(Signal(name=f"lead_ok{n}") for n in range(L))
        lead_key = Array(Signal(16, name=f"lead_key{n}") for n in range(L))
        lead_j = Array(Signal(range(ML), name=f"lead_j{n}") for n in range(L))
        t_l = Signal(range(L))                  # the layer tracked
        r_ok, r_key = Signal(), Signal(16)      # its leader so far (the compare's side)

        # candidates: a write of the neuron pass (registered), or a word the scan read
        w_en, w_j, w_word = Signal(), Signal(range(ML)), Signal(pending_layout)
        m.d.sync += [w_en.eq(self.pend.en), w_j.eq(self.pend.j), w_word.eq(self.pend.word)]

        sj = Signal(range(ML + 1))
        sc_valid = Signal()
        sc_j = Signal(range(ML))
        sc_issue = Signal()
        m.d.comb += sc_issue.eq(sj != d.n_out)
        if self.registered:
            s_valid, s_j, s_word = Signal(), Signal.like(sc_j), Signal(pending_layout)
        else:
            s_valid, s_j, s_word = sc_valid, sc_j, P.rd.data
        with m.If(ctl.active):
            m.d.comb += [P.rd.addr.eq(d.n_base + sj), P.rd.en.eq(1),
                         ctl.layer_done.eq(~sc_issue & ~sc_valid & ~s_valid)]
            m.d.sync += [sc_valid.eq(sc_issue), sc_j.eq(sj)]
            if self.registered:
                m.d.sync += [s_valid.eq(sc_valid), s_j.eq(sc_j), s_word.eq(P.rd.data)]
            with m.If(sc_issue):
                m.d.sync += sj.eq(sj + 1)

        c_valid = Signal()
        c_j = Signal(range(ML))
        c_word = Signal(pending_layout)
        m.d.comb += [c_valid.eq(Mux(w_en, 1, s_valid & ctl.active)),
                     c_j.eq(Mux(w_en, w_j, s_j)), c_word.eq(Mux(w_en, w_word, s_word))]
        with m.If(c_valid & c_word.pending & (~r_ok | (c_word.key > r_key))):
            m.d.sync += [r_ok.eq(1), r_key.eq(c_word.key), lead_ok[t_l].eq(1), lead_key[t_l].eq(c_word.key),
                         lead_j[t_l].eq(c_j)]
        with m.If(ctl.track):
            m.d.sync += [t_l.eq(ctl.layer_index), r_ok.eq(0), lead_ok[ctl.layer_index].eq(0),
                         sj.eq(0), sc_valid.eq(0)]
            if self.registered:
                m.d.sync += s_valid.eq(0)

        # ---- the selection: one layer's leader per clock ---------------------------------
        sel_i = Signal(range(L + 1))
        selecting = Signal()
        best_key = Signal(16)
        m.d.comb += ctl.select_done.eq(~selecting)
        with m.If(selecting):
            with m.If(sel_i == ctl.n_layers):
                m.d.sync += selecting.eq(0)
            with m.Else():
                m.d.sync += sel_i.eq(sel_i + 1)
                with m.If(lead_ok[sel_i] & (~ctl.found | (lead_key[sel_i] > best_key))):
                    m.d.sync += [ctl.found.eq(1), best_key.eq(lead_key[sel_i]), ctl.best_l.eq(sel_i),
                                 ctl.best_j.eq(lead_j[sel_i])]
        with m.If(ctl.select):
            m.d.sync += [selecting.eq(1), sel_i.eq(0), ctl.found.eq(0)]
        return m
