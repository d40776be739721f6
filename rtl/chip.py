"""The chip: network core, spike router and host FIFOs behind one word bus.

Everything the host does goes through :data:`gammacore.rtl.bus.bus_signature` with the
address map of :mod:`gammacore.regmap` (registers, counters, layer descriptors, memories,
routing table, the input-event and output-packet FIFOs), so the UART command decoder and a
PCIe register window drive it the same way.

Commands (``Reg.CTRL``) are held pending until the core can take them; ``Status.BUSY`` is
high from the write until the command is done. With ``Cmd.WAIT`` the write itself is
acknowledged only when the command is done (or the output FIFO is full), which saves the
host a status poll per command. A command, a descriptor write or a memory
access while busy is refused with a bus error (and counted), never half-applied; so is a
STEP or LEARN while a layer in use has no inputs or no neurons (descriptors not loaded). Input
events (``Reg.EVENT``) may be written at any time: they wait in the event FIFO and a full
FIFO holds the bus request until there is room (back-pressure, nothing dropped). A request is
acted on from its second clock (the address decode is registered) and acknowledged from a
register the clock after (a register access takes three clocks). Output
packets wait in the router's output FIFO until the host reads ``Reg.OUT``; a full output
FIFO stalls the core.

The sample sequencer (:mod:`gammacore.rtl.sample_unit`, with ``samples``) serves its own
addresses (``Reg.SAMPLE_*``, the ``SAMPLE`` and ``RESULT`` regions) and shares the bus
into the rest of the map with the host, one request at a time (``_arbiter``).
"""
import operator
from functools import reduce

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .. import regmap as R
from .bus import bus_signature
from .fifo import BlockFIFO
from .net_core import NetCore
from .net_memories import check_lanes
from .pipeline import SkidBuffer
from .router import Router, fwd_layout
from .sample_unit import SampleUnit, is_sample_address

__all__ = ["Chip", "STATISTICS", "OUT_LEVEL_LIMIT"]

#: the deepest output FIFO whose level the router's 16-bit ``out_level`` (``Reg.OUT_LEVEL``) counts
OUT_LEVEL_LIMIT = (1 << 16) - 1

#: the counters a lean build (``counters=False``) leaves out; their registers read 0
STATISTICS = (R.Reg.EVENTS_IN, R.Reg.REFUSED, R.Reg.UNROUTED, R.Reg.TO_NEXT, R.Reg.TO_HOST, R.Reg.BUSY_CLOCKS,
              R.Reg.CLOCKS)


