"""Layer core: one SpikingGamma layer per time step, from an event stream to a spike stream.

Implements :meth:`gammacore.golden.fixed_model.FixedLayer.step` bit for bit. A step has
three phases, each at one word per clock:

1. **events** (synaptic accumulator): every input event (source i, magnitude q) fans out to
   all neurons, ``A_j += W[j,i] * q`` (48-bit, exact), one multiply-accumulate per clock;
   q is also summed into the source's trace input. Raise ``step`` once the step's events
   are in: the core then evaluates.
2. **buckets**: the bucket-decay unit updates every Z_j^k (input A_j) and every
   presynaptic trace yhat_i^k (input q_i << 12) from the old values; A and the trace
   inputs are cleared for the next step.
3. **neurons**: the dendrite computes x_j, y_j from V, the new Z and b; the encoder turns y_j
   and the neuron's e_j, d_j into a spike, emitted on ``spikes`` as (neuron, q) when q > 0
   (back-pressure stalls the pipeline, nothing is dropped). x_j is kept for readout.

``done`` pulses when the step is complete; ``cycles`` holds the working clocks of the last
step (event fan-out included, idle waiting for events excluded), ``steps`` the number of
steps, ``events_in`` the number of events accepted.

Parallel lanes (neurons partitioned over several datapaths that share the event stream)
are the planned scaling step: ``lanes`` is checked here and only 1 is built so far.
"""
from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..golden import formats as F
from .accumulator import SynapticAccumulator, event_layout
from .bucket_decay import BucketDecay
from .dendrite import Dendrite
from .encoder import Encoder

__all__ = ["LayerCore", "Region", "State"]


class Region(enum.Enum, shape=2):
    """Memory selected by the configuration write port."""
    W = 0
    V = 1
    B = 2


class State(enum.Enum, shape=3):
    """State selected by the state read port: per neuron x, e, d; per word Z (j*K + k) and
    the presynaptic traces (i*K + k)."""
    X = 0
    E = 1
    D = 2
    Z = 3
    TRACE = 4


def _bits(n):
    return max(1, (n - 1).bit_length())


