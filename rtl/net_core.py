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
per clock (about 25 clocks at K = 4), and a step ends by loading layer 0 again, which the
idle core uses for the host's events. Except in the lean build, a second register set keeps
the layer held before: a switch back to it is a swap in no clock (a two-layer network
never loads a descriptor after its first step; nor does a spike that goes from a layer to
the next and back in the asynchronous modes).

A step, for each layer l = 0 .. n_layers-1 (``cur``):

1. **events**: layer 0 takes the host's input events (``events``; the core is idle in this
   phase and accepts them at any time); layer l > 0 drains the forward FIFO of the router
   (the spikes of layer l-1). Each event (i, q) fans out: ``A_j += W[j,i] q`` for the layer's
   n_out neurons, one MAC per clock, and ``qin_i += q``. A host event whose source is not
   an input of layer 0 is refused and counted (``refused``).
2. **buckets**: the bucket-decay unit updates the layer's Z words and its input traces.
3. **neurons**: dendrite and encoder per neuron; spikes go to the router (``spikes``) as
   (source n_base + j, local j, q, step); layers without encoder emit nothing. When
   P <= K (``lanes``) and the encoder is the parallel one, phases 2 and 3 are one (FUSED):
   the new Z words go from the bucket-decay units straight into the dendrites, no second
   pass over Z (with the serial encoder, the lean build, the passes stay apart: its 10
   clocks per neuron bound the neuron pass anyway).

**Asynchronous modes** (``mode``, :class:`gammacore.regmap.Mode`; the definition is
:mod:`gammacore.golden.async_model`). The same units, other passes:

1. for every layer: the bucket pass as above (layer 0 with the host's events, the others
   with A = 0), then a neuron pass that decays e, computes x and the spike count n and
   fires nothing (encoder flags); a neuron with an encoder and n >= 1 becomes pending in the
   pending table (one word per neuron: pending, fired, key; the key is n in priority order,
   or the next value of a 16-bit LFSR when the neuron becomes pending in random order).
2. select: the largest key over the layers' leaders, ties to the lowest layer (the
   scheduler keeps each layer's leader, its first neuron with the largest key, as the
   neuron passes write the pending words). None pending: go to 4.
3. fire: a neuron pass over the winner alone with ``fire`` set (its spike goes to the
   router), with no dendrite: the encoder takes y from the x its layer's last evaluation
   wrote; a scan of the firing layer's pending words (the scheduler's copy of the
   table) finds its new leader in the background, while the spike is routed; a spike
   routed to the next layer comes back through the forward FIFO and is added straight to
   that layer's Z^1 and input trace (the fan-out, in place of A), then a neuron pass
   re-evaluates that layer, updates its pending words and its leader; back to 2.
4. a neuron pass per layer decays the adaptation d (no dendrite: one neuron per clock).

A spike costs a selection (a clock per layer), one neuron of the encoder, n_out MACs and
the next layer's neuron pass; the scan of the firing layer (its neurons) overlaps them and
delays the next selection only where it is longer (the output layer's spikes, which
nothing re-evaluates): the asynchronous
modes trade clocks for no layer barrier. The LFSR restarts from ``seed`` at every
``clear``.

``learn`` (idle only): for l = n_layers-1 .. 0 the learning unit updates layer l from the
errors in its error memory (the host writes the output layer's; each layer leaves the error
for the layer below). ``clear`` zeroes every state word (Z, traces, x, e, d, A, qin): the
golden model's ``reset``.

The memory port (``mem_*``, :class:`gammacore.regmap.Region`) reads and writes the master
weights, the routing table is in the router; state words and the learning errors, while the
core is idle: a request is held until ``mem_ack`` (reads: ``mem_rdata`` valid with it).

**Structure.** The core is a set of engines, one file each, under one sequencer:

- :mod:`~gammacore.rtl.fanout`: the event fan-out (phase 1 above, and the delivery of
  forward spikes into Z^1 in the asynchronous modes);
- :mod:`~gammacore.rtl.neuron_pass`: the bucket pass (phase 2) and the neuron pass
  (phase 3: dendrite, encoder, the pending words);
- :mod:`~gammacore.rtl.async_scheduler`: the LFSR, the layers' leaders, the scan of the
  firing layer and the selection;
