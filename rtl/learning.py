"""Learning unit: the online rule of docs/model.md section 4 for one layer, bit-exact.

Implements :meth:`gammacore.golden.fixed_model.FixedLayer.learn` for the layer the core
selects (sizes, memory bases, readout and learning-rate shifts are inputs). The errors of
the layer's neurons are in the unit's own error memory (written by the host for the output
layer through ``err_w*``; for a hidden layer they are what the layer above left there).
Per neuron j with ``delta_j = e_j * H(x_j)`` non-zero (a zero delta changes nothing, so the
neuron is skipped):

1. for every bucket k: ``V_m[j,k] -= round(delta_j Z_j^k >> (6 + shift_v))`` while the
   pre-update forward V[j,k] is kept in registers and summed;
2. ``b_m[j] -= delta_j * 2**(16 - shift_b)`` (rounded right shift when shift_b > 16);
   ``g_j = sat_ERR(round(delta_j sum_k V[j,k] >> 12))``;
3. for every input i: ``u = sat_TRACE(round(sum_k V[j,k] yhat_i^k >> 12))``,
   ``W_m[j,i] -= round(delta_j u >> (6 + shift_w))`` and, from the pre-update forward
   weight, ``below_i += g_j W[j,i]`` (exact, 48 bits).

Each V update runs in two pipeline stages after its read (register the product and the
word, then subtract, saturate and write), overlapped with the next reads; a neuron costs
K clocks for V (b is read in the first and written in the second) and one clock per input
for W: the K traces yhat_i^k of input i come in one read (the TRACE memories are banked by
bucket, :data:`~gammacore.rtl.net_memories.K_BANKED`), K multipliers form the products with
the neuron's V[j,k] and four pipeline stages after the reads (products; their sum and
g W[j,i]; below_i written and delta u; W written) keep every clock free of memory ->
multiply -> add -> saturate -> memory. With the two clocks of e_j and x_j a neuron costs
n_in + K + 2 clocks (issue 14's ideal n_in + K + 1).

Then, unless the layer is the first one (its error below has no receiver), the error to
the layer below, ``sat_ERR(round(below_i >> 12))``, replaces the error memory's first
n_in words and the sums are cleared, one input per clock. Every update saturates the
32-bit master word (S32.28) whose top 16 bits the forward path reads - that is how updates
below one forward LSB accumulate instead of vanishing (:mod:`gammacore.golden.fixedpoint`).

With P lanes (``lanes``) the W rows are banked by lane (:mod:`~gammacore.rtl.net_memories`):
the unit walks the neurons in order as before and takes row j from bank j mod P, the row
starting at ``w_base`` (the layer's first word in every bank) plus (j div P) n_in.

The unit is a client of the core's memories (``mem``: a read port and, for W, V and b, a
write port at the same address); the core hands them over while the unit runs (the
sequencer's LEARN phase, :mod:`gammacore.rtl.net_memories`).
"""
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import In, Out

from ..golden import formats as F
from ..regmap import Capacity
from .bucket_decay import saturate
from .net_memories import Engine, check_lanes, client_signature, lane_ports, lane_view

__all__ = ["LearningUnit"]

#: the learning-rate alignment of delta*Z and delta*u (34 fraction bits) to MASTER (28)
GRAD_ALIGN = F.ERR.frac + F.Z.frac - F.MASTER.frac


def _bits(n):
    return max(1, (n - 1).bit_length())


def round_shift(m, value, shift, width, name):
    """``(value + 2**(shift-1)) >> shift`` for a run-time ``shift >= 1`` (rounding half up)."""
    out = Signal(signed(width), name=name)
    m.d.comb += out.eq((value + ((Const(1) << shift) >> 1)) >> shift)
    return out