class LayerCore(wiring.Component):
    """One layer, time-multiplexed over one datapath.

    Parameters
    ----------
    n_in, n_out, buckets : layer size and K
    W, V, b : initial forward weights (raw W/V/B integers), row-major lists, or None (zeros)
    lanes : parallel datapaths (1)
    pow2 : power-of-two bucket rates: the bucket pass shifts instead of multiplying

    Attributes
    ----------
    events : stream of (source, q), in
    spikes : stream of (neuron, q), out
    step : pulse: the step's events are complete, evaluate, in
    busy, done : evaluating; one-cycle pulse at the end of a step, out
    cfg_* : configuration write port (region, addr, data, we), in
    alpha, beta : per-bucket COEF (alpha[0] for bucket 1, beta[k] for k >= 1), in; with
        ``pow2`` they carry shifts s (alpha[0]: alpha_1 = 1 - 2**-s, beta[k] = 2**-s)
    alpha_e, alpha_theta, m_f, theta0, n_max, relu : encoder and readout configuration, in
    state_sel / state_addr / state_data : read port of the state words (x of the last step,
        e, d, Z, traces); data one clock after the address, read while the core is idle
    cycles, steps, events_in : counters, out
    """

    def __init__(self, n_in, n_out, buckets, *, W=None, V=None, b=None, lanes=1, pow2=False):
        for name, v in (("n_in", n_in), ("n_out", n_out), ("buckets", buckets)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
        if lanes != 1:
            raise ValueError(f"lanes must be 1 in this version, not {lanes!r}")
        if not isinstance(pow2, bool):
            raise TypeError(f"pow2 must be a bool, not {pow2!r}")
        self.n_in, self.n_out, self.K, self.lanes, self.pow2 = n_in, n_out, buckets, lanes, pow2
        self._init = {"W": W, "V": V, "b": b}
        ev = event_layout(n_in)
        sp = data.StructLayout({"neuron": unsigned(_bits(n_out)), "q": unsigned(F.Q.width)})
        depth_w = n_in * n_out
        super().__init__({
            "events": In(stream.Signature(ev)),
            "spikes": Out(stream.Signature(sp)),
            "step": In(1), "busy": Out(1), "done": Out(1),
            "cfg_region": In(Region), "cfg_addr": In(unsigned(_bits(max(depth_w, n_out * buckets)))),
            "cfg_data": In(signed(16)), "cfg_we": In(1),
            "alpha": In(data.ArrayLayout(unsigned(F.COEF.width), buckets)),
            "beta": In(data.ArrayLayout(unsigned(F.COEF.width), buckets)),
            "alpha_e": In(unsigned(F.COEF.width)), "alpha_theta": In(unsigned(F.COEF.width)),
            "m_f": In(unsigned(F.COEF.width)), "theta0": In(unsigned(F.THETA.width)),
            "n_max": In(unsigned(4)), "relu": In(1),
            "state_sel": In(State), "state_addr": In(unsigned(_bits(max(n_out, n_in) * buckets))),
            "state_data": Out(signed(F.X.width)),
            "cycles": Out(32), "steps": Out(32), "events_in": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        N, I, K = self.n_out, self.n_in, self.K

        def mem(name, shape, depth, init=None):
            mm = Memory(shape=shape, depth=depth, init=list(init) if init is not None else [])
            m.submodules[name] = mm
            return mm

        v_mem = mem("v", signed(F.V.width), N * K, self._init["V"])
        b_mem = mem("b", signed(F.B.width), N, self._init["b"])
        z_mem = mem("z", signed(F.Z.width), N * K)
        t_mem = mem("trace", signed(F.TRACE.width), I * K)
        e_mem = mem("e", signed(F.ENC.width), N)
        d_mem = mem("d", signed(F.ADAPT.width), N)
        x_mem = mem("x", signed(F.X.width), N)
        m.submodules.accumulator = acc = SynapticAccumulator(I, N, W=self._init["W"])
        wiring.connect(m, wiring.flipped(self.events), acc.events)
        m.d.comb += self.events_in.eq(acc.count)
        self.accumulator = acc
        self.memories = {"V": v_mem, "b": b_mem, "Z": z_mem, "trace": t_mem, "e": e_mem, "d": d_mem, "x": x_mem}

        v_rd, v_wr = v_mem.read_port(), v_mem.write_port()
        b_rd, b_wr = b_mem.read_port(domain="comb"), b_mem.write_port()
        z_rd, z_wr = z_mem.read_port(), z_mem.write_port()
        t_rd, t_wr = t_mem.read_port(), t_mem.write_port()
        e_rd, e_wr = e_mem.read_port(domain="comb"), e_mem.write_port()
        d_rd, d_wr = d_mem.read_port(domain="comb"), d_mem.write_port()
        x_rd, x_wr = x_mem.read_port(domain="comb"), x_mem.write_port()
        e_st, d_st = e_mem.read_port(domain="comb"), d_mem.read_port(domain="comb")
        z_st, t_st = z_mem.read_port(), t_mem.read_port()
        st_addr, st_sel = Signal.like(self.state_addr), Signal(State)
        m.d.sync += [st_addr.eq(self.state_addr), st_sel.eq(self.state_sel)]
        m.d.comb += [x_rd.addr.eq(st_addr), e_st.addr.eq(st_addr), d_st.addr.eq(st_addr),
                     z_st.addr.eq(self.state_addr), t_st.addr.eq(self.state_addr)]
        with m.Switch(st_sel):
            with m.Case(State.X):
                m.d.comb += self.state_data.eq(x_rd.data)
            with m.Case(State.E):
                m.d.comb += self.state_data.eq(e_st.data)
            with m.Case(State.D):
                m.d.comb += self.state_data.eq(d_st.data)
            with m.Case(State.Z):
                m.d.comb += self.state_data.eq(z_st.data)
            with m.Case(State.TRACE):
                m.d.comb += self.state_data.eq(t_st.data)

        m.submodules.buckets = bu = BucketDecay(pow2=self.pow2)
        m.submodules.dendrite = de = Dendrite()
        m.submodules.encoder = en = Encoder()
        m.d.comb += [de.relu.eq(self.relu), en.theta0.eq(self.theta0), en.alpha_e.eq(self.alpha_e),
                     en.alpha_theta.eq(self.alpha_theta), en.m_f.eq(self.m_f), en.n_max.eq(self.n_max)]

        # configuration writes (only while idle)
        with m.If(self.cfg_we & ~self.busy):
            with m.Switch(self.cfg_region):
                with m.Case(Region.W):
                    m.d.comb += [acc.w_addr.eq(self.cfg_addr), acc.w_data.eq(self.cfg_data), acc.w_we.eq(1)]
                with m.Case(Region.V):
                    m.d.comb += [v_wr.addr.eq(self.cfg_addr), v_wr.data.eq(self.cfg_data), v_wr.en.eq(1)]
                with m.Case(Region.B):
                    m.d.comb += [b_wr.addr.eq(self.cfg_addr), b_wr.data.eq(self.cfg_data), b_wr.en.eq(1)]

        work = Signal(32)   # clocks of the current step spent working (idle waiting excluded)

        # ---- phase 2: bucket pass over Z (j, k) and traces (i, k) -------------------------
        n_words = N * K + I * K
        bk_idx = Signal(range(n_words + 1))     # next word to read
        bk_k = Signal(range(K))
        bk_unit = Signal(range(max(N, I)))
        bk_issue = Signal()
        rd_valid = Signal()                     # read data of word (rd_k, rd_unit) present
        rd_k = Signal(range(K))
        rd_trace = Signal()
        rd_unit = Signal(range(max(N, I)))
        prev_old = Signal(signed(F.Z.width))
        out_idx = Signal(range(n_words + 1))
        out_k = Signal(range(K))
        out_unit = Signal(range(max(N, I)))
        is_trace = Signal()
        m.d.comb += is_trace.eq(bk_idx >= N * K)

        advance_rd = Signal()
        m.d.comb += advance_rd.eq(~rd_valid | bu.i.ready)
        in_trace = Signal()
        m.d.comb += in_trace.eq(rd_trace)
        below_first = Signal(signed(F.ACC.width))
        m.d.comb += below_first.eq(Mux(in_trace, acc.q_data << (F.TRACE.frac - F.Q.frac), acc.a_data))
        old = Signal(signed(F.Z.width))
        m.d.comb += old.eq(Mux(in_trace, t_rd.data, z_rd.data))
        m.d.comb += [
            bu.i.valid.eq(rd_valid),
            bu.i.payload.z.eq(old),
            bu.i.payload.below.eq(Mux(rd_k == 0, below_first, prev_old)),
            bu.i.payload.coef.eq(Mux(rd_k == 0, self.alpha[0], self.beta[rd_k])),
            bu.i.payload.first.eq(rd_k == 0),
        ]

        # ---- phase 3: dendrite and encoder -----------------------------------------------
        dn_idx = Signal(range(N * K + 1))
        dn_k = Signal(range(K))
        dn_j = Signal(range(N))
        dn_issue = Signal()
        dn_valid = Signal()
        dn_rk = Signal(range(K))
        dn_rj = Signal(range(N))
        advance_dn = Signal()
        m.d.comb += advance_dn.eq(~dn_valid | de.i.ready)
        m.d.comb += [
            de.i.valid.eq(dn_valid), de.i.payload.v.eq(v_rd.data), de.i.payload.z.eq(z_rd.data),
            de.i.payload.b.eq(b_rd.data), de.i.payload.first.eq(dn_rk == 0),
            de.i.payload.last.eq(dn_rk == K - 1), b_rd.addr.eq(dn_rj),
        ]
        xj = Signal(range(N + 1))     # neuron whose (x, y) leaves the dendrite next
        m.d.comb += [e_rd.addr.eq(xj), d_rd.addr.eq(xj)]
        m.d.comb += [en.i.valid.eq(de.o.valid), en.i.payload.y.eq(de.o.payload.y),
                     en.i.payload.e.eq(e_rd.data), en.i.payload.d.eq(d_rd.data), de.o.ready.eq(en.i.ready)]
        ej = Signal(range(N + 1))     # neuron whose spike leaves the encoder next
        spike = Signal()
        m.d.comb += [spike.eq(en.o.payload.q != 0),
                     self.spikes.payload.neuron.eq(ej), self.spikes.payload.q.eq(en.o.payload.q),
                     self.spikes.valid.eq(en.o.valid & spike),
                     en.o.ready.eq(~spike | self.spikes.ready)]

        # ---- control -------------------------------------------------------------------
        with m.If(~acc.idle | self.busy | (self.events.valid & self.events.ready)):
            m.d.sync += work.eq(work + 1)
        with m.FSM():
            with m.State("EVENTS"):
                m.d.comb += acc.enable.eq(1)
                with m.If(self.step & acc.idle & ~self.events.valid):
                    m.d.sync += [bk_idx.eq(0), bk_k.eq(0), bk_unit.eq(0), rd_valid.eq(0),
                                 out_idx.eq(0), out_k.eq(0), out_unit.eq(0)]
                    m.next = "BUCKETS"
            with m.State("BUCKETS"):
                m.d.comb += [self.busy.eq(1), bk_issue.eq(bk_idx < n_words)]
                # read side: addresses of word bk_idx; data valid next cycle
                m.d.comb += [z_rd.addr.eq(bk_unit * K + bk_k), t_rd.addr.eq(bk_unit * K + bk_k),
                             acc.rd_a_addr.eq(bk_unit), acc.rd_q_addr.eq(bk_unit),
                             z_rd.en.eq(advance_rd), t_rd.en.eq(advance_rd), acc.rd_en.eq(advance_rd)]
                with m.If(advance_rd):
                    m.d.sync += [rd_valid.eq(bk_issue), rd_k.eq(bk_k), rd_unit.eq(bk_unit), rd_trace.eq(is_trace)]
                    with m.If(rd_valid):
                        m.d.sync += prev_old.eq(old)
                    with m.If(bk_issue):
                        m.d.sync += bk_idx.eq(bk_idx + 1)
                        with m.If(bk_k == K - 1):
                            m.d.sync += [bk_k.eq(0), bk_unit.eq(Mux(bk_idx == N * K - 1, 0, bk_unit + 1))]
                        with m.Else():
                            m.d.sync += bk_k.eq(bk_k + 1)
                # clear A_j / q_i once their k = 0 word has been taken by the bucket unit
                with m.If(rd_valid & bu.i.ready & (rd_k == 0)):
                    with m.If(rd_trace):
                        m.d.comb += [acc.clr_q.eq(1), acc.clr_q_addr.eq(rd_unit)]
                    with m.Else():
                        m.d.comb += [acc.clr_a.eq(1), acc.clr_a_addr.eq(rd_unit)]
                # write side
                m.d.comb += bu.o.ready.eq(1)
                with m.If(bu.o.valid):
                    with m.If(out_idx < N * K):
                        m.d.comb += [z_wr.addr.eq(out_unit * K + out_k), z_wr.data.eq(bu.o.payload), z_wr.en.eq(1)]
                    with m.Else():
                        m.d.comb += [t_wr.addr.eq(out_unit * K + out_k), t_wr.data.eq(bu.o.payload), t_wr.en.eq(1)]
                    m.d.sync += out_idx.eq(out_idx + 1)
                    with m.If(out_k == K - 1):
                        m.d.sync += [out_k.eq(0), out_unit.eq(Mux(out_idx == N * K - 1, 0, out_unit + 1))]
                    with m.Else():
                        m.d.sync += out_k.eq(out_k + 1)
                    with m.If(out_idx == n_words - 1):
                        m.d.sync += [dn_idx.eq(0), dn_k.eq(0), dn_j.eq(0), dn_valid.eq(0), xj.eq(0), ej.eq(0)]
                        m.next = "NEURONS"
            with m.State("NEURONS"):
                m.d.comb += [self.busy.eq(1), dn_issue.eq(dn_idx < N * K),
                             v_rd.addr.eq(dn_j * K + dn_k), z_rd.addr.eq(dn_j * K + dn_k),
                             v_rd.en.eq(advance_dn), z_rd.en.eq(advance_dn)]
                with m.If(advance_dn):
                    m.d.sync += [dn_valid.eq(dn_issue), dn_rk.eq(dn_k), dn_rj.eq(dn_j)]
                    with m.If(dn_issue):
                        m.d.sync += dn_idx.eq(dn_idx + 1)
                        with m.If(dn_k == K - 1):
                            m.d.sync += [dn_k.eq(0), dn_j.eq(dn_j + 1)]
                        with m.Else():
                            m.d.sync += dn_k.eq(dn_k + 1)
                with m.If(de.o.valid & de.o.ready):
                    m.d.comb += [x_wr.addr.eq(xj), x_wr.data.eq(de.o.payload.x), x_wr.en.eq(1)]
                    m.d.sync += xj.eq(xj + 1)
                with m.If(en.o.valid & en.o.ready):
                    m.d.comb += [e_wr.addr.eq(ej), e_wr.data.eq(en.o.payload.e), e_wr.en.eq(1),
                                 d_wr.addr.eq(ej), d_wr.data.eq(en.o.payload.d), d_wr.en.eq(1)]
                    m.d.sync += ej.eq(ej + 1)
                    with m.If(ej == N - 1):
                        m.d.comb += self.done.eq(1)
                        m.d.sync += [self.steps.eq(self.steps + 1), self.cycles.eq(work + 1), work.eq(0)]
                        m.next = "EVENTS"
        return m
