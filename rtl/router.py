"""Spike router: address-event packets from the core to the next layer and to the host.

Every spike the core emits is a packet (source, local neuron, magnitude q, step). The
routing table (one entry per source neuron, :class:`gammacore.regmap.Route` bits) says
where it goes: to the next layer's event FIFO as an input event (local neuron index ->
input index of the next layer, which is how feed-forward layers are wired) and/or to the
output FIFO that the host reads. A packet with no target (table entry 0) is not lost silently: it is counted in
``unrouted``. Both FIFOs back-pressure: a packet waits in the router until every target
has room, and the core's spike pipeline stalls behind it - nothing is dropped.

The forward FIFO must hold one layer's spikes (at most one per neuron and step:
``max_neurons`` entries), because the next layer drains it only after the layer that
filled it has finished (layer-synchronous execution).
"""
from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..golden import formats as F
from .fifo import BlockFIFO

__all__ = ["Router", "spike_layout", "out_layout", "fwd_layout"]


def _bits(n):
    return max(1, (n - 1).bit_length())


def spike_layout(n_depth, max_neurons, step_width=16):
    return data.StructLayout({"source": unsigned(_bits(n_depth)), "local": unsigned(_bits(max_neurons)),
                              "q": unsigned(F.Q.width), "step": unsigned(step_width)})


def fwd_layout(max_neurons):
    return data.StructLayout({"source": unsigned(_bits(max_neurons)), "q": unsigned(F.Q.width)})


def out_layout(n_depth, step_width=16):
    return data.StructLayout({"source": unsigned(_bits(n_depth)), "q": unsigned(F.Q.width),
                              "step": unsigned(step_width)})


class Router(wiring.Component):
    """Routing-table lookup and the two target FIFOs.

    Parameters
    ----------
    n_depth : number of source neurons (routing-table entries)
    max_neurons : largest layer (depth of the forward FIFO)
    out_depth : depth of the output FIFO

    Attributes
    ----------
    i : stream of :func:`spike_layout` packets, in
    fwd : stream of next-layer input events (source = local neuron index, q), out
    out : stream of :func:`out_layout` packets for the host, out
    route_addr, route_data, route_we : routing-table write port; ``route_rdata`` reads
        ``route_addr`` one clock later
    idle : no packet inside the router (the FIFOs may hold some), out
    fwd_empty : the forward FIFO holds nothing (not even a word on its way out), out
    out_level, out_full : packets in the output FIFO; it is full, out
    unrouted, to_next, to_host : packet counters, out
    """

    def __init__(self, n_depth, max_neurons, out_depth=64, step_width=16):
        for name, v in (("n_depth", n_depth), ("max_neurons", max_neurons), ("out_depth", out_depth)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
        self.n_depth, self.max_n, self.out_depth, self.step_width = n_depth, max_neurons, out_depth, step_width
        super().__init__({
            "i": In(stream.Signature(spike_layout(n_depth, max_neurons, step_width))),
            "fwd": Out(stream.Signature(fwd_layout(max_neurons))),
            "out": Out(stream.Signature(out_layout(n_depth, step_width))),
            "route_addr": In(_bits(n_depth)), "route_data": In(2), "route_we": In(1),
            "route_rdata": Out(2),
            "idle": Out(1), "fwd_empty": Out(1), "out_level": Out(16), "out_full": Out(1), "unrouted": Out(32), "to_next": Out(32), "to_host": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.table = table = Memory(shape=unsigned(2), depth=self.n_depth, init=[])
        self.table = table
        look = table.read_port()
        host_rd = table.read_port()
        wr = table.write_port()
        m.d.comb += [wr.addr.eq(self.route_addr), wr.data.eq(self.route_data), wr.en.eq(self.route_we),
                     host_rd.addr.eq(self.route_addr), self.route_rdata.eq(host_rd.data)]

        fl, ol = fwd_layout(self.max_n), out_layout(self.n_depth, self.step_width)
        m.submodules.fwd_fifo = ff = BlockFIFO(width=fl.size, depth=self.max_n)
        m.submodules.out_fifo = of = BlockFIFO(width=ol.size, depth=self.out_depth)
        m.d.comb += [self.fwd.payload.eq(ff.r_data), self.fwd.valid.eq(ff.r_rdy), ff.r_en.eq(self.fwd.ready),
                     self.out.payload.eq(of.r_data), self.out.valid.eq(of.r_rdy), of.r_en.eq(self.out.ready)]

        held = Signal()
        pkt = Signal.like(self.i.payload)
        want_next = Signal()
        want_host = Signal()
        m.d.comb += [want_next.eq(look.data[0]), want_host.eq(look.data[1])]
        go = Signal()
        m.d.comb += go.eq(held & (~want_next | ff.w_rdy) & (~want_host | of.w_rdy))
        take = Signal()
        m.d.comb += [self.i.ready.eq(~held | go), take.eq(self.i.valid & self.i.ready),
                     look.addr.eq(self.i.payload.source), look.en.eq(take), self.idle.eq(~held),
                     self.fwd_empty.eq(ff.level == 0), self.out_level.eq(of.level),
                     self.out_full.eq(~of.w_rdy)]
        fwd_word = Signal(fl)
        out_word = Signal(ol)
        m.d.comb += [fwd_word.source.eq(pkt.local), fwd_word.q.eq(pkt.q),
                     out_word.source.eq(pkt.source), out_word.q.eq(pkt.q), out_word.step.eq(pkt.step),
                     ff.w_data.eq(fwd_word), of.w_data.eq(out_word)]
        with m.If(go):
            m.d.comb += [ff.w_en.eq(want_next), of.w_en.eq(want_host)]
            with m.If(want_next):
                m.d.sync += self.to_next.eq(self.to_next + 1)
            with m.If(want_host):
                m.d.sync += self.to_host.eq(self.to_host + 1)
            with m.If(~want_next & ~want_host):
                m.d.sync += self.unrouted.eq(self.unrouted + 1)
            m.d.sync += held.eq(0)
        with m.If(take):
            m.d.sync += [held.eq(1), pkt.eq(self.i.payload)]
        return m
