"""Learning unit: the online rule of docs/model.md section 4 for one layer, bit-exact.

Implements :meth:`gammacore.golden.fixed_model.FixedLayer.learn` for the layer the core
selects (sizes, memory bases, readout and learning-rate shifts are inputs, taken at
``start``: the core loads the next layer's descriptor while the unit runs). The errors of
the layer's neurons are in the unit's own error memory (written by the host for the output
layer through ``err_w*``; for a hidden layer they are what the layer above left there).
Per neuron j, with ``delta_j = e_j * H(x_j)`` (a zero delta changes nothing):

1. for every bucket k: ``V_m[j,k] -= round(delta_j Z'_j^k >> (shift_v - 6))`` while the
   pre-update forward V[j,k] is kept in registers and summed;
2. ``b_m[j] -= delta_j * 2**(16 - shift_b)`` (rounded right shift when shift_b > 16);
   ``g_j = sat_ERR(round(delta_j sum_k V[j,k] >> 12))``;
3. for every input i: ``u' = sat_GRAD_OP(round(sum_k V[j,k] yhat'_i^k >> 12))``,
   ``W_m[j,i] -= round(delta_j u' >> (shift_w - 6))`` and, from the pre-update forward
   weight, ``below_i += g_j W[j,i]`` (exact, 48 bits).

The rule's operands yhat' and Z' are the traces and bucket states as
:func:`~gammacore.golden.fixedpoint.grad_operand` reads them (S18.10, ``sat(round(x >> 12))``),
so that each product is one 18 x 18 multiplier; the unit computes ``delta x' << 12`` and
shifts it by ``shift + 6`` (the same rounded value).

**Lanes.** The unit takes rows of P neurons j = P r + p, one per lane p (``lanes``; P = 1:
one neuron per row). A row costs 1 + K + n_in clocks, issue 14's ideal, when P <= K + n_in:

- *fetch*, one row ahead: e_j and x_j of the next row's neurons, one per clock (one error
  memory, one X memory), while the current row is updated; a row whose deltas are all zero
  is skipped (one clock), a lane past the layer's last neuron has delta 0;
- *V*, K clocks: every lane reads V[j,k] and Z_j^k (bank (n_base + j) mod P: lane p's
  bank is (s + p) mod P with s = n_base mod P, and the banks below s hold the row's units
  one unit row further), written six registered stages later; their sum, times delta_j,
  gives g_j four stages after the last read;
- *b*: one memory, lane p's word read in the row's clock p + 1 and written in the next
  (the next row waits when the row is shorter than P + 1 clocks);
- *W*, n_in clocks, one input per clock for every lane: W[j,i] from lane p's bank (row j
  of the layer is in bank j mod P = p, at the same address in every bank), below_i, and
  the K traces yhat_i^k of input i in one read (TRACE banked by bucket,
  :data:`~gammacore.rtl.net_memories.K_BANKED`), narrowed to yhat' once and broadcast to
  the lanes; per lane K multipliers form V[j,k] yhat'_i^k. Ten registered stages follow the
  reads (the reads; yhat'; the products; their sums and g_j W[j,i]; u' and below_i += the
  sum over the lanes of g_j W[j,i], exact; delta_j u'; that scaled back; its shift; the new
  W; W written), so no
  clock carries a memory read into a multiply, or a multiply into more than an add (for
  Fmax, issue 14). A rounded shift ``(x + 2**(s-1)) >> s`` is computed as ``x >> (s - 1)``
  in one clock and ``W - ((that + 1) >> 1) = (2 W - that) >> 1`` with the write.

After the last row, unless the layer is the first one (its error below has no receiver),
the error to the layer below, ``sat_ERR(round(below_i >> 12))``, replaces the error
memory's first n_in words and the sums are cleared, one input per clock; ``done`` comes
before that pass (it uses only the unit's own memories) and before the layer's last W
updates have drained (they carry what they need). The next layer begins meanwhile: its
fetch reads each error once the pass has written it, and its first W read waits for the
pass to end, unless it is the first layer (it reads no sums below: its rows run while the
pass writes their errors). Only the first layer's ``done`` waits for every update. Every update saturates the 32-bit master word (S32.28) whose top 16 bits the forward
path reads - that is how updates below one forward LSB accumulate instead of vanishing
(:mod:`gammacore.golden.fixedpoint`).

Multipliers: K + 4 per lane (K products, delta Z', delta sum V, delta u' and g W), each
one 18 x 18 unit.

The unit is a client of the core's memories (``mem``: read ports and, for W, V and b,
write ports, every banked memory's P banks); the core hands them over while the unit runs
(the sequencer's LEARN phase, :mod:`gammacore.rtl.net_memories`).
"""
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..golden import formats as F
from ..regmap import Capacity
from .bucket_decay import saturate
from .net_memories import Engine, check_lanes, client_signature, lane_add, lane_div, lane_mod, lane_ports, lane_sub

