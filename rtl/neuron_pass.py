"""State and neuron passes of the network core: the bucket pass, then dendrite and encoder per neuron.

:class:`BucketPass` updates the current layer's postsynaptic buckets Z_j^k from A_j (one
(neuron, bucket) word per clock through :class:`~gammacore.rtl.bucket_decay.BucketDecay`),
then its presynaptic traces yhat_i^k from qin_i, and zeroes A and qin for the next step.
The coefficient of each word (alpha_1 for k = 0, else beta_k+1) is read from the
descriptor memory with the word it applies to (the ``peek`` port of
:class:`~gammacore.rtl.descriptors.DescriptorStore`), not kept in registers.

:class:`NeuronPass` runs neurons [``lo``, ``hi``) of the layer through the dendrite
(x_j = sum_k V[j,k] Z_j^k + b_j, ReLU or linear; x is written back) and the sigma-delta
encoder (e_j, d_j written back when the layer has an encoder); a spike leaves on ``spikes``
as (source n_base + j, local j, q, step). What the encoder applies depends on ``kind``
(:class:`Pass`): the whole step (sync), or the parts of the asynchronous modes, where the
pass also keeps each neuron's word of the pending table (pending, fired, key; the key is
the spike count in priority order or the scheduler's next LFSR value in random order).

Both are engines of the core: they work while ``ctrl.active`` (their phase), start with
``ctrl.start`` and raise ``ctrl.done`` in the clock of their last write. Their memory
ports are those :data:`~gammacore.rtl.net_memories.OWNERSHIP` gives them.
"""
from amaranth.hdl import Array, Module, Mux, Signal, signed
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden import formats as F
from ..regmap import layer_fields
from .bucket_decay import BucketDecay
from .dendrite import Dendrite
from .descriptors import WORD, descriptor_layout
from .encoder import Encoder
from .encoder_serial import SerialEncoder
from .net_memories import Engine, check_lanes, client_signature, lane_ports, pending_layout
from .router import spike_layout

__all__ = ["Pass", "BucketPass", "NeuronPass", "PassControl", "neuron_pass_control"]


class Pass(enum.Enum, shape=3):
    """What a neuron pass applies (encoder flags decay-e / fire / decay-d; pending updates)."""
    SYNC = 0          # the whole encoder step, spikes out
    EVAL_FIRST = 1    # decay e, count; the pending table is written afresh
    EVAL = 2          # count; pending words updated
    FIRE = 3          # fire (one neuron); its pending word becomes fired
    DDECAY = 4        # decay d


#: the sequencer's side of the bucket pass
PassControl = wiring.Signature({"start": Out(1), "active": Out(1), "done": In(1)})


def neuron_pass_control(max_layer):
    """The sequencer's side of the neuron pass: :data:`PassControl` and the neurons [lo, hi)
    (taken with ``start``) and the pass's kind (held while it runs)."""
    return wiring.Signature({"start": Out(1), "active": Out(1), "done": In(1),
                             "lo": Out(range(max_layer + 1)), "hi": Out(range(max_layer + 1)),
                             "kind": Out(Pass)})


