"""State and neuron passes of the network core: the bucket pass, then dendrite and encoder per neuron.

:class:`BucketPass` updates the current layer's postsynaptic buckets Z_j^k from A_j
(through :class:`~gammacore.rtl.bucket_decay.BucketDecay`), then its presynaptic traces
yhat_i^k from qin_i, and zeroes A and qin for the next step. Without ``ctrl.traces``
(Cmd.NO_TRACES) it ends after Z: the traces keep their words and qin is not zeroed. The
coefficient of each word (alpha_1 for k = 0, else beta_k+1) is read from the descriptor
memory with the word it applies to (the ``peek`` port of :class:`~gammacore.rtl.descriptors.DescriptorStore`), not
kept in registers.

:class:`NeuronPass` runs neurons [``lo``, ``hi``) of the layer through the dendrite
(x_j = sum_k V[j,k] Z_j^k + b_j, ReLU or linear; x is written back) and the sigma-delta
encoder (e_j, d_j written back when the layer has an encoder); a spike leaves on ``spikes``
as (source n_base + j, local j, q, step). What the encoder applies depends on ``kind``
(:class:`Pass`): the whole step (sync), or the parts of the asynchronous modes, where the
pass also keeps each neuron's word of the pending table (pending, fired, key; the key is
the spike count in priority order or the scheduler's next LFSR value in random order).

**Lanes** (P, :mod:`~gammacore.rtl.net_memories`): Z, V and the traces are banked by the
chip-wide unit (neuron n_base + j, input i_base + i) mod P. Both passes walk rows of P
consecutive units, one per lane (a row the layer fills only in part leaves its other lanes
idle): the bucket pass has a bucket-decay unit per lane, K clocks per row (A_j and qin_i
come from their banks j mod P and i mod P, rotated onto the lanes); the neuron pass a
dendrite per lane, max(K, P) clocks per row (lane p's b is read from the one B memory in
the row's clock p and added on that word), whose P results go one per clock (in neuron
order, so the spikes keep the golden order) through one shared encoder, which a row's
max(K, P) clocks never outrun, and out with the router's back-pressure.

**Fused** (``fused`` / ``ctrl.fused``, when P <= K and the core has the parallel encoder;
``fusable`` builds it; the sequencer's FUSED phase): the
bucket pass reads V and b with Z and its new Z words, with their V and b carried beside
them through the bucket-decay unit's stages, go straight into the neuron pass's dendrites
(``feed``): one pass per neuron, no second pass over Z. The asynchronous modes'
re-evaluation passes read Z themselves.

**Direct passes** (asynchronous modes: ``FIRE`` and ``DDECAY``): the encoder's y is the x the
layer's last evaluation wrote back (an X read; nothing has changed the layer's Z since, and
a neuron that fires has x = y > 0), so these passes run no dendrite and take one neuron per
clock: a spike's own pass is the encoder's latency, and the end of a step's d decay about a
clock per neuron.

Both are engines of the core: they work while ``ctrl.active`` (their phase), start with
``ctrl.start`` and raise ``ctrl.done`` in the clock of their last write. Their memory
ports are those :data:`~gammacore.rtl.net_memories.OWNERSHIP` gives them.
"""
from amaranth.hdl import Array, Const, Module, Mux, Signal, signed
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden import formats as F
from ..regmap import layer_fields
from .async_scheduler import pending_write
from .bucket_decay import BucketDecay
from .dendrite import Dendrite, dendrite_in_layout
from .descriptors import WORD, descriptor_layout
from .encoder import Encoder
from .encoder_serial import SerialEncoder
from .net_memories import (Engine, check_lanes, client_signature, engine_memories, lane_add, lane_div, lane_mod, lane_mul,
                           lane_ports, lane_sub, lane_unit, pending_layout)
from .router import spike_layout

__all__ = ["Pass", "BucketPass", "NeuronPass", "PassControl", "in_span", "neuron_pass_control"]


class Pass(enum.Enum, shape=3):
    """What a neuron pass applies (encoder flags decay-e / fire / decay-d; pending updates)."""
    SYNC = 0          # the whole encoder step, spikes out
    EVAL_FIRST = 1    # decay e, count; the pending table is written afresh
    EVAL = 2          # count; pending words updated
    FIRE = 3          # fire (one neuron); its pending word becomes fired
    DDECAY = 4        # decay d


def feed_layout(lanes):
    """The bucket pass's words to the neuron pass's dendrites when fused: per lane a
    :data:`~gammacore.rtl.dendrite.dendrite_in_layout` word (the new Z, its V, b)."""
    return data.ArrayLayout(dendrite_in_layout, lanes)


