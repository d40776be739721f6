"""Fan-out engine: each input event of a layer to every neuron of it, one multiply-accumulate per clock and lane.

Implements :func:`gammacore.golden.fixedpoint.accumulate` event by event for the layer in
``layer`` (the current descriptor): an event (source i, magnitude q) is taken, then for
j = 0 .. n_out-1, one per clock, ``A_j <- sat48(A_j + W[j,i] q)`` (exact: the 48-bit
accumulator cannot overflow below 2**14 events per neuron per step, so the order of the
events does not matter), and ``qin_i <- sat(qin_i + q)`` (the input trace's input). An
event whose source is not an input of the layer is taken and dropped (``refused``).

With ``deliver`` (the asynchronous modes: a spike of the layer below arrives after the
layer's step) the products go straight into the first bucket, ``Z_j^1 <- sat(Z_j^1 + W[j,i] q)``,
and q into the input trace ``yhat_i^1``, instead of into A and qin.

With P lanes (``lanes``) neuron j is in lane j mod P (:mod:`~gammacore.rtl.net_memories`):
an event reaches every lane in the same clock, and row r of the lanes (neurons
P r .. P r + P - 1, those below n_out) is read and accumulated in one clock, P MACs, so an
event costs ceil(n_out / P) clocks (plus the clock that takes it, with ``deliver`` or
without ``registered``; see "Back to back"). ``deliver`` goes into
Z^1 (banked by the chip-wide neuron n_base + j, :func:`~gammacore.rtl.net_memories.unit_word`):
it walks the neurons one per clock, each W word read from its lane's bank and each Z^1 word
from its own. ``qin_i`` is in bank i mod P at i div P.

Pipeline (for Fmax, issue 14; ``registered``): the event at the FIFO's head is first
registered at the engine's input (``queued`` while it waits there) and taken from that
register, so the FIFO's block-RAM read ends before the accept decision and the W address;
with lanes, a second register behind it makes the input a skid buffer, whose ready is a
register, so the decision to take does not reach the FIFO's read enable in the same clock;
the next event is in the first register in the clock after the last one is taken, so a
stream of events loses no clock (a layer's first event comes one clock later). Row r's W words are read in clock c and
registered in c+1 with the event's q (the W memory's block-RAM cascade and its output
multiplexer end there, before the multiplier); their products are formed and registered in
c+2 while A (or Z^1) of row r is read, the sums are registered in c+3, and saturated and
written in c+4 (:data:`STAGES`); no clock carries a memory read into the multiply, or the
multiply through the add into a memory write. The input trace's (qin's) word is read as the
event is taken, registered the clock after and its saturated sum written the clock after
that. **Back to back** (``registered``, not ``deliver``): the next event is taken in the
clock of this one's last row, so an event costs ceil(n_out / P) clocks and a one-row layer
(n_out <= P) takes an event every clock. Its rows' read-modify-writes then overlap this
one's: row r's A sum may be formed in the clock the same row's previous sum is written
(one row a layer: the previous event's, forwarded from the write stage's saturated word),
or the clock after (two rows: its read, which would meet that write, is not made, and the
word comes from a register of the last write). q, and the source and q of the input
trace's read-modify-write, travel with their stages; a same-source qin word is forwarded
the same two ways. ``deliver`` (one neuron a clock into Z^1) takes the next event only
after the last one's fan-out, and in a one-neuron layer a clock later still (three), so
that its Z^1 read comes after the write.

The engine works while ``enable`` is high or an event's fan-out is under way; ``idle`` is
high when nothing is in flight. Its memory ports are those :data:`OWNERSHIP` gives
:attr:`Engine.FANOUT <gammacore.rtl.net_memories.Engine>`.
"""
from amaranth.hdl import Array, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden import formats as F
from .bucket_decay import saturate
from .descriptors import descriptor_layout
from .net_memories import (Engine, check_lanes, client_signature, lane_div, lane_mod, lane_ports, lane_view, lane_w_base,
                           unit_word)
from .router import fwd_layout

__all__ = ["FanOut", "FanOutControl", "STAGES"]

#: the registered fan-out's clocks from a row's W read to its A (Z^1) write, inclusive
STAGES = 5

