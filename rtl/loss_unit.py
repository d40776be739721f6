"""Loss unit: softmax cross-entropy errors and loss of one step's outputs, in integers.

Implements :func:`gammacore.golden.fixedpoint.loss_unit` (docs/model.md
section 5, "The loss unit") bit for bit. A step's C outputs y_j (X raw) stream in with the
label; C errors e_j = p_j - onehot(label)_j (ERR raw) stream out, the last one with the
step's loss -ln p_label (LOSS raw).

Four phases, one step at a time:

1. **in** (C clocks): each y_j is written to a buffer of ``max_outputs`` words and the
   running maximum is kept.
2. **sum** (C + 9 clocks): the term pipeline (below) runs over the buffer; the terms are
   summed into S and d_label is kept.
3. **divide** (18 clocks): r = floor(2**31 / S) by restoring division, one quotient bit
   per clock, from bit 16 down (S >= 2**15, so r < 2**17: the 15 bits above are zero, and
   the division starts where it would be after them, with the remainder 2**14); meanwhile
   log2 S (leading one and the LOG2 table) and the loss.
4. **out** (C + 10 clocks, under back-pressure): the term pipeline runs again and each term
   times r, rounded to 12 fraction bits, minus the label's one, goes out.

Term pipeline (stall-all; it advances on every clock in phase 2 and when the output is
free or taken in phase 4): read y_j; d = min(max - y_j, 16 << 22); t = round(d log2 e, 8
fraction bits); read EXP2[t mod 256]; E = round(EXP2[.] >> (t >> 8)); E r. The words read
(y_j and EXP2[.]) and the products d log2 e and E r are registered before they are used: for Fmax, a
block RAM's clock-to-out or a multiplier and the arithmetic after it do not fit one clock
on the ULX3S 45F/85F.

Widths need no saturation: d < 2**27, t < 2**13, E <= 2**15, S < 2**32 (C < 2**16), r <=
2**16, p <= 2**12, so e is in -2**12..2**12 (ERR holds it), and the loss d_label + ln S <
2**27 (LOSS holds it). A label outside 0..C-1 matches no output: every e_j is then p_j
and the loss reads output 0's distance; the bus refuses such labels before they get here.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden import fixedpoint as fp
from ..golden import formats as F
from .pipeline import Pipe
from .ram import ram, read_port

__all__ = ["LossUnit", "loss_in_layout", "loss_out_layout"]

IB = F.LOSS_INDEX_BITS
DMAX_RAW = F.LOSS_DMAX << F.X.frac
#: t = round(d * LOG2E >> T_SHIFT) has IB fraction bits
T_SHIFT = F.X.frac + F.LOG2E.frac - IB
#: p = round(E * r >> P_SHIFT) has ERR.frac fraction bits
P_SHIFT = F.RECIP_BITS - F.ERR.frac
#: ln S = round(log2 S * LN2 >> LN_SHIFT) has LOSS.frac fraction bits
LN_SHIFT = F.LOG2.frac + F.LN2.frac - F.LOSS.frac
D_WIDTH = DMAX_RAW.bit_length()          # d in 0..DMAX_RAW
T_WIDTH = ((DMAX_RAW * fp.LOG2E_RAW + (1 << (T_SHIFT - 1))) >> T_SHIFT).bit_length()
N_WIDTH = max(1, T_WIDTH - IB)           # the integer part of t: a shift of up to 2**N_WIDTH - 1
LABEL_WIDTH = 16
#: where d and log2 S are split for their products (an 18 x 18 multiplier takes SPLIT = 17
#: unsigned bits)
SPLIT = 17
assert T_SHIFT - 1 >= SPLIT
#: the division's first quotient bits that are always zero: S >= 2**EXPT.frac, so no trial
#: 2**k with k < EXPT.frac reaches it
DIV_SKIP = F.EXPT.frac
#: r = floor(2**RECIP_BITS / S) <= 2**(RECIP_BITS - EXPT.frac), as S >= 2**EXPT.frac (the
#: largest output's term is exp(0) = 1.0): the bits of r the output's product needs
R_WIDTH = F.RECIP_BITS - F.EXPT.frac + 1

loss_in_layout = data.StructLayout({"y": signed(F.X.width), "label": LABEL_WIDTH, "last": 1})
loss_out_layout = data.StructLayout({"e": signed(F.ERR.width), "loss": unsigned(F.LOSS.width), "last": 1})


class LossUnit(wiring.Component):
    """Softmax cross-entropy loss unit.

    Parameters
    ----------
    max_outputs : the largest number of outputs C of a step (the buffer's depth).

    Attributes
    ----------
    i : stream of (y, label, last) words, C per step (label is read from the first), in
    o : stream of (e, loss, last) words, C per step (loss is valid with last), out
    busy : high from a step's first input word until its last output word is taken, out
    """
    i: In(stream.Signature(loss_in_layout))
    o: Out(stream.Signature(loss_out_layout))
    busy: Out(1)

    def __init__(self, max_outputs=1024):
        if not isinstance(max_outputs, int) or not 1 <= max_outputs < (1 << LABEL_WIDTH):
            raise ValueError(f"max_outputs must be an integer in 1..{(1 << LABEL_WIDTH) - 1}, "
                             f"not {max_outputs!r}")
        self.max_outputs = max_outputs
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        aw = max(1, (self.max_outputs - 1).bit_length())
        buf = ram(shape=signed(F.X.width), depth=self.max_outputs)
        exp2 = ram(shape=F.EXPT.width, depth=1 << IB, init=[int(v) for v in fp.EXP2_TABLE])
        log2 = ram(shape=16, depth=1 << IB, init=[int(v) for v in fp.LOG2_TABLE])
        m.submodules.buf, m.submodules.exp2, m.submodules.log2 = buf, exp2, log2
        wr = buf.write_port()
        rd = read_port(m, buf, "buf_rd")
        exp_rd = read_port(m, exp2, "exp2_rd")
        log_rd = read_port(m, log2, "log2_rd")

        count = Signal(aw + 1)                # C
        label = Signal(LABEL_WIDTH)
        ymax = Signal(signed(F.X.width))
        total = Signal(F.SUMEXP.width)        # S
        recip = Signal(F.RECIP_BITS + 1)      # r (quotient register of the division)
        rem = Signal(F.SUMEXP.width + 1)
        d_label = Signal(D_WIDTH)
        loss = Signal(F.LOSS.width)
        issue_j = Signal(aw + 1)
        done_j = Signal(aw + 1)               # terms summed (phase 2)
        div_i = Signal(range(F.RECIP_BITS + 2))

        # ---- term pipeline --------------------------------------------------------------
        out_phase = Signal()
        advance = Signal()
        issue = Signal()
        m.d.comb += [rd.addr.eq(issue_j), rd.en.eq(advance & issue)]     # no read while IN writes
        pipe = Pipe(m, advance)
        v0, s0 = pipe.stage(issue, j=issue_j)
        v1, s1 = pipe.stage(v0, j=s0.j, y=rd.data)
        diff = Signal(signed(F.X.width + 1))
        m.d.comb += diff.eq(ymax - s1.y)
        d = Signal(D_WIDTH)
        m.d.comb += d.eq(Mux(diff > DMAX_RAW, DMAX_RAW, diff))
        v2, s2 = pipe.stage(v1, j=s1.j, d=d)
        # d log2 e as two partial products, each one hard multiplier registered as it leaves
        # it (for Fmax: yosys's own split of the 27 x 17 multiply added the two parts in fabric
        # after the multipliers, in the same clock, the ULX3S 85F's critical path with the
        # multipliers placed far from that adder, 14.0 ns), added with the rounding a clock
        # later: round(d L >> T_SHIFT) = (lo >> SPLIT) + hi + 2**(T_SHIFT - 1 - SPLIT) >>
        # (T_SHIFT - SPLIT), where d L = lo + hi 2**SPLIT (lo's low SPLIT bits cannot carry
        # into the rounding bit, which lies above them)
        v2, s2 = pipe.stage(v2, j=s2.j, d=s2.d, dl_lo=s2.d[:SPLIT] * fp.LOG2E_RAW,
                            dl_hi=s2.d[SPLIT:] * fp.LOG2E_RAW)
        t = Signal(T_WIDTH)
        m.d.comb += t.eq(((s2.dl_lo >> SPLIT) + s2.dl_hi + (1 << (T_SHIFT - 1 - SPLIT))) >> (T_SHIFT - SPLIT))
        v3, s3 = pipe.stage(v2, j=s2.j, d=s2.d, t=t)
        m.d.comb += [exp_rd.addr.eq(s3.t[:IB]), exp_rd.en.eq(advance)]
        v4, s4 = pipe.stage(v3, j=s3.j, d=s3.d, n=s3.t[IB:])
        v4, s4 = pipe.stage(v4, j=s4.j, d=s4.d, n=s4.n, e=exp_rd.data)
        term = Signal(F.EXPT.width)
        half = Signal((1 << N_WIDTH) - 1)
        one = Const(1, 1)
        m.d.comb += [half.eq((one << s4.n) >> 1), term.eq((s4.e + half) >> s4.n)]
        v5, s5 = pipe.stage(v4, j=s4.j, d=s4.d, term=term)
        # the term times r registered before the rounding and the error's subtraction (for
        # Fmax: the multiplier and the carry chains after it do not fit one clock on the 45F)
        # (r <= 2**16: its low R_WIDTH bits, so the product is one 18 x 18 multiplier and no
        # partial products are added in fabric: the ULX3S 85F's critical path at P = 2)
        v6, s6 = pipe.stage(v5, j=s5.j, d=s5.d, term=s5.term, prod=s5.term * recip[:R_WIDTH])
        p = Signal(F.ERR.frac + 2)
        m.d.comb += p.eq((s6.prod + (1 << (P_SHIFT - 1))) >> P_SHIFT)
        is_label = Signal()
        m.d.comb += is_label.eq(s6.j == label)

        # ---- phases ---------------------------------------------------------------------
        with m.FSM(name="phase") as fsm:
            with m.State("IN"):
                m.d.comb += [self.i.ready.eq(1), advance.eq(1)]
                m.d.comb += [wr.addr.eq(count), wr.data.eq(self.i.payload.y), wr.en.eq(self.i.valid)]
                with m.If(self.i.valid):
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == 0):
                        m.d.sync += [ymax.eq(self.i.payload.y), label.eq(self.i.payload.label)]
                    with m.Elif(self.i.payload.y > ymax):
                        m.d.sync += ymax.eq(self.i.payload.y)
                    with m.If(self.i.payload.last):
                        m.d.sync += [issue_j.eq(0), done_j.eq(0), total.eq(0)]
                        m.next = "SUM"
            with m.State("SUM"):
                m.d.comb += [advance.eq(1), issue.eq(issue_j < count)]
                with m.If(issue):
                    m.d.sync += issue_j.eq(issue_j + 1)
                with m.If(v6):
                    m.d.sync += [total.eq(total + s6.term), done_j.eq(done_j + 1)]
                    with m.If(is_label):
                        m.d.sync += d_label.eq(s6.d)
                with m.If(done_j == count):
                    # the division's first DIV_SKIP clocks would subtract nothing (their
                    # trials 2**0 .. 2**(DIV_SKIP - 1) are below S) and shift in zeros: they
                    # are skipped, with the remainder they would leave
                    m.d.sync += [rem.eq(1 << (DIV_SKIP - 1)), recip.eq(0), div_i.eq(DIV_SKIP)]
                    m.next = "DIVIDE"
            with m.State("DIVIDE"):
                # restoring division of 2**RECIP_BITS by S, quotient bits from the top
                bit = Signal()
                m.d.comb += bit.eq(div_i == 0)                # the dividend's only set bit (bit 31)
                trial = Signal(F.SUMEXP.width + 1)
                m.d.comb += trial.eq(Cat(bit, rem[:-1]))
                with m.If(div_i <= F.RECIP_BITS):
                    m.d.sync += div_i.eq(div_i + 1)
                    with m.If(trial >= total):
                        m.d.sync += [rem.eq(trial - total), recip.eq(Cat(1, recip[:-1]))]
                    with m.Else():
                        m.d.sync += [rem.eq(trial), recip.eq(Cat(0, recip[:-1]))]
                with m.Else():
                    m.d.sync += [issue_j.eq(0)]
                    m.next = "OUT"
            with m.State("OUT"):
                m.d.comb += [out_phase.eq(1), advance.eq(~self.o.valid | self.o.ready),
                             issue.eq(issue_j < count)]
                with m.If(advance):
                    with m.If(issue):
                        m.d.sync += issue_j.eq(issue_j + 1)
                    m.d.sync += [self.o.valid.eq(v6),
                                 self.o.payload.e.eq(p - Mux(is_label, 1 << F.ERR.frac, 0)),
                                 self.o.payload.last.eq(s6.j == count - 1),
                                 self.o.payload.loss.eq(loss)]
                with m.If(self.o.valid & self.o.ready & self.o.payload.last):
                    m.d.sync += count.eq(0)
                    m.next = "IN"

        # ---- log2 S and the loss: six registered stages from S (msb, table, log2 S, its
        # partial products with ln 2, their sum, loss),
        # settled long before DIVIDE's 18 clocks end (S and d_label are fixed from its first)
        msb = Signal(range(F.SUMEXP.width))
        for b in range(F.SUMEXP.width):
            with m.If(total[b]):
                m.d.comb += msb.eq(b)
        # (msb is registered before the shift that takes the mantissa: for Fmax, the leading
        # one's search and the shifter do not fit one clock before the table's address)
        msb_r = Signal.like(msb)
        m.d.sync += msb_r.eq(msb)
        mant, shamt = Signal(IB), Signal(range(F.SUMEXP.width))
        m.d.comb += [shamt.eq(msb_r - IB), mant.eq(total >> shamt)]   # S >= 2**15: msb - 8 >= 7
        m.d.comb += [log_rd.addr.eq(mant), log_rd.en.eq(1)]
        log2s = Signal(F.LOG2.width)          # registered: the table read, then the multiply
        m.d.sync += log2s.eq(((msb_r - F.EXPT.frac) << F.LOG2.frac) + log_rd.data)
        # log2 S times ln 2 as two partial products (one hard multiplier each, registered),
        # their sum registered, then the loss (for Fmax; the loss is read long after)
        ln_lo = Signal(SPLIT + fp.LN2_RAW.bit_length())
        ln_hi = Signal(F.LOG2.width - SPLIT + fp.LN2_RAW.bit_length())
        m.d.sync += [ln_lo.eq(log2s[:SPLIT] * fp.LN2_RAW), ln_hi.eq(log2s[SPLIT:] * fp.LN2_RAW)]
        ln_prod = Signal(F.LOG2.width + fp.LN2_RAW.bit_length())
        m.d.sync += ln_prod.eq(ln_lo + (ln_hi << SPLIT))
        m.d.sync += loss.eq(d_label + ((ln_prod + (1 << (LN_SHIFT - 1))) >> LN_SHIFT))
        m.d.comb += self.busy.eq(~fsm.ongoing("IN") | (count != 0))
        return m
