"""Network core: a whole feed-forward SpikingGamma network, time-multiplexed on one datapath.

Implements :class:`gammacore.golden.network.Network` (fixed point) bit for bit: ``step``
runs every layer of one time step, layer-synchronous with zero latency, and ``learn`` runs
the online rule top-down (:mod:`gammacore.rtl.learning`).

**Why one time-multiplexed core.** The binding resource is multipliers: one layer datapath
(synaptic MAC, bucket decay, dendrite, encoder, learning) needs about a dozen 16x32
products, and the iCE40 UP5K has 8 DSP blocks. Layers differ only in sizes and in where
their words live, so one datapath serves every layer: each layer is a descriptor
(:func:`gammacore.regmap.layer_fields`: sizes, memory bases, coefficients) and all layers'
weights and states share the memories. A network of any depth then costs memory, not
logic, and more throughput comes from lanes (datapaths sharing the event stream), not from
one core per layer that would sit idle while the others work.

The descriptors are in a block RAM (:class:`~gammacore.rtl.descriptors.DescriptorStore`)
and only the current layer's is in registers (``d``): a layer switch loads it, one field
per clock (about 25 clocks at K = 4; a scan loads only the 4 fields it needs, and a step
ends by loading layer 0 again, which the idle core uses for the host's events).

A step, for each layer l = 0 .. n_layers-1 (``cur``):

1. **events**: layer 0 takes the host's input events (``events``; the core is idle in this
   phase and accepts them at any time); layer l > 0 drains the forward FIFO of the router
   (the spikes of layer l-1). Each event (i, q) fans out: ``A_j += W[j,i] q`` for the layer's
   n_out neurons, one MAC per clock, and ``qin_i += q``. A host event whose source is not
   an input of layer 0 is refused and counted (``refused``).
2. **buckets**: the bucket-decay unit updates the layer's Z words and its input traces.
3. **neurons**: dendrite and encoder per neuron; spikes go to the router (``spikes``) as
   (source n_base + j, local j, q, step); layers without encoder emit nothing.

**Asynchronous modes** (``mode``, :class:`gammacore.regmap.Mode`; the definition is
:mod:`gammacore.golden.async_model`). The same units, other passes:

1. for every layer: the bucket pass as above (layer 0 with the host's events, the others
   with A = 0), then a neuron pass that decays e, computes x and the spike count n and
   fires nothing (encoder flags); a neuron with an encoder and n >= 1 becomes pending in the
   pending table (one word per neuron: pending, fired, key; the key is n in priority order,
   or the next value of a 16-bit LFSR when the neuron becomes pending in random order).
2. scan: every neuron's pending word, in layer then index order; the largest key wins, ties
   to the first. None pending: go to 4.
3. fire: a neuron pass over the winner alone with ``fire`` set (its spike goes to the
   router); a spike routed to the next layer comes back through the forward FIFO and is
   added straight to that layer's Z^1 and input trace (the fan-out, in place of A), then a
   neuron pass re-evaluates that layer and updates its pending words; back to 2.
4. a neuron pass per layer decays the adaptation d.

A spike costs one scan (the network's neurons), one neuron of the encoder, n_out MACs and
one layer's neuron pass: the asynchronous modes trade clocks for no layer barrier. The
LFSR restarts from ``seed`` at every ``clear``.

``learn`` (idle only): for l = n_layers-1 .. 0 the learning unit updates layer l from the
errors in its error memory (the host writes the output layer's; each layer leaves the error
for the layer below). ``clear`` zeroes every state word (Z, traces, x, e, d, A, qin): the
golden model's ``reset``.

The memory port (``mem_*``, :class:`gammacore.regmap.Region`) reads and writes the master
weights, the routing table is in the router; state words and the learning errors, while the
core is idle: a request is held until ``mem_ack`` (reads: ``mem_rdata`` valid with it).
"""
from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out

from ..golden import formats as F
from ..regmap import Capacity, Mode, Region, layer_fields
from .bucket_decay import BucketDecay, saturate
from .dendrite import Dendrite
from .descriptors import DescriptorStore, descriptor_layout
from .encoder import Encoder
from .encoder_serial import SerialEncoder
from .learning import LearningUnit
from .no_learning import NoLearningUnit
from .ram import ram, read_port
from .router import fwd_layout, spike_layout
from .spram import SPRAM_DEPTH, SPRAMMemory, has_spram

__all__ = ["NetCore", "descriptor_layout"]


def _bits(n):
    return max(1, (n - 1).bit_length())


#: a neuron's word in the pending table of the asynchronous modes
pending_layout = data.StructLayout({"pending": 1, "fired": 1, "key": 16})


class Pass(enum.Enum, shape=3):
    """What a neuron pass applies (encoder flags decay-e / fire / decay-d; pending updates)."""
    SYNC = 0          # the whole encoder step, spikes out
    EVAL_FIRST = 1    # decay e, count; the pending table is written afresh
    EVAL = 2          # count; pending words updated
    FIRE = 3          # fire (one neuron); its pending word becomes fired
    DDECAY = 4        # decay d


class After(enum.Enum, shape=3):
    """The state a descriptor load returns to."""
    FWD_EVENTS = 0
    DDECAY = 1
    SCAN = 2
    NEURONS = 3
    LEARN_START = 4
    STEP_DONE = 5


#: the states only the asynchronous modes return to
ASYNC_AFTER = (After.DDECAY, After.SCAN)


