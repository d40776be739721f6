"""Sequencer of the network core: a step, learning, clear and the host's memory requests, engine by engine.

The sequencer is the network core's one state machine. It starts the engines - the fan-out
(:mod:`~gammacore.rtl.fanout`), the bucket and neuron passes
(:mod:`~gammacore.rtl.neuron_pass`), the asynchronous scheduler
(:mod:`~gammacore.rtl.async_scheduler`), the learning unit - through their control
interfaces, loads the layer descriptors, and names the engine that owns the memories in
each state (``owner``, :mod:`~gammacore.rtl.net_memories`).

A sync step, for each layer l = 0 .. n_layers-1 (``layer_index``): its events (layer 0:
the host's, taken while idle; layer l > 0: the forward FIFO, ``FWD_EVENTS``), the bucket
pass (``BUCKETS``), the neuron pass (``NEURONS``), then the next layer's descriptor
(``LOAD``); with ``fused`` (the core's P <= K, parallel encoder) the bucket pass feeds the neuron pass in one
phase (``FUSED``, owner :attr:`Engine.FUSED <gammacore.rtl.net_memories.Engine>`), which
ends when both are done. The asynchronous modes run a first bucket and neuron pass per layer without
firing, then select the next spike among the layers' leaders (``SELECT``), fire it
(``NEURONS`` over one neuron; from there the scheduler scans the firing layer for its new
leader in the background, and ``SELECT_START`` waits for it) and route the spike
(``FIRE_ROUTE``, the next layer's re-evaluation), until nothing is pending, then
decay d per layer (``DDECAY``); see :class:`~gammacore.rtl.net_core.NetCore` and
:mod:`~gammacore.rtl.async_scheduler`. ``learn`` runs the learning unit layer by layer
from the top (``LEARN``; the unit takes its layer's descriptor at its start, and the next
layer's loads while it runs); ``clear`` writes zero to every state word (``CLEAR``).
"""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from ..regmap import Mode
from .fanout import FanOutControl
from .async_scheduler import scheduler_control
from .descriptors import descriptor_layout
from .net_memories import Engine, memory_shapes
from .neuron_pass import Pass, PassControl, neuron_pass_control

__all__ = ["Sequencer", "After", "CLEARED", "DescriptorLoad", "LearnControl", "HostControl"]


class After(enum.Enum, shape=3):
    """The state a descriptor load returns to."""
    FWD_EVENTS = 0
    DDECAY = 1
    NEURONS = 2
    LEARN_START = 3
    STEP_DONE = 4


#: the states only the asynchronous modes return to
ASYNC_AFTER = (After.DDECAY,)

#: the memories a clear zeroes
CLEARED = ("Z", "TRACE", "X", "E", "D", "A", "QIN")

#: state -> the engine that owns the memories in it (``owner``); every other state: HOST
#: (no engine uses a port there)
OWNER = {"EVENTS": Engine.FANOUT, "MEM": Engine.HOST, "MEM_READ": Engine.HOST, "MEM_READ_DATA": Engine.HOST,
         "MEM_READ_WORD": Engine.HOST,
         "FWD_EVENTS": Engine.FANOUT, "BUCKETS": Engine.BUCKETS, "FUSED": Engine.FUSED, "NEURONS": Engine.NEURONS,
         "LEARN_START": Engine.LEARN, "LEARN": Engine.LEARN, "CLEAR": Engine.CLEAR}


def descriptor_load(layers):
    """The sequencer's side of the descriptor store's load port."""
    return wiring.Signature({"load": Out(1), "layer": Out(range(layers)), "busy": In(1)})


#: the sequencer's side of the learning unit
LearnControl = wiring.Signature({"start": Out(1), "done": In(1)})

#: the sequencer's side of the host's memory requests (``mem_we``/``mem_re`` of the core)
#: (``hold``: the request is not ready to be served yet, e.g. a laned core's W bank is being found)
HostControl = wiring.Signature({"we": In(1), "re": In(1), "hold": In(1), "write": Out(1), "read": Out(1),
                                "ack": Out(1)})


def clear_depth(capacity, lanes=1):
    shapes = memory_shapes(capacity, lanes)
    return max(shapes[name][1] for name in CLEARED)