__all__ = ["LearningUnit"]

#: the inputs that describe the layer, taken at ``start``
LAYER_INPUTS = ("n_in", "n_out", "w_base", "n_base", "i_base", "relu", "first", "shift_w", "shift_v", "shift_b")

#: the learning-rate alignment of delta*Z' and delta*u' (22 fraction bits), scaled back by
#: GRAD_OP_SHIFT (34: exact), to MASTER (28)
GRAD_ALIGN = F.ERR.frac + F.Z.frac - F.MASTER.frac


def _bits(n):
    return max(1, (n - 1).bit_length())


def grad_operand(m, value, name):
    """A learning operand as the rule's multipliers read it (:func:`gammacore.golden.fixedpoint.grad_operand`):
    ``sat_GRAD_OP(round(value >> GRAD_OP_SHIFT))``, combinational; the caller registers it."""
    return saturate(m, (value + (1 << (F.GRAD_OP_SHIFT - 1))) >> F.GRAD_OP_SHIFT, F.GRAD_OP, name)


def round_shift(m, value, shift, width, name):
    """``(value + 2**(shift-1)) >> shift`` for a run-time ``shift >= 1`` (rounding half up)."""
    out = Signal(signed(width), name=name)
    m.d.comb += out.eq((value + ((Const(1) << shift) >> 1)) >> shift)
    return out