class Chip(wiring.Component):
    """Bus target holding a whole network with on-chip learning.

    Parameters
    ----------
    capacity : :class:`gammacore.regmap.Capacity`
    pow2 : power-of-two bucket rates
    learning : with the learning unit; False: an inference-only build that refuses
        ``Cmd.LEARN`` and the ERR region (bus error) and clears ``CapFlag.LEARNING``
    serial_encoder : the encoder for few logic cells (see :class:`~gammacore.rtl.net_core.NetCore`)
    spram : W and V in single-port RAM (see :class:`~gammacore.rtl.net_core.NetCore`)
    async_modes : with the asynchronous modes; False: a sync-only build that refuses any
        ``Reg.MODE`` but ``Mode.SYNC`` (bus error) and clears ``CapFlag.ASYNC``
    counters : with the statistics counters (``CapFlag.COUNTERS``); False: a lean build whose
        ``EVENTS_IN``, ``REFUSED``, ``UNROUTED``, ``TO_NEXT``, ``TO_HOST`` and link-counter
        registers read 0 (synthesis then drops the counters and their read multiplexer)
    lanes : P, the network core's lanes (see :class:`~gammacore.rtl.net_core.NetCore`; any
        P >= 1), readable at ``Reg.CAP_LANES``
    event_depth, out_depth : depths of the input-event and output-packet FIFOs
    samples : with the sample sequencer (:class:`~gammacore.rtl.sample_unit.SampleUnit`: whole
        samples on chip, the loss unit); without it ``Reg.CAP_SAMPLE`` reads 0 and its
        registers and regions are refused (bus error)
    sample_words : words of one slot of the sample sequencer's memory (``Reg.CAP_SAMPLE``)

    Attributes
    ----------
    bus : word bus, target side
    busy, activity : status for LEDs (a command runs; a spike left for the host), out
    link_counters : the host link's counters, readable at ``Reg.LINK_COUNTERS + n``
        (with ``n_link_counters``), in
    """

    def __init__(self, capacity, *, pow2=False, event_depth=64, out_depth=256, n_link_counters=0, learning=True,
                 serial_encoder=False, spram=None, async_modes=True, counters=True, lanes=1,
                 samples=True, sample_words=1024):
        self.samples, self.sample_words = samples, sample_words
        self.lanes = check_lanes(lanes)
        if not isinstance(capacity, R.Capacity):
            raise TypeError(f"capacity must be a gammacore.regmap.Capacity, not {capacity!r}")
        for name, v, limit in (("event_depth", event_depth, None), ("out_depth", out_depth, OUT_LEVEL_LIMIT)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
            if limit is not None and v > limit:
                raise ValueError(f"out_depth {v} exceeds what the 16-bit OUT_LEVEL register counts "
                                 f"(at most {limit})")
        self.capacity, self.pow2, self.learning = capacity, pow2, learning
        self.async_modes, self.counters = async_modes, counters
        self.serial_encoder, self.spram = serial_encoder, spram
        self.event_depth, self.out_depth, self.n_link = event_depth, out_depth, n_link_counters
        ports = {"bus": In(bus_signature), "busy": Out(1), "activity": Out(1)}
        if n_link_counters:
            ports["link_counters"] = In(data.ArrayLayout(16, n_link_counters))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        c = self.capacity
        m.submodules.core = core = NetCore(c, pow2=self.pow2, learning=self.learning,
                                                 serial_encoder=self.serial_encoder, spram=self.spram,
                                           async_modes=self.async_modes, lanes=self.lanes)
        m.submodules.router = router = Router(c.neurons, c.max_layer, out_depth=self.out_depth)
        self.core, self.router = core, router
        if self.serial_encoder:
            wiring.connect(m, core.spikes, router.i)
            m.d.comb += core.router_idle.eq(router.idle)
        else:
            # the Fmax builds: a skid buffer, so the router's ready (its table read and its
            # FIFOs' room) does not reach back through the encoder, dendrite and bucket pass
            m.submodules.spike_skid = skid = SkidBuffer(core.spikes.payload.shape())
            wiring.connect(m, core.spikes, skid.i)
            wiring.connect(m, skid.o, router.i)
            m.d.comb += core.router_idle.eq(router.idle & skid.empty)
        wiring.connect(m, router.fwd, core.fwd)
        m.d.comb += core.fwd_empty.eq(router.fwd_empty)

        ev_layout = fwd_layout(c.max_layer)
        m.submodules.event_fifo = ef = BlockFIFO(width=ev_layout.size, depth=self.event_depth)
        ev = Signal(ev_layout)
        m.d.comb += [ev.eq(ef.r_data), core.events.payload.eq(ev), core.events.valid.eq(ef.r_rdy),
                     ef.r_en.eq(core.events.ready)]

        n_layers = Signal(range(c.layers + 1), init=1)
        mode = Signal(range(len(R.Mode)))
        seed = Signal(16, init=1)
        m.d.comb += [core.mode.eq(mode), core.seed.eq(seed)]
        pending = Signal(4)         # STEP, LEARN, CLEAR and (with STEP) NO_TRACES
        busy = Signal()
        bus_errors = Signal(32)
        inner_err, outer_err = Signal(), Signal()       # a refused request: counted
        busy_clocks, clocks = Signal(32), Signal(32)
        m.d.sync += clocks.eq(clocks + 1)
        with m.If(core.working):
            m.d.sync += busy_clocks.eq(busy_clocks + 1)
        m.d.sync += bus_errors.eq(bus_errors + inner_err + outer_err)
        m.d.comb += [core.n_layers.eq(n_layers), core.step.eq(pending[0]), core.learn.eq(pending[1]),
                     core.clear.eq(pending[2]), core.no_traces.eq(pending[3]), busy.eq(core.busy | (pending[:3] != 0)),
                     self.activity.eq(router.out.valid)]
        with m.If(core.busy):
            m.d.sync += pending.eq(0)

        # registers are decoded on the low address bits (narrow compares); an address below
        # DESC_BASE above them is no register, region or descriptor: a bus error, as below
        reg_bits = max(max(R.Reg), R.Reg.LINK_COUNTERS + self.n_link).bit_length()
        # the sample sequencer: its own addresses are served by it; the rest of the map by
        # the FSM below, on the inner bus that the sequencer and the host share
        sample_active = Signal()
        if self.samples:
            m.submodules.samples = su = SampleUnit(c, self.sample_words, learning=self.learning)
            self.sample_unit = su
            bus = bus_signature.create(path=("inner",))
            self._arbiter(m, su, bus, reg_bits, outer_err)
            m.d.comb += [su.n_layers.eq(n_layers), su.configured.eq(core.configured), su.desc_we.eq(core.desc_we),
                         su.desc_layer.eq(core.desc_layer), su.desc_field.eq(core.desc_field),
                         su.desc_data.eq(core.desc_data), sample_active.eq(su.active)]
        else:
            bus = self.bus
        m.d.comb += self.busy.eq(busy | sample_active)
        addr = bus.addr
        # what a request is acted on with, from its second clock: with the sample unit, the
        # address and word registered (a request is held until ack, so they are the same
        # request's; for Fmax: the arbiter's multiplexer does not also meet the register
        # read-out, the core's memory ports and the router); the first clock's decode (below)
        # reads the bus
        act_addr, act_w = addr, bus.w_data
        if self.samples:
            act_addr, act_w = Signal.like(addr, name="act_addr"), Signal.like(bus.w_data, name="act_w")
            m.d.sync += [act_addr.eq(addr), act_w.eq(bus.w_data)]
        reg_addr = act_addr[:reg_bits]
        is_reg = addr[reg_bits:] == 0
        is_desc = (addr >= R.DESC_BASE) & (addr < R.DESC_BASE + c.layers * R.DESC_STRIDE)
        mem_bit = R.MEM_BASE.bit_length() - 1
        is_mem = addr[mem_bit] == 1
        desc_field_bits = (R.DESC_STRIDE - 1).bit_length()

        def fields(a):
            """(memory region, index in it, descriptor layer, descriptor field) of address ``a``."""
            return (a[R.MEM_REGION_SHIFT:mem_bit], a[:R.MEM_REGION_SHIFT],
                    (a - R.DESC_BASE)[desc_field_bits:desc_field_bits + R.DESC_LAYER_BITS], a[:desc_field_bits])

        region, index, _, desc_field = fields(addr)
        act_region, act_index, act_layer, act_field = fields(act_addr)
        n_fields = len(R.layer_fields(c.buckets))

        # the output packet word in the layout of this capacity (gammacore.regmap.out_format):
        # the source field holds every neuron, the step takes the bits left
        out_word = Signal(32)
        o = router.out.payload
        fmt = c.out_format
        assert len(o.source) <= fmt.source_bits and len(o.q) == R.Q_BITS
        m.d.comb += out_word.eq(R.OUT_VALID | (o.step[:fmt.step_bits] << fmt.step_shift)
                                | (o.source << R.OUT_SOURCE_SHIFT) | o.q)

        regs = {
            R.Reg.ID: R.CHIP_ID, R.Reg.CAP_LAYERS: c.layers, R.Reg.CAP_NEURONS: c.neurons,
            R.Reg.CAP_INPUTS: c.inputs, R.Reg.CAP_SYNAPSES: c.synapses, R.Reg.CAP_BUCKETS: c.buckets,
            R.Reg.CAP_MAX_LAYER: c.max_layer, R.Reg.CAP_FLAGS: ((R.CapFlag.POW2 * self.pow2) | (R.CapFlag.ASYNC * self.async_modes)
                                  | (R.CapFlag.LEARNING * self.learning) | (R.CapFlag.COUNTERS * self.counters)),
            R.Reg.CAP_LANES: self.lanes, R.Reg.CAP_SAMPLE: self.sample_words if self.samples else 0,
            R.Reg.STATUS: busy | (router.out.valid << 1) | (sample_active << 2), R.Reg.N_LAYERS: n_layers,
            R.Reg.MODE: mode, R.Reg.SEED: seed,
            R.Reg.OUT_LEVEL: router.out_level,
            R.Reg.STEPS: core.steps, R.Reg.CYCLES: core.cycles, R.Reg.LEARN_CYCLES: core.learn_cycles,
            R.Reg.EVENTS_IN: core.events_in, R.Reg.REFUSED: core.refused, R.Reg.UNROUTED: router.unrouted,
            R.Reg.TO_NEXT: router.to_next, R.Reg.TO_HOST: router.to_host, R.Reg.BUS_ERRORS: bus_errors,
            R.Reg.BUSY_CLOCKS: busy_clocks, R.Reg.CLOCKS: clocks,
        }
        for n in range(self.n_link):
            regs[R.Reg.LINK_COUNTERS + n] = self.link_counters[n]
        if not self.counters:
            for reg in STATISTICS + tuple(R.Reg.LINK_COUNTERS + n for n in range(self.n_link)):
                regs[reg] = 0

        # the readable registers as one AND-OR multiplexer (one select per register, decoded
        # once): about half the LUTs of the priority multiplexer a Switch over them gives
        reg_word = Signal(32)
        m.d.comb += reg_word.eq(reduce(operator.or_, [(reg_addr == reg).replicate(32) & value
                                                      for reg, value in regs.items()]))

        # the response is registered and given in the RESPOND state, a clock after the decision:
        # what the initiator does on ack starts from flip-flops (on the iCE40 the decision and
        # the link's reaction to it were one path of about 50 ns)
        resp_err, resp_data = Signal(), Signal(32)
        out_r, out_v = Signal(32), Signal()     # Reg.OUT: the word read, and whether it holds one
        # the larger builds (lanes or the sample sequencer) register a descriptor write and a
        # Reg.OUT read for Fmax (below); the smaller ones keep their logic cells
        staged = self.lanes > 1 or self.samples

        def ack(err=0, data=None):
            m.d.sync += [resp_err.eq(err), resp_data.eq(0 if data is None else data)]
            m.next = "RESPOND"
            if isinstance(err, Signal):
                m.d.comb += inner_err.eq(err)
            elif err:
                m.d.comb += inner_err.eq(1)

        m.d.comb += [core.mem_region.eq(act_region), core.mem_addr.eq(act_index), core.mem_wdata.eq(act_w),
                     router.route_addr.eq(act_index), router.route_data.eq(act_w)]
        # a descriptor write: with lanes or the sample sequencer, registered on its way to the
        # core (for Fmax: the request's decode and the decision do not also run into the
        # descriptor store's reload and the passes' coefficient registers in one clock on the
        # 85F, nor, through the sample sequencer's address decode and the arbiter, into the
        # descriptor memory's write enable on the 45F: 74.15 MHz at seed 2, its seed 1 did not
        # route). It lands the clock after its acknowledgement is decided, before the next
        # request can be seen
        desc_we = Signal()
        desc = [core.desc_we.eq(desc_we), core.desc_layer.eq(act_layer), core.desc_field.eq(act_field),
                core.desc_data.eq(act_w)]
        if staged:
            m.d.sync += desc
        else:
            m.d.comb += desc
        ev_in = Signal(ev_layout)
        ev_source = act_w[R.EVENT_SOURCE_SHIFT:R.EVENT_SOURCE_SHIFT + R.EVENT_SOURCE_BITS]
        m.d.comb += [ev_in.source.eq(ev_source), ev_in.q.eq(act_w[:R.Q_BITS]), ef.w_data.eq(ev_in)]

        region_depth = self._depth_of(m, region, core)
        # the address decode is registered: a request is acted on from its second clock (the
        # initiator holds it until ack), so the decode's compares do not run on into the
        # initiator's reaction to ack (on the iCE40 that was one 47 ns path)
        seen = Signal()
        m.d.sync += seen.eq((bus.we | bus.re) & ~bus.ack)
        dec = {name: Signal(name=f"dec_{name}") for name in
               ("reg", "desc", "route", "mem_w", "mem_r", "desc_bad", "route_bad", "mem_bad")}
        m.d.sync += [dec["reg"].eq(is_reg), dec["desc"].eq(is_desc),
                     dec["route"].eq(is_mem & (region == R.Region.ROUTE)),
                     dec["mem_w"].eq(is_mem & ((region == R.Region.W) | (region == R.Region.V) |
                                               (region == R.Region.B) | ((region == R.Region.ERR) & self.learning))),
                     dec["mem_r"].eq(is_mem & (region <= R.Region.ERR) & ((region != R.Region.ERR) | self.learning)),
                     dec["desc_bad"].eq(desc_field >= n_fields), dec["route_bad"].eq(index >= c.neurons),
                     dec["mem_bad"].eq(index >= region_depth)]
        # so are the checks of the written value (the initiator holds it with the request)
        w = bus.w_data
        cmd, act_cmd = w[:3], act_w[:3]
        nt = R.Cmd.NO_TRACES.bit_length() - 1           # its bit: the highest a command has
        bad = {name: Signal(name=f"bad_{name}") for name in ("ctrl", "n_layers", "mode", "seed", "event")}
        m.d.sync += [bad["ctrl"].eq((cmd == 0) | ((cmd & (cmd - 1)) != 0) | (w[nt + 1:] != 0)
                                    | (w[nt] & (cmd != R.Cmd.STEP))
                                    | ((cmd == R.Cmd.LEARN) & (not self.learning))),
                     bad["n_layers"].eq((w == 0) | (w > c.layers)),
                     bad["mode"].eq(w >= (len(R.Mode) if self.async_modes else 1)),
                     bad["seed"].eq((w == 0) | (w > 0xFFFF)),
                     bad["event"].eq(w[R.EVENT_SOURCE_SHIFT:] >= c.max_layer)]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(bus.we & seen):
                    with m.If(dec["reg"]):
                        with m.Switch(reg_addr):
                            with m.Case(R.Reg.CTRL):
                                with m.If(busy | bad["ctrl"]
                                          | (((act_cmd == R.Cmd.STEP) | (act_cmd == R.Cmd.LEARN)) & ~core.configured)):
                                    ack(err=1)
                                with m.Else():
                                    m.d.sync += pending.eq(Cat(act_cmd, act_w[nt]))
                                    with m.If(act_w[3]):
                                        m.next = "CTRL_WAIT"
                                    with m.Else():
                                        ack()
                            with m.Case(R.Reg.N_LAYERS):
                                with m.If(busy | bad["n_layers"]):
                                    ack(err=1)
                                with m.Else():
                                    m.d.sync += n_layers.eq(act_w)
                                    ack()
                            with m.Case(R.Reg.MODE):
                                with m.If(busy | bad["mode"]):
                                    ack(err=1)
                                with m.Else():
                                    m.d.sync += mode.eq(act_w)
                                    ack()
                            with m.Case(R.Reg.SEED):
                                with m.If(bad["seed"]):
                                    ack(err=1)
                                with m.Else():
                                    m.d.sync += seed.eq(act_w)
                                    ack()
                            with m.Case(R.Reg.EVENT):
                                with m.If(bad["event"]):
                                    ack(err=1)
                                with m.Else():
                                    m.d.comb += ef.w_en.eq(1)
                                    with m.If(ef.w_rdy):
                                        ack()
                            with m.Default():
                                ack(err=1)
                    with m.Elif(dec["desc"]):
                        with m.If(busy | dec["desc_bad"]):
                            ack(err=1)
                        with m.Else():
                            m.d.comb += desc_we.eq(1)
                            ack()
                    with m.Elif(dec["route"]):
                        with m.If(busy | dec["route_bad"]):
                            ack(err=1)
                        with m.Else():
                            m.d.comb += router.route_we.eq(1)
                            ack()
                    with m.Elif(dec["mem_w"]):
                        with m.If(busy | dec["mem_bad"]):
                            ack(err=1)
                        with m.Else():
                            m.next = "MEM_WRITE"
                    with m.Else():
                        ack(err=1)
                with m.Elif(bus.re & seen):
                    with m.If(dec["reg"]):
                        with m.Switch(reg_addr):
                            with m.Case(*regs):
                                ack(data=reg_word)
                            with m.Case(R.Reg.OUT):
                                if staged:
                                    # the output FIFO's word registered first, taken a clock
                                    # later (for Fmax on the 85F: its block RAM's clock-to-out
                                    # does not also meet the response's multiplexer); the word
                                    # stays at the FIFO's head until taken. Not on the smaller
                                    # builds: about 100 of the iCEBreaker's last LCs
                                    m.d.sync += [out_r.eq(router.out.valid.replicate(32) & out_word),
                                                 out_v.eq(router.out.valid)]
                                    m.next = "OUT_READ"
                                else:
                                    m.d.comb += router.out.ready.eq(1)
                                    ack(data=router.out.valid.replicate(32) & out_word)
                            with m.Default():
                                ack(err=1)
                    with m.Elif(dec["route"]):
                        with m.If(dec["route_bad"]):
                            ack(err=1)
                        with m.Else():
                            m.next = "ROUTE_READ"
                    with m.Elif(dec["mem_r"]):
                        with m.If(busy | dec["mem_bad"]):
                            ack(err=1)
                        with m.Else():
                            m.next = "MEM_READ"
                    with m.Else():
                        ack(err=1)
            with m.State("MEM_WRITE"):
                m.d.comb += core.mem_we.eq(1)
                with m.If(core.mem_ack):
                    ack(err=core.mem_err) if self.lanes > 1 else ack()
            with m.State("MEM_READ"):
                m.d.comb += core.mem_re.eq(1)
                with m.If(core.mem_ack):
                    ack(err=core.mem_err, data=core.mem_rdata) if self.lanes > 1 else ack(data=core.mem_rdata)
            with m.State("CTRL_WAIT"):
                # Cmd.WAIT: acknowledge when the command is done, or earlier if the output
                # FIFO is full (the host must read it; it then polls STATUS)
                with m.If(~busy | router.out_full):
                    ack()
            if staged:
                with m.State("OUT_READ"):
                    m.d.comb += router.out.ready.eq(out_v)
                    ack(data=out_r)
            with m.State("ROUTE_READ"):
                ack(data=router.route_rdata)
            with m.State("RESPOND"):
                m.d.comb += [bus.ack.eq(1), bus.err.eq(resp_err), bus.r_data.eq(resp_data)]
                m.next = "IDLE"
        return m

    def _arbiter(self, m, su, inner, reg_bits, refused):
        """The host's requests: the sample unit's addresses to it; the rest to the inner bus,
        which the host and the sample unit share one request at a time (a request is granted
        in its first clock when the bus is free: an idle chip answers as fast as without the
        sample unit). While a sample is queued or running the host may only read registers
        there (not ``Reg.OUT``); anything else is refused (``refused``: count it)."""
        host = self.bus
        req = host.we | host.re
        is_su = is_sample_address(host.addr, reg_bits)
        reg_read = host.re & (host.addr[reg_bits:] == 0) & (host.addr[:reg_bits] != R.Reg.OUT)
        refusing = Signal()
        to_inner = req & ~is_su & (~su.active | reg_read) & ~refusing
        refuse = req & ~is_su & su.active & ~reg_read
        owner = Signal(2)           # of the inner bus: 0 none, 1 the host, 2 the sample unit
        su_req = su.bus.we | su.bus.re
        grant_su = (owner == 2) | ((owner == 0) & su_req)
        grant_host = (owner == 1) | ((owner == 0) & ~su_req & to_inner)
        with m.If(owner == 0):
            with m.If(su_req):
                m.d.sync += owner.eq(2)
            with m.Elif(to_inner):
                m.d.sync += owner.eq(1)
        with m.Elif(inner.ack | ((owner == 1) & ~req)):
            m.d.sync += owner.eq(0)
        m.d.comb += [inner.addr.eq(Mux(grant_su, su.bus.addr, host.addr)),
                     inner.w_data.eq(Mux(grant_su, su.bus.w_data, host.w_data)),
                     inner.we.eq((grant_su & su.bus.we) | (grant_host & host.we)),
                     inner.re.eq((grant_su & su.bus.re) | (grant_host & host.re)),
                     su.bus.ack.eq(grant_su & inner.ack), su.bus.err.eq(inner.err), su.bus.r_data.eq(inner.r_data),
                     su.host.addr.eq(host.addr), su.host.w_data.eq(host.w_data),
                     su.host.we.eq(host.we & is_su), su.host.re.eq(host.re & is_su)]
        # a refusal is answered the clock after the request (a registered response)
        with m.If(refuse & ~refusing):
            m.d.sync += refusing.eq(1)
        with m.Elif(refusing):
            m.d.sync += refusing.eq(0)
        with m.If(refusing):
            m.d.comb += [host.ack.eq(1), host.err.eq(1), refused.eq(1)]
        with m.Elif(is_su):
            m.d.comb += [host.ack.eq(su.host.ack), host.err.eq(su.host.err), host.r_data.eq(su.host.r_data),
                         refused.eq(su.host.ack & su.host.err)]
        with m.Elif(grant_host):
            m.d.comb += [host.ack.eq(inner.ack), host.err.eq(inner.err), host.r_data.eq(inner.r_data)]

    def _depth_of(self, m, region, core):
        depth = Signal(range(max(core.depth.values()) + 1), name="region_depth")
        with m.Switch(region):
            for name, value in core.depth.items():
                with m.Case(R.Region[name]):
                    m.d.comb += depth.eq(value)
        return depth