class NetCore(wiring.Component):
    """Time-multiplexed network core with on-chip learning.

    Parameters
    ----------
    capacity : :class:`gammacore.regmap.Capacity`
    pow2 : power-of-two bucket rates (alpha/beta descriptor fields carry shifts)
    learning : with the learning unit; False: inference only
        (:class:`~gammacore.rtl.no_learning.NoLearningUnit`, ``learn`` is ignored)
    serial_encoder : the encoder for few logic cells: one neuron per 10 clocks on three
        multipliers (:class:`~gammacore.rtl.encoder_serial.SerialEncoder`) instead of one
        neuron per clock on six
    spram : W, V and B in single-port RAM (:class:`~gammacore.rtl.spram.SPRAMMemory`, B after
        W in the same blocks; inference only: the host writes them while the core is idle,
        the core only reads them); None: when ``learning`` is False and the platform is an
        iCE40 UltraPlus (SB_SPRAM256KA)
    async_modes : with the asynchronous modes; False: sync only (no pending table, LFSR
        or scan; ``mode`` must stay ``Mode.SYNC``, which the chip enforces)

    Attributes
    ----------
    events : host input events (source, q), in
    spikes : spike packets to the router, out;  fwd : the router's forward FIFO, in
    router_idle, fwd_empty : no packet inside the router; its forward FIFO is empty, in
    step, learn, clear : command pulses (taken while idle), in
    busy, done : out (done pulses at the end of every command)
    n_layers : number of layers of the network, in
    configured : every layer below n_layers has n_in > 0 and n_out > 0, out
    mode : execution mode (:class:`gammacore.regmap.Mode`), in
    seed : LFSR seed of the random order, loaded at ``clear``, in
    desc_layer, desc_field, desc_data, desc_we : layer-descriptor write port, in
    mem_region, mem_addr, mem_wdata, mem_we, mem_re, mem_rdata, mem_ack : memory port
    cycles, learn_cycles, steps, events_in, refused : counters, out
    """

    def __init__(self, capacity: Capacity, *, pow2=False, learning=True, serial_encoder=False, spram=None,
                 async_modes=True):
        if not isinstance(capacity, Capacity):
            raise TypeError(f"capacity must be a gammacore.regmap.Capacity, not {capacity!r}")
        if not isinstance(pow2, bool):
            raise TypeError(f"pow2 must be a bool, not {pow2!r}")
        c = self.cap = capacity
        self.pow2 = pow2
        if not isinstance(learning, bool):
            raise TypeError(f"learning must be a bool, not {learning!r}")
        if not isinstance(serial_encoder, bool):
            raise TypeError(f"serial_encoder must be a bool, not {serial_encoder!r}")
        self.learning, self.serial_encoder = learning, serial_encoder
        if spram is not None and not isinstance(spram, bool):
            raise TypeError(f"spram must be None or a bool, not {spram!r}")
        if spram and learning:
            raise ValueError("spram=True needs learning=False: the learning unit reads and writes W and V "
                             "in the same clock, which a single-port RAM cannot")
        self.spram = spram
        if not isinstance(async_modes, bool):
            raise TypeError(f"async_modes must be a bool, not {async_modes!r}")
        self.async_modes = async_modes
        K = c.buckets
        self.depth = {"W": c.synapses, "V": c.neurons * K, "B": c.neurons, "Z": c.neurons * K,
                      "TRACE": c.inputs * K, "X": c.neurons, "E": c.neurons, "D": c.neurons,
                      "ERR": c.max_layer, "ROUTE": c.neurons}
        aw = _bits(max(self.depth.values()))
        super().__init__({
            "events": In(stream.Signature(fwd_layout(c.max_layer))),
            "spikes": Out(stream.Signature(spike_layout(c.neurons, c.max_layer))),
            "fwd": In(stream.Signature(fwd_layout(c.max_layer))),
            "router_idle": In(1), "fwd_empty": In(1),
            "step": In(1), "learn": In(1), "clear": In(1), "busy": Out(1), "done": Out(1),
            "n_layers": In(range(c.layers + 1)), "configured": Out(1),
            "mode": In(range(len(Mode))), "seed": In(16),
            "desc_layer": In(range(c.layers)), "desc_field": In(range(len(layer_fields(K)))),
            "desc_data": In(32), "desc_we": In(1),
            "mem_region": In(4), "mem_addr": In(aw), "mem_wdata": In(signed(32)),
            "mem_we": In(1), "mem_re": In(1), "mem_rdata": Out(signed(32)), "mem_ack": Out(1),
            "cycles": Out(32), "learn_cycles": Out(32), "steps": Out(32),
            "events_in": Out(32), "refused": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        c, K, L = self.cap, self.cap.buckets, self.cap.layers
        NT, IT, ML = c.neurons, c.inputs, c.max_layer

        # inference only on an iCE40 UltraPlus: W, V and B (read by the core, written only by
        # the host while idle, never both in one clock) in the SPRAM blocks; B after W in the
        # same blocks (W is read only in the event phases, B only in the neuron pass)
        use = (not self.learning and has_spram(platform)) if self.spram is None else self.spram
        spram = ["w", "v"] if use else []
        b_base = 1 << (c.synapses - 1).bit_length()
        if use and b_base + NT <= SPRAM_DEPTH:
            spram = ["wb", "v"]

        def mem(name, shape, depth):
            if name in spram and depth <= SPRAM_DEPTH:
                mm = SPRAMMemory(shape=shape, depth=depth)
            else:
                mm = ram(shape=shape, depth=depth)
            m.submodules[name] = mm
            return mm

        shared = {}
        if "wb" in spram:
            shared["WB"] = wb = mem("wb", signed(F.MASTER.width), b_base + NT)
            shared["W"] = ReadPort.Signature(addr_width=_bits(c.synapses), shape=signed(F.MASTER.width))
            shared["B"] = ReadPort.Signature(addr_width=_bits(NT), shape=signed(F.MASTER.width))
        mems = {
            "W": wb if shared else mem("w", signed(F.MASTER.width), c.synapses),
            "V": mem("v", signed(F.MASTER.width), NT * K),
            "B": wb if shared else mem("b", signed(F.MASTER.width), NT),
            "Z": mem("z", signed(F.Z.width), NT * K),
            "TRACE": mem("trace", signed(F.TRACE.width), IT * K),
            "X": mem("x", signed(F.X.width), NT),
            "E": mem("e", signed(F.ENC.width), NT),
            "D": mem("d", signed(F.ADAPT.width), NT),
            "A": mem("a", signed(F.ACC.width), ML),
            "QIN": mem("qin", unsigned(F.Q.width), ML),
        }
        self.memories = mems
        # without the asynchronous modes (async_modes=False) the core has no pending table,
        # LFSR, scan or per-pass encoder flags: every pass is Pass.SYNC and the statements
        # below that only an asynchronous pass reaches are not generated
        A = self.async_modes
        if A:
            m.submodules.pend = pend = ram(shape=pending_layout, depth=NT)
            p_rd, p_wr = read_port(m, pend, "p_rd"), pend.write_port()
            m.d.comb += p_rd.en.eq(0)
        is_async = Signal()
        prio = Signal()
        if A:
            m.d.comb += [is_async.eq(self.mode != Mode.SYNC), prio.eq(self.mode == Mode.ASYNC_PRIORITY)]
        kind = Signal(Pass)
        deliver = Signal()                      # forward events go straight into Z^1 (async)
        lfsr = Signal(16, init=1)
        lfsr_next = Signal(16)
        m.d.comb += lfsr_next.eq((lfsr >> 1) ^ Mux(lfsr[0], 0xB400, 0))
        rd = {n: mm.read if isinstance(mm, SPRAMMemory) else read_port(m, mm, n.lower() + "_rd")
              for n, mm in mems.items()}
        wr = {n: mm.write if isinstance(mm, SPRAMMemory) else mm.write_port() for n, mm in mems.items()}
        if shared:
            # W at 0, B at b_base of one SPRAM memory: never both read (or written) in a clock
            for n in ("W", "B"):
                rd[n] = shared[n].create(path=(n.lower() + "_rd",))
                wr[n] = WritePort.Signature(addr_width=len(rd[n].addr), shape=signed(F.MASTER.width)).create(
                    path=(n.lower() + "_wr",))
            m.d.comb += [wb.read.en.eq(rd["W"].en | rd["B"].en),
                         wb.read.addr.eq(Mux(rd["B"].en, b_base + rd["B"].addr, rd["W"].addr)),
                         rd["W"].data.eq(wb.read.data), rd["B"].data.eq(wb.read.data),
                         wb.write.en.eq(wr["W"].en | wr["B"].en),
                         wb.write.addr.eq(Mux(wr["B"].en, b_base + wr["B"].addr, wr["W"].addr)),
                         wb.write.data.eq(Mux(wr["B"].en, wr["B"].data, wr["W"].data))]
        for port in rd.values():
            m.d.comb += port.en.eq(0)

        # ---- layer descriptors: the current layer's is d, loaded on a layer switch ------
        m.submodules.descs = ds = DescriptorStore(K, L)
        d = ds.d                                # held while idle: layer 0's
        cur = Signal(range(L))
        m.d.comb += [ds.w_layer.eq(self.desc_layer), ds.w_field.eq(self.desc_field), ds.w_data.eq(self.desc_data),
                     ds.w_en.eq(self.desc_we & ~self.busy)]
        # every layer in use has inputs and neurons: a step over an empty layer would never
        # reach its last neuron, so the chip refuses STEP and LEARN until this holds
        m.d.comb += self.configured.eq(Cat(
            (self.n_layers <= n) | ds.nonempty[n] for n in range(L)).all())
        ld_then = Signal(After)

        def load(layer, then, head=False):
            """Statements that load ``layer``'s descriptor (LOAD state), then go to ``then``."""
            m.d.comb += [ds.load.eq(1), ds.load_layer.eq(layer), ds.load_head.eq(head)]
            m.next = "LOAD"
            return [ld_then.eq(then)]

        # the bucket pass's coefficient (alpha_1 for k = 0, else beta_k+1) is read from the
        # descriptor memory with the Z word it applies to (ds.peek_*), not kept in registers
        coef_w = 5 if self.pow2 else F.COEF.width
        field_index = {name: n for n, (name, _) in enumerate(layer_fields(K))}

        # ---- units ------------------------------------------------------------------------
        m.submodules.buckets = bu = BucketDecay(pow2=self.pow2)
        m.submodules.dendrite = de = Dendrite()
        m.submodules.encoder = en = SerialEncoder() if self.serial_encoder else Encoder()
        m.submodules.learning = lu = (LearningUnit if self.learning else NoLearningUnit)(K, ML, ML, c.synapses, NT, IT)
        if A:
            m.d.comb += [en.decay_e.eq((kind == Pass.SYNC) | (kind == Pass.EVAL_FIRST)),
                         en.fire.eq((kind == Pass.SYNC) | (kind == Pass.FIRE)),
                         en.decay_d.eq((kind == Pass.SYNC) | (kind == Pass.DDECAY))]
        m.d.comb += [de.relu.eq(d.relu), en.theta0.eq(d.theta0), en.alpha_e.eq(d.alpha_e),
                     en.alpha_theta.eq(d.alpha_theta), en.m_f.eq(d.m_f), en.n_max.eq(d.n_max),
                     lu.n_in.eq(d.n_in), lu.n_out.eq(d.n_out), lu.w_base.eq(d.w_base),
                     lu.n_base.eq(d.n_base), lu.i_base.eq(d.i_base), lu.relu.eq(d.relu),
                     lu.first.eq(cur == 0), lu.shift_w.eq(d.shift_w), lu.shift_v.eq(d.shift_v),
                     lu.shift_b.eq(d.shift_b)]
        learning = Signal()
        for n, client in (("W", "w"), ("V", "v"), ("B", "b"), ("Z", "z"), ("TRACE", "t"), ("X", "x")):
            m.d.comb += getattr(lu, f"{client}_rdata").eq(rd[n].data)
            with m.If(learning):
                m.d.comb += [rd[n].addr.eq(getattr(lu, f"{client}_addr")), rd[n].en.eq(getattr(lu, f"{client}_ren"))]
                if n in ("W", "V", "B"):
                    m.d.comb += [wr[n].addr.eq(getattr(lu, f"{client}_addr")),
                                 wr[n].data.eq(getattr(lu, f"{client}_wdata")),
                                 wr[n].en.eq(getattr(lu, f"{client}_wen"))]

        work = Signal(32)
        lwork = Signal(32)

        # ---- phase 1: event fan-out (synaptic accumulation) --------------------------------
        acc_enable = Signal()
        from_fwd = Signal()
        ev_valid, ev_ready = Signal(), Signal()
        ev = Signal(fwd_layout(ML))
        m.d.comb += [ev_valid.eq(Mux(from_fwd, self.fwd.valid, self.events.valid)),
                     ev.eq(Mux(from_fwd, self.fwd.payload, self.events.payload)),
                     self.fwd.ready.eq(from_fwd & ev_ready), self.events.ready.eq(~from_fwd & ev_ready)]
        src = Signal(range(ML))
        q = Signal(unsigned(F.Q.width))
        fan_j = Signal(range(ML + 1))
        fan_addr = Signal(_bits(c.synapses))
        fan_active = Signal()
        mac_valid = Signal()
        mac_j = Signal(range(ML))
        qin_valid = Signal()
        acc_idle = Signal()
        m.d.comb += acc_idle.eq(~fan_active & ~mac_valid & ~qin_valid)
        take = Signal()
        m.d.comb += [ev_ready.eq(acc_enable & ~fan_active), take.eq(ev_valid & ev_ready)]
        m.d.sync += [mac_valid.eq(fan_active), mac_j.eq(fan_j), qin_valid.eq(0)]
        with m.If(take):
            with m.If(ev.source < d.n_in):
                m.d.sync += [src.eq(ev.source), q.eq(ev.q), fan_j.eq(0), fan_active.eq(1),
                             fan_addr.eq(d.w_base + ev.source), qin_valid.eq(1)]
                with m.If(~from_fwd):
                    m.d.sync += self.events_in.eq(self.events_in + 1)
            with m.Else():
                m.d.sync += self.refused.eq(self.refused + 1)
        with m.If(fan_active):
            m.d.sync += [fan_j.eq(fan_j + 1), fan_addr.eq(fan_addr + d.n_in)]
            with m.If(fan_j == d.n_out - 1):
                m.d.sync += fan_active.eq(0)
        w_fwd = Signal(signed(F.W.width))
        m.d.comb += w_fwd.eq(rd["W"].data >> F.MASTER_SHIFT)
        prod = Signal(signed(F.W.width + F.Q.width + 1))
        m.d.comb += prod.eq(w_fwd * q)
        a_sat = saturate(m, rd["A"].data + prod, F.ACC, "a_sat")
        q_sum = saturate(m, rd["QIN"].data + q, F.Q, "q_sum")
        z1_sat = saturate(m, rd["Z"].data + prod, F.Z, "z1_sat")
        t1_sat = saturate(m, rd["TRACE"].data + (q << (F.TRACE.frac - F.Q.frac)), F.TRACE, "t1_sat")
        with m.If(acc_enable | fan_active):
            m.d.comb += [rd["W"].addr.eq(fan_addr), rd["W"].en.eq(1)]
            with m.If(deliver):
                m.d.comb += [rd["Z"].addr.eq((d.n_base + fan_j) * K), rd["Z"].en.eq(fan_active),
                             rd["TRACE"].addr.eq((d.i_base + ev.source) * K), rd["TRACE"].en.eq(take)]
            with m.Else():
                # QIN is read as the event is taken (its word is written back the clock after,
                # when the next event's source may be at the FIFO head already)
                m.d.comb += [rd["A"].addr.eq(fan_j), rd["A"].en.eq(fan_active), rd["QIN"].addr.eq(ev.source),
                             rd["QIN"].en.eq(take)]
        with m.If(mac_valid & deliver):
            m.d.comb += [wr["Z"].addr.eq((d.n_base + mac_j) * K), wr["Z"].data.eq(z1_sat), wr["Z"].en.eq(1)]
        with m.Elif(mac_valid):
            m.d.comb += [wr["A"].addr.eq(mac_j), wr["A"].data.eq(a_sat), wr["A"].en.eq(1)]
        with m.If(qin_valid & deliver):
            m.d.comb += [wr["TRACE"].addr.eq((d.i_base + src) * K), wr["TRACE"].data.eq(t1_sat),
                         wr["TRACE"].en.eq(1)]
        with m.Elif(qin_valid):
            m.d.comb += [wr["QIN"].addr.eq(src), wr["QIN"].data.eq(q_sum), wr["QIN"].en.eq(1)]

        # ---- phase 2: bucket pass over Z (j, k) and the traces (i, k) ------------------------
        bk_k = Signal(range(K))
        bk_unit = Signal(range(ML + 1))
        bk_trace = Signal()
        bk_issue = Signal()                     # a word is left to read
        rd_valid = Signal()
        rd_k = Signal(range(K))
        rd_trace = Signal()
        rd_unit = Signal(range(ML))
        prev_old = Signal(signed(F.Z.width))
        out_k = Signal(range(K))
        out_unit = Signal(range(ML))
        out_trace = Signal()
        advance_rd = Signal()
        m.d.comb += advance_rd.eq(~rd_valid | bu.i.ready)
        below_first = Signal(signed(F.ACC.width))
        m.d.comb += below_first.eq(Mux(rd_trace, rd["QIN"].data << (F.TRACE.frac - F.Q.frac), rd["A"].data))
        old = Signal(signed(F.Z.width))
        m.d.comb += old.eq(Mux(rd_trace, rd["TRACE"].data, rd["Z"].data))
        m.d.comb += [
            bu.i.valid.eq(rd_valid),
            bu.i.payload.z.eq(old),
            bu.i.payload.below.eq(Mux(rd_k == 0, below_first, prev_old)),
            bu.i.payload.coef.eq(ds.peek_data[:coef_w]),
            bu.i.payload.first.eq(rd_k == 0),
        ]
        last_z_unit = Signal()
        m.d.comb += last_z_unit.eq(bk_unit == d.n_out - 1)

        # ---- phase 3: dendrite and encoder ---------------------------------------------------
        dn_k = Signal(range(K))
        dn_j = Signal(range(ML + 1))
        nj_hi = Signal(range(ML + 1))           # the pass covers neurons [dn_j at start, nj_hi)
        dn_issue = Signal()
        dn_valid = Signal()
        dn_rk = Signal(range(K))
        advance_dn = Signal()
        m.d.comb += advance_dn.eq(~dn_valid | de.i.ready)
        m.d.comb += [
            de.i.valid.eq(dn_valid), de.i.payload.v.eq(rd["V"].data >> F.MASTER_SHIFT),
            de.i.payload.z.eq(rd["Z"].data), de.i.payload.b.eq(rd["B"].data >> F.MASTER_SHIFT),
            de.i.payload.first.eq(dn_rk == 0), de.i.payload.last.eq(dn_rk == K - 1),
        ]
        xj = Signal(range(ML + 1))     # neuron whose (x, y) leaves the dendrite next
        de_take = Signal()
        m.d.comb += de_take.eq(de.o.valid & de.o.ready)
        xj_next = Signal(range(ML + 1))
        m.d.comb += xj_next.eq(Mux(de_take, xj + 1, xj))
        m.d.comb += [en.i.valid.eq(de.o.valid), en.i.payload.y.eq(de.o.payload.y),
                     en.i.payload.e.eq(rd["E"].data), en.i.payload.d.eq(rd["D"].data),
                     de.o.ready.eq(en.i.ready)]
        ej = Signal(range(ML + 1))     # neuron whose spike leaves the encoder next
        ej_next = Signal(range(ML + 1))
        en_take = Signal()
        m.d.comb += [en_take.eq(en.o.valid & en.o.ready), ej_next.eq(Mux(en_take, ej + 1, ej))]
        spike = Signal()
        m.d.comb += [spike.eq(d.encoder & (en.o.payload.q != 0)),
                     self.spikes.payload.source.eq(d.n_base + ej), self.spikes.payload.local.eq(ej),
                     self.spikes.payload.q.eq(en.o.payload.q), self.spikes.payload.step.eq(self.steps),
                     self.spikes.valid.eq(en.o.valid & spike),
                     en.o.ready.eq(~spike | self.spikes.ready)]

        def start_pass(k, lo, hi):
            return [kind.eq(k)] * A + [dn_k.eq(0), dn_j.eq(lo), dn_valid.eq(0), xj.eq(lo), ej.eq(lo), nj_hi.eq(hi)]

        # ---- pending table: updates at the encoder's output, scan ------------------------
        p_old = Signal(pending_layout)
        p_new = Signal(pending_layout)
        pass_updates = Signal()
        if A:
            cnt = en.o.payload.n
            m.d.comb += p_old.eq(Mux(kind == Pass.EVAL_FIRST, 0, p_rd.data))
            m.d.comb += p_new.eq(p_old)
            with m.If(kind == Pass.FIRE):
                m.d.comb += [p_new.pending.eq(0), p_new.fired.eq(1)]
            with m.Elif(d.encoder & (cnt != 0)):
                m.d.comb += p_new.pending.eq(1)
                with m.If(prio):
                    m.d.comb += p_new.key.eq(cnt)
                with m.Elif(~p_old.pending):
                    m.d.comb += p_new.key.eq(lfsr_next)
            with m.Else():
                m.d.comb += p_new.pending.eq(0)
            m.d.comb += pass_updates.eq((kind == Pass.EVAL_FIRST) | (kind == Pass.EVAL) | (kind == Pass.FIRE))
        sj = Signal(range(ML + 1))
        sc_valid = Signal()
        sc_j = Signal(range(ML))
        found = Signal()
        best_key = Signal(16)
        best_l = Signal(range(L))
        best_j = Signal(range(ML))

        # ---- clear -----------------------------------------------------------------------
        cleared = ("Z", "TRACE", "X", "E", "D", "A", "QIN")
        clear_depth = max(mems[name].depth for name in cleared)
        cl_addr = Signal(range(clear_depth + 1))

        # ---- memory port (host) --------------------------------------------------------------
        mem_sel = Signal(4)
        host_regions = (("W", Region.W), ("V", Region.V), ("B", Region.B), ("Z", Region.Z),
                        ("TRACE", Region.TRACE), ("X", Region.X), ("E", Region.E), ("D", Region.D))
        with m.Switch(mem_sel):
            for name, region in host_regions:
                with m.Case(region):
                    m.d.comb += self.mem_rdata.eq(rd[name].data)
            with m.Case(Region.ERR):
                m.d.comb += self.mem_rdata.eq(lu.err_r_data)
        m.d.comb += [lu.err_r_addr.eq(self.mem_addr), lu.err_w_addr.eq(self.mem_addr),
                     lu.err_w_data.eq(self.mem_wdata)]

        def drain_stray():
            """After the output layer's neurons: its spikes routed to a next layer have no
            receiver; they are taken out of the forward FIFO and counted as refused. Returns
            the condition that the router is empty (every spike of the pass is out)."""
            m.d.comb += self.fwd.ready.eq(1)
            with m.If(self.fwd.valid):
                m.d.sync += self.refused.eq(self.refused + 1)
            return self.router_idle & self.fwd_empty

        # ---- control ---------------------------------------------------------------------
        with m.If(~acc_idle | self.busy | take):
            m.d.sync += work.eq(work + 1)
        with m.FSM():
            with m.State("EVENTS"):
                # idle: layer 0 takes host events; commands and memory requests are served
                # (layer 0's descriptor is reloaded after the host writes it: ds.busy)
                m.d.comb += [acc_enable.eq(~self.mem_re & ~self.mem_we & ~ds.busy), from_fwd.eq(0)]
                m.d.sync += cur.eq(0)
                with m.If((self.mem_re | self.mem_we) & acc_idle):
                    m.next = "MEM"
                with m.Elif(self.step & acc_idle & ~ds.busy & ~self.events.valid):
                    m.d.sync += [bk_k.eq(0), bk_unit.eq(0), bk_trace.eq(0), rd_valid.eq(0),
                                 out_k.eq(0), out_unit.eq(0), out_trace.eq(0)]
                    if A:
                        m.d.sync += kind.eq(Mux(is_async, Pass.EVAL_FIRST, Pass.SYNC))
                    m.next = "BUCKETS"
                if self.learning:
                    with m.Elif(self.learn & acc_idle & ~ds.busy):
                        m.d.sync += [cur.eq(self.n_layers - 1), lwork.eq(0)]
                        m.next = "LEARN_LOAD"
                with m.Elif(self.clear & acc_idle & ~ds.busy):
                    m.d.sync += [cl_addr.eq(0)] + [lfsr.eq(self.seed)] * A
                    m.next = "CLEAR"
            with m.State("MEM"):
                with m.If(self.mem_we):
                    with m.Switch(self.mem_region):
                        for name, region in host_regions[:3]:
                            with m.Case(region):
                                m.d.comb += [wr[name].addr.eq(self.mem_addr), wr[name].data.eq(self.mem_wdata),
                                             wr[name].en.eq(1)]
                        with m.Case(Region.ERR):
                            m.d.comb += lu.err_w_en.eq(1)
                    m.d.comb += self.mem_ack.eq(1)
                    m.next = "EVENTS"
                with m.Else():
                    for name, region in host_regions:
                        m.d.comb += [rd[name].addr.eq(self.mem_addr), rd[name].en.eq(self.mem_region == region)]
                    m.d.sync += mem_sel.eq(self.mem_region)
                    m.next = "MEM_READ"
            with m.State("MEM_READ"):
                m.d.comb += self.mem_ack.eq(1)
                m.next = "EVENTS"
            with m.State("FWD_EVENTS"):
                m.d.comb += [self.busy.eq(1), acc_enable.eq(1), from_fwd.eq(1)]
                with m.If(acc_idle & self.fwd_empty & self.router_idle & ~take & deliver):
                    m.d.sync += [deliver.eq(0)] + start_pass(Pass.EVAL, 0, d.n_out)
                    m.next = "NEURONS"
                with m.Elif(acc_idle & self.fwd_empty & self.router_idle & ~take):
                    m.d.sync += [bk_k.eq(0), bk_unit.eq(0), bk_trace.eq(0), rd_valid.eq(0),
                                 out_k.eq(0), out_unit.eq(0), out_trace.eq(0)]
                    m.next = "BUCKETS"
            with m.State("BUCKETS"):
                m.d.comb += [self.busy.eq(1), bk_issue.eq(~(bk_trace & (bk_unit == d.n_in))),
                             ds.peek_en.eq(advance_rd),
                             ds.peek_field.eq(Mux(bk_k == 0, field_index["alpha0"], field_index["beta0"] + bk_k))]
                z_addr = (d.n_base + bk_unit) * K + bk_k
                t_addr = (d.i_base + bk_unit) * K + bk_k
                m.d.comb += [rd["Z"].addr.eq(z_addr), rd["TRACE"].addr.eq(t_addr),
                             rd["A"].addr.eq(bk_unit), rd["QIN"].addr.eq(bk_unit),
                             # each memory is read only for a word that uses it (Z and A in the
                             # Z part, TRACE and QIN in the trace part, A and QIN at k = 0):
                             # the words are written back (A and QIN zeroed) a few clocks
                             # later, and no read may meet a write of the same word
                             rd["Z"].en.eq(advance_rd & bk_issue & ~bk_trace),
                             rd["TRACE"].en.eq(advance_rd & bk_issue & bk_trace),
                             rd["A"].en.eq(advance_rd & bk_issue & ~bk_trace & (bk_k == 0)),
                             rd["QIN"].en.eq(advance_rd & bk_issue & bk_trace & (bk_k == 0))]
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
                        m.d.comb += [wr["QIN"].addr.eq(rd_unit), wr["QIN"].data.eq(0), wr["QIN"].en.eq(1)]
                    with m.Else():
                        m.d.comb += [wr["A"].addr.eq(rd_unit), wr["A"].data.eq(0), wr["A"].en.eq(1)]
                m.d.comb += bu.o.ready.eq(1)
                with m.If(bu.o.valid):
                    with m.If(~out_trace):
                        m.d.comb += [wr["Z"].addr.eq((d.n_base + out_unit) * K + out_k),
                                     wr["Z"].data.eq(bu.o.payload), wr["Z"].en.eq(1)]
                    with m.Else():
                        m.d.comb += [wr["TRACE"].addr.eq((d.i_base + out_unit) * K + out_k),
                                     wr["TRACE"].data.eq(bu.o.payload), wr["TRACE"].en.eq(1)]
                    with m.If(out_k == K - 1):
                        m.d.sync += out_k.eq(0)
                        with m.If(~out_trace & (out_unit == d.n_out - 1)):
                            m.d.sync += [out_unit.eq(0), out_trace.eq(1)]
                        with m.Else():
                            m.d.sync += out_unit.eq(out_unit + 1)
                        with m.If(out_trace & (out_unit == d.n_in - 1)):
                            m.d.sync += start_pass(kind, 0, d.n_out)
                            m.next = "NEURONS"
                    with m.Else():
                        m.d.sync += out_k.eq(out_k + 1)
            with m.State("NEURONS"):
                m.d.comb += [self.busy.eq(1), dn_issue.eq(dn_j != nj_hi)]
                if A:
                    m.d.comb += [p_rd.addr.eq(d.n_base + ej_next), p_rd.en.eq(1)]
                nk = (d.n_base + dn_j) * K + dn_k
                m.d.comb += [rd["V"].addr.eq(nk), rd["Z"].addr.eq(nk), rd["B"].addr.eq(d.n_base + dn_j),
                             rd["V"].en.eq(advance_dn), rd["Z"].en.eq(advance_dn), rd["B"].en.eq(advance_dn),
                             rd["E"].addr.eq(d.n_base + xj_next), rd["D"].addr.eq(d.n_base + xj_next),
                             # only while a neuron is left: past the pass's last neuron the address
                             # may wrap onto the word the encoder is writing back
                             rd["E"].en.eq(xj_next != nj_hi), rd["D"].en.eq(xj_next != nj_hi)]
                with m.If(advance_dn):
                    m.d.sync += [dn_valid.eq(dn_issue), dn_rk.eq(dn_k)]
                    with m.If(dn_issue):
                        with m.If(dn_k == K - 1):
                            m.d.sync += [dn_k.eq(0), dn_j.eq(dn_j + 1)]
                        with m.Else():
                            m.d.sync += dn_k.eq(dn_k + 1)
                with m.If(de_take):
                    m.d.comb += [wr["X"].addr.eq(d.n_base + xj), wr["X"].data.eq(de.o.payload.x), wr["X"].en.eq(1)]
                    m.d.sync += xj.eq(xj + 1)
                with m.If(en_take):
                    m.d.comb += [wr["E"].addr.eq(d.n_base + ej), wr["E"].data.eq(en.o.payload.e),
                                 wr["E"].en.eq(d.encoder), wr["D"].addr.eq(d.n_base + ej),
                                 wr["D"].data.eq(en.o.payload.d), wr["D"].en.eq(d.encoder)]
                    if A:
                        with m.If(pass_updates & ~p_old.fired):
                            m.d.comb += [p_wr.addr.eq(d.n_base + ej), p_wr.data.eq(p_new), p_wr.en.eq(1)]
                            with m.If((kind != Pass.FIRE) & ~prio & p_new.pending & ~p_old.pending):
                                m.d.sync += lfsr.eq(lfsr_next)
                    m.d.sync += ej.eq(ej + 1)
                    with m.If(ej == nj_hi - 1):
                        if not A:
                            m.next = "LAYER_END"
                        else:
                            with m.Switch(kind):
                                with m.Case(Pass.SYNC, Pass.EVAL_FIRST):
                                    m.next = "LAYER_END"
                                with m.Case(Pass.EVAL):
                                    m.next = "SCAN_START"
                                with m.Case(Pass.FIRE):
                                    m.next = "FIRE_ROUTE"
                                with m.Case(Pass.DDECAY):
                                    with m.If(cur == self.n_layers - 1):
                                        m.d.sync += [cur.eq(0)] + load(0, After.STEP_DONE)
                                    with m.Else():
                                        m.d.sync += [cur.eq(cur + 1)] + load(cur + 1, After.DDECAY)
            with m.State("LAYER_END"):
                m.d.comb += self.busy.eq(1)
                with m.If(cur == self.n_layers - 1):
                    with m.If(drain_stray()):
                        with m.If(kind == Pass.EVAL_FIRST):
                            if A:
                                m.next = "SCAN_START"
                        with m.Else():
                            m.d.sync += [cur.eq(0)] + load(0, After.STEP_DONE)
                with m.Else():
                    m.d.sync += [cur.eq(cur + 1)] + load(cur + 1, After.FWD_EVENTS)
            with m.State("STEP_DONE"):
                m.d.comb += [self.busy.eq(1), self.done.eq(1)]
                m.d.sync += [self.steps.eq(self.steps + 1), self.cycles.eq(work + 1), work.eq(0)]
                m.next = "EVENTS"
            if A:
                with m.State("SCAN_START"):
                    m.d.comb += self.busy.eq(1)
                    m.d.sync += [cur.eq(0), sj.eq(0), sc_valid.eq(0), found.eq(0)] + load(0, After.SCAN, head=True)
                with m.State("SCAN"):
                    # the largest key over the pending words, layer by layer; ties keep the first
                    sc_issue = Signal()
                    m.d.comb += [self.busy.eq(1), sc_issue.eq(sj != d.n_out),
                                 p_rd.addr.eq(d.n_base + sj), p_rd.en.eq(1)]
                    m.d.sync += [sc_valid.eq(sc_issue), sc_j.eq(sj)]
                    with m.If(sc_issue):
                        m.d.sync += sj.eq(sj + 1)
                    with m.If(sc_valid & p_rd.data.pending & (~found | (p_rd.data.key > best_key))):
                        m.d.sync += [found.eq(1), best_key.eq(p_rd.data.key), best_l.eq(cur), best_j.eq(sc_j)]
                    with m.If(~sc_issue & ~sc_valid):
                        with m.If(cur != self.n_layers - 1):
                            m.d.sync += [cur.eq(cur + 1), sj.eq(0)] + load(cur + 1, After.SCAN, head=True)
                        with m.Elif(found):
                            m.d.sync += ([cur.eq(best_l)] + start_pass(Pass.FIRE, best_j, best_j + 1)
                                         + load(best_l, After.NEURONS))
                        with m.Else():
                            m.d.sync += [cur.eq(0)] + load(0, After.DDECAY)
                with m.State("DDECAY"):
                    m.d.comb += self.busy.eq(1)
                    m.d.sync += start_pass(Pass.DDECAY, 0, d.n_out)
                    m.next = "NEURONS"
                with m.State("FIRE_ROUTE"):
                    # the spike is in the router: to the host, and to the next layer's Z^1
                    m.d.comb += self.busy.eq(1)
                    with m.If(cur == self.n_layers - 1):
                        with m.If(drain_stray()):
                            m.next = "SCAN_START"
                    with m.Else():
                        m.d.sync += [cur.eq(cur + 1), deliver.eq(1)] + load(cur + 1, After.FWD_EVENTS)
            if self.learning:
                with m.State("LEARN_LOAD"):
                    m.d.comb += self.busy.eq(1)
                    m.d.sync += [lwork.eq(lwork + 1)] + load(cur, After.LEARN_START)
            with m.State("LOAD"):
                m.d.comb += self.busy.eq(1)
                if self.learning:
                    m.d.sync += lwork.eq(lwork + 1)
                with m.If(~ds.busy):
                    with m.Switch(ld_then):
                        for after in After:
                            if (after in ASYNC_AFTER and not A) or (after == After.LEARN_START and not self.learning):
                                continue
                            with m.Case(after):
                                m.next = after.name
            if self.learning:
                with m.State("LEARN_START"):
                    m.d.comb += [self.busy.eq(1), lu.start.eq(1), learning.eq(1)]
                    m.d.sync += lwork.eq(lwork + 1)
                    m.next = "LEARN"
                with m.State("LEARN"):
                    m.d.comb += [self.busy.eq(1), learning.eq(1)]
                    m.d.sync += lwork.eq(lwork + 1)
                    with m.If(lu.done):
                        with m.If(cur == 0):
                            m.d.comb += self.done.eq(1)
                            m.d.sync += [self.learn_cycles.eq(lwork + 1), work.eq(0)]
                            m.next = "EVENTS"
                        with m.Else():
                            m.d.sync += cur.eq(cur - 1)
                            m.next = "LEARN_LOAD"
            with m.State("CLEAR"):
                m.d.comb += self.busy.eq(1)
                for name in cleared:
                    with m.If(cl_addr < mems[name].depth):
                        m.d.comb += [wr[name].addr.eq(cl_addr), wr[name].data.eq(0), wr[name].en.eq(1)]
                m.d.sync += cl_addr.eq(cl_addr + 1)
                with m.If(cl_addr == clear_depth - 1):
                    m.d.comb += self.done.eq(1)
                    m.d.sync += work.eq(0)
                    m.next = "EVENTS"
        return m
