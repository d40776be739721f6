"""Asynchronous scheduler of the network core: the LFSR of the random order and the scan of the pending table.

The asynchronous modes (:class:`gammacore.regmap.Mode`; the definition is
:mod:`gammacore.golden.async_model`) keep a pending word per neuron (written by the neuron
pass, :class:`~gammacore.rtl.neuron_pass.NeuronPass`): pending, fired, key. The key is the
spike count in priority order, or the next value of a 16-bit LFSR when the neuron becomes
pending in random order; the LFSR restarts from ``seed`` at every clear (``ctrl.reseed``)
and steps whenever the neuron pass takes its value (``lfsr_advance``).

The scan reads the pending words of one layer (the current descriptor) per ``ctrl.active``
run, one per clock, and keeps the largest key over the layers scanned since
``ctrl.restart`` (ties keep the first, in layer then index order): ``found``, ``best_l``,
``best_j``. ``ctrl.next_layer`` starts the next layer's part; ``ctrl.layer_done`` is high
once the current layer's words are all read. The memory port is the one
:data:`~gammacore.rtl.net_memories.OWNERSHIP` gives :attr:`Engine.SCAN`.
"""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .descriptors import descriptor_layout
from .net_memories import Engine, client_signature

__all__ = ["AsyncScheduler", "scheduler_control"]


def scheduler_control(layers, max_layer):
    """The sequencer's side of the scheduler."""
    return wiring.Signature({
        "reseed": Out(1),               # the LFSR restarts from the seed (clear)
        "restart": Out(1),              # a new scan over every layer
        "next_layer": Out(1),           # the scan goes on with the next layer
        "layer_index": Out(range(layers)),  # the layer being scanned
        "active": Out(1),
        "layer_done": In(1),
        "found": In(1), "best_l": In(range(layers)), "best_j": In(range(max_layer)),
    })


class AsyncScheduler(wiring.Component):
    """LFSR and pending-table scan.

    Parameters
    ----------
    capacity : :class:`gammacore.regmap.Capacity`
    registered : the pending word registered after its read, before the compare with the
        best key (for Fmax: the block RAM's clock-to-out does not meet the 16-bit compare and
        the best registers' enables; a layer's scan takes a clock more)

    Attributes
    ----------
    seed : the LFSR's seed, in;  lfsr_next : the LFSR's next value, out;  lfsr_advance : step it, in
    layer : the current descriptor, in;  ctrl : :func:`scheduler_control`, flipped
    mem : the pending table's read port, flipped
    """

    def __init__(self, capacity, registered=True):
        c = self.cap = capacity
        self.registered = registered
        super().__init__({
            "seed": In(16), "lfsr_next": Out(16), "lfsr_advance": In(1),
            "layer": In(descriptor_layout(c.buckets)),
            "ctrl": In(scheduler_control(c.layers, c.max_layer)),
            "mem": In(client_signature(c, Engine.SCAN)),
        })

    def elaborate(self, platform):
        m = Module()
        ML = self.cap.max_layer
        d, ctl, P = self.layer, self.ctrl, self.mem.PEND
        m.d.comb += P.rd.en.eq(0)

        lfsr = Signal(16, init=1)
        m.d.comb += self.lfsr_next.eq((lfsr >> 1) ^ Mux(lfsr[0], 0xB400, 0))
        with m.If(self.lfsr_advance):
            m.d.sync += lfsr.eq(self.lfsr_next)
        with m.If(ctl.reseed):
            m.d.sync += lfsr.eq(self.seed)

        sj = Signal(range(ML + 1))
        sc_valid = Signal()
        sc_j = Signal(range(ML))
        best_key = Signal(16)
        sc_issue = Signal()
        m.d.comb += sc_issue.eq(sj != d.n_out)
        if self.registered:
            w_valid, w_j, word = Signal(), Signal.like(sc_j), Signal.like(P.rd.data)
        else:
            w_valid, w_j, word = sc_valid, sc_j, P.rd.data
        with m.If(ctl.active):
            m.d.comb += [P.rd.addr.eq(d.n_base + sj), P.rd.en.eq(1),
                         ctl.layer_done.eq(~sc_issue & ~sc_valid & ~w_valid)]
            m.d.sync += [sc_valid.eq(sc_issue), sc_j.eq(sj)]
            if self.registered:
                m.d.sync += [w_valid.eq(sc_valid), w_j.eq(sc_j), word.eq(P.rd.data)]
            with m.If(sc_issue):
                m.d.sync += sj.eq(sj + 1)
            with m.If(w_valid & word.pending & (~ctl.found | (word.key > best_key))):
                m.d.sync += [ctl.found.eq(1), best_key.eq(word.key), ctl.best_l.eq(ctl.layer_index),
                             ctl.best_j.eq(w_j)]
        with m.If(ctl.next_layer):
            m.d.sync += sj.eq(0)
        with m.If(ctl.restart):
            m.d.sync += [sj.eq(0), sc_valid.eq(0), ctl.found.eq(0)]
            if self.registered:
                m.d.sync += w_valid.eq(0)
        return m