class LearningUnit(wiring.Component):
    """Online learning of one layer per ``start``, one memory word per clock.

    Parameters
    ----------
    buckets : K
    max_neurons, max_inputs : largest layer (the error memory and the sums below)
    w_depth, n_depth : depth of the W master memory and of the per-neuron memories
    i_depth : depth of the per-input memories (traces are ``i_depth * K`` words)
    lanes : P, the W banks (a power of two); ``w_base`` is then the layer's first word in
        each bank (:func:`~gammacore.rtl.net_memories.lane_w_base`)

    Attributes
    ----------
    start : pulse: learn the layer described by the inputs below, in
    busy, done : out (done pulses once per layer)
    n_in, n_out, w_base, n_base, i_base, relu, first, shift_w, shift_v, shift_b : the layer, in
    err_w_addr, err_w_data, err_w_en : host write port of the error memory, in
    mem : its ports of the W, V and b master memories (read and write) and of Z, the traces
        and x (read), :func:`~gammacore.rtl.net_memories.client_signature` of
        :attr:`Engine.LEARN <gammacore.rtl.net_memories.Engine>`, flipped
    """

    def __init__(self, buckets, max_neurons, max_inputs, w_depth, n_depth, i_depth, lanes=1):
        for name, v in (("buckets", buckets), ("max_neurons", max_neurons), ("max_inputs", max_inputs),
                        ("w_depth", w_depth), ("n_depth", n_depth), ("i_depth", i_depth)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
        self.K, self.max_n, self.max_i = buckets, max_neurons, max_inputs
        self.w_depth, self.n_depth, self.i_depth = w_depth, n_depth, i_depth
        self.lanes = check_lanes(lanes)
        K = buckets
        aw, nw, iw = _bits(w_depth), _bits(n_depth), _bits(i_depth)
        ports = {
            "start": In(1), "busy": Out(1), "done": Out(1),
            "n_in": In(range(max_inputs + 1)), "n_out": In(range(max_neurons + 1)),
            "w_base": In(aw), "n_base": In(nw), "i_base": In(iw),
            "relu": In(1), "first": In(1),
            "shift_w": In(F.LR_SHIFT.width), "shift_v": In(F.LR_SHIFT.width), "shift_b": In(F.LR_SHIFT.width),
            "err_w_addr": In(_bits(max(max_neurons, max_inputs))), "err_w_data": In(signed(F.ERR.width)),
            "err_w_en": In(1),
            "err_r_addr": In(_bits(max(max_neurons, max_inputs))), "err_r_data": Out(signed(F.ERR.width)),
        }
        # the memories it reads and writes: the ports OWNERSHIP gives Engine.LEARN
        shape = Capacity(1, n_depth, i_depth, w_depth, K, max(max_neurons, max_inputs))
        ports["mem"] = In(client_signature(shape, Engine.LEARN, lanes=lanes))
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        K = self.K
        n_err = max(self.max_n, self.max_i)
        m.submodules.err = err_mem = Memory(shape=signed(F.ERR.width), depth=n_err, init=[])
        m.submodules.below = bl_mem = Memory(shape=signed(F.ACC.width), depth=self.max_i, init=[])
        self.memories = {"err": err_mem, "below": bl_mem}
        err_rd, err_wr = err_mem.read_port(), err_mem.write_port()
        err_host = err_mem.read_port()
        bl_rd, bl_wr = bl_mem.read_port(), bl_mem.write_port()
        m.d.comb += [err_host.addr.eq(self.err_r_addr), self.err_r_data.eq(err_host.data)]
        # the below memory's read data is held between reads (the weight update uses it two
        # clocks after W_READ)
        m.d.comb += bl_rd.en.eq(0)

        # the memory requests: one address per memory (a read, then the write of the same word)
        P = self.lanes
        sh = P.bit_length() - 1
        Wb = lane_ports(self.mem.W)
        # W: the bank of the neuron's lane (j mod P); V, Z: the bank of the neuron's chip-wide
        # unit n_base + j (unit mod P): read data from the bank last read (held), writes to
        # the bank of the update's lane
        W, w_lane, w_wlane = lane_view(m, Wb, "w")
        V, v_lane, v_wlane = lane_view(m, lane_ports(self.mem.V), "v")
        Z, z_lane, _ = lane_view(m, lane_ports(self.mem.Z), "z")
        B, X = self.mem.B, self.mem.X
        req = {}
        for name, port in (("w", W), ("v", V), ("b", B), ("z", Z), ("x", X)):
            req[f"{name}_addr"] = Signal(len(port.rd.addr), name=f"{name}_addr")
            req[f"{name}_ren"] = Signal(name=f"{name}_ren")
            m.d.comb += [port.rd.addr.eq(req[f"{name}_addr"]), port.rd.en.eq(req[f"{name}_ren"])]
            if hasattr(port, "wr"):
                req[f"{name}_wen"] = Signal(name=f"{name}_wen")
                req[f"{name}_wdata"] = Signal(port.wr.data.shape(), name=f"{name}_wdata")
                # (W and V are written by the update pipelines at their own addresses, the next
                # reads aside)
                req[f"{name}_waddr"] = (req[f"{name}_addr"] if name == "b" else
                                         Signal.like(req[f"{name}_addr"], name=f"{name}_waddr"))
                m.d.comb += [port.wr.addr.eq(req[f"{name}_waddr"]), port.wr.en.eq(req[f"{name}_wen"]),
                             port.wr.data.eq(req[f"{name}_wdata"])]

        j = Signal(range(self.max_n + 1))
        i = Signal(range(self.max_i + 1))
        k = Signal(range(K + 1))
        ng = Signal(range(self.n_depth + P))           # n_base + j
        nk_base = Signal(_bits(self.n_depth * K))      # its words' first address in its V and Z bank
        w_addr = Signal(_bits(self.w_depth))           # w_base + j * n_in + i
        w_row = Signal(_bits(self.w_depth))            # w_base + j * n_in
        gi = Signal(range(self.i_depth + P))           # i_base + i
        t_row = Signal(_bits(self.i_depth))            # its row (K traces) in its trace bank
        delta = Signal(signed(F.ERR.width))
        vreg = [Signal(signed(F.V.width), name=f"vreg{n}") for n in range(K)]
        vsum = Signal(signed(F.V.width + 6))
        g = Signal(signed(F.ERR.width))

        # the traces: one row (the K words yhat_i^k of input gi) per read, from the bank of
        # lane gi mod P; the data of the bank last read
        Tb = lane_ports(self.mem.TRACE)
        t_ren = Signal()
        td = [Signal(signed(F.TRACE.width), name=f"td{n}") for n in range(K)]
        if P == 1:
            m.d.comb += [Tb[0].rd.addr.eq(t_row), Tb[0].rd.en.eq(t_ren)] + [td[n].eq(Tb[0].rd.data[n])
                                                                              for n in range(K)]
        else:
            t_dlane = Signal(range(P))
            with m.If(t_ren):
                m.d.sync += t_dlane.eq(gi[:sh])
            for p, bank in enumerate(Tb):
                m.d.comb += [bank.rd.addr.eq(t_row), bank.rd.en.eq(t_ren & (gi[:sh] == p))]
            with m.Switch(t_dlane):
                for p, bank in enumerate(Tb):
                    with m.Case(p):
                        m.d.comb += [td[n].eq(bank.rd.data[n]) for n in range(K)]

        # update arithmetic
        sv = Signal(7)
        sw = Signal(7)
        m.d.comb += [sv.eq(self.shift_v + GRAD_ALIGN), sw.eq(self.shift_w + GRAD_ALIGN)]
        dz = Signal(signed(F.ERR.width + F.Z.width))
        m.d.comb += dz.eq(delta * Z.rd.data)
        v_upd = round_shift(m, dz, sv, dz.shape().width, "v_upd")
        # the update of V[j,k] in two stages after its read, so that no clock carries
        # memory -> multiply -> add -> saturate -> memory:
        #   vs1 (V[j,k], Z_j^k read): register V_m, round(delta Z >> ...); keep V[j,k] and sum it
        #   vs2: V[j,k] <- sat(V_m - that), at its own write address and bank; after the last
        #        k: g_j from the sum
        vs1_valid, vs2_valid = Signal(), Signal()
        vs1_k = Signal(range(K))
        vs1_last, vs2_last = Signal(), Signal()
        vs1_addr, vs2_addr = Signal(_bits(self.n_depth * K)), Signal(_bits(self.n_depth * K))
        vs1_lane, vs2_lane = Signal(range(P)), Signal(range(P))
        v_old_r = Signal(signed(F.MASTER.width))
        v_upd_r = Signal.like(v_upd)
        m.d.sync += [vs1_valid.eq(0), vs2_valid.eq(vs1_valid), vs2_addr.eq(vs1_addr), vs2_last.eq(vs1_last),
                     vs2_lane.eq(vs1_lane)]
        with m.If(vs1_valid):
            m.d.sync += [v_old_r.eq(V.rd.data), v_upd_r.eq(v_upd),
                         vsum.eq(vsum + (V.rd.data >> F.MASTER_SHIFT))]
            for n in range(K):
                with m.If(vs1_k == n):
                    m.d.sync += vreg[n].eq(V.rd.data >> F.MASTER_SHIFT)
        v_new = saturate(m, v_old_r - v_upd_r, F.MASTER, "v_new")
        with m.If(vs2_valid):
            m.d.comb += [req["v_waddr"].eq(vs2_addr), req["v_wdata"].eq(v_new), req["v_wen"].eq(1)]
        b_upd = Signal(signed(F.ERR.width + 18))
        sb = self.shift_b
        b_align = F.MASTER.frac - F.ERR.frac
        b_rsh, b_lsh = Signal(F.LR_SHIFT.width), Signal(F.LR_SHIFT.width)
        m.d.comb += [b_rsh.eq(sb - b_align), b_lsh.eq(b_align - sb)]
        b_rs = round_shift(m, delta, b_rsh, F.ERR.width, "b_rs")
        with m.If(sb > b_align):
            m.d.comb += b_upd.eq(b_rs)
        with m.Else():
            m.d.comb += b_upd.eq(delta << b_lsh)
        b_new = saturate(m, B.rd.data - b_upd, F.MASTER, "b_new")
        gv = Signal(signed(F.ERR.width + vsum.shape().width))
        m.d.comb += gv.eq(delta * vsum)
        g_next = saturate(m, (gv + (1 << (F.V.frac - 1))) >> F.V.frac, F.ERR, "g_next")
        with m.If(vs2_valid & vs2_last):
            m.d.sync += g.eq(g_next)

        # the weight update of W[j,i] and below_i, one input per clock, in four stages after
        # the reads of W[j,i], below_i and the K traces of input i (issue, clock c), so that
        # no clock carries memory -> multiply -> add -> saturate -> memory:
        #   s1 (c+1, the words read): register the K products V[j,k] yhat_i^k, W_m, below_i
        #   s2 (c+2): register their sum and g W[j,i]
        #   s3 (c+3): below_i += g W[j,i] (written); u = sat_TRACE(round(sum >> 12)),
        #             register round(delta u >> ...)
        #   s4 (c+4): W[j,i] <- sat(W_m - that), at its own address and bank
        # Each stage carries its delta and addresses (the next neuron's reads begin at the
        # earliest two clocks after its last issue); below_i of the next neuron is read at
        # the earliest K + 2 clocks after this one's last issue, after s3 wrote it.
        ACC_W = F.V.width + F.TRACE.width + K.bit_length()
        s_valid = [Signal(name=f"s{n}_valid") for n in range(5)]         # s_valid[n]: stage n this clock
        s_addr = [Signal.like(w_addr, name=f"s{n}_addr") for n in range(5)]
        s_i = [Signal(range(self.max_i + 1), name=f"s{n}_i") for n in range(5)]
        s_lane = [Signal(range(P), name=f"s{n}_lane") for n in range(5)]
        s_delta = [Signal(signed(F.ERR.width), name=f"s{n}_delta") for n in range(5)]
        m.d.sync += [s_valid[n + 1].eq(s_valid[n]) for n in range(1, 4)]
        m.d.sync += [s_addr[n + 1].eq(s_addr[n]) for n in range(1, 4)]
        m.d.sync += [s_i[n + 1].eq(s_i[n]) for n in range(1, 4)]
        m.d.sync += [s_lane[n + 1].eq(s_lane[n]) for n in range(1, 4)]
        m.d.sync += [s_delta[n + 1].eq(s_delta[n]) for n in range(1, 4)]
        m.d.sync += s_valid[1].eq(0)
        prod = [Signal(signed(F.V.width + F.TRACE.width), name=f"prod{n}") for n in range(K)]
        w_m = [Signal(signed(F.MASTER.width), name=f"s{n}_w") for n in range(5)]
        bl_r = [Signal(signed(F.ACC.width), name=f"s{n}_below") for n in range(4)]
        u_sum = Signal(signed(ACC_W))
        gw_r = Signal(signed(F.ERR.width + F.W.width))
        # s1: the products, W_m and below_i (the memories' data)
        m.d.sync += [prod[n].eq(vreg[n] * td[n]) for n in range(K)]
        m.d.sync += [w_m[2].eq(W.rd.data), bl_r[2].eq(bl_rd.data)]
        # s2: the sum and g W[j,i]
        w_fwd = Signal(signed(F.W.width))
        m.d.comb += w_fwd.eq(w_m[2] >> F.MASTER_SHIFT)
        m.d.sync += [u_sum.eq(sum(prod[1:], prod[0])), gw_r.eq(g * w_fwd), w_m[3].eq(w_m[2]), bl_r[3].eq(bl_r[2])]
        # s3: below_i written; the weight's update registered
        u = saturate(m, (u_sum + (1 << (F.V.frac - 1))) >> F.V.frac, F.TRACE, "u")
        du = Signal(signed(F.ERR.width + F.TRACE.width))
        m.d.comb += du.eq(s_delta[3] * u)
        w_upd = round_shift(m, du, sw, du.shape().width, "w_upd")
        w_upd_r = Signal.like(w_upd)
        m.d.sync += [w_upd_r.eq(w_upd), w_m[4].eq(w_m[3])]
        bl_sum = Signal(signed(F.ACC.width))
        m.d.comb += bl_sum.eq(bl_r[3] + gw_r)
        with m.If(s_valid[3]):
            m.d.comb += [bl_wr.addr.eq(s_i[3]), bl_wr.data.eq(bl_sum), bl_wr.en.eq(~self.first)]
        # s4: the weight written
        w_new = saturate(m, w_m[4] - w_upd_r, F.MASTER, "w_new")
        with m.If(s_valid[4]):
            m.d.comb += [req["w_waddr"].eq(s_addr[4]), req["w_wdata"].eq(w_new), req["w_wen"].eq(1)]
        busy_pipe = Signal()
        m.d.comb += busy_pipe.eq(Cat(*s_valid[1:]).any())

        if P > 1:
            m.d.comb += [w_lane.eq(j[:sh]), w_wlane.eq(s_lane[4]), v_lane.eq(ng[:sh]), v_wlane.eq(vs2_lane),
                         z_lane.eq(ng[:sh])]

        def next_neuron():
            """j + 1: the next unit; its V and Z words one bank further (the next row after the last)"""
            step = [j.eq(j + 1), ng.eq(ng + 1)] + next_row()
            if P == 1:
                return step + [nk_base.eq(nk_base + K)]
            return step + [nk_base.eq(Mux(ng[:sh] == P - 1, nk_base + K, nk_base))]

        def next_input():
            if P == 1:
                return [gi.eq(gi + 1), t_row.eq(t_row + 1)]
            return [gi.eq(gi + 1), t_row.eq(Mux(gi[:sh] == P - 1, t_row + 1, t_row))]

        def next_row():
            """w_row for neuron j + 1: its lane's next row after the last lane"""
            if P == 1:
                return [w_row.eq(w_row + self.n_in)]
            return [w_row.eq(Mux(j[:sh] == P - 1, w_row + self.n_in, w_row))]

        below_out = saturate(m, (bl_rd.data + (1 << (F.W.frac - 1))) >> F.W.frac, F.ERR, "below_out")
        # the pass of the error below: read below_i (clock c), write err_i and clear below_i (c+1)
        bw_valid = Signal()
        bw_i = Signal(range(self.max_i + 1))
        m.d.sync += bw_valid.eq(0)
        with m.If(bw_valid):
            m.d.comb += [err_wr.addr.eq(bw_i), err_wr.data.eq(below_out), err_wr.en.eq(1),
                         bl_wr.addr.eq(bw_i), bl_wr.data.eq(0), bl_wr.en.eq(1)]

        # host writes to the error memory while idle
        with m.If(~self.busy):
            m.d.comb += [err_wr.addr.eq(self.err_w_addr), err_wr.data.eq(self.err_w_data),
                         err_wr.en.eq(self.err_w_en)]

        # B: the neuron's word, read in its first V clock and written in the next
        b_write = Signal()
        m.d.sync += b_write.eq(0)
        m.d.comb += req["b_addr"].eq(self.n_base + j)
        with m.If(b_write):
            m.d.comb += [req["b_wdata"].eq(b_new), req["b_wen"].eq(1)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [j.eq(0), ng.eq(self.n_base), nk_base.eq((self.n_base >> sh) * K), w_row.eq(self.w_base)]
                    m.next = "NEURON"
            with m.State("NEURON"):
                # read e_j and x_j
                m.d.comb += self.busy.eq(1)
                with m.If(j == self.n_out):
                    m.d.sync += i.eq(0)
                    m.next = "BELOW"
                with m.Else():
                    m.d.comb += [err_rd.addr.eq(j), err_rd.en.eq(1),
                                 req["x_addr"].eq(self.n_base + j), req["x_ren"].eq(1)]
                    m.next = "DELTA"
            with m.State("DELTA"):
                m.d.comb += self.busy.eq(1)
                dead = self.relu & (X.rd.data <= 0)
                m.d.sync += [delta.eq(Mux(dead, 0, err_rd.data)), k.eq(0), vsum.eq(0)]
                with m.If(dead | (err_rd.data == 0)):
                    m.d.sync += next_neuron()
                    m.next = "NEURON"
                with m.Else():
                    m.next = "V_READ"
            with m.State("V_READ"):
                # read V[j,k] and Z_j^k, one k per clock (and b_j with k = 0); the update
                # follows in two pipeline stages (vs1, vs2) while the next words are read
                m.d.comb += [self.busy.eq(1), req["v_addr"].eq(nk_base + k), req["v_ren"].eq(1),
                             req["z_addr"].eq(nk_base + k), req["z_ren"].eq(1), req["b_ren"].eq(k == 0)]
                m.d.sync += [vs1_valid.eq(1), vs1_k.eq(k), vs1_addr.eq(nk_base + k), vs1_last.eq(k == K - 1),
                             k.eq(k + 1), b_write.eq(k == 0)]
                if P > 1:
                    m.d.sync += vs1_lane.eq(ng[:sh])
                with m.If(k == K - 1):
                    m.d.sync += [i.eq(0), w_addr.eq(w_row), gi.eq(self.i_base), t_row.eq(self.i_base >> sh)]
                    m.next = "W"
            with m.State("W"):
                # read W[j,i], below_i and the traces of input i, one input per clock; the
                # update follows in four pipeline stages (s1 .. s4)
                m.d.comb += [self.busy.eq(1), req["w_addr"].eq(w_addr), req["w_ren"].eq(1),
                             bl_rd.addr.eq(i), bl_rd.en.eq(1), t_ren.eq(1)]
                m.d.sync += [s_valid[1].eq(1), s_addr[1].eq(w_addr), s_i[1].eq(i), s_delta[1].eq(delta),
                             i.eq(i + 1), w_addr.eq(w_addr + 1)]
                if P > 1:
                    m.d.sync += s_lane[1].eq(w_lane)
                with m.If(i == self.n_in - 1):
                    m.d.sync += next_neuron()
                    m.next = "NEURON"
                with m.Else():
                    m.d.sync += next_input()
            with m.State("BELOW"):
                # err[i] <- sat(round(below_i)), below_i <- 0 (not for the first layer), one
                # input per clock once the last weight update has left the pipeline
                m.d.comb += self.busy.eq(1)
                with m.If(busy_pipe):
                    pass
                with m.Elif(self.first | (i == self.n_in)):
                    with m.If(~bw_valid):
                        m.d.comb += self.done.eq(1)
                        m.next = "IDLE"
                with m.Else():
                    m.d.comb += [bl_rd.addr.eq(i), bl_rd.en.eq(1)]
                    m.d.sync += [bw_valid.eq(1), bw_i.eq(i), i.eq(i + 1)]
        return m