class BucketPass(wiring.Component):
    """The bucket pass over Z (j, k) and the input traces (i, k) of the current layer.

    Parameters
    ----------
    capacity : :class:`gammacore.regmap.Capacity`
    pow2 : power-of-two bucket rates (the coefficient fields carry shifts)
    lanes : P: A_j is in bank j mod P at j div P (:mod:`~gammacore.rtl.net_memories`)

    Attributes
    ----------
    layer : the current descriptor, in;  ctrl : :data:`PassControl`, flipped
    peek_en, peek_field, peek_data : the descriptor memory's field port
    mem : the memory ports, flipped
    """

    def __init__(self, capacity, *, pow2=False, lanes=1):
        c = self.cap = capacity
        self.pow2 = pow2
        self.lanes = check_lanes(lanes)
        self.fields = layer_fields(c.buckets)
        super().__init__({
            "layer": In(descriptor_layout(c.buckets)),
            "ctrl": In(PassControl),
            "peek_en": Out(1), "peek_field": Out(range(len(self.fields))), "peek_data": In(WORD),
            "mem": In(client_signature(c, Engine.BUCKETS, lanes=lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        K, ML, P = self.cap.buckets, self.cap.max_layer, self.lanes
        sh = P.bit_length() - 1
        d, ctl, mem = self.layer, self.ctrl, self.mem
        Z, T, QIN = mem.Z, mem.TRACE, mem.QIN
        A = lane_ports(mem.A)
        m.d.comb += [Z.rd.en.eq(0), T.rd.en.eq(0), QIN.rd.en.eq(0)] + [a.rd.en.eq(0) for a in A]
        coef_w = 5 if self.pow2 else F.COEF.width
        field_index = {name: n for n, (name, _) in enumerate(self.fields)}
        m.submodules.buckets = bu = BucketDecay(pow2=self.pow2)

        bk_k = Signal(range(K))
        bk_unit = Signal(range(ML + 1))
        bk_trace = Signal()
        bk_issue = Signal()                     # a word is left to read
        rd_valid = Signal()
        rd_k = Signal(range(K))
        rd_trace = Signal()
        rd_unit = Signal(range(ML if P == 1 else ML + P))
        prev_old = Signal(signed(F.Z.width))
        out_k = Signal(range(K))
        out_unit = Signal(range(ML))
        out_trace = Signal()
        advance_rd = Signal()
        m.d.comb += advance_rd.eq(~rd_valid | bu.i.ready)
        below_first = Signal(signed(F.ACC.width))
        a_data = A[0].rd.data if P == 1 else Array(a.rd.data for a in A)[rd_unit[:sh]]
        m.d.comb += below_first.eq(Mux(rd_trace, QIN.rd.data << (F.TRACE.frac - F.Q.frac), a_data))
        old = Signal(signed(F.Z.width))
        m.d.comb += old.eq(Mux(rd_trace, T.rd.data, Z.rd.data))
        m.d.comb += [
            bu.i.valid.eq(rd_valid),
            bu.i.payload.z.eq(old),
            bu.i.payload.below.eq(Mux(rd_k == 0, below_first, prev_old)),
            bu.i.payload.coef.eq(self.peek_data[:coef_w]),
            bu.i.payload.first.eq(rd_k == 0),
        ]
        last_z_unit = Signal()
        m.d.comb += last_z_unit.eq(bk_unit == d.n_out - 1)

        with m.If(ctl.start):
            m.d.sync += [bk_k.eq(0), bk_unit.eq(0), bk_trace.eq(0), rd_valid.eq(0),
                         out_k.eq(0), out_unit.eq(0), out_trace.eq(0)]
        with m.If(ctl.active):
            m.d.comb += [bk_issue.eq(~(bk_trace & (bk_unit == d.n_in))),
                         self.peek_en.eq(advance_rd),
                         self.peek_field.eq(Mux(bk_k == 0, field_index["alpha0"], field_index["beta0"] + bk_k))]
            z_addr = (d.n_base + bk_unit) * K + bk_k
            t_addr = (d.i_base + bk_unit) * K + bk_k
            m.d.comb += [Z.rd.addr.eq(z_addr), T.rd.addr.eq(t_addr),
                         QIN.rd.addr.eq(bk_unit),
                         # each memory is read only for a word that uses it (Z and A in the
                         # Z part, TRACE and QIN in the trace part, A and QIN at k = 0):
                         # the words are written back (A and QIN zeroed) a few clocks
                         # later, and no read may meet a write of the same word
                         Z.rd.en.eq(advance_rd & bk_issue & ~bk_trace),
                         T.rd.en.eq(advance_rd & bk_issue & bk_trace),
                         QIN.rd.en.eq(advance_rd & bk_issue & bk_trace & (bk_k == 0))]
            for p, a in enumerate(A):
                m.d.comb += [a.rd.addr.eq(bk_unit >> sh),
                             a.rd.en.eq(advance_rd & bk_issue & ~bk_trace & (bk_k == 0)
                                        & ((bk_unit[:sh] == p) if P > 1 else 1))]
            with m.If(advance_rd):
                m.d.sync += [rd_valid.eq(bk_issue), rd_k.eq(bk_k), rd_unit.eq(bk_unit), rd_trace.eq(bk_trace)]
                with m.If(rd_valid):
                    m.d.sync += prev_old.eq(old)
                with m.If(bk_issue):
                    with m.If(bk_k == K - 1):
                        m.d.sync += bk_k.eq(0)
                        with m.If(~bk_trace & last_z_unit):
                            m.d.sync += [bk_unit.eq(0), bk_trace.eq(1)]
                        with m.Else():
                            m.d.sync += bk_unit.eq(bk_unit + 1)
                    with m.Else():
                        m.d.sync += bk_k.eq(bk_k + 1)
            with m.If(rd_valid & bu.i.ready & (rd_k == 0)):
                with m.If(rd_trace):
                    m.d.comb += [QIN.wr.addr.eq(rd_unit), QIN.wr.data.eq(0), QIN.wr.en.eq(1)]
                with m.Else():
                    for p, a in enumerate(A):
                        m.d.comb += [a.wr.addr.eq(rd_unit >> sh), a.wr.data.eq(0),
                                     a.wr.en.eq((rd_unit[:sh] == p) if P > 1 else 1)]
            m.d.comb += bu.o.ready.eq(1)
            with m.If(bu.o.valid):
                with m.If(~out_trace):
                    m.d.comb += [Z.wr.addr.eq((d.n_base + out_unit) * K + out_k),
                                 Z.wr.data.eq(bu.o.payload), Z.wr.en.eq(1)]
                with m.Else():
                    m.d.comb += [T.wr.addr.eq((d.i_base + out_unit) * K + out_k),
                                 T.wr.data.eq(bu.o.payload), T.wr.en.eq(1)]
                with m.If(out_k == K - 1):
                    m.d.sync += out_k.eq(0)
                    with m.If(~out_trace & (out_unit == d.n_out - 1)):
                        m.d.sync += [out_unit.eq(0), out_trace.eq(1)]
                    with m.Else():
                        m.d.sync += out_unit.eq(out_unit + 1)
                    with m.If(out_trace & (out_unit == d.n_in - 1)):
                        m.d.comb += ctl.done.eq(1)
                with m.Else():
                    m.d.sync += out_k.eq(out_k + 1)
        return m


class NeuronPass(wiring.Component):
    """Dendrite and encoder over neurons [lo, hi) of the current layer.

    Parameters
    ----------
    capacity : :class:`gammacore.regmap.Capacity`
    serial_encoder : the encoder on three shared multipliers (one neuron per 10 clocks)
    async_modes : with the pending-table updates of the asynchronous modes

    Attributes
    ----------
    layer : the current descriptor, in;  ctrl : :func:`neuron_pass_control`, flipped
    spikes : spike packets to the router, out
    step : the step counter (the packets' step field), in
    prio : priority order (keys are spike counts), in
    lfsr_next : the scheduler's next random key, in;  lfsr_advance : it was used, out
    mem : the memory ports, flipped
    """

    def __init__(self, capacity, *, serial_encoder=False, async_modes=True):
        c = self.cap = capacity
        self.serial_encoder, self.async_modes = serial_encoder, async_modes
        super().__init__({
            "layer": In(descriptor_layout(c.buckets)),
            "ctrl": In(neuron_pass_control(c.max_layer)),
            "spikes": Out(stream.Signature(spike_layout(c.neurons, c.max_layer))),
            "step": In(32), "prio": In(1), "lfsr_next": In(16), "lfsr_advance": Out(1),
            "mem": In(client_signature(c, Engine.NEURONS, None if async_modes else
                                       [n for n in ("V", "B", "Z", "X", "E", "D")])),
        })

    def elaborate(self, platform):
        m = Module()
        K, ML, A = self.cap.buckets, self.cap.max_layer, self.async_modes
        d, ctl, mem = self.layer, self.ctrl, self.mem
        kind = ctl.kind
        V, Z, B, X, E, D = mem.V, mem.Z, mem.B, mem.X, mem.E, mem.D
        m.d.comb += [V.rd.en.eq(0), Z.rd.en.eq(0), B.rd.en.eq(0), E.rd.en.eq(0), D.rd.en.eq(0)]
        if A:
            P = mem.PEND
            m.d.comb += P.rd.en.eq(0)
        m.submodules.dendrite = de = Dendrite()
        m.submodules.encoder = en = SerialEncoder() if self.serial_encoder else Encoder()
        if A:
            m.d.comb += [en.decay_e.eq((kind == Pass.SYNC) | (kind == Pass.EVAL_FIRST)),
                         en.fire.eq((kind == Pass.SYNC) | (kind == Pass.FIRE)),
                         en.decay_d.eq((kind == Pass.SYNC) | (kind == Pass.DDECAY))]
        m.d.comb += [de.relu.eq(d.relu), en.theta0.eq(d.theta0), en.alpha_e.eq(d.alpha_e),
                     en.alpha_theta.eq(d.alpha_theta), en.m_f.eq(d.m_f), en.n_max.eq(d.n_max)]

        dn_k = Signal(range(K))
        dn_j = Signal(range(ML + 1))
        nj_hi = Signal(range(ML + 1))           # the pass covers neurons [dn_j at start, nj_hi)
        dn_issue = Signal()
        dn_valid = Signal()
        dn_rk = Signal(range(K))
        advance_dn = Signal()
        m.d.comb += advance_dn.eq(~dn_valid | de.i.ready)
        m.d.comb += [
            de.i.valid.eq(dn_valid), de.i.payload.v.eq(V.rd.data >> F.MASTER_SHIFT),
            de.i.payload.z.eq(Z.rd.data), de.i.payload.b.eq(B.rd.data >> F.MASTER_SHIFT),
            de.i.payload.first.eq(dn_rk == 0), de.i.payload.last.eq(dn_rk == K - 1),
        ]
        xj = Signal(range(ML + 1))     # neuron whose (x, y) leaves the dendrite next
        de_take = Signal()
        m.d.comb += de_take.eq(de.o.valid & de.o.ready)
        xj_next = Signal(range(ML + 1))
        m.d.comb += xj_next.eq(Mux(de_take, xj + 1, xj))
        m.d.comb += [en.i.valid.eq(de.o.valid), en.i.payload.y.eq(de.o.payload.y),
                     en.i.payload.e.eq(E.rd.data), en.i.payload.d.eq(D.rd.data),
                     de.o.ready.eq(en.i.ready)]
        ej = Signal(range(ML + 1))     # neuron whose spike leaves the encoder next
        ej_next = Signal(range(ML + 1))
        en_take = Signal()
        m.d.comb += [en_take.eq(en.o.valid & en.o.ready), ej_next.eq(Mux(en_take, ej + 1, ej))]
        spike = Signal()
        m.d.comb += [spike.eq(d.encoder & (en.o.payload.q != 0)),
                     self.spikes.payload.source.eq(d.n_base + ej), self.spikes.payload.local.eq(ej),
                     self.spikes.payload.q.eq(en.o.payload.q), self.spikes.payload.step.eq(self.step),
                     self.spikes.valid.eq(en.o.valid & spike),
                     en.o.ready.eq(~spike | self.spikes.ready)]

        with m.If(ctl.start):
            m.d.sync += [dn_k.eq(0), dn_j.eq(ctl.lo), dn_valid.eq(0), xj.eq(ctl.lo), ej.eq(ctl.lo),
                         nj_hi.eq(ctl.hi)]

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
            m.d.comb += dn_issue.eq(dn_j != nj_hi)
            if A:
                m.d.comb += [P.rd.addr.eq(d.n_base + ej_next), P.rd.en.eq(1)]
            nk = (d.n_base + dn_j) * K + dn_k
            m.d.comb += [V.rd.addr.eq(nk), Z.rd.addr.eq(nk), B.rd.addr.eq(d.n_base + dn_j),
                         V.rd.en.eq(advance_dn), Z.rd.en.eq(advance_dn), B.rd.en.eq(advance_dn),
                         E.rd.addr.eq(d.n_base + xj_next), D.rd.addr.eq(d.n_base + xj_next),
                         # only while a neuron is left: past the pass's last neuron the address
                         # may wrap onto the word the encoder is writing back
                         E.rd.en.eq(xj_next != nj_hi), D.rd.en.eq(xj_next != nj_hi)]
            with m.If(advance_dn):
                m.d.sync += [dn_valid.eq(dn_issue), dn_rk.eq(dn_k)]
                with m.If(dn_issue):
                    with m.If(dn_k == K - 1):
                        m.d.sync += [dn_k.eq(0), dn_j.eq(dn_j + 1)]
                    with m.Else():
                        m.d.sync += dn_k.eq(dn_k + 1)
            with m.If(de_take):
                m.d.comb += [X.wr.addr.eq(d.n_base + xj), X.wr.data.eq(de.o.payload.x), X.wr.en.eq(1)]
                m.d.sync += xj.eq(xj + 1)
            with m.If(en_take):
                m.d.comb += [E.wr.addr.eq(d.n_base + ej), E.wr.data.eq(en.o.payload.e),
                             E.wr.en.eq(d.encoder), D.wr.addr.eq(d.n_base + ej),
                             D.wr.data.eq(en.o.payload.d), D.wr.en.eq(d.encoder)]
                if A:
                    with m.If(pass_updates & ~p_old.fired):
                        m.d.comb += [P.wr.addr.eq(d.n_base + ej), P.wr.data.eq(p_new), P.wr.en.eq(1)]
                        with m.If((kind != Pass.FIRE) & ~self.prio & p_new.pending & ~p_old.pending):
                            m.d.comb += self.lfsr_advance.eq(1)
                m.d.sync += ej.eq(ej + 1)
                with m.If(ej == nj_hi - 1):
                    m.d.comb += ctl.done.eq(1)
        return m