class LearningUnit(wiring.Component):
    """Online learning of one layer per ``start``, one synapse per clock per lane.

    Parameters
    ----------
    buckets : K
    max_neurons, max_inputs : largest layer (the error memory and the sums below)
    w_depth, n_depth : depth of the W master memory and of the per-neuron memories
    i_depth : depth of the per-input memories (traces are ``i_depth * K`` words)
    lanes : P, the lanes and the banks of W, V, Z and the traces (any P >= 1); ``w_base``
        is then the layer's first word in each W bank
        (:func:`~gammacore.rtl.net_memories.lane_w_base`)

    Attributes
    ----------
    start : pulse: learn the layer described by the inputs below, in
    busy, done : out (done pulses once per layer, when its updates are written; busy stays
        high while the error below is written)
    n_in, n_out, w_base, n_base, i_base, relu, first, shift_w, shift_v, shift_b : the layer,
        in, taken at ``start``
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
        K, P = self.K, self.lanes
        n_err = max(self.max_n, self.max_i)
        m.submodules.err = err_mem = Memory(shape=signed(F.ERR.width), depth=n_err, init=[])
        m.submodules.below = bl_mem = Memory(shape=signed(F.ACC.width), depth=self.max_i, init=[])
        self.memories = {"err": err_mem, "below": bl_mem}
        err_rd, err_wr = err_mem.read_port(), err_mem.write_port()
        err_host = err_mem.read_port()
        bl_rd, bl_wr = bl_mem.read_port(), bl_mem.write_port()
        m.d.comb += [err_host.addr.eq(self.err_r_addr), self.err_r_data.eq(err_host.data)]
        # every read port's data is held between reads
        m.d.comb += [err_rd.en.eq(0), bl_rd.en.eq(0)]
        busy = Signal()
        # the layer: taken at start (the core loads the next layer's descriptor meanwhile)
        layer = {n: Signal.like(getattr(self, n), name=f"l_{n}") for n in LAYER_INPUTS}
        n_in, n_out, w_base, n_base, i_base, relu, first, shift_w, shift_v, shift_b = (
            layer[n] for n in LAYER_INPUTS)
        with m.If(self.start & ~busy):
            m.d.sync += [layer[n].eq(getattr(self, n)) for n in LAYER_INPUTS]

        Wb, Vb, Zb, Tb = (lane_ports(self.mem.W), lane_ports(self.mem.V), lane_ports(self.mem.Z),
                          lane_ports(self.mem.TRACE))
        B, X = self.mem.B, self.mem.X
        for port in Wb + Vb + Zb + Tb + [B, X]:
            m.d.comb += port.rd.en.eq(0)

        # ---- the rows of P neurons: fetch (e_j, x_j -> delta_j) runs one row ahead ---------
        # the row being fetched: neurons fj + p (p = 0 .. P-1), fetched one per clock while
        # the current row is updated; its W rows at fw_row in every bank (lane p = bank p),
        # its V and Z words at fnk_row (+ K in the banks below s, see below)
        fj = Signal(range(self.max_n + P + 1))
        fw_row = Signal(_bits(self.w_depth))
        fnk_row = Signal(_bits(self.n_depth * K + K))
        f = Signal(range(P + 1))                        # the next lane to fetch
        fa = Signal.like(fj)                            # its neuron fj + f, kept in a register
        fv = Signal()                                   # a fetched word arrives this clock
        ff = Signal(range(P))
        f_on = Signal()
        nd = [Signal(signed(F.ERR.width), name=f"nd{p}") for p in range(P)]     # the fetched deltas
        fetch = Signal()                                # the FSM lets the fetch run
        m.d.sync += fv.eq(0)
        # the pass below (after a layer above: its error below, see below)
        bw_run, bw_valid, bw_valid2 = Signal(), Signal(), Signal()
        bw_i, bw_wi, bw_wi2, bw_n = (Signal(range(self.max_i + 1), name=n) for n in ("bw_i", "bw_wi", "bw_wi2", "bw_n"))
        bw_on = bw_run | bw_valid | bw_valid2
        # the error of neuron fj + f is fetched once the pass below has written it (when it
        # runs: the layer above's error below, written one input per clock, err_i two clocks
        # after the read of below_i: words below bw_i - 2 are written)
        err_ready = Signal()
        m.d.comb += err_ready.eq(~bw_on | (fa + 2 < bw_i) | (fa >= n_out))
        # the addresses do not wait for the decision to fetch (only the enables do): for
        # Fmax, the compares of err_ready stay off the memories' address decode
        m.d.comb += [err_rd.addr.eq(fa), X.rd.addr.eq(n_base + fa)]
        with m.If(fetch & (f < P) & err_ready):
            on = fa < n_out
            m.d.comb += [err_rd.en.eq(on), X.rd.en.eq(on)]
            m.d.sync += [f.eq(f + 1), fa.eq(fa + 1), fv.eq(1), ff.eq(f), f_on.eq(on)]
        # the words read are registered (fv2) before the ReLU test and the delta's write (for
        # Fmax: the block RAM's clock-to-out does not meet the x <= 0 test and the mux)
        fv2, ff2, f_on2 = Signal(), Signal.like(ff), Signal()
        x_r, e_r = Signal.like(X.rd.data, name="x_fetched"), Signal.like(err_rd.data, name="e_fetched")
        m.d.sync += [fv2.eq(fv), ff2.eq(ff), f_on2.eq(f_on), x_r.eq(X.rd.data), e_r.eq(err_rd.data)]
        with m.If(fv2):
            dead = ~f_on2 | (relu & (x_r <= 0))
            for p in range(P):
                with m.If(ff2 == p):
                    m.d.sync += nd[p].eq(Mux(dead, 0, e_r))
        fetched = Signal()
        m.d.comb += fetched.eq((f == P) & ~fv & ~fv2)

        # the row being updated: neurons pj + p with deltas delta[p] (zero: no update, also
        # for a lane past the layer's last neuron)
        pj = Signal.like(fj)
        w_row = Signal.like(fw_row)
        nk_row = Signal.like(fnk_row)
        delta = [Signal(signed(F.ERR.width), name=f"delta{p}") for p in range(P)]
        act = Signal(P)                                 # lanes with delta != 0
        vreg = [[Signal(signed(F.V.width), name=f"vreg{p}_{n}") for n in range(K)] for p in range(P)]
        vsum = [Signal(signed(F.V.width + 6), name=f"vsum{p}") for p in range(P)]
        g = [Signal(signed(F.ERR.width), name=f"g{p}") for p in range(P)]
        k = Signal(range(K + 1))
        i = Signal(range(self.max_i + 1))
        w_addr = Signal.like(w_row)
        gi = Signal(range(self.i_depth + P))            # i_base + i
        t_row = Signal(_bits(self.i_depth))             # its row (K traces) in its trace bank

        # V and Z: neuron pj + p is the chip-wide unit n_base + pj + p, in bank q = (s + p)
        # mod P (s = n_base mod P) at ((n_base + pj + p) div P) K + k: nk_row + k, plus K in
        # the banks q < s (their unit is in the next row of units)
        s = Signal(range(P))
        if P > 1:
            m.d.comb += s.eq(lane_mod(n_base, P))

        def bank_of(p):
            return lane_add(s, p, P)

        def lane_of(q):
            """the lane whose unit is in bank q"""
            return lane_sub(q, s, P)

        def bank_offset(q):
            return Mux(Const(q) < s, K, 0) if P > 1 else 0

        def by_lane(values, q):
            return values[0] if P == 1 else Array(values)[lane_of(q)]

        def by_bank(values, p):
            return values[0] if P == 1 else Array(values)[bank_of(p)]

        # ---- the traces: one row (the K words yhat_i^k of input gi) per read, from the bank
        # of lane gi mod P, to every lane
        t_ren = Signal()
        td = [Signal(signed(F.TRACE.width), name=f"td{n}") for n in range(K)]
        if P == 1:
            m.d.comb += [Tb[0].rd.addr.eq(t_row), Tb[0].rd.en.eq(t_ren)] + [td[n].eq(Tb[0].rd.data[n])
                                                                              for n in range(K)]
        else:
            t_dlane = Signal(range(P))
            with m.If(t_ren):
                m.d.sync += t_dlane.eq(lane_mod(gi, P))
            for q, bank in enumerate(Tb):
                m.d.comb += [bank.rd.addr.eq(t_row), bank.rd.en.eq(t_ren & (lane_mod(gi, P) == q))]
            with m.Switch(t_dlane):
                for q, bank in enumerate(Tb):
                    with m.Case(q):
                        m.d.comb += [td[n].eq(bank.rd.data[n]) for n in range(K)]

        # ---- V: every lane's V[j,k] and Z_j^k in one clock (V_READ, clock t); the update in
        # registered stages, so no clock carries a memory read through a multiply:
        #   vs1 (t+1): register V_m and Z_j^k; keep V[j,k] (vreg)
        #   vs2 (t+2): Z' = grad_operand(Z_j^k); sum V[j,k] (vsum; from the
        #       registered V_m: for Fmax, the block RAM's clock-to-out and the lane's bank
        #       multiplexer do not also meet the sum's carry chain in one clock)
        #   vs3 (t+3): delta Z' << 12; after the last k: delta sum_k V
        #   vs4 (t+4): after the last k: g_j = sat(round(delta sum_k V >> 12)), in place
        #       when the row's first input reaches s4 of the W pass (below)
        #   vs4 (t+4): x = delta Z >> (shift - 1)
        #   vs5 (t+5): the new V[j,k] = sat(V_m - ((x + 1) >> 1)), computed as sat((2 V_m - x) >> 1)
        #   vs6 (t+6): V[j,k] written (the new word registered first, for Fmax: the carry
        #   chain and the saturation do not also meet the owner's multiplexer and V's block RAMs)
        # The stages carry the row's lanes and addresses (the next row may begin meanwhile).
        VC, VS = 5, 6
        sv1 = Signal(7)
        sw1 = Signal(7)
        m.d.comb += [sv1.eq(shift_v + (GRAD_ALIGN - 1)), sw1.eq(shift_w + (GRAD_ALIGN - 1))]
        v_ren = Signal()
        v_addr = Signal.like(nk_row)
        for q in range(P):
            m.d.comb += [Vb[q].rd.addr.eq(v_addr + bank_offset(q)), Zb[q].rd.addr.eq(v_addr + bank_offset(q)),
                         Vb[q].rd.en.eq(v_ren & by_lane(list(act), q)), Zb[q].rd.en.eq(v_ren & by_lane(list(act), q))]
        vs_valid = [Signal(name=f"vs{n}_valid") for n in range(VS + 1)]
        vs_last = [Signal(name=f"vs{n}_last") for n in range(VS + 1)]
        vs_addr = [Signal.like(nk_row, name=f"vs{n}_addr") for n in range(VS + 1)]
        vs_act = [Signal(P, name=f"vs{n}_act") for n in range(VS + 1)]
        vs1_k = Signal(range(K))
        m.d.sync += vs_valid[1].eq(0)
        for n in range(1, VS):
            m.d.sync += [vs_valid[n + 1].eq(vs_valid[n]), vs_last[n + 1].eq(vs_last[n]),
                         vs_addr[n + 1].eq(vs_addr[n]), vs_act[n + 1].eq(vs_act[n])]
        v_new = []
        for p in range(P):
            v_data = by_bank([b.rd.data for b in Vb], p)
            z_data = by_bank([b.rd.data for b in Zb], p)
            v_old = [Signal(signed(F.MASTER.width), name=f"vs{n}_vold{p}") for n in range(VS + 1)]
            z_r = Signal(signed(F.Z.width), name=f"vs2_z{p}")
            with m.If(vs_valid[1]):
                m.d.sync += [v_old[2].eq(v_data), z_r.eq(z_data)]
                for n in range(K):
                    with m.If(vs1_k == n):
                        m.d.sync += vreg[p][n].eq(v_data >> F.MASTER_SHIFT)
            m.d.sync += [v_old[n + 1].eq(v_old[n]) for n in range(2, VC)]
            with m.If(vs_valid[2]):
                m.d.sync += vsum[p].eq(vsum[p] + (v_old[2] >> F.MASTER_SHIFT))
            # vs2: Z' = grad_operand(Z) and the row's delta registered (the next row may set
            # delta meanwhile); vs3: delta Z', one 17 x 18 multiply, scaled back to 34
            # fraction bits (exact)
            z_op = Signal(signed(F.GRAD_OP.width), name=f"vs3_zop{p}")
            dlt3 = Signal(signed(F.ERR.width), name=f"vs3_delta{p}")
            m.d.sync += [z_op.eq(grad_operand(m, z_r, f"zop{p}")), dlt3.eq(delta[p])]
            dz = Signal(signed(F.ERR.width + F.GRAD_OP.width + F.GRAD_OP_SHIFT), name=f"vs4_dz{p}")
            dz_sh = Signal.like(dz, name=f"vs5_dz{p}")
            m.d.sync += [dz.eq((dlt3 * z_op) << F.GRAD_OP_SHIFT), dz_sh.eq(dz >> sv1)]
            v_new_r = Signal(signed(F.MASTER.width), name=f"vs6_v_new{p}")
            m.d.sync += v_new_r.eq(saturate(m, ((v_old[VC] << 1) - dz_sh) >> 1, F.MASTER, f"v_new{p}"))
            v_new.append(v_new_r)
            # g_j: the sum is complete in vs3 of the last k
            gv = Signal(signed(F.ERR.width + vsum[p].shape().width), name=f"gv{p}")
            with m.If(vs_valid[3] & vs_last[3]):
                m.d.sync += gv.eq(delta[p] * vsum[p])
            g_next = saturate(m, (gv + (1 << (F.V.frac - 1))) >> F.V.frac, F.ERR, f"g_next{p}")
            with m.If(vs_valid[4] & vs_last[4]):
                m.d.sync += g[p].eq(g_next)
        for q in range(P):
            m.d.comb += [Vb[q].wr.addr.eq(vs_addr[VS] + bank_offset(q)), Vb[q].wr.data.eq(by_lane(v_new, q)),
                         Vb[q].wr.en.eq(vs_valid[VS] & by_lane(list(vs_act[VS]), q))]

        # ---- b: one memory; lane p's word read in the row's clock p + 1 and written in the
        # next (the row's next neighbour waits for it when the row is shorter than P clocks)
        b_cnt = Signal(range(P + 1))
        b_wv = Signal()
        b_wp = Signal(range(P))
        m.d.sync += b_wv.eq(0)
        b_go = Signal()
        with m.If(b_cnt < P):
            on = Array(act)[lane_mod(b_cnt, P)] if P > 1 else act[0]
            m.d.comb += [B.rd.addr.eq(n_base + pj + b_cnt), B.rd.en.eq(on)]
            m.d.sync += [b_cnt.eq(b_cnt + 1), b_wv.eq(on), b_wp.eq(b_cnt)]
        b_upd = Signal(signed(F.ERR.width + 18))
        sb = shift_b
        b_align = F.MASTER.frac - F.ERR.frac
        b_rsh, b_lsh = Signal(F.LR_SHIFT.width), Signal(F.LR_SHIFT.width)
        m.d.comb += [b_rsh.eq(sb - b_align), b_lsh.eq(b_align - sb)]
        # every lane's update registered from its delta (set with the row, one clock before
        # the row's first b write), so the write's clock carries only B - update
        b_upd_r = []
        for p in range(P):
            upd = Signal.like(b_upd, name=f"b_upd{p}")
            b_rs = round_shift(m, delta[p], b_rsh, F.ERR.width, f"b_rs{p}")
            with m.If(sb > b_align):
                m.d.comb += upd.eq(b_rs)
            with m.Else():
                m.d.comb += upd.eq(delta[p] << b_lsh)
            upd_r = Signal.like(b_upd, name=f"b_upd{p}_r")
            m.d.sync += upd_r.eq(upd)
            b_upd_r.append(upd_r)
        m.d.comb += b_upd.eq(Array(b_upd_r)[b_wp] if P > 1 else b_upd_r[0])
        # the difference registered (for Fmax: no clock carries the B read through the
        # subtraction and saturation into the write), saturated and written the clock after
        b_diff = B.rd.data - b_upd
        b_diff_r = Signal(b_diff.shape())
        b_wv2 = Signal()
        b_wp2 = Signal(range(P))
        m.d.sync += [b_diff_r.eq(b_diff), b_wv2.eq(b_wv), b_wp2.eq(b_wp)]
        b_new = saturate(m, b_diff_r, F.MASTER, "b_new")
        with m.If(b_wv2):
            m.d.comb += [B.wr.addr.eq(n_base + pj + b_wp2), B.wr.data.eq(b_new), B.wr.en.eq(1)]
        b_done = Signal()
        m.d.comb += b_done.eq((b_cnt == P) & ~b_wv & ~b_wv2)

        # ---- W: one input per clock for every lane; the reads of W[j,i] (every lane's bank),
        # below_i and the K traces of input i are issued in clock c, then registered stages:
        #   s1 (c+1): register the traces, W_m and below_i
        #   s2 (c+2): the K traces narrowed, yhat' = grad_operand(yhat) (once for all lanes)
        #   s3 (c+3): the K products V[j,k] yhat'_i^k of every lane
        #   s4 (c+4): their sum; g_j W[j,i] (g_j is ready from c+4 of the row's first input:
        #             its sum over k starts from registered V words)
        #   s5 (c+5): u' = sat_GRAD_OP(round(sum >> 12)); below_i += sum over the lanes of
        #             g_j W[j,i] (written, exact)
        #   s6 (c+6): delta u';  s7 (c+7): delta u' << 12
        #   s8 (c+8): x = delta u' << 12 >> (shift - 1)
        #   s9 (c+9): the new W[j,i] = sat(W_m - ((x + 1) >> 1)) in every active lane,
        #             computed as sat((2 W_m - x) >> 1)
        #   s10 (c+10): written (for Fmax: the subtraction and the saturation do not also
        #             meet the routing to W's block RAMs in one clock)
        # Each stage carries the deltas, lanes and addresses it needs (the next row's V reads
        # begin at the earliest two clocks after this row's last issue); below_i of the next
        # row is read at the earliest n_in + K + 1 clocks after this row's read of it, so
        # after its write in s5 when n_in + K >= 5 (the FSM waits otherwise). The stages after
        # s4 carry the layer's shift: they drain while the next layer begins.
        S, S_BELOW = 10, 5
        S_DU = 6                                # the stage that takes delta and u
        ACC_W = F.V.width + F.GRAD_OP.width + K.bit_length()
        w_ren = Signal()
        s_valid = [Signal(name=f"s{n}_valid") for n in range(S + 1)]
        s_addr = [Signal.like(w_addr, name=f"s{n}_addr") for n in range(S + 1)]
        s_i = [Signal(range(self.max_i + 1), name=f"s{n}_i") for n in range(S_BELOW + 1)]
        s_act = [Signal(P, name=f"s{n}_act") for n in range(S + 1)]
        s_delta = [[Signal(signed(F.ERR.width), name=f"s{n}_delta{p}") for p in range(P)] for n in range(S_DU + 1)]
        s_sw = [Signal(7, name=f"s{n}_shift") for n in range(S_DU + 3)]
        m.d.sync += [s_valid[1].eq(0)]
        for n in range(1, S):
            m.d.sync += [s_valid[n + 1].eq(s_valid[n]), s_addr[n + 1].eq(s_addr[n]), s_act[n + 1].eq(s_act[n])]
            if n + 1 < len(s_sw):
                m.d.sync += s_sw[n + 1].eq(s_sw[n])
            if n + 1 <= S_BELOW:
                m.d.sync += s_i[n + 1].eq(s_i[n])
            if n + 1 < len(s_delta):
                m.d.sync += [s_delta[n + 1][p].eq(s_delta[n][p]) for p in range(P)]
        for q in range(P):
            m.d.comb += [Wb[q].rd.addr.eq(w_addr), Wb[q].rd.en.eq(w_ren & act[q])]
        bl_r = [Signal(signed(F.ACC.width), name=f"s{n}_below") for n in range(S_BELOW + 1)]
        m.d.sync += bl_r[2].eq(bl_rd.data)
        m.d.sync += [bl_r[n + 1].eq(bl_r[n]) for n in range(2, S_BELOW)]
        td_r = [Signal(signed(F.TRACE.width), name=f"s2_td{n}") for n in range(K)]
        m.d.sync += [td_r[n].eq(td[n]) for n in range(K)]
        # s2: the K traces as the rule's operands, yhat' = grad_operand(yhat), once for all lanes
        td_op = [Signal(signed(F.GRAD_OP.width), name=f"s3_tdop{n}") for n in range(K)]
        m.d.sync += [td_op[n].eq(grad_operand(m, td_r[n], f"tdop{n}")) for n in range(K)]
        gw_r = []
        for p in range(P):
            w = [Signal(signed(F.MASTER.width), name=f"s{n}_w{p}") for n in range(S)]
            m.d.sync += w[2].eq(Wb[p].rd.data)
            m.d.sync += [w[n + 1].eq(w[n]) for n in range(2, S - 1)]
            # s3: the K products V[j,k] yhat'_i^k, one 16 x 18 multiplier each, registered;
            # s4: their sum (for Fmax: the block RAMs that hold the traces, the multipliers and
            # the adders lie far apart on the die, so the narrowing, the multiply and the sum
            # each have their own clock)
            prods = [Signal(signed(F.V.width + F.GRAD_OP.width), name=f"s4_prod{p}_{n}") for n in range(K)]
            m.d.sync += [prods[n].eq(vreg[p][n] * td_op[n]) for n in range(K)]
            u_sum = Signal(signed(ACC_W), name=f"s5_u_sum{p}")
            m.d.sync += u_sum.eq(sum(prods))
            # s4 (a lane without update: g_j = 0 adds nothing below)
            gw = Signal(signed(F.ERR.width + F.W.width), name=f"gw{p}")
            gw_r.append(gw)
            w_fwd = Signal(signed(F.W.width), name=f"w_fwd{p}")
            m.d.comb += w_fwd.eq(w[4] >> F.MASTER_SHIFT)
            m.d.sync += gw.eq(Mux(s_act[4][p], g[p] * w_fwd, 0))
            # s5
            u = saturate(m, (u_sum + (1 << (F.V.frac - 1))) >> F.V.frac, F.GRAD_OP, f"u{p}")
            u_r = Signal.like(u, name=f"s6_u{p}")
            m.d.sync += u_r.eq(u)
            # s6: delta u', one 17 x 18 multiply; s7: scaled back to 34 fraction bits (exact);
            # s8: its shift
            du_p = Signal(signed(F.ERR.width + F.GRAD_OP.width), name=f"s7_du{p}")
            du = Signal(signed(F.ERR.width + F.GRAD_OP.width + F.GRAD_OP_SHIFT), name=f"s8_du{p}")
            du_sh = Signal.like(du, name=f"s9_du{p}")
            m.d.sync += [du_p.eq(s_delta[S_DU][p] * u_r), du.eq(du_p << F.GRAD_OP_SHIFT),
                         du_sh.eq(du >> s_sw[S_DU + 2])]
            # s9, s10
            w_new = saturate(m, ((w[S - 1] << 1) - du_sh) >> 1, F.MASTER, f"w_new{p}")
            w_new_r = Signal.like(w_new, name=f"s10_w_new{p}")
            m.d.sync += w_new_r.eq(w_new)
            m.d.comb += [Wb[p].wr.addr.eq(s_addr[S]), Wb[p].wr.data.eq(w_new_r),
                         Wb[p].wr.en.eq(s_valid[S] & s_act[S][p])]
        bl_sum = Signal(signed(F.ACC.width))
        m.d.comb += bl_sum.eq(sum(gw_r, bl_r[S_BELOW]))
        with m.If(s_valid[S_BELOW]):
            m.d.comb += [bl_wr.addr.eq(s_i[S_BELOW]), bl_wr.data.eq(bl_sum), bl_wr.en.eq(~first)]
        busy_pipe = Signal()                    # any update in flight
        m.d.comb += busy_pipe.eq(Cat(*s_valid[1:]).any() | Cat(*vs_valid[1:]).any())
        below_pending = Signal()                # a sum below or a V update in flight
        m.d.comb += below_pending.eq(Cat(*s_valid[1:S_BELOW]).any() | Cat(*vs_valid[1:]).any())
        tiny_wait = Signal()                    # below_i of the next row would be read too soon
        m.d.comb += tiny_wait.eq((n_in + K <= S_BELOW - 1) & Cat(*s_valid[1:S_BELOW]).any())

        def next_input():
            if P == 1:
                return [gi.eq(gi + 1), t_row.eq(t_row + 1)]
            return [gi.eq(gi + 1), t_row.eq(Mux(lane_mod(gi, P) == P - 1, t_row + 1, t_row))]

        # ---- the error below, after the layer's updates (while the core loads the next
        # layer): read below_i (clock c), registered (c+1, in s2_below), rounded, saturated
        # and written to err_i while below_i is cleared (c+2; for Fmax: no clock carries the
        # read through the rounding add and the saturation into the write); the next layer
        # begins when it is done
        below_out = saturate(m, (bl_r[2] + (1 << (F.W.frac - 1))) >> F.W.frac, F.ERR, "below_out")
        m.d.sync += [bw_valid.eq(0), bw_valid2.eq(bw_valid), bw_wi2.eq(bw_wi)]
        with m.If(bw_run):
            with m.If(bw_i == bw_n):
                m.d.sync += bw_run.eq(0)
            with m.Else():
                m.d.comb += [bl_rd.addr.eq(bw_i), bl_rd.en.eq(1)]
                m.d.sync += [bw_valid.eq(1), bw_wi.eq(bw_i), bw_i.eq(bw_i + 1)]
        with m.If(bw_valid2):
            m.d.comb += [err_wr.addr.eq(bw_wi2), err_wr.data.eq(below_out), err_wr.en.eq(1),
                         bl_wr.addr.eq(bw_wi2), bl_wr.data.eq(0), bl_wr.en.eq(1)]
        m.d.comb += self.busy.eq(busy | bw_on | busy_pipe)
        # host writes to the error memory while idle
        with m.If(~self.busy):
            m.d.comb += [err_wr.addr.eq(self.err_w_addr), err_wr.data.eq(self.err_w_data),
                         err_wr.en.eq(self.err_w_en)]

        with m.FSM() as fsm:
            # the state machine (its ``state`` signal, made at the block's end, decodes to the state
            # names: benchmarks/bench_sample_clocks.py counts each state's clocks)
            self.fsm = fsm
            with m.State("IDLE"):
                m.d.sync += b_cnt.eq(P)
                with m.If(self.start):
                    m.d.sync += [fj.eq(0), f.eq(0), fa.eq(0), fw_row.eq(self.w_base), fnk_row.eq(lane_div(self.n_base, P) * K)]
                    m.next = "ROW"
            with m.State("ROW"):
                # fetch the row's deltas; then update it (some delta non-zero), skip it, or
                # end (no row left) once the previous row's updates are done
                m.d.comb += [busy.eq(1), fetch.eq(1)]
                with m.If(fj >= n_out):
                    # done once the sums below are written (the pass below reads them) and,
                    # for the first layer (nothing follows in the unit), every update; a
                    # layer above's W updates drain while the next layer begins
                    with m.If(~below_pending & b_done & (~first | ~busy_pipe)):
                        m.d.comb += self.done.eq(1)
                        m.d.sync += [bw_run.eq(~first), bw_i.eq(0), bw_n.eq(n_in)]
                        m.next = "IDLE"
                with m.Elif(fetched & b_done & ~tiny_wait):
                    nz = Cat(*(d != 0 for d in nd))
                    m.d.sync += [fj.eq(fj + P), f.eq(0), fa.eq(fj + P), fw_row.eq(fw_row + n_in), fnk_row.eq(fnk_row + K)]
                    with m.If(nz.any()):
                        m.d.sync += [pj.eq(fj), w_row.eq(fw_row), nk_row.eq(fnk_row), act.eq(nz), k.eq(0),
                                     b_cnt.eq(0)]
                        m.d.sync += [delta[p].eq(nd[p]) for p in range(P)]
                        m.d.sync += [vsum[p].eq(0) for p in range(P)]
                        m.next = "V_READ"
            with m.State("V_READ"):
                # every lane's V[j,k] and Z_j^k, one k per clock
                m.d.comb += [busy.eq(1), fetch.eq(1), v_ren.eq(1), v_addr.eq(nk_row + k)]
                m.d.sync += [vs_valid[1].eq(1), vs1_k.eq(k), vs_addr[1].eq(nk_row + k), vs_last[1].eq(k == K - 1),
                             vs_act[1].eq(act), k.eq(k + 1)]
                with m.If(k == K - 1):
                    m.d.sync += [i.eq(0), w_addr.eq(w_row), gi.eq(i_base), t_row.eq(lane_div(i_base, P))]
                    m.next = "W"
            with m.State("W"):
                # W[j,i] of every lane, below_i and the traces of input i, one input per clock,
                # once the pass below (the layer above's error below) has cleared the sums;
                # the first layer sums nothing below, so its W reads do not wait for that pass
                # (only its fetches do, word by word)
                m.d.comb += [busy.eq(1), fetch.eq(1)]
                with m.If(~bw_on | first):
                    m.d.comb += [w_ren.eq(1), t_ren.eq(1)]
                    with m.If(~first):
                        m.d.comb += [bl_rd.addr.eq(i), bl_rd.en.eq(1)]
                    m.d.sync += [s_valid[1].eq(1), s_addr[1].eq(w_addr), s_i[1].eq(i), s_act[1].eq(act),
                                 s_sw[1].eq(sw1), i.eq(i + 1), w_addr.eq(w_addr + 1)] + next_input()
                    m.d.sync += [s_delta[1][p].eq(delta[p]) for p in range(P)]
                    with m.If(i == n_in - 1):
                        m.next = "ROW"
        return m