- :mod:`~gammacore.rtl.learning`: the learning unit;
- :mod:`~gammacore.rtl.sequencer`: the state machine of a step, of learning, of clear and
  of the host's memory requests, which starts the engines through their control interfaces;
- :mod:`~gammacore.rtl.net_memories`: the memories, and which engine owns which port in
  which phase (``OWNERSHIP``; the sequencer names the owner, a violation is flagged in
  simulation). The host's memory requests and the clear are the two small clients in this
  file.
"""
from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..regmap import Capacity, Mode, Region, layer_fields
from .async_scheduler import AsyncScheduler
from .descriptors import DescriptorStore, descriptor_layout
from .fanout import FanOut
from .learning import LearningUnit
from .net_memories import (UNIT_BANKED, Engine, NetMemories, check_lanes, lane_ports, lane_view, lane_w_base,
                           memory_shapes, pending_layout, split_unit_address)
from .neuron_pass import BucketPass, NeuronPass, Pass
from .no_learning import NoLearningUnit
from .pipeline import SkidBuffer
from .router import fwd_layout, spike_layout
from .sequencer import CLEARED, After, Sequencer
from .w_locator import WLocator

__all__ = ["NetCore", "descriptor_layout", "Pass", "After", "pending_layout"]


def _bits(n):
    return max(1, (n - 1).bit_length())


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
        neuron per clock on six; this lean build (the iCE40's) also leaves out the registers
        the others have for Fmax (the fan-out's product, the bucket-decay operand, the
        dendrites' inputs)
    spram : W, V and B in single-port RAM (:class:`~gammacore.rtl.spram.SPRAMMemory`, B after
        W in the same blocks; inference only: the host writes them while the core is idle,
        the core only reads them); None: when ``learning`` is False and the platform is an
        iCE40 UltraPlus (SB_SPRAM256KA)
    async_modes : with the asynchronous modes; False: sync only (no pending table, LFSR
        or scan; ``mode`` must stay ``Mode.SYNC``, which the chip enforces)
    lanes : P, the lanes (any P >= 1; ValueError otherwise;
        :mod:`~gammacore.rtl.net_memories`): the fan-out does P MACs per clock (neuron j in
        lane j mod P, the W rows, A and qin banked by lane), an event costs ceil(n_out / P)
        clocks; the bucket and neuron passes take rows of P neurons (Z, V and the traces
        banked by chip-wide unit mod P; :mod:`~gammacore.rtl.neuron_pass`), one shared
        encoder. The learning unit takes rows of P neurons, one synapse per clock per lane
        (:mod:`~gammacore.rtl.learning`; with learning the traces are banked by bucket too). The
        host's addresses are unchanged: a W access finds its bank through
        :class:`~gammacore.rtl.w_locator.WLocator` (an address that no layer below
        ``n_layers`` holds is refused: ``mem_err``), a Z, V or TRACE access splits its
        address (unit = address div K) in one extra clock

    Attributes
    ----------
    fused : the bucket pass feeds the neuron pass (P <= K and the parallel encoder; the
        FUSED phase), else two passes; through a skid buffer (the feed's ready is a
        register: a stall costs a clock more)
    events : host input events (source, q), in
    spikes : spike packets to the router, out;  fwd : the router's forward FIFO, in
    router_idle, fwd_empty : no packet inside the router; its forward FIFO is empty, in
    step, learn, clear : command pulses (taken while idle), in
    no_traces : with ``step``: the step leaves the traces as they are (Cmd.NO_TRACES), in
    busy, done : out (done pulses at the end of every command)
    working : out, busy or an input event's fan-out under way (layer 0 takes the host's events
        while idle: that work is the chip's too, ``Reg.BUSY_CLOCKS`` counts it)
    n_layers : number of layers of the network, in
    configured : every layer below n_layers has n_in > 0 and n_out > 0, out
    mode : execution mode (:class:`gammacore.regmap.Mode`), in
    seed : LFSR seed of the random order, loaded at ``clear``, in
    desc_layer, desc_field, desc_data, desc_we : layer-descriptor write port, in
    mem_region, mem_addr, mem_wdata, mem_we, mem_re, mem_rdata, mem_ack : memory port;
        mem_err with mem_ack: the access was refused (lanes > 1: a W address in no layer)
    cycles, learn_cycles, steps, events_in, refused : counters, out
    """

    def __init__(self, capacity: Capacity, *, pow2=False, learning=True, serial_encoder=False, spram=None,
                 async_modes=True, lanes=1):
        self.lanes = check_lanes(lanes)
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
        # the bucket pass feeds the dendrites (one pass per neuron) when a row's K words carry
        # every lane's b (P <= K); else the neuron pass reads Z after the bucket pass. Not with
        # the serial encoder (the lean build): its 10 clocks per neuron bound the neuron pass,
        # fusing would save only K of each neuron's K + 10 clocks for its logic
        self.fused = self.lanes <= K and not serial_encoder
        self.depth = c.region_depths()
        aw = _bits(max(self.depth.values()))
        super().__init__({
            "events": In(stream.Signature(fwd_layout(c.max_layer))),
            "spikes": Out(stream.Signature(spike_layout(c.neurons, c.max_layer))),
            "fwd": In(stream.Signature(fwd_layout(c.max_layer))),
            "router_idle": In(1), "fwd_empty": In(1),
            "step": In(1), "learn": In(1), "clear": In(1), "no_traces": In(1), "busy": Out(1), "done": Out(1), "working": Out(1),
            "n_layers": In(range(c.layers + 1)), "configured": Out(1),
            "mode": In(range(len(Mode))), "seed": In(16),
            "desc_layer": In(range(c.layers)), "desc_field": In(range(len(layer_fields(K)))),
            "desc_data": In(32), "desc_we": In(1),
            "mem_region": In(4), "mem_addr": In(aw), "mem_wdata": In(signed(32)),
            "mem_we": In(1), "mem_re": In(1), "mem_rdata": Out(signed(32)), "mem_ack": Out(1),
            "mem_err": Out(1),
            "cycles": Out(32), "learn_cycles": Out(32), "steps": Out(32),
            "events_in": Out(32), "refused": Out(32),
        })

    @property
    def memories(self):
        """name -> memory (after elaboration): :attr:`NetMemories.memories`."""
        return self.arrangement.memories

    def elaborate(self, platform):
        m = Module()
        c, K, L = self.cap, self.cap.buckets, self.cap.layers
        NT, IT, ML = c.neurons, c.inputs, c.max_layer
        A, P = self.async_modes, self.lanes

        # registered writes: the pending table's read-modify-write; a laned core's W banks (the
        # host's write enable, from its region and the locator's answer, does not also cross a
        # bank's ~33 block RAMs in one clock). A W word lands a clock late; none is read then:
        # the learning unit reads each word once per pass, before writing it; a host access
        # waits for the locator; the fan-out's first row read is two clocks after it takes an
        # event (the whole-chip tests' collision check holds all three to it)
        registered = (() if self.serial_encoder else ("PEND",)) + (("W",) if P > 1 else ())
        m.submodules.memories = mems = self.arrangement = NetMemories(
            c, spram=self.spram, learning=self.learning, async_modes=A, lanes=P, fused=self.fused,
            write_registered=registered)
        m.submodules.sequencer = seq = Sequencer(c, learning=self.learning, async_modes=A, lanes=P, fused=self.fused,
                                                 read_registered=not self.serial_encoder,
                                                 start_registered=not self.serial_encoder)
        # the alternate descriptor set: layer switches between two layers (a two-layer
        # network's, the asynchronous modes' firing layer and its next) swap instead of load
        # (not in the lean build: about 300 flip-flops)
        m.submodules.descs = ds = DescriptorStore(K, L, alternate=not self.serial_encoder)
        m.submodules.fanout = fo = FanOut(c, lanes=P, registered=not self.serial_encoder)
        m.submodules.bucket_pass = bp = BucketPass(c, pow2=self.pow2, lanes=P, fusable=self.fused,
                                                   registered=not self.serial_encoder)
        m.submodules.neuron_pass = npass = self.neuron_pass = NeuronPass(c, serial_encoder=self.serial_encoder,
                                                      registered=not self.serial_encoder, async_modes=A,
                                                      lanes=P, fusable=self.fused)
        m.submodules.learning = lu = (LearningUnit if self.learning else NoLearningUnit)(K, ML, ML, c.synapses, NT, IT,
                                                                                          lanes=P)
        self.sequencer, self.learning_unit, self.fanout = seq, lu, fo
        m.d.comb += [mems.owner.eq(seq.owner), mems.owner_decoded.eq(seq.owner_decoded)]
        self.violation = mems.violation

        # ---- commands, counters, the router ---------------------------------------------
        m.d.comb += [seq.step.eq(self.step), seq.learn.eq(self.learn), seq.clear.eq(self.clear),
                     seq.no_traces.eq(self.no_traces),
                     self.busy.eq(seq.busy), self.done.eq(seq.done), seq.n_layers.eq(self.n_layers),
                     self.working.eq(seq.busy | ~fo.ctrl.idle),
                     seq.mode.eq(self.mode), seq.events_valid.eq(self.events.valid),
                     seq.fwd_valid.eq(self.fwd.valid), seq.router_idle.eq(self.router_idle),
                     seq.fwd_empty.eq(self.fwd_empty),
                     self.cycles.eq(seq.cycles), self.learn_cycles.eq(seq.learn_cycles), self.steps.eq(seq.steps)]

        # ---- layer descriptors: the current layer's is d, loaded on a layer switch ------
        d = ds.d                                # held while idle: layer 0's
        m.d.comb += [ds.w_layer.eq(self.desc_layer), ds.w_field.eq(self.desc_field), ds.w_data.eq(self.desc_data),
                     ds.w_en.eq(self.desc_we & ~self.busy),
                     ds.load.eq(seq.desc.load), ds.load_layer.eq(seq.desc.layer),
                     seq.desc.busy.eq(ds.busy), seq.layer.eq(d)]
        # every layer in use has inputs and neurons: a step over an empty layer would never
        # reach its last neuron, so the chip refuses STEP and LEARN until this holds
        m.d.comb += self.configured.eq(Cat(
            (self.n_layers <= n) | ds.nonempty[n] for n in range(L)).all())

        # ---- engines ------------------------------------------------------------------------
        # fan-out: the host's events (idle) or the forward FIFO (layers above the first)
        from_fwd = seq.from_fwd
        m.d.comb += [fo.ev.valid.eq(Mux(from_fwd, self.fwd.valid, self.events.valid)),
                     fo.ev.payload.eq(Mux(from_fwd, self.fwd.payload, self.events.payload)),
                     self.fwd.ready.eq(seq.drain | (from_fwd & fo.ev.ready)),
                     self.events.ready.eq(~from_fwd & fo.ev.ready), fo.layer.eq(d)]
        wiring.connect(m, seq.fanout, fo.ctrl)
        wiring.connect(m, fo.mem, mems.clients[Engine.FANOUT])
        with m.If(fo.ctrl.accepted & ~from_fwd):
            m.d.sync += self.events_in.eq(self.events_in + 1)
        # refused: a host event outside the layer, or (drained) a spike of the output layer
        # routed to a next layer that does not exist
        with m.If(fo.ctrl.refused | (seq.drain & self.fwd.valid)):
            m.d.sync += self.refused.eq(self.refused + 1)

        m.d.comb += [bp.layer.eq(d), ds.peek_en.eq(bp.peek_en), ds.peek_field.eq(bp.peek_field),
                     bp.peek_data.eq(ds.peek_data)]
        wiring.connect(m, seq.buckets, bp.ctrl)
        if self.fused:
            # a skid buffer between the passes, so the output's back-pressure (the encoder's
            # and the dendrites' stalls) does not reach the bucket pass, the sequencer and the
            # memories' ports in the same clock (the 85F's critical path at P = 2; at P = 1
            # the 12F's, spike skid -> router -> neuron pass -> bucket pass -> TRACE's read
            # enable, 73.9 MHz for 75)
            m.submodules.feed_skid = skid = self.feed_skid = SkidBuffer(bp.feed.payload.shape())
            wiring.connect(m, bp.feed, skid.i)
            wiring.connect(m, skid.o, npass.feed)
            m.d.comb += bp.fused.eq(seq.fuse)
        wiring.connect(m, bp.mem, mems.clients[Engine.BUCKETS])

        m.d.comb += [npass.layer.eq(d), npass.step.eq(seq.steps)]
        wiring.connect(m, seq.neurons, npass.ctrl)
        wiring.connect(m, npass.spikes, wiring.flipped(self.spikes))
        wiring.connect(m, npass.mem, mems.clients[Engine.NEURONS])
        if A:
            m.submodules.scheduler = sc = self.scheduler = AsyncScheduler(c, registered=not self.serial_encoder)
            m.d.comb += [sc.layer.eq(d), sc.seed.eq(self.seed), npass.lfsr_next.eq(sc.lfsr_next),
                         sc.lfsr_advance.eq(npass.lfsr_advance), npass.prio.eq(self.mode == Mode.ASYNC_PRIORITY)]
            wiring.connect(m, seq.sched, sc.ctrl)
            wiring.connect(m, npass.pend, sc.pend)

        m.d.comb += [lu.n_in.eq(d.n_in), lu.n_out.eq(d.n_out), lu.w_base.eq(lane_w_base(d.w_base, d.i_base, P)),
                     lu.n_base.eq(d.n_base), lu.i_base.eq(d.i_base), lu.relu.eq(d.relu),
                     lu.first.eq(seq.layer_index == 0), lu.shift_w.eq(d.shift_w), lu.shift_v.eq(d.shift_v),
                     lu.shift_b.eq(d.shift_b)]
        if self.learning:
            m.d.comb += [lu.start.eq(seq.learn_unit.start), seq.learn_unit.done.eq(lu.done)]
            wiring.connect(m, lu.mem, mems.clients[Engine.LEARN])

        # ---- the host's memory requests (idle core) ----------------------------------------
        host = mems.clients[Engine.HOST]
        m.d.comb += [seq.host.we.eq(self.mem_we), seq.host.re.eq(self.mem_re), self.mem_ack.eq(seq.host.ack)]
        host_regions = (("W", Region.W, host.W), ("V", Region.V, host.V), ("B", Region.B, host.B),
                        ("Z", Region.Z, host.Z), ("TRACE", Region.TRACE, host.TRACE), ("X", Region.X, host.X),
                        ("E", Region.E, host.E), ("D", Region.D, host.D))
        if P > 1:
            # the W banks: (lane, local address) of the host's address from the locator; the
            # sequencer holds the request until it is known
            w_banks = lane_ports(host.W)
            m.submodules.w_locator = loc = WLocator(c, P, len(w_banks[0].rd.addr))
            is_w = Signal()
            m.d.comb += [is_w.eq(self.mem_region == Region.W),
                         loc.addr.eq(self.mem_addr), loc.n_layers.eq(self.n_layers),
                         loc.req.eq((seq.owner == Engine.HOST) & is_w & (self.mem_we | self.mem_re)),
                         loc.desc_layer.eq(self.desc_layer), loc.desc_field.eq(self.desc_field),
                         loc.desc_data.eq(self.desc_data), loc.desc_we.eq(ds.w_en),
                         self.mem_err.eq(is_w & ~loc.found)]
            # the bank's enables come from the locator's registered answer (found, lane), not
            # from the sequencer's decision, for Fmax: that decision (its state, the hold and
            # the located flags) does not also meet the clock enables of a bank's ~33 block RAMs
            # in one clock. The request is held until the answer is up and its address and word
            # do not change while it is, so a bank may read (or write the same word) more than
            # once; it reaches the banks only while the host owns them, and the answer falls a
            # clock after the request does
            w_lane = Signal(range(P))
            owns = seq.owner == Engine.HOST
            for p, port in enumerate(w_banks):
                sel = owns & is_w & loc.found & (loc.lane == p)
                m.d.comb += [port.rd.addr.eq(loc.local), port.rd.en.eq(sel & self.mem_re & ~self.mem_we),
                             port.wr.addr.eq(loc.local), port.wr.data.eq(self.mem_wdata),
                             port.wr.en.eq(sel & self.mem_we)]
            with m.If(seq.host.read):
                m.d.sync += w_lane.eq(loc.lane)
            w_rdata = Array(port.rd.data for port in w_banks)[w_lane]
            # Z, V, TRACE: word (unit, k) in bank unit mod P (net_memories.unit_word); the
            # host's address split (unit = address div K) is registered: the request is held
            # for its first clock
            located = Signal()
            m.d.sync += located.eq((seq.owner == Engine.HOST) & (self.mem_we | self.mem_re) & ~seq.host.ack)
            unit_rdata = {}
            held = []
            for name, region, port in host_regions:
                if name not in UNIT_BANKED:
                    continue
                view, rd_lane, wr_lane = lane_view(m, lane_ports(port), f"host_{name.lower()}")
                lane, local = split_unit_address(m, self.mem_addr[:_bits(self.depth[name])], K, P, f"host_{name.lower()}")
                lane_r, local_r = Signal(range(P), name=f"host_{name.lower()}_lane"), Signal(len(view.rd.addr), name=f"host_{name.lower()}_local")
                m.d.sync += [lane_r.eq(lane), local_r.eq(local)]
                sel = self.mem_region == region
                held.append(sel)
                m.d.comb += [view.rd.addr.eq(local_r), rd_lane.eq(lane_r), view.rd.en.eq(seq.host.read & sel)]
                if hasattr(view, "wr"):
                    m.d.comb += [view.wr.addr.eq(local_r), wr_lane.eq(lane_r), view.wr.data.eq(self.mem_wdata),
                                 view.wr.en.eq(seq.host.write & sel)]
                unit_rdata[name] = view.rd.data
            m.d.comb += seq.host.hold.eq((is_w & ~loc.valid) | (Cat(*held).any() & ~located))
        mem_sel = Signal(4)
        for name, region, port in host_regions:
            if (name == "W" or name in UNIT_BANKED) and P > 1:
                continue
            m.d.comb += [port.rd.addr.eq(self.mem_addr),
                         port.rd.en.eq(seq.host.read & (self.mem_region == region))]
            if hasattr(port, "wr"):
                m.d.comb += [port.wr.addr.eq(self.mem_addr), port.wr.data.eq(self.mem_wdata),
                             port.wr.en.eq(seq.host.write & (self.mem_region == region))]
        m.d.comb += lu.err_w_en.eq(seq.host.write & (self.mem_region == Region.ERR))
        with m.If(seq.host.read):
            m.d.sync += mem_sel.eq(self.mem_region)
        # the word read: given with the acknowledgement, a clock after the read; in the
        # registered form (Sequencer.read_registered) each memory's word is registered, then
        # the one chosen: three clocks after
        rdata = Signal.like(self.mem_rdata, name="host_rdata")
        if seq.read_registered:
            m.d.sync += self.mem_rdata.eq(rdata)
        else:
            m.d.comb += self.mem_rdata.eq(rdata)
        words = {}
        for name, region, port in host_regions:
            if P > 1 and name == "W":
                words[region] = w_rdata
            elif P > 1 and name in UNIT_BANKED:
                words[region] = unit_rdata[name]
            else:
                words[region] = port.rd.data
        words[Region.ERR] = lu.err_r_data
        if seq.read_registered:
            for region, word in list(words.items()):
                words[region] = staged = Signal.like(word, name=f"host_{region.name.lower()}_word")
                m.d.sync += staged.eq(word)
        with m.Switch(mem_sel):
            for region, word in words.items():
                with m.Case(region):
                    m.d.comb += rdata.eq(word)
        m.d.comb += [lu.err_r_addr.eq(self.mem_addr), lu.err_w_addr.eq(self.mem_addr),
                     lu.err_w_data.eq(self.mem_wdata)]

        # ---- clear: zero every state word ---------------------------------------------------
        cl = mems.clients[Engine.CLEAR]
        cleared = {"Z": cl.Z, "TRACE": cl.TRACE, "X": cl.X, "E": cl.E, "D": cl.D, "A": cl.A, "QIN": cl.QIN}
        assert tuple(cleared) == CLEARED
        for name, ports in cleared.items():
            for port in lane_ports(ports):
                m.d.comb += [port.wr.addr.eq(seq.clear_addr), port.wr.data.eq(0),
                             port.wr.en.eq(seq.clearing & (seq.clear_addr < self.arrangement_depth(name)))]
        return m

    def arrangement_depth(self, name):
        return memory_shapes(self.cap, self.lanes)[name][1]