class Sequencer(wiring.Component):
    """The network core's state machine (see the module's description).

    Parameters
    ----------
    capacity : :class:`gammacore.regmap.Capacity`
    learning, async_modes : which engines exist
    read_registered : a host read is acknowledged three clocks after it is issued, not one
        (the core registers each memory's word read, then the one its multiplexer chooses, for
        Fmax: a deep memory's cascade of block RAMs, the multiplexer of the memories and the
        link's response register do not meet in one clock)
    start_registered : the bucket and neuron passes' ``start`` (and the neuron pass's rows
        and ``fused``) come from registers, a clock after the sequencer decides to start them,
        in a state of their own (``FUSED_GO``, ``BUCKETS_GO``, ``NEURONS_GO``): one clock
        more per pass, for Fmax (the decision's conditions - the fan-out idle, the forward
        FIFO empty, a pass done - and the FSM's multiplexer do not also meet every register
        the start sets in one clock); with them the scheduler's leader restart
        (``track``) of an evaluation pass is registered too and reaches the scheduler in the
        ``_GO`` clock (decoded combinationally, it cost the 12F SoC its 75 MHz)
        and ``owner`` is a register too, set with every transition to the new state's owner
        (:data:`OWNER`), not decoded from the state (for Fmax: the decode does not also meet
        the memories' multiplexers and their far block RAMs in one clock)

    Attributes
    ----------
    step, learn, clear : command pulses (taken while idle), in;  busy, done : out
    no_traces : with ``step``: the step's bucket passes skip the traces (Cmd.NO_TRACES), in
    n_layers, mode : in
    host : :data:`HostControl` (the host's memory requests, served while idle)
    events_valid : a host event waits, in (a step starts once the event FIFO is empty)
    fwd_valid, router_idle, fwd_empty : the router, in
    from_fwd : the fan-out takes the forward FIFO (else the host's events), out
    drain : the forward FIFO is drained (spikes of the output layer routed to a next
        layer that does not exist), out
    clearing, clear_addr : zero this address of every cleared memory, out
    cycles, learn_cycles, steps : counters, out
    layer_index : the current layer, out
    owner : the engine that owns the memories, out
    owner_decoded : the same, decoded from the state; equal to ``owner`` in every clock (the
        simulation benches check it through :attr:`NetMemories.violation
        <gammacore.rtl.net_memories.NetMemories>`), out
    layer : the current layer's descriptor, in
    desc, fanout, buckets, neurons, sched, learn_unit : the engines' control interfaces
    """

    def __init__(self, capacity, *, learning=True, async_modes=True, lanes=1, fused=False, read_registered=False,
                 start_registered=False):
        c = self.cap = capacity
        self.learning, self.async_modes, self.fused = learning, async_modes, fused
        self.read_registered, self.start_registered = read_registered, start_registered
        self.clear_depth = clear_depth(c, lanes)
        ports = {
            "step": In(1), "learn": In(1), "clear": In(1), "no_traces": In(1), "busy": Out(1), "done": Out(1),
            "n_layers": In(range(c.layers + 1)), "mode": In(range(len(Mode))),
            "host": Out(HostControl),
            "events_valid": In(1), "fwd_valid": In(1), "router_idle": In(1), "fwd_empty": In(1),
            "from_fwd": Out(1), "drain": Out(1),
            "clearing": Out(1), "clear_addr": Out(range(self.clear_depth + 1)),
            "cycles": Out(32), "learn_cycles": Out(32), "steps": Out(32),
            "layer_index": Out(range(c.layers)), "layer": In(descriptor_layout(c.buckets)), "owner": Out(Engine),
            "owner_decoded": Out(Engine),
            "desc": Out(descriptor_load(c.layers)),
            "fanout": Out(FanOutControl), "buckets": Out(PassControl), "fuse": Out(1),
            "neurons": Out(neuron_pass_control(c.max_layer)),
        }
        if async_modes:
            ports["sched"] = Out(scheduler_control(c.layers, c.max_layer))
        if learning:
            ports["learn_unit"] = Out(LearnControl)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        c, A = self.cap, self.async_modes
        cur = self.layer_index
        fo, bp, npc = self.fanout, self.buckets, self.neurons
        ds = self.desc
        host = self.host
        is_async = Signal()
        prio = Signal()
        if A:
            sc = self.sched
            m.d.comb += [is_async.eq(self.mode != Mode.SYNC), sc.layer_index.eq(cur), sc.n_layers.eq(self.n_layers)]
        kind = Signal(Pass)
        fused = Signal()                        # the neuron pass takes the bucket pass's words
        b_done, n_done = Signal(), Signal()     # the fused bucket / neuron pass is done
        m.d.comb += [npc.kind.eq(kind), self.fuse.eq(fused)]
        # the step's bucket passes skip the traces (Cmd.NO_TRACES, taken with the step; not in
        # the asynchronous modes, whose deliveries write the traces as they go)
        skip_traces = Signal()
        m.d.comb += bp.traces.eq(~skip_traces)
        deliver = Signal()                      # forward events go straight into Z^1 (async)
        scan_go = Signal()                      # the firing layer's scan starts with its pass (async)
        m.d.comb += fo.deliver.eq(deliver)
        m.d.comb += fo.phase.eq(self.owner == Engine.FANOUT)
        ld_then = Signal(After)
        lo, hi = Signal.like(npc.lo), Signal.like(npc.hi)
        m.d.comb += [npc.lo.eq(lo), npc.hi.eq(hi)]
        work = Signal(32)
        lwork = Signal(32)
        cl_addr = self.clear_addr

        # the engine that owns the memories: decoded from the state (owner_c) or, with the
        # registered start, a register set with every transition to the state's owner (OWNER)
        owner_c = Signal(Engine)
        m.d.comb += self.owner_decoded.eq(owner_c)
        if self.start_registered:
            owner_r = Signal(Engine, init=OWNER["EVENTS"])
            m.d.comb += self.owner.eq(owner_r)
        else:
            m.d.comb += self.owner.eq(owner_c)

        def goto(state):
            """``m.next = state``; with the registered owner, also the owner register."""
            m.next = state
            if self.start_registered:
                m.d.sync += owner_r.eq(OWNER.get(state, Engine.HOST))

        def load(layer, then):
            """Statements that load ``layer``'s descriptor (LOAD state), then go to ``then``."""
            m.d.comb += [ds.load.eq(1), ds.layer.eq(layer)]
            goto("LOAD")
            return [ld_then.eq(then)]

        R = self.start_registered
        if R:
            # the passes' start from registers (``start_registered``; lo and hi are then
            # registers too): set with the decision, seen by the engine in the next clock, the
            # sequencer's ``*_GO`` state
            np_go, bp_go = Signal(), Signal()
            m.d.sync += [np_go.eq(0), bp_go.eq(0)]        # pulses: the FSM's writes below win
            m.d.comb += [npc.start.eq(np_go), npc.fused.eq(fused), bp.start.eq(bp_go)]
            if A:
                # the leader's restart too: seen by the scheduler with the pass's start
                track_go = Signal()
                m.d.sync += track_go.eq(0)
                m.d.comb += sc.track.eq(track_go)

        def go(state):
            """The state a started pass runs in, through its ``_GO`` clock if registered."""
            return state + "_GO" if R else state

        def start_pass(k, first, last, fuse=False):
            """Start the neuron pass of kind ``k`` over neurons [first, last); a pass that
            evaluates the layer (asynchronous modes) starts its leader afresh."""
            track = is_async & ((k == Pass.EVAL_FIRST) | (k == Pass.EVAL)) if A else None
            if R:
                return ([kind.eq(k), track_go.eq(track)] if A else []) + [
                    fused.eq(fuse), np_go.eq(1), lo.eq(first), hi.eq(last)]
            if A:
                m.d.comb += sc.track.eq(track)
            m.d.comb += [npc.start.eq(1), lo.eq(first), hi.eq(last), npc.fused.eq(fuse)]
            return [kind.eq(k)] * A + [fused.eq(fuse)]

        def start_buckets(k=Pass.SYNC):
            """Start the bucket pass; fused: with the neuron pass of kind ``k`` over the layer
            fed by it (state FUSED, else BUCKETS)."""
            if R:
                stmts = [bp_go.eq(1)]
            else:
                m.d.comb += bp.start.eq(1)
                stmts = []
            if self.fused:
                goto(go("FUSED"))
                return stmts + [b_done.eq(0), n_done.eq(0)] + start_pass(k, 0, self.layer.n_out, fuse=True)
            goto(go("BUCKETS"))
            return stmts

        def drain_stray():
            """After the output layer's neurons: its spikes routed to a next layer have no
            receiver; they are taken out of the forward FIFO and counted as refused. Returns
            the condition that the router is empty (every spike of the pass is out)."""
            m.d.comb += self.drain.eq(1)
            return self.router_idle & self.fwd_empty

        with m.If(~fo.idle | self.busy | fo.took):
            m.d.sync += work.eq(work + 1)
        with m.FSM() as fsm:
            # the state machine (its ``state`` signal, made at the block's end, decodes to the state
            # names: benchmarks/bench_sample_clocks.py counts each state's clocks)
            self.fsm = fsm
            with m.State("EVENTS"):
                # idle: layer 0 takes host events; commands and memory requests are served
                # (layer 0's descriptor is reloaded after the host writes it: ds.busy)
                m.d.comb += [owner_c.eq(Engine.FANOUT), fo.enable.eq(~host.re & ~host.we & ~ds.busy),
                             self.from_fwd.eq(0)]
                m.d.sync += cur.eq(0)
                with m.If((host.re | host.we) & fo.idle):
                    goto("MEM")
                with m.Elif(self.step & fo.idle & ~ds.busy & ~self.events_valid & ~fo.queued):
                    first_kind = Mux(is_async, Pass.EVAL_FIRST, Pass.SYNC) if A else Pass.SYNC
                    m.d.sync += start_buckets(first_kind)
                    m.d.sync += skip_traces.eq(self.no_traces & ~is_async)
                    if A:
                        m.d.sync += kind.eq(first_kind)
                if self.learning:
                    with m.Elif(self.learn & fo.idle & ~ds.busy):
                        m.d.sync += [cur.eq(self.n_layers - 1), lwork.eq(0)]
                        goto("LEARN_LOAD")
                with m.Elif(self.clear & fo.idle & ~ds.busy):
                    m.d.sync += cl_addr.eq(0)
                    if A:
                        m.d.comb += sc.reseed.eq(1)
                    goto("CLEAR")
            with m.State("MEM"):
                m.d.comb += owner_c.eq(Engine.HOST)
                with m.If(host.hold):
                    pass
                with m.Elif(host.we):
                    m.d.comb += [host.write.eq(1), host.ack.eq(1)]
                    goto("EVENTS")
                with m.Else():
                    m.d.comb += host.read.eq(1)
                    goto("MEM_READ")
            with m.State("MEM_READ"):
                m.d.comb += owner_c.eq(Engine.HOST)
                if self.read_registered:
                    goto("MEM_READ_DATA")
                else:
                    m.d.comb += host.ack.eq(1)
                    goto("EVENTS")
            if self.read_registered:
                with m.State("MEM_READ_DATA"):
                    m.d.comb += owner_c.eq(Engine.HOST)
                    goto("MEM_READ_WORD")
                with m.State("MEM_READ_WORD"):
                    m.d.comb += [owner_c.eq(Engine.HOST), host.ack.eq(1)]
                    goto("EVENTS")
            with m.State("FWD_EVENTS"):
                m.d.comb += [owner_c.eq(Engine.FANOUT), self.busy.eq(1), fo.enable.eq(1), self.from_fwd.eq(1)]
                # every forward event is taken and fanned out (none in the router, its FIFO or
                # the fan-out's input register)
                fwd_done = fo.idle & self.fwd_empty & self.router_idle & ~fo.took & ~fo.queued
                with m.If(fwd_done & deliver):
                    m.d.sync += [deliver.eq(0)] + start_pass(Pass.EVAL, 0, self.layer.n_out)
                    goto(go("NEURONS"))
                with m.Elif(fwd_done):
                    m.d.sync += start_buckets(kind)
            with m.State("BUCKETS"):
                m.d.comb += [owner_c.eq(Engine.BUCKETS), self.busy.eq(1), bp.active.eq(1)]
                with m.If(bp.done):
                    m.d.sync += start_pass(kind, 0, self.layer.n_out)
                    goto(go("NEURONS"))
            if self.fused:
                with m.State("FUSED"):
                    # the bucket pass feeds the neuron pass (each memory to the one that uses
                    # it, net_memories.FUSED_SPLIT); done when both are (the traces may end last)
                    m.d.comb += [owner_c.eq(Engine.FUSED), self.busy.eq(1), bp.active.eq(1), npc.active.eq(1)]
                    with m.If(bp.done):
                        m.d.sync += b_done.eq(1)
                    with m.If(npc.done):
                        m.d.sync += n_done.eq(1)
                    with m.If((bp.done | b_done) & (npc.done | n_done)):
                        m.d.sync += fused.eq(0)
                        goto("LAYER_END")
            with m.State("NEURONS"):
                m.d.comb += [owner_c.eq(Engine.NEURONS), self.busy.eq(1), npc.active.eq(1)]
                if A:
                    # the firing neuron's pass: its layer's descriptor is held, the scan starts
                    with m.If(scan_go):
                        m.d.comb += sc.scan.eq(1)
                        m.d.sync += scan_go.eq(0)
                with m.If(npc.done):
                    if not A:
                        goto("LAYER_END")
                    else:
                        with m.Switch(kind):
                            with m.Case(Pass.SYNC, Pass.EVAL_FIRST):
                                goto("LAYER_END")
                            with m.Case(Pass.EVAL):
                                goto("SELECT_START")
                            with m.Case(Pass.FIRE):
                                goto("FIRE_ROUTE")
                            with m.Case(Pass.DDECAY):
                                with m.If(cur == self.n_layers - 1):
                                    m.d.sync += [cur.eq(0)] + load(0, After.STEP_DONE)
                                with m.Else():
                                    m.d.sync += [cur.eq(cur + 1)] + load(cur + 1, After.DDECAY)
            if R:
                for state in ("FUSED" if self.fused else "BUCKETS", "NEURONS"):
                    with m.State(state + "_GO"):
                        # the clock the engines see the registered start (none is active)
                        m.d.comb += self.busy.eq(1)
                        goto(state)
            with m.State("LAYER_END"):
                m.d.comb += self.busy.eq(1)
                with m.If(cur == self.n_layers - 1):
                    with m.If(drain_stray()):
                        with m.If(kind == Pass.EVAL_FIRST):
                            if A:
                                goto("SELECT_START")
                        with m.Else():
                            m.d.sync += [cur.eq(0)] + load(0, After.STEP_DONE)
                with m.Else():
                    m.d.sync += [cur.eq(cur + 1)] + load(cur + 1, After.FWD_EVENTS)
            with m.State("STEP_DONE"):
                m.d.comb += [self.busy.eq(1), self.done.eq(1)]
                m.d.sync += [self.steps.eq(self.steps + 1), self.cycles.eq(work + 1), work.eq(0)]
                goto("EVENTS")
            if A:
                with m.State("SELECT_START"):
                    # a clock after the last pass's last pending write (the leaders follow it),
                    # once the firing layer's scan is done
                    m.d.comb += self.busy.eq(1)
                    with m.If(sc.scan_done):
                        m.d.comb += sc.select.eq(1)
                        goto("SELECT")
                with m.State("SELECT"):
                    # the largest key over the layers' leaders; ties keep the first
                    m.d.comb += self.busy.eq(1)
                    with m.If(sc.select_done):
                        with m.If(sc.found):
                            m.d.sync += ([cur.eq(sc.best_l), scan_go.eq(1)]
                                         + start_pass(Pass.FIRE, sc.best_j, sc.best_j + 1)
                                         + load(sc.best_l, After.NEURONS))
                        with m.Else():
                            m.d.sync += [cur.eq(0)] + load(0, After.DDECAY)
                with m.State("DDECAY"):
                    m.d.comb += self.busy.eq(1)
                    m.d.sync += start_pass(Pass.DDECAY, 0, self.layer.n_out)
                    goto(go("NEURONS"))
                with m.State("FIRE_ROUTE"):
                    # the spike is in the router: to the host, and to the next layer's Z^1
                    m.d.comb += self.busy.eq(1)
                    with m.If(cur == self.n_layers - 1):
                        with m.If(drain_stray()):
                            goto("SELECT_START")
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
                                goto(after.name)
            if self.learning:
                lc = self.learn_unit
                # the unit takes its layer's descriptor at its start: the next layer's (cur - 1)
                # loads while it runs, and starts it as soon as it is done
                l_done = Signal()
                with m.State("LEARN_START"):
                    m.d.comb += [owner_c.eq(Engine.LEARN), self.busy.eq(1), lc.start.eq(1)]
                    m.d.comb += [ds.load.eq(cur != 0), ds.layer.eq(cur - 1)]
                    m.d.sync += [lwork.eq(lwork + 1), l_done.eq(0)]
                    goto("LEARN")
                with m.State("LEARN"):
                    m.d.comb += [owner_c.eq(Engine.LEARN), self.busy.eq(1)]
                    m.d.sync += lwork.eq(lwork + 1)
                    with m.If(lc.done | l_done):
                        with m.If(cur == 0):
                            m.d.comb += self.done.eq(1)
                            m.d.sync += [self.learn_cycles.eq(lwork + 1), work.eq(0)]
                            goto("EVENTS")
                        with m.Elif(ds.busy):
                            m.d.sync += l_done.eq(1)
                        with m.Else():
                            m.d.sync += cur.eq(cur - 1)
                            goto("LEARN_START")
            with m.State("CLEAR"):
                m.d.comb += [owner_c.eq(Engine.CLEAR), self.busy.eq(1), self.clearing.eq(1)]
                m.d.sync += cl_addr.eq(cl_addr + 1)
                with m.If(cl_addr == self.clear_depth - 1):
                    m.d.comb += self.done.eq(1)
                    m.d.sync += work.eq(0)
                    goto("EVENTS")
        return m
