"""Synaptic accumulator: input events fan out through the weight memory into A.

Implements :func:`gammacore.golden.fixedpoint.accumulate` event by event: an event
(source i, magnitude q) is taken, then for j = 0..N-1, one per clock,
``A_j <- sat48(A_j + W[j,i] * q)`` (exact: the 48-bit accumulator cannot overflow below
2**14 events per neuron per step, so the order of events does not matter). The event's
magnitude is also added to the source's trace input ``qin_i`` (saturating; at most one
event per source and step is the golden model's input form, a second one adds).

The layer core reads A and qin through the ``rd_*`` port in its bucket pass and clears them
with ``clr_*`` for the next step; while ``enable`` is low no event is taken and those ports
own the memories.
"""
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..golden import formats as F
from .bucket_decay import saturate

__all__ = ["SynapticAccumulator", "event_layout"]


def _bits(n):
    return max(1, (n - 1).bit_length())


def event_layout(n_in):
    return data.StructLayout({"source": unsigned(_bits(n_in)), "q": unsigned(F.Q.width)})


class SynapticAccumulator(wiring.Component):
    """Event fan-out and multiply-accumulate, one MAC per clock.

    Parameters
    ----------
    n_in, n_out : sources and neurons
    W : initial weights (raw W, row-major [j][i]) or None

    Attributes
    ----------
    events : stream of (source, q), in
    enable : take events, in;  idle : no fan-out in flight, out;  count : events taken, out
    w_addr, w_data, w_we : weight write port, in
    rd_en, rd_a_addr, rd_q_addr, a_data, q_data : read port of A and qin (data one clock
        after the address; held while rd_en is low)
    clr_a, clr_a_addr, clr_q, clr_q_addr : clear one A / qin word
    """

    def __init__(self, n_in, n_out, *, W=None):
        for name, v in (("n_in", n_in), ("n_out", n_out)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
        self.n_in, self.n_out, self._W = n_in, n_out, W
        super().__init__({
            "events": In(stream.Signature(event_layout(n_in))),
            "enable": In(1), "idle": Out(1), "count": Out(32),
            "w_addr": In(unsigned(_bits(n_in * n_out))), "w_data": In(signed(F.W.width)), "w_we": In(1),
            "rd_en": In(1), "rd_a_addr": In(unsigned(_bits(n_out))), "rd_q_addr": In(unsigned(_bits(n_in))),
            "a_data": Out(signed(F.ACC.width)), "q_data": Out(unsigned(F.Q.width)),
            "clr_a": In(1), "clr_a_addr": In(unsigned(_bits(n_out))),
            "clr_q": In(1), "clr_q_addr": In(unsigned(_bits(n_in))),
        })

    def elaborate(self, platform):
        m = Module()
        N, I = self.n_out, self.n_in
        m.submodules.w = w_mem = Memory(shape=signed(F.W.width), depth=N * I,
                                        init=list(self._W) if self._W is not None else [])
        m.submodules.a = a_mem = Memory(shape=signed(F.ACC.width), depth=N, init=[])
        m.submodules.qin = q_mem = Memory(shape=unsigned(F.Q.width), depth=I, init=[])
        self.memories = {"W": w_mem, "A": a_mem, "qin": q_mem}
        w_rd, w_wr = w_mem.read_port(), w_mem.write_port()
        a_rd, a_wr = a_mem.read_port(), a_mem.write_port()
        q_rd, q_wr = q_mem.read_port(), q_mem.write_port()
        m.d.comb += [w_wr.addr.eq(self.w_addr), w_wr.data.eq(self.w_data), w_wr.en.eq(self.w_we),
                     self.a_data.eq(a_rd.data), self.q_data.eq(q_rd.data)]

        src = Signal.like(self.events.payload.source)
        q = Signal(unsigned(F.Q.width))
        fan_j = Signal(range(N + 1))
        fan_active = Signal()     # reading W[fan_j, src] and A[fan_j]
        mac_valid = Signal()      # their data is on the read ports
        mac_j = Signal(range(N))
        qin_valid = Signal()      # qin[src] is on its read port
        m.d.comb += self.idle.eq(~fan_active & ~mac_valid & ~qin_valid)

        take = Signal()
        m.d.comb += [self.events.ready.eq(self.enable & ~fan_active), take.eq(self.events.valid & self.events.ready)]
        m.d.sync += [mac_valid.eq(fan_active), mac_j.eq(fan_j), qin_valid.eq(take)]
        with m.If(take):
            m.d.sync += [src.eq(self.events.payload.source), q.eq(self.events.payload.q),
                         fan_j.eq(0), fan_active.eq(1), self.count.eq(self.count + 1)]
        with m.If(fan_active):
            m.d.sync += fan_j.eq(fan_j + 1)
            with m.If(fan_j == N - 1):
                m.d.sync += fan_active.eq(0)

        prod = Signal(signed(F.W.width + F.Q.width + 1))
        m.d.comb += prod.eq(w_rd.data * q)
        a_sat = saturate(m, a_rd.data + prod, F.ACC, "a_sat")
        q_sum = saturate(m, q_rd.data + q, F.Q, "q_sum")
        m.d.comb += w_rd.addr.eq(fan_j * I + src)
        with m.If(self.enable):
            m.d.comb += [a_rd.addr.eq(fan_j), q_rd.addr.eq(self.events.payload.source)]
        with m.Else():
            m.d.comb += [a_rd.addr.eq(self.rd_a_addr), q_rd.addr.eq(self.rd_q_addr),
                         a_rd.en.eq(self.rd_en), q_rd.en.eq(self.rd_en)]
        with m.If(mac_valid):
            m.d.comb += [a_wr.addr.eq(mac_j), a_wr.data.eq(a_sat), a_wr.en.eq(1)]
        with m.Elif(self.clr_a):
            m.d.comb += [a_wr.addr.eq(self.clr_a_addr), a_wr.data.eq(0), a_wr.en.eq(1)]
        with m.If(qin_valid):
            m.d.comb += [q_wr.addr.eq(src), q_wr.data.eq(q_sum), q_wr.en.eq(1)]
        with m.Elif(self.clr_q):
            m.d.comb += [q_wr.addr.eq(self.clr_q_addr), q_wr.data.eq(0), q_wr.en.eq(1)]
        return m