def in_span(row, first, last, lane, first_lane, last_lane):
    """Whether unit ``row`` P + ``lane`` of a walk over rows ``first`` .. ``last`` lies in the
    span from unit ``first`` P + ``first_lane`` to ``last`` P + ``last_lane``: equality compares
    of registers, no sum (for Fmax: the memories' clock enables follow it)."""
    return ((row != first) | (lane >= first_lane)) & ((row != last) | (lane <= last_lane))


#: the sequencer's side of the bucket pass (``traces``: run the trace part after the Z part,
#: held while the pass runs; without it the pass ends with the Z part, Cmd.NO_TRACES)
PassControl = wiring.Signature({"start": Out(1), "active": Out(1), "done": In(1), "traces": Out(1)})


def neuron_pass_control(max_layer):
    """The sequencer's side of the neuron pass: :data:`PassControl` and the neurons [lo, hi)
    (taken with ``start``) and the pass's kind (held while it runs)."""
    return wiring.Signature({"start": Out(1), "active": Out(1), "done": In(1),
                             "lo": Out(range(max_layer + 1)), "hi": Out(range(max_layer + 1)),
                             "kind": Out(Pass), "fused": Out(1)})


class BucketPass(wiring.Component):
    """The bucket pass over Z (j, k) and the input traces (i, k) of the current layer.

    Parameters
    ----------
    capacity : :class:`gammacore.regmap.Capacity`
    pow2 : power-of-two bucket rates (the coefficient fields carry shifts)
    registered : the bucket-decay units' Fmax stage (:class:`~gammacore.rtl.bucket_decay.BucketDecay`)
    lanes : P: a row of P units per clock and bucket (see the module)
    fusable : with the fused form (P <= K; the ``fused`` and ``feed`` ports, V and B read
        ports); without it the pass only updates Z and the traces

    Attributes
    ----------
    layer : the current descriptor, in;  ctrl : :data:`PassControl`, flipped
    fused : (``fusable``) feed the Z part's new words (with V and b) to the neuron pass, held
        while active, in
    feed : (``fusable``) those words, a row (P lanes) at a time, out
    peek_en, peek_field, peek_data : the descriptor memory's field port
    mem : the memory ports, flipped
    """

    def __init__(self, capacity, *, pow2=False, lanes=1, fusable=True, registered=True):
        c = self.cap = capacity
        self.pow2, self.registered = pow2, registered
        self.lanes = check_lanes(lanes)
        if fusable and self.lanes > c.buckets:
            raise ValueError(f"a fused bucket pass needs lanes <= buckets, got lanes {lanes}, buckets {c.buckets}")
        self.fusable = fusable
        self.fields = layer_fields(c.buckets)
        ports = {
            "layer": In(descriptor_layout(c.buckets)),
            "ctrl": In(PassControl),
            "peek_en": Out(1), "peek_field": Out(range(len(self.fields))), "peek_data": In(WORD),
            "mem": In(client_signature(c, Engine.BUCKETS, engine_memories(Engine.BUCKETS, fusable), lanes=lanes)),
        }
        if fusable:
            ports.update({"fused": In(1), "feed": Out(stream.Signature(feed_layout(lanes)))})
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        c = self.cap
        K, ML, P = c.buckets, c.max_layer, self.lanes
        d, ctl, mem = self.layer, self.ctrl, self.mem
        F_ = self.fusable
        Zb, Tb, Ab, Qb = lane_ports(mem.Z), lane_ports(mem.TRACE), lane_ports(mem.A), lane_ports(mem.QIN)
        Vb, B = (lane_ports(mem.V), mem.B) if F_ else ([], None)
        m.d.comb += [b.rd.en.eq(0) for b in Zb + Tb + Ab + Qb + Vb + [B] * F_]
        coef_w = 5 if self.pow2 else F.COEF.width
        field_index = {name: n for n, (name, _) in enumerate(self.fields)}
        units = [BucketDecay(pow2=self.pow2, registered=self.registered) for _ in range(P)]
        for p, bu in enumerate(units):
            m.submodules["buckets" if P == 1 else f"buckets{p}"] = bu
        U = max(c.neurons, c.inputs) + P        # chip-wide unit indices (neurons or inputs)
        R = -(-U // P) + 1                      # rows of P units

        # the first and last row (and lane) of the Z part and of the trace part; registered in
        # the registered form (the descriptor is final clocks before a pass starts; for Fmax:
        # the sums and the descriptor's far registers do not run on into the pass's compares,
        # the memories' write enables, its done and the sequencer's next state)
        ends = []                               # per part: first row, first lane, last row, last lane
        for n, (base, count) in enumerate(((d.n_base, d.n_out), (d.i_base, d.n_in))):
            regs = [Signal(range(R), name=f"first_row_{n}"), Signal(range(P), name=f"first_lane_{n}"),
                    Signal(range(R), name=f"last_row_{n}"), Signal(range(P), name=f"last_lane_{n}")]
            end = base + count - 1
            m.d["sync" if self.registered else "comb"] += [
                regs[0].eq(lane_div(base, P)), regs[1].eq(lane_mod(base, P)),
                regs[2].eq(lane_div(end, P)), regs[3].eq(lane_mod(end, P))]
            ends.append(regs)

        def part(trace):
            """(base, first row, first lane, last row, last lane) of the Z part or the trace part."""
            return (Mux(trace, d.i_base, d.n_base), *(Mux(trace, t, z) for z, t in zip(*ends)))

        def lanes_of(row, trace, stage):
            """per lane p: (its unit's local index o = P row + p - base, whether it is in the
            layer, :func:`in_span`: the rows walked run from the part's first to its last)"""
            base, first, first_lane, last, last_lane = part(trace)
            out = []
            for p in range(P):
                o = Signal(signed(len(Signal(range(U))) + 2), name=f"{stage}_o{p}")
                m.d.comb += o.eq(lane_unit(row, p, P) - base)
                # one lane: rows are units, from the part's first to its last, all in it
                on = in_span(row, first, last, p, first_lane, last_lane) if P > 1 else Const(1)
                out.append((o, on))
            return out

        bk_k = Signal(range(K))
        bk_row = Signal(range(R))
        bk_trace = Signal()
        bk_more = Signal()                      # a word is left to read
        rd_valid = Signal()
        rd_k = Signal(range(K))
        rd_trace = Signal()
        rd_row = Signal(range(R))
        out_k = Signal(range(K))
        out_row = Signal(range(R))
        out_trace = Signal()
        advance_rd = Signal()
        m.d.comb += advance_rd.eq(~rd_valid | units[0].i.ready)

        # ---- issue: row bk_row, bucket bk_k of every lane --------------------------------
        issue = lanes_of(bk_row, bk_trace, "bk")
        bk_last = part(bk_trace)[3]
        s_bk = Signal(range(P)) if P > 1 else None
        if P > 1:
            m.d.comb += s_bk.eq(part(bk_trace)[2])

        def by_bank(values, s, q):
            """the value of the lane whose unit is in bank q of A / QIN (local index mod P = q)"""
            if P == 1:
                return values[0]
            return Array(values)[lane_add(q, s, P)]

        with m.If(ctl.start):
            m.d.sync += [bk_k.eq(0), bk_row.eq(lane_div(d.n_base, P)), bk_trace.eq(0), bk_more.eq(1), rd_valid.eq(0),
                         out_k.eq(0), out_row.eq(lane_div(d.n_base, P)), out_trace.eq(0)]
        with m.If(ctl.active):
            m.d.comb += [self.peek_en.eq(advance_rd),
                         self.peek_field.eq(Mux(bk_k == 0, field_index["alpha0"], field_index["beta0"] + bk_k))]
            go = advance_rd & bk_more
            # each memory is read only for a word that uses it (Z and A in the Z part, TRACE
            # and QIN in the trace part, A and QIN at k = 0): the words are written back (A and
            # QIN zeroed) a few clocks later, and no read may meet a write of the same word
            for p in range(P):
                o, on = issue[p]
                m.d.comb += [Zb[p].rd.addr.eq(bk_row * K + bk_k), Tb[p].rd.addr.eq(bk_row * K + bk_k),
                             Zb[p].rd.en.eq(go & ~bk_trace & on), Tb[p].rd.en.eq(go & bk_trace & on)]
                if F_:
                    m.d.comb += [Vb[p].rd.addr.eq(bk_row * K + bk_k),
                                 Vb[p].rd.en.eq(go & ~bk_trace & on & self.fused)]
            if F_:
                # fused: b of lane p (B is one memory) read in the row's clock k = p
                lane_on = Array(on for _, on in issue)[lane_mod(bk_k, P)] if P > 1 else issue[0][1]
                m.d.comb += [B.rd.addr.eq(lane_mul(bk_row, P) + bk_k),
                             B.rd.en.eq(go & ~bk_trace & self.fused & (bk_k < P) & lane_on)]
            for q in range(P):
                addr = by_bank([lane_div(o, P) for o, _ in issue], s_bk, q)
                on = by_bank([on for _, on in issue], s_bk, q)
                m.d.comb += [Ab[q].rd.addr.eq(addr), Qb[q].rd.addr.eq(addr),
                             Ab[q].rd.en.eq(go & ~bk_trace & (bk_k == 0) & on),
                             Qb[q].rd.en.eq(go & bk_trace & (bk_k == 0) & on)]
            with m.If(advance_rd):
                m.d.sync += [rd_valid.eq(bk_more), rd_k.eq(bk_k), rd_row.eq(bk_row), rd_trace.eq(bk_trace)]
                with m.If(bk_more):
                    with m.If(bk_k == K - 1):
                        m.d.sync += bk_k.eq(0)
                        with m.If(bk_row == bk_last):
                            with m.If(~bk_trace & ctl.traces):
                                m.d.sync += [bk_row.eq(lane_div(d.i_base, P)), bk_trace.eq(1)]
                            with m.Else():
                                m.d.sync += bk_more.eq(0)
                        with m.Else():
                            m.d.sync += bk_row.eq(bk_row + 1)
                    with m.Else():
                        m.d.sync += bk_k.eq(bk_k + 1)

        # ---- read: the words in the lanes' bucket-decay units -----------------------------
        read = lanes_of(rd_row, rd_trace, "rd")
        s_rd = Signal(range(P)) if P > 1 else None
        if P > 1:
            m.d.comb += s_rd.eq(part(rd_trace)[2])
        for p, bu in enumerate(units):
            # lane p's unit has local index o, whose A / QIN word is in bank o mod P = p - s
            src = lane_sub(p, s_rd, P) if P > 1 else 0
            a_data = Ab[0].rd.data if P == 1 else Array(a.rd.data for a in Ab)[src]
            q_data = Qb[0].rd.data if P == 1 else Array(q.rd.data for q in Qb)[src]
            below_first = Signal(signed(F.ACC.width), name=f"below_first{p}")
            m.d.comb += below_first.eq(Mux(rd_trace, q_data << (F.TRACE.frac - F.Q.frac), a_data))
            old = Signal(signed(F.Z.width), name=f"old{p}")
            m.d.comb += old.eq(Mux(rd_trace, Tb[p].rd.data, Zb[p].rd.data))
            prev_old = Signal(signed(F.Z.width), name=f"prev_old{p}")
            m.d.comb += [
                bu.i.valid.eq(rd_valid),
                bu.i.payload.z.eq(old),
                bu.i.payload.below.eq(Mux(rd_k == 0, below_first, prev_old)),
                bu.i.payload.coef.eq(self.peek_data[:coef_w]),
                bu.i.payload.first.eq(rd_k == 0),
            ]
            with m.If(ctl.active & advance_rd & rd_valid):
                m.d.sync += prev_old.eq(old)
        with m.If(ctl.active & rd_valid & units[0].i.ready & (rd_k == 0)):
            for q in range(P):
                addr = by_bank([lane_div(o, P) for o, _ in read], s_rd, q)
                on = by_bank([on for _, on in read], s_rd, q)
                with m.If(rd_trace):
                    m.d.comb += [Qb[q].wr.addr.eq(addr), Qb[q].wr.data.eq(0), Qb[q].wr.en.eq(on)]
                with m.Else():
                    m.d.comb += [Ab[q].wr.addr.eq(addr), Ab[q].wr.data.eq(0), Ab[q].wr.en.eq(on)]

        # ---- fused: each lane's V and b beside its word through the bucket-decay unit's
        # stages (the same advance), so the new Z meets them at the output --------------------
        if F_:
            b_word = Signal(signed(F.B.width))
            m.d.comb += b_word.eq(B.rd.data >> F.MASTER_SHIFT)
            bu_advance = Signal()
            m.d.comb += bu_advance.eq(~units[0].o.valid | units[0].o.ready)
            tags = []
            for p in range(P):
                tag = Signal(dendrite_in_layout, name=f"tag{p}_in")
                m.d.comb += [tag.v.eq(Vb[p].rd.data >> F.MASTER_SHIFT), tag.b.eq(Mux(rd_k == p, b_word, 0)),
                             tag.add_b.eq(rd_k == p), tag.first.eq(rd_k == 0), tag.last.eq(rd_k == K - 1)]
                for n in range(units[0].stages):
                    nxt = Signal(dendrite_in_layout, name=f"tag{p}_s{n}")
                    with m.If(bu_advance):
                        m.d.sync += nxt.eq(tag)
                    tag = nxt
                tags.append(tag)
            feeding = Signal()
            m.d.comb += feeding.eq(self.fused & ~out_trace)
            m.d.comb += self.feed.valid.eq(ctl.active & feeding & units[0].o.valid)
            for p, bu in enumerate(units):
                m.d.comb += [self.feed.payload[p].eq(tags[p]), self.feed.payload[p].z.eq(bu.o.payload),
                             bu.o.ready.eq(~feeding | self.feed.ready)]
        else:
            m.d.comb += [bu.o.ready.eq(1) for bu in units]

        # ---- write back: the new words of the row's units ---------------------------------
        written = lanes_of(out_row, out_trace, "out")
        out_last = part(out_trace)[3]
        with m.If(ctl.active & units[0].o.valid & units[0].o.ready):
            for p, bu in enumerate(units):
                on = written[p][1]
                m.d.comb += [Zb[p].wr.addr.eq(out_row * K + out_k), Tb[p].wr.addr.eq(out_row * K + out_k),
                             Zb[p].wr.data.eq(bu.o.payload), Tb[p].wr.data.eq(bu.o.payload),
                             Zb[p].wr.en.eq(on & ~out_trace), Tb[p].wr.en.eq(on & out_trace)]
            with m.If(out_k == K - 1):
                m.d.sync += out_k.eq(0)
                with m.If(out_row == out_last):
                    with m.If(~out_trace & ctl.traces):
                        m.d.sync += [out_row.eq(lane_div(d.i_base, P)), out_trace.eq(1)]
                    with m.Else():
                        m.d.comb += ctl.done.eq(1)
                with m.Else():
                    m.d.sync += out_row.eq(out_row + 1)
            with m.Else():
                m.d.sync += out_k.eq(out_k + 1)
        return m


class NeuronPass(wiring.Component):
    """Dendrite and encoder over neurons [lo, hi) of the current layer.

    Parameters
    ----------
    capacity : :class:`gammacore.regmap.Capacity`
    serial_encoder : the encoder on three shared multipliers (one neuron per 10 clocks)
    registered : the dendrites' Fmax stages (:class:`~gammacore.rtl.dendrite.Dendrite`)
    async_modes : with the pending-table updates of the asynchronous modes
    lanes : P: a dendrite per lane, a row of P neurons per max(K, P) clocks (see the module)
    fusable : with the fused form (P <= K; the ``feed`` port); without it, and with one lane,
        the dendrite's result goes straight into the encoder (no row register)

    Attributes
    ----------
    layer : the current descriptor, in;  ctrl : :func:`neuron_pass_control`, flipped
        (``fused``, taken with ``start``: the words come from ``feed``)
    feed : (``fusable``) the fused bucket pass's words, in
    spikes : spike packets to the router, out
    step : the step counter (the packets' step field), in
    prio : priority order (keys are spike counts), in
    lfsr_next : the scheduler's next random key, in;  lfsr_advance : it was used, out
    pend : (``async_modes``) the pending-word writes, for the scheduler's leaders
        (:func:`~gammacore.rtl.async_scheduler.pending_write`), out
    mem : the memory ports, flipped
    """

    def __init__(self, capacity, *, serial_encoder=False, async_modes=True, lanes=1, fusable=True, registered=True):
        c = self.cap = capacity
        self.serial_encoder, self.async_modes = serial_encoder, async_modes
        self.registered = registered
        self.lanes = check_lanes(lanes)
        if fusable and self.lanes > c.buckets:
            raise ValueError(f"a fused neuron pass needs lanes <= buckets, got lanes {lanes}, buckets {c.buckets}")
        self.fusable = fusable
        ports = {
            "layer": In(descriptor_layout(c.buckets)),
            "ctrl": In(neuron_pass_control(c.max_layer)),
            "spikes": Out(stream.Signature(spike_layout(c.neurons, c.max_layer))),
            "step": In(32), "prio": In(1), "lfsr_next": In(16), "lfsr_advance": Out(1),
            "mem": In(client_signature(c, Engine.NEURONS, None if async_modes else
                                       [n for n in ("V", "B", "Z", "X", "E", "D")], lanes=lanes)),
        }
        if fusable:
            ports["feed"] = In(stream.Signature(feed_layout(lanes)))
        if async_modes:
            ports["pend"] = Out(pending_write(c))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        K, ML, A = self.cap.buckets, self.cap.max_layer, self.async_modes
        d, ctl, mem = self.layer, self.ctrl, self.mem
        kind = ctl.kind
        V, Z, B, X, E, D = mem.V, mem.Z, mem.B, mem.X, mem.E, mem.D
        m.d.comb += [B.rd.en.eq(0), E.rd.en.eq(0), D.rd.en.eq(0), X.rd.en.eq(0)]
        if A:
            P = mem.PEND
            m.d.comb += P.rd.en.eq(0)
        m.submodules.encoder = en = SerialEncoder() if self.serial_encoder else Encoder()
        if A:
            m.d.comb += [en.decay_e.eq((kind == Pass.SYNC) | (kind == Pass.EVAL_FIRST)),
                         en.fire.eq((kind == Pass.SYNC) | (kind == Pass.FIRE)),
                         en.decay_d.eq((kind == Pass.SYNC) | (kind == Pass.DDECAY))]
        m.d.comb += [en.theta0.eq(d.theta0), en.alpha_e.eq(d.alpha_e),
                     en.alpha_theta.eq(d.alpha_theta), en.m_f.eq(d.m_f), en.n_max.eq(d.n_max)]

        # ---- dendrites: one per lane, a row of P neurons (units n_base + j) at a time -------
        # the row's K words per lane (V, Z banked by unit), padded to G = max(K, P) clocks:
        # b of lane p is read (B is one memory) in the row's clock p and added on that word
        Pn = self.lanes
        G = max(K, Pn)
        U = self.cap.neurons + Pn
        Vb, Zb = lane_ports(V), lane_ports(Z)
        m.d.comb += [b.rd.en.eq(0) for b in Vb + Zb]
        des = [Dendrite(late_bias=Pn > 1, registered=self.registered) for _ in range(Pn)]
        for p, de in enumerate(des):
            m.submodules["dendrite" if Pn == 1 else f"dendrite{p}"] = de
        dn_c = Signal(range(G))
        dn_row = Signal(range(-(-U // Pn) + 1))
        dn_last = Signal.like(dn_row)
        dn_more = Signal()
        nj_hi = Signal(range(ML + 1))           # the pass covers neurons [lo, nj_hi)
        # nj_hi - 1, registered with it (for Fmax: the pass's end compares against it with no
        # subtraction before the compare; -1 for an empty pass)
        nj_last = Signal(range(-1, ML + 1), init=-1)
        # b's lanes in the pass's first and last rows (registered with the rows; for Fmax: a
        # B read's enable compares the row and the lane, no sum of row and lane against the
        # pass's ends); b_any: the pass has a neuron
        dn_first = Signal.like(dn_row)
        lo_lane, hi_lane = Signal(range(Pn)), Signal(range(Pn))
        b_any = Signal()
        dn_valid = Signal()
        dn_rc = Signal(range(G))
        advance_dn = Signal()
        m.d.comb += advance_dn.eq(~dn_valid | des[0].i.ready)
        b_word = Signal(signed(F.B.width))
        m.d.comb += b_word.eq(B.rd.data >> F.MASTER_SHIFT)
        # fused (ctl.fused with start, kept in ``fused``): the words come from the bucket pass
        # (``feed``, its new Z with V and b) and this pass reads no V, Z or B
        fused = Signal()
        if self.fusable:
            m.d.comb += self.feed.ready.eq(fused & des[0].i.ready)
        for p, de in enumerate(des):
            own = Signal(dendrite_in_layout, name=f"own{p}")
            m.d.comb += [
                de.relu.eq(d.relu),
                own.v.eq(Mux(dn_rc < K, Vb[p].rd.data >> F.MASTER_SHIFT, 0)),
                own.z.eq(Zb[p].rd.data),
                own.b.eq(Mux(dn_rc == p, b_word, 0)),
                own.add_b.eq(dn_rc == p),
                own.first.eq(dn_rc == 0), own.last.eq(dn_rc == G - 1),
            ]
            if self.fusable:
                m.d.comb += [de.i.valid.eq(Mux(fused, self.feed.valid, dn_valid)),
                             de.i.payload.eq(Mux(fused, self.feed.payload[p], own))]
            else:
                m.d.comb += [de.i.valid.eq(dn_valid), de.i.payload.eq(own)]
        # ---- the row's results, one neuron per clock into the shared encoder -------------
        xj = Signal(range(ML + 1))     # neuron at the encoder's input
        xlane = Signal(range(Pn))
        m.d.comb += xlane.eq(lane_mod(d.n_base + xj, Pn))
        x_take = Signal()
        m.d.comb += x_take.eq(en.i.valid & en.i.ready)
        ser_full = Signal()
        if Pn == 1 and not self.fusable:
            # one lane, not fused: the dendrite's result straight into the encoder
            ser_x, ser_y = [des[0].o.payload.x], [des[0].o.payload.y]
            m.d.comb += [ser_full.eq(des[0].o.valid), des[0].o.ready.eq(en.i.ready)]
        else:
            # the row's results held in registers until the encoder has taken the row
            ser_x = [Signal(signed(F.X.width), name=f"ser_x{p}") for p in range(Pn)]
            ser_y = [Signal(signed(F.X.width), name=f"ser_y{p}") for p in range(Pn)]
            row_end = Signal()
            m.d.comb += row_end.eq((xlane == Pn - 1) | (xj == nj_last))
            de_ready = Signal()
            m.d.comb += de_ready.eq(~ser_full | (x_take & row_end))
            m.d.comb += [de.o.ready.eq(de_ready) for de in des]
            with m.If(des[0].o.valid & de_ready):
                m.d.sync += ser_full.eq(1)
                m.d.sync += [ser_x[p].eq(de.o.payload.x) for p, de in enumerate(des)]
                m.d.sync += [ser_y[p].eq(de.o.payload.y) for p, de in enumerate(des)]
            with m.Elif(x_take & row_end):
                m.d.sync += ser_full.eq(0)
        xj_next = Signal(range(ML + 1))
        m.d.comb += xj_next.eq(Mux(x_take, xj + 1, xj))
        # direct passes (asynchronous modes: fire, d decay) take no dendrite: y is the x the
        # layer's last evaluation wrote (X read at the encoder's next neuron), and the neurons
        # go into the encoder one per clock (x_valid: the read is a pass neuron's). No ReLU
        # (one logic level less before the encoder's input register): a neuron that fires has
        # n >= 1, so y - e >= theta / 2 > 0 with e >= 0 (E starts at 0 and only decays and
        # adds q >= 0; the host cannot write it), hence y > 0 and y = x; d's decay uses no y
        # (for Fmax the X address is not a sum after the handshake: xa and xa1 hold the
        # addresses of the neuron at the encoder's input and the next, from the pass's second
        # clock on, xr_ok; the handshake only picks one)
        direct = Signal()
        x_valid = Signal()
        xr_ok = Signal()
        xa, xa1 = Signal.like(X.rd.addr, name="xa"), Signal.like(X.rd.addr, name="xa1")
        if A:
            m.d.comb += direct.eq((kind == Pass.FIRE) | (kind == Pass.DDECAY))
        m.d.comb += [en.i.valid.eq(ser_full | x_valid),
                     en.i.payload.y.eq(Mux(direct, X.rd.data, Array(ser_y)[xlane] if Pn > 1 else ser_y[0])),
                     en.i.payload.e.eq(E.rd.data), en.i.payload.d.eq(D.rd.data)]
        ej = Signal(range(ML + 1))     # neuron whose spike leaves the encoder next
        ej_next = Signal(range(ML + 1))
        en_take = Signal()
        m.d.comb += [en_take.eq(en.o.valid & en.o.ready), ej_next.eq(Mux(en_take, ej + 1, ej))]
        spike = Signal()
        m.d.comb += [spike.eq(d.encoder & en.o.payload.spike),
                     self.spikes.payload.source.eq(d.n_base + ej), self.spikes.payload.local.eq(ej),
                     self.spikes.payload.q.eq(en.o.payload.q), self.spikes.payload.step.eq(self.step),
                     self.spikes.valid.eq(en.o.valid & spike),
                     en.o.ready.eq(~spike | self.spikes.ready)]

        # the rows come from the descriptor, which may load after ``start`` (a FIRE pass is
        # started with the winner's layer load): they are set in the first active clock
        # (the sequencer never starts a pass in a clock it lets one run, so the rows' setting
        # does not wait on ``start``: for Fmax, the phase's end -> start path ends at the
        # registers that start sets; start, written after, takes precedence where both write)
        init = Signal()
        nj_lo = Signal(range(ML + 1))
        with m.If(ctl.active & init):
            u_lo, u_end = d.n_base + nj_lo, d.n_base + nj_hi - 1
            m.d.sync += [init.eq(0), dn_more.eq(~fused & ~direct), dn_row.eq(lane_div(u_lo, Pn)), dn_first.eq(lane_div(u_lo, Pn)),
                         dn_last.eq(lane_div(u_end, Pn)), lo_lane.eq(lane_mod(u_lo, Pn)), hi_lane.eq(lane_mod(u_end, Pn)),
                         b_any.eq(nj_hi > nj_lo), xa.eq(u_lo), xa1.eq(u_lo + 1), xr_ok.eq(1)]
        with m.If(ctl.start):
            m.d.sync += [dn_c.eq(0), init.eq(1), dn_more.eq(0), fused.eq(ctl.fused if self.fusable else 0), dn_valid.eq(0),
                         x_valid.eq(0), xr_ok.eq(0),
                         nj_lo.eq(ctl.lo), xj.eq(ctl.lo), ej.eq(ctl.lo), nj_hi.eq(ctl.hi), nj_last.eq(ctl.hi - 1)]
            if not (Pn == 1 and not self.fusable):
                m.d.sync += ser_full.eq(0)

        # ---- pending table: the word of the neuron at the encoder's output ----------------
        p_old = Signal(pending_layout)
        p_new = Signal(pending_layout)
        pass_updates = Signal()
        if A:
            cnt = en.o.payload.n
            m.d.comb += p_old.eq(Mux(kind == Pass.EVAL_FIRST, 0, P.rd.data))
            m.d.comb += p_new.eq(p_old)
            with m.If(kind == Pass.FIRE):
                m.d.comb += [p_new.pending.eq(0), p_new.fired.eq(1)]
            with m.Elif(d.encoder & (cnt != 0)):
                m.d.comb += p_new.pending.eq(1)
                with m.If(self.prio):
                    m.d.comb += p_new.key.eq(cnt)
                with m.Elif(~p_old.pending):
                    m.d.comb += p_new.key.eq(self.lfsr_next)
            with m.Else():
                m.d.comb += p_new.pending.eq(0)
            m.d.comb += pass_updates.eq((kind == Pass.EVAL_FIRST) | (kind == Pass.EVAL) | (kind == Pass.FIRE))

        with m.If(ctl.active):
            if A:
                m.d.comb += [P.rd.addr.eq(d.n_base + ej_next), P.rd.en.eq(1)]
            go = advance_dn & dn_more
            for p in range(Pn):
                m.d.comb += [Vb[p].rd.addr.eq(dn_row * K + dn_c), Zb[p].rd.addr.eq(dn_row * K + dn_c),
                             Vb[p].rd.en.eq(go & (dn_c < K)), Zb[p].rd.en.eq(go & (dn_c < K))]
            b_unit = Signal(range(U + G))
            m.d.comb += b_unit.eq(lane_mul(dn_row, Pn) + dn_c)
            # the unit row P + c is in [u_lo, u_hi) (the rows walked run from the first to the last)
            b_in = b_any & in_span(dn_row, dn_first, dn_last, dn_c, lo_lane, hi_lane) if Pn > 1 else 1
            m.d.comb += [B.rd.addr.eq(b_unit), B.rd.en.eq(go & (dn_c < Pn) & b_in),
                         E.rd.addr.eq(d.n_base + xj_next), D.rd.addr.eq(d.n_base + xj_next),
                         # only while a neuron is left: past the pass's last neuron the address
                         # may wrap onto the word the encoder is writing back
                         E.rd.en.eq(xj_next != nj_hi), D.rd.en.eq(xj_next != nj_hi),
                         # X is not written in a direct pass: its reads may run past the end
                         X.rd.addr.eq(Mux(x_take, xa1, xa)), X.rd.en.eq(direct & xr_ok)]
            m.d.sync += x_valid.eq(direct & xr_ok & (xj_next != nj_hi))
            with m.If(advance_dn):
                m.d.sync += [dn_valid.eq(dn_more), dn_rc.eq(dn_c)]
                with m.If(dn_more):
                    with m.If(dn_c == G - 1):
                        m.d.sync += dn_c.eq(0)
                        with m.If(dn_row == dn_last):
                            m.d.sync += dn_more.eq(0)
                        with m.Else():
                            m.d.sync += dn_row.eq(dn_row + 1)
                    with m.Else():
                        m.d.sync += dn_c.eq(dn_c + 1)
            with m.If(x_take):
                m.d.comb += [X.wr.addr.eq(d.n_base + xj), X.wr.data.eq(Array(ser_x)[xlane] if Pn > 1 else ser_x[0]),
                             X.wr.en.eq(~direct)]
                m.d.sync += [xj.eq(xj + 1), xa.eq(xa1), xa1.eq(xa1 + 1)]
            with m.If(en_take):
                m.d.comb += [E.wr.addr.eq(d.n_base + ej), E.wr.data.eq(en.o.payload.e),
                             E.wr.en.eq(d.encoder), D.wr.addr.eq(d.n_base + ej),
                             D.wr.data.eq(en.o.payload.d), D.wr.en.eq(d.encoder)]
                if A:
                    with m.If(pass_updates & ~p_old.fired):
                        # the pending table's write, and the same to the scheduler (its leaders, its copy)
                        m.d.comb += [self.pend.en.eq(1), self.pend.j.eq(ej), self.pend.addr.eq(d.n_base + ej),
                                     self.pend.word.eq(p_new), P.wr.addr.eq(self.pend.addr), P.wr.data.eq(p_new),
                                     P.wr.en.eq(1)]
                        with m.If((kind != Pass.FIRE) & ~self.prio & p_new.pending & ~p_old.pending):
                            m.d.comb += self.lfsr_advance.eq(1)
                m.d.sync += ej.eq(ej + 1)
                with m.If(ej == nj_last):
                    m.d.comb += ctl.done.eq(1)
        return m