#: the sequencer's side of the fan-out engine
FanOutControl = wiring.Signature({
    "enable": Out(1),       # take events (the engine finishes an event's fan-out regardless)
    "phase": Out(1),        # the memories are the engine's (the sequencer's owner): W is read
                            # every clock of the phase, its clock enables off the decision to take
    "deliver": Out(1),      # into Z^1 and the trace (asynchronous forward events), not A and qin
    "idle": In(1),          # no event in flight
    "queued": In(1),        # an event is registered at the engine's input (one of its two
                            # registers), not yet taken
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
    lanes : P, the lanes (any P >= 1)
    registered : the products registered (the pipeline below); without, the sum is formed
        from the W read directly and written in c+1 (fewer registers for the iCE40's lean
        build, whose clock does not need them)

    Attributes
    ----------
    ev : the layer's input events (source, q), in
    layer : the current layer's descriptor, in
    ctrl : :data:`FanOutControl`, flipped
    mem : the memory ports (:func:`~gammacore.rtl.net_memories.client_signature`), flipped
    """

    def __init__(self, capacity, lanes=1, registered=True):
        c = self.cap = capacity
        self.lanes = check_lanes(lanes)
        self.registered = registered
        super().__init__({
            "ev": In(stream.Signature(fwd_layout(c.max_layer))),
            "layer": In(descriptor_layout(c.buckets)),
            "ctrl": In(FanOutControl),
            "mem": In(client_signature(c, Engine.FANOUT, lanes=lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        c, K, ML, P = self.cap, self.cap.buckets, self.cap.max_layer, self.lanes
        d, ev, ctl, mem = self.layer, self.ev, self.ctrl, self.mem
        W, A = lane_ports(mem.W), lane_ports(mem.A)
        # qin_i in bank i mod P; Z^1 and the trace of a chip-wide unit u in bank u mod P
        QIN, q_rlane, q_wlane = lane_view(m, lane_ports(mem.QIN), "qin")
        Z, z_rlane, z_wlane = lane_view(m, lane_ports(mem.Z), "z1")
        T, t_rlane, t_wlane = lane_view(m, lane_ports(mem.TRACE), "t1")
        m.d.comb += [QIN.rd.en.eq(0), Z.rd.en.eq(0), T.rd.en.eq(0)]
        m.d.comb += [port.rd.en.eq(0) for port in W + A]

        src = Signal(range(ML))
        q = Signal(unsigned(F.Q.width))
        fan_j = Signal(range(ML + P))           # the row's first neuron (deliver: the neuron)
        fan_addr = Signal(len(W[0].rd.addr))    # its W word in the lane banks
        fan_active = Signal()
        mac_valid = Signal()
        mac_j = Signal(range(ML + P))
        mac_lanes = Signal(P)                   # the lanes whose neuron the MAC updates
        if self.registered:
            w_valid = Signal()                  # row r's W words (and q) registered (c+1)
            w_j = Signal.like(mac_j)
            w_lanes = Signal(P)
            acc_valid = Signal()                # the registered products are added (c+3)
            acc_j = Signal.like(mac_j)
            acc_lanes = Signal(P)
            wb_valid = Signal()                 # the registered sums saturated and written (c+4)
            wb_j = Signal.like(mac_j)
            wb_lanes = Signal(P)
        qin_valid = Signal()
        take = Signal()
        if self.registered:
            # the event at the FIFO's head is first registered (``ev_r``; the FIFO's block-RAM
            # read ends there, before the accept decision and the address adder) and taken from
            # the register (``queued`` meanwhile: it is still waiting, like the FIFO's events).
            # With lanes (P > 1), a second register (``ev_s``) makes the input a skid buffer:
            # ``ev.ready`` is ~ev_s_valid, a register, so the decision to take (the row
            # counters, ``deliver``'s hazard) never reaches the FIFO's read enable and level
            # counter in the same clock (the 85F's critical path at P = 2, 72.9 MHz for 75; the
            # P = 1 builds meet their clocks without it). The next event is in ev_r in the
            # clock after the last one is taken, as with one register
            skid = P > 1
            ev_r = Signal.like(ev.payload, name="ev_r")
            ev_r_valid = Signal()
            if skid:
                ev_s = Signal.like(ev.payload, name="ev_s")
                ev_s_valid = Signal()
            ev_in = ev_r
        else:
            ev_in = ev.payload
        if self.registered:
            # the trace's (qin's) word read for an event, registered in c+1; its sum is
            # written in c+2
            qin_wr_valid = Signal()
            qin_rd = Signal.like(QIN.rd.data, name="qin_rd")
            t_rd = Signal.like(T.rd.data, name="t_rd")
            # the event's source and q, with its trace word (the next event may be taken in
            # the clock after this one, src and q are then its)
            qin_src = Signal.like(src, name="qin_src")
            qin_q = Signal.like(q, name="qin_q")
            m.d.sync += [qin_wr_valid.eq(qin_valid), t_rd.eq(T.rd.data), qin_src.eq(src), qin_q.eq(q)]
            # deliver: a one-neuron layer's next event is not taken two clocks after the last
            # (its W word in c+1): its Z^1 read would come in the clock Z^1 is written (c+4)
            hazard = ctl.deliver & w_valid & (w_j == 0)
        # (each form written as it was built and measured: docs/boards.md, "yosys")
        if self.registered:
            # idle from a register (for Fmax: the sequencer's decisions wait on it): the
            # clock after one with no event accepted and nothing in the pipeline but its last
            # write stage is one with nothing in it (no flag below is set otherwise)
            idle = Signal(init=1)
        else:
            idle = ~fan_active & ~mac_valid & ~qin_valid
        if self.registered:
            # fan_last: the row being read is the event's last (a register: no adder on the
            # take decision); without deliver the next event is taken in that clock
            fan_last = Signal()
            free = Mux(ctl.deliver, ~fan_active & ~hazard, ~fan_active | fan_last)
            m.d.comb += take.eq(ctl.enable & ev_r_valid & free)
            if skid:
                m.d.comb += [ev.ready.eq(ctl.enable & ~ev_s_valid), ctl.queued.eq(ev_r_valid | ev_s_valid)]
                with m.If(ev.valid & ev.ready):
                    # ev_s is empty: the event goes into ev_r when that is free or taken now,
                    # else into ev_s
                    with m.If(~ev_r_valid | take):
                        m.d.sync += [ev_r.eq(ev.payload), ev_r_valid.eq(1)]
                    with m.Else():
                        m.d.sync += [ev_s.eq(ev.payload), ev_s_valid.eq(1)]
                with m.Elif(take):
                    with m.If(ev_s_valid):
                        m.d.sync += [ev_r.eq(ev_s), ev_s_valid.eq(0)]
                    with m.Else():
                        m.d.sync += ev_r_valid.eq(0)
            else:
                # one register: the FIFO's next event is registered in the clock this one is
                # taken
                m.d.comb += [ev.ready.eq(ctl.enable & (~ev_r_valid | take)), ctl.queued.eq(ev_r_valid)]
                with m.If(ev.valid & ev.ready):
                    m.d.sync += [ev_r.eq(ev.payload), ev_r_valid.eq(1)]
                with m.Elif(take):
                    m.d.sync += ev_r_valid.eq(0)
        else:
            m.d.comb += [ev.ready.eq(ctl.enable & ~fan_active), take.eq(ev.valid & ev.ready)]
        m.d.comb += [ctl.idle.eq(idle), ctl.took.eq(take),
                     ctl.accepted.eq(take & (ev_in.source < d.n_in)),
                     ctl.refused.eq(take & (ev_in.source >= d.n_in))]
        lanes_on = Signal(P)                    # the lanes with a neuron in this clock's row
        if P == 1:
            m.d.comb += lanes_on.eq(1)
        else:
            for p in range(P):
                m.d.comb += lanes_on[p].eq(Mux(ctl.deliver, lane_mod(fan_j, P) == p, fan_j + p < d.n_out))
        m.d.sync += qin_valid.eq(0)
        if self.registered:
            m.d.sync += [idle.eq(~ctl.accepted & ~fan_active & ~w_valid & ~mac_valid & ~acc_valid & ~qin_valid),
                         w_valid.eq(fan_active), w_j.eq(fan_j), w_lanes.eq(lanes_on),
                         mac_valid.eq(w_valid), mac_j.eq(w_j), mac_lanes.eq(w_lanes),
                         acc_valid.eq(mac_valid), acc_j.eq(mac_j), acc_lanes.eq(mac_lanes),
                         wb_valid.eq(acc_valid), wb_j.eq(acc_j), wb_lanes.eq(acc_lanes)]
        else:
            m.d.sync += [mac_valid.eq(fan_active), mac_j.eq(fan_j), mac_lanes.eq(lanes_on)]
        # the clock A (Z^1) of a row is written
        wr_valid, wr_j, wr_lanes = (wb_valid, wb_j, wb_lanes) if self.registered else (mac_valid, mac_j, mac_lanes)
        if self.registered:
            rows_left = Signal(range(ML), name="rows_left")     # rows after the one being read
            rows_m1 = Signal.like(rows_left)
            m.d.comb += rows_m1.eq(lane_div(d.n_out - 1, P))
        with m.If(ctl.accepted):
            m.d.sync += [src.eq(ev_in.source), q.eq(ev_in.q), fan_j.eq(0), fan_active.eq(1),
                         fan_addr.eq(lane_w_base(d.w_base, d.i_base, P) + ev_in.source), qin_valid.eq(1)]
            if self.registered:
                m.d.sync += [rows_left.eq(rows_m1), fan_last.eq(rows_m1 == 0)]
        with m.Elif(fan_active):
            if self.registered:
                m.d.sync += [rows_left.eq(rows_left - 1), fan_last.eq(rows_left == 1)]
            if P == 1:
                m.d.sync += [fan_j.eq(fan_j + 1), fan_addr.eq(fan_addr + d.n_in)]
                with m.If(fan_j == d.n_out - 1):
                    m.d.sync += fan_active.eq(0)
            else:
                with m.If(ctl.deliver):
                    # one neuron per clock (Z is one memory); the next row after the last lane
                    m.d.sync += fan_j.eq(fan_j + 1)
                    with m.If(lane_mod(fan_j, P) == P - 1):
                        m.d.sync += fan_addr.eq(fan_addr + d.n_in)
                    with m.If(fan_j == d.n_out - 1):
                        m.d.sync += fan_active.eq(0)
                with m.Else():
                    m.d.sync += [fan_j.eq(fan_j + P), fan_addr.eq(fan_addr + d.n_in)]
                    with m.If(fan_j + P >= d.n_out):
                        m.d.sync += fan_active.eq(0)
        w_fwd = [Signal(signed(F.W.width), name=f"w_fwd{p}") for p in range(P)]
        prod = [Signal(signed(F.W.width + F.Q.width + 1), name=f"prod{p}") for p in range(P)]
        m.d.comb += [w_fwd[p].eq(W[p].rd.data >> F.MASTER_SHIFT) for p in range(P)]
        if P > 1:
            # deliver: the one neuron's word (its lane's) goes to lane 0's multiplier
            w_sel = Signal(signed(F.W.width))
            sel_j = w_j if self.registered else mac_j
            m.d.comb += w_sel.eq(Mux(ctl.deliver, Array(w_fwd)[lane_mod(sel_j, P)], w_fwd[0]))
            w_fwd = [w_sel] + w_fwd[1:]
        if self.registered:
            # c: the event's q with the row's read (the next event's may follow in c+1);
            # c+1: the W words (lane 0's chosen) and that q registered
            w_r = [Signal.like(w_fwd[p], name=f"w{p}_r") for p in range(P)]
            q_w, q_r = Signal.like(q, name="q_w"), Signal.like(q, name="q_r")
            m.d.sync += [w_r[p].eq(w_fwd[p]) for p in range(P)]
            m.d.sync += [q_w.eq(q), q_r.eq(q_w)]
            w_fwd, q_mul = w_r, q_r
        else:
            q_mul = q
        m.d.comb += [prod[p].eq(w_fwd[p] * q_mul) for p in range(P)]
        if self.registered:
            prod_r = [Signal.like(prod[p], name=f"prod{p}_r") for p in range(P)]
            m.d.sync += [prod_r[p].eq(prod[p]) for p in range(P)]
        else:
            prod_r = prod
        a_word = [A[p].rd.data for p in range(P)]
        if self.registered:
            # back to back (not deliver): the A word a row's sum starts from, when the same
            # row's previous sum is not in the memory yet - it is written in this clock
            # (``fwd_wb``: one row a layer; the write stage's saturated word) or was in the
            # clock of the read (``fwd_last``: two rows; that read was not made, the word is
            # the register of the last write). Both flags registered at the read (c+2).
            fwd_wb, fwd_last = Signal(), Signal()
            same_wb = Signal()                  # c+2: the row written now is the one read
            m.d.comb += same_wb.eq(~ctl.deliver & mac_valid & wb_valid & (wb_j == mac_j))
            m.d.sync += [fwd_wb.eq(~ctl.deliver & mac_valid & acc_valid & (acc_j == mac_j)),
                         fwd_last.eq(same_wb)]
            a_last = [Signal(signed(F.ACC.width), name=f"a_last{p}") for p in range(P)]
        a_sum = [Signal(signed(F.ACC.width + 1), name=f"a_sum{p}") for p in range(P)]
        a_sat = [Signal(signed(F.ACC.width), name=f"a_sat{p}" if P > 1 else "a_sat") for p in range(P)]
        for p in range(P):
            base = a_word[p]
            if self.registered:
                base = Mux(fwd_wb, a_sat[p], Mux(fwd_last, a_last[p], base))
            m.d.comb += a_sum[p].eq(base + prod_r[p])
        z1_sum = Z.rd.data + prod_r[0]
        if self.registered:
            # c+3: the sums registered; c+4: saturated and written (and kept in a_last)
            a_sum_r = [Signal(a_sum[p].shape(), name=f"a_sum{p}_r") for p in range(P)]
            z1_sum_r = Signal(z1_sum.shape(), name="z1_sum_r")
            m.d.sync += [a_sum_r[p].eq(a_sum[p]) for p in range(P)]
            m.d.sync += z1_sum_r.eq(z1_sum)
            m.d.sync += [a_last[p].eq(a_sat[p]) for p in range(P)]
            a_sum, z1_sum = a_sum_r, z1_sum_r
        for p in range(P):
            # the sum is one bit wider than A: saturated from its top two bits (no compare,
            # the forwarded word's path is a multiplexer and the next add)
            top = a_sum[p][F.ACC.width - 1:]
            m.d.comb += a_sat[p].eq(Mux(top[0] == top[1], a_sum[p][:F.ACC.width],
                                        Mux(top[1], F.ACC.min, F.ACC.max)))
        if self.registered:
            # the trace's word (c+1): forwarded like A's, from this clock's write (the last
            # event's, same source) or from the register of the last clock's (whose read of
            # the same word was not made)
            q_last, q_last_src, q_last_valid = Signal.like(q), Signal.like(src), Signal()
            qin_word = Signal.like(qin_rd, name="qin_word")
            q_sum = saturate(m, qin_rd + qin_q, F.Q, "q_sum")
            same_now = ~ctl.deliver & qin_wr_valid & (qin_src == src)
            same_last = ~ctl.deliver & q_last_valid & (q_last_src == src)
            m.d.comb += qin_word.eq(Mux(same_now, q_sum, Mux(same_last, q_last, QIN.rd.data)))
            m.d.sync += [qin_rd.eq(qin_word), q_last.eq(q_sum), q_last_src.eq(qin_src),
                         q_last_valid.eq(qin_wr_valid)]
            t_word, t_q, wr_src = t_rd, qin_q, qin_src
        else:
            q_sum = saturate(m, QIN.rd.data + q, F.Q, "q_sum")
            t_word, t_q, wr_src = T.rd.data, q, src
        z1_sat = saturate(m, z1_sum, F.Z, "z1_sat")
        t1_sat = saturate(m, t_word + (t_q << (F.TRACE.frac - F.Q.frac)), F.TRACE, "t1_sat")
        if self.registered:
            # the event's trace and qin addresses come from its register whether or not it is
            # taken (only the enables wait on the decision): for Fmax, the sequencer's phase
            # and the FIFO's handshake stay off the memories' address decode
            lane, local = unit_word(d.i_base + ev_in.source, 0, K, P)
            m.d.comb += [T.rd.addr.eq(local), t_rlane.eq(lane),
                         QIN.rd.addr.eq(lane_div(ev_in.source, P)), q_rlane.eq(lane_mod(ev_in.source, P))]
        # W at fan_addr: with one lane every clock of the fan-out's phase (a superset of the
        # rows' reads), so the W memory's clock enable comes from the owner register, not from
        # the sequencer's decision to take an event (Fmax: the enable reaches W's block RAMs);
        # a laned core's W banks read every clock (net_memories.FREE_READ), and the enable
        # says which reads are used (a row's, while fan_active) for the collision check
        m.d.comb += [port.rd.addr.eq(fan_addr) for port in W]
        m.d.comb += [port.rd.en.eq(ctl.phase if P == 1 else fan_active) for port in W]
        with m.If(ctl.enable | fan_active):
            with m.If(ctl.deliver):
                if not self.registered:         # A (Z^1) read with W, written the clock after
                    lane, local = unit_word(d.n_base + fan_j, 0, K, P)
                    m.d.comb += [Z.rd.addr.eq(local), z_rlane.eq(lane), Z.rd.en.eq(fan_active)]
                if not self.registered:
                    lane, local = unit_word(d.i_base + ev_in.source, 0, K, P)
                    m.d.comb += [T.rd.addr.eq(local), t_rlane.eq(lane)]
                m.d.comb += T.rd.en.eq(take)
            with m.Else():
                # QIN is read as the event is taken (its word is written back the clock after,
                # when the next event's source may be at the FIFO head already)
                if not self.registered:
                    m.d.comb += [QIN.rd.addr.eq(lane_div(ev_in.source, P)), q_rlane.eq(lane_mod(ev_in.source, P))]
                if self.registered:
                    # not when this clock writes the same word (it is forwarded a clock later)
                    m.d.comb += QIN.rd.en.eq(take & ~(qin_wr_valid & (qin_src == ev_in.source)))
                else:
                    m.d.comb += QIN.rd.en.eq(take)
                if not self.registered:
                    for p in range(P):
                        m.d.comb += [A[p].rd.addr.eq(lane_div(fan_j, P)), A[p].rd.en.eq(fan_active & lanes_on[p])]
        if self.registered:
            # c+2: A (Z^1) of the row the products belong to
            with m.If(mac_valid & ctl.deliver):
                lane, local = unit_word(d.n_base + mac_j, 0, K, P)
                m.d.comb += [Z.rd.addr.eq(local), z_rlane.eq(lane), Z.rd.en.eq(1)]
            with m.Elif(mac_valid & ~same_wb):
                # (not when this clock writes the row: the word comes from a_last)
                for p in range(P):
                    m.d.comb += [A[p].rd.addr.eq(lane_div(mac_j, P)), A[p].rd.en.eq(mac_lanes[p] if P > 1 else 1)]
        # the sums written (c+4; without ``registered``, c+1)
        with m.If(wr_valid & ctl.deliver):
            lane, local = unit_word(d.n_base + wr_j, 0, K, P)
            m.d.comb += [Z.wr.addr.eq(local), z_wlane.eq(lane), Z.wr.data.eq(z1_sat), Z.wr.en.eq(1)]
        with m.Elif(wr_valid):
            for p in range(P):
                m.d.comb += [A[p].wr.addr.eq(lane_div(wr_j, P)), A[p].wr.data.eq(a_sat[p]), A[p].wr.en.eq(wr_lanes[p] if P > 1 else 1)]
        qin_write = qin_wr_valid if self.registered else qin_valid
        with m.If(qin_write & ctl.deliver):
            lane, local = unit_word(d.i_base + wr_src, 0, K, P)
            m.d.comb += [T.wr.addr.eq(local), t_wlane.eq(lane), T.wr.data.eq(t1_sat), T.wr.en.eq(1)]
        with m.Elif(qin_write):
            m.d.comb += [QIN.wr.addr.eq(lane_div(wr_src, P)), q_wlane.eq(lane_mod(wr_src, P)),
                         QIN.wr.data.eq(q_sum), QIN.wr.en.eq(1)]
        return m
