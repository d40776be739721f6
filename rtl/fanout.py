"""Fan-out engine: each input event of a layer to every neuron of it, one multiply-accumulate per clock.

Implements :func:`gammacore.golden.fixedpoint.accumulate` event by event for the layer in
``layer`` (the current descriptor): an event (source i, magnitude q) is taken, then for
j = 0 .. n_out-1, one per clock, ``A_j <- sat48(A_j + W[j,i] q)`` (exact: the 48-bit
accumulator cannot overflow below 2**14 events per neuron per step, so the order of the
events does not matter), and ``qin_i <- sat(qin_i + q)`` (the input trace's input). An
event whose source is not an input of the layer is taken and dropped (``refused``).

With ``deliver`` (the asynchronous modes: a spike of the layer below arrives after the
layer's step) the products go straight into the first bucket, ``Z_j^1 <- sat(Z_j^1 + W[j,i] q)``,
and q into the input trace ``yhat_i^1``, instead of into A and qin.

The engine works while ``enable`` is high or an event's fan-out is under way; ``idle`` is
high when nothing is in flight. Its memory ports are those :data:`OWNERSHIP` gives
:attr:`Engine.FANOUT <gammacore.rtl.net_memories.Engine>`.
"""
from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden import formats as F
from .bucket_decay import saturate
from .descriptors import descriptor_layout
from .net_memories import Engine, client_signature
from .router import fwd_layout

__all__ = ["FanOut", "FanOutControl"]

#: the sequencer's side of the fan-out engine
FanOutControl = wiring.Signature({
    "enable": Out(1),       # take events (the engine finishes an event's fan-out regardless)
    "deliver": Out(1),      # into Z^1 and the trace (asynchronous forward events), not A and qin
    "idle": In(1),          # no event in flight
    "took": In(1),          # an event is taken this clock
    "accepted": In(1),      # ... and its source is an input of the layer
    "refused": In(1),       # ... and it is not: dropped
})


def _bits(n):
    return max(1, (n - 1).bit_length())


class FanOut(wiring.Component):
    """Event fan-out of the network core.

    Parameters
    ----------
    capacity : :class:`gammacore.regmap.Capacity`

    Attributes
    ----------
    ev : the layer's input events (source, q), in
    layer : the current layer's descriptor, in
    ctrl : :data:`FanOutControl`, flipped
    mem : the memory ports (:func:`~gammacore.rtl.net_memories.client_signature`), flipped
    """

    def __init__(self, capacity):
        c = self.cap = capacity
        super().__init__({
            "ev": In(stream.Signature(fwd_layout(c.max_layer))),
            "layer": In(descriptor_layout(c.buckets)),
            "ctrl": In(FanOutControl),
            "mem": In(client_signature(c, Engine.FANOUT)),
        })

    def elaborate(self, platform):
        m = Module()
        c, K, ML = self.cap, self.cap.buckets, self.cap.max_layer
        d, ev, ctl, mem = self.layer, self.ev, self.ctrl, self.mem
        W, A, QIN, Z, T = mem.W, mem.A, mem.QIN, mem.Z, mem.TRACE
        m.d.comb += [W.rd.en.eq(0), A.rd.en.eq(0), QIN.rd.en.eq(0), Z.rd.en.eq(0), T.rd.en.eq(0)]

        src = Signal(range(ML))
        q = Signal(unsigned(F.Q.width))
        fan_j = Signal(range(ML + 1))
        fan_addr = Signal(_bits(c.synapses))
        fan_active = Signal()
        mac_valid = Signal()
        mac_j = Signal(range(ML))
        qin_valid = Signal()
        take = Signal()
        m.d.comb += [ctl.idle.eq(~fan_active & ~mac_valid & ~qin_valid),
                     ev.ready.eq(ctl.enable & ~fan_active), take.eq(ev.valid & ev.ready), ctl.took.eq(take),
                     ctl.accepted.eq(take & (ev.payload.source < d.n_in)),
                     ctl.refused.eq(take & (ev.payload.source >= d.n_in))]
        m.d.sync += [mac_valid.eq(fan_active), mac_j.eq(fan_j), qin_valid.eq(0)]
        with m.If(ctl.accepted):
            m.d.sync += [src.eq(ev.payload.source), q.eq(ev.payload.q), fan_j.eq(0), fan_active.eq(1),
                         fan_addr.eq(d.w_base + ev.payload.source), qin_valid.eq(1)]
        with m.If(fan_active):
            m.d.sync += [fan_j.eq(fan_j + 1), fan_addr.eq(fan_addr + d.n_in)]
            with m.If(fan_j == d.n_out - 1):
                m.d.sync += fan_active.eq(0)
        w_fwd = Signal(signed(F.W.width))
        m.d.comb += w_fwd.eq(W.rd.data >> F.MASTER_SHIFT)
        prod = Signal(signed(F.W.width + F.Q.width + 1))
        m.d.comb += prod.eq(w_fwd * q)
        a_sat = saturate(m, A.rd.data + prod, F.ACC, "a_sat")
        q_sum = saturate(m, QIN.rd.data + q, F.Q, "q_sum")
        z1_sat = saturate(m, Z.rd.data + prod, F.Z, "z1_sat")
        t1_sat = saturate(m, T.rd.data + (q << (F.TRACE.frac - F.Q.frac)), F.TRACE, "t1_sat")
        with m.If(ctl.enable | fan_active):
            m.d.comb += [W.rd.addr.eq(fan_addr), W.rd.en.eq(1)]
            with m.If(ctl.deliver):
                m.d.comb += [Z.rd.addr.eq((d.n_base + fan_j) * K), Z.rd.en.eq(fan_active),
                             T.rd.addr.eq((d.i_base + ev.payload.source) * K), T.rd.en.eq(take)]
            with m.Else():
                # QIN is read as the event is taken (its word is written back the clock after,
                # when the next event's source may be at the FIFO head already)
                m.d.comb += [A.rd.addr.eq(fan_j), A.rd.en.eq(fan_active), QIN.rd.addr.eq(ev.payload.source),
                             QIN.rd.en.eq(take)]
        with m.If(mac_valid & ctl.deliver):
            m.d.comb += [Z.wr.addr.eq((d.n_base + mac_j) * K), Z.wr.data.eq(z1_sat), Z.wr.en.eq(1)]
        with m.Elif(mac_valid):
            m.d.comb += [A.wr.addr.eq(mac_j), A.wr.data.eq(a_sat), A.wr.en.eq(1)]
        with m.If(qin_valid & ctl.deliver):
            m.d.comb += [T.wr.addr.eq((d.i_base + src) * K), T.wr.data.eq(t1_sat), T.wr.en.eq(1)]
        with m.Elif(qin_valid):
            m.d.comb += [QIN.wr.addr.eq(src), QIN.wr.data.eq(q_sum), QIN.wr.en.eq(1)]
        return m
