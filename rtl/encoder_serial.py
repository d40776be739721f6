"""Sigma-delta encoder for devices short of logic: one neuron per 10 clocks, three multipliers.

The same step as :class:`~gammacore.rtl.encoder.Encoder` (:func:`gammacore.golden.fixedpoint.
encoder_step` and its asynchronous parts), bit for bit and with the same ports. It is built
for the fewest logic cells (the iCE40 UP5K build), not the fewest multipliers. On the iCE40
an adder costs one LUT per bit and so does each further source of a register, so a shared
adder costs in operand multiplexers what it saves; here each operation has its own adder,
every register is written as (clock enable, next value) with at most three sources, and the
subtrahend of the division is kept inverted (a subtraction from a flip-flop needs an
inverter per bit). One neuron is in flight at a time:

=====  ======================================================================================
clock  work
=====  ======================================================================================
0      take (y, e, d): ``e1 = round(alpha_e e)`` (or e), theta = sat(theta0 + round(d >> 12))
1      ``r = floor((y - e1 + (theta << 11)) / 2**12)``, the residual on the threshold's grid
       (theta << 12 has twelve zero low bits, so they never change a comparison)
2 - 5  quotient bits 3 .. 0 of r / theta (compare and subtract theta << b)
6      n = min(n, n_max), q = sat(n theta) (0 without ``fire``)
7      e2 = sat(e1 + (q << 12)), d1 = sat(d + round(m_f q >> 4))
8      d2 = round(alpha_theta d1) (or d1); the result waits in ``o`` until taken
=====  ======================================================================================

The two decays (clocks 0 and 8) share two 16 x 16 unsigned products, ``alpha`` times the low
and the high half of the word ``v``: with ``pl``, ``ph`` those products,
``round(alpha v >> 16) = ph + (pl >> 16) + pl[15] - (alpha << 16 if v < 0)`` (mod 2**32; the
result fits in 32 bits), computed as ``(2 ph + 1 + (pl >> 15)) >> 1`` minus the sign term.
The third product is ``n theta`` at clock 6 and ``m_f q`` at clock 7.

A new neuron is taken the clock after its predecessor's result is taken (so ``i.ready``
depends on no input); until then the result is read straight from the working registers
(no output register). ``decay_e``, ``fire``
and ``decay_d`` are read while the neuron is in the unit and must be held as for the
pipelined encoder.
"""
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned

from ..golden import formats as F
from .encoder import EncoderPorts

__all__ = ["SerialEncoder"]

#: clocks from taking a neuron to its result
LATENCY = 9


class SerialEncoder(EncoderPorts):
    """Sigma-delta encoder unit for few logic cells (see the module docs; ports:
    :class:`~gammacore.rtl.encoder.EncoderPorts`)."""

    def elaborate(self, platform):
        m = Module()
        sh_d = F.ADAPT.frac - F.THETA.frac      # 12: d to theta
        sh_th = F.X.frac - F.THETA.frac         # 12: theta to the X scale
        sh_q = F.ENC.frac - F.Q.frac            # 12: q to the ENC scale
        sh_mf = F.COEF.frac + F.Q.frac - F.ADAPT.frac   # 4: m_f q to the ADAPT scale
        assert F.COEF.width == F.COEF.frac == 16 and F.ENC.width == F.ADAPT.width == 32

        busy = Signal()
        t = Signal(range(LATENCY))
        y = Signal(signed(F.X.width))
        e = Signal(signed(F.ENC.width))
        d = Signal(signed(F.ADAPT.width))
        theta = Signal(unsigned(F.THETA.width))
        nths = Signal(unsigned(F.THETA.width + 3))  # ~(theta << b), b = 3 .. 0 (r - x = r + ~x + 1)
        r = Signal(signed(F.X.width + 1 - sh_th + 1))
        n = Signal(unsigned(4))
        q = Signal(unsigned(F.Q.width))

        take = Signal()
        # a neuron is taken only once the last result has gone (i.ready depends on registers
        # alone): a clock per neuron more, but the router's ready no longer runs through the
        # encoder into the dendrite's memory addresses (one 47 ns path on the iCE40)
        m.d.comb += [take.eq(self.i.valid & self.i.ready),
                     self.i.ready.eq(~busy & ~self.o.valid)]

        # the decays: e as it is taken, d at the last clock
        late = Signal()
        m.d.comb += late.eq(busy & (t >= LATENCY - 2))
        v = Signal(signed(32))
        alpha = Signal(unsigned(F.COEF.width))
        pl, ph = Signal(unsigned(32)), Signal(unsigned(32))
        decayed = Signal(signed(32))
        m.d.comb += [v.eq(Mux(late, d, self.i.payload.e)), alpha.eq(Mux(late, self.alpha_theta, self.alpha_e)),
                     pl.eq(v[:16] * alpha), ph.eq(v[16:] * alpha),
                     decayed.eq(((Cat(Const(1, 1), ph) + (pl >> 15)) >> 1) - Mux(v[31], alpha << 16, 0))]

        # n theta at clock 6, m_f q at clock 7
        n_clip = Signal(unsigned(4))
        m.d.comb += n_clip.eq(Mux(n > self.n_max, self.n_max, n))
        p3 = Signal(unsigned(32))
        m.d.comb += p3.eq(Mux(late, self.m_f, theta) * Mux(late, q, Mux(self.fire, n_clip, 0)))

        # theta0 + floor((d + 2**11) / 2**12) = floor((floor(d / 2**11) + 2 theta0 + 1) / 2)
        theta_raw = Signal(signed(F.ADAPT.width - sh_d + 3))
        m.d.comb += theta_raw.eq(((self.i.payload.d >> (sh_d - 1)) + Cat(Const(1, 1), self.theta0)) >> 1)
        r_sub = Signal(signed(len(r) + 1))
        m.d.comb += r_sub.eq(r + Cat(nths, Const(1, 1)).as_signed() + 1)
        e_sum = Signal(signed(F.ENC.width + 1))
        m.d.comb += e_sum.eq(e + (q << sh_q))
        # d + floor((p + 8) / 16) = floor((2 d + 1 + (p >> 3)) / 2)
        d_sum = Signal(signed(F.ADAPT.width + 1))
        m.d.comb += d_sum.eq((Cat(Const(1, 1), d).as_signed() + (p3 >> (sh_mf - 1))) >> 1)

        # every register is written as (enable, next value): a flip-flop's clock enable
        # holds it for free, and each bit's next value is at most a three-way choice
        # (saturation included: e and d only grow at clock 7, as q >= 0)
        s1, sdiv, s6, s7, s8 = (Signal(name=n) for n in ("s1", "sdiv", "s6", "s7", "s8"))
        m.d.comb += [s1.eq(busy & (t == 1)), sdiv.eq(busy & (t >= 2) & (t <= 5)), s6.eq(busy & (t == 6)),
                     s7.eq(busy & (t == 7)), s8.eq(busy & (t == LATENCY - 1))]
        neg = r_sub[-1]
        e_sat = Mux(e_sum > F.ENC.max, F.ENC.max, e_sum[:F.ENC.width])
        d_sat = Mux(d_sum > F.ADAPT.max, F.ADAPT.max, d_sum[:F.ADAPT.width])
        regs = [  # register, enable, next value
            (y, take, self.i.payload.y),
            (e, take | s7, Mux(take, Mux(self.decay_e, decayed, self.i.payload.e), e_sat)),
            (d, take | s7 | (s8 & self.decay_d), Mux(take, self.i.payload.d, Mux(s7, d_sat, decayed))),
            (theta, take, Mux(theta_raw < 0, 0, Mux(theta_raw > F.THETA.max, F.THETA.max, theta_raw))),
            # r = floor((y - e1 + theta 2**11) / 2**12) = floor((floor((y - e1) / 2**11) + theta) / 2)
            (r, s1 | (sdiv & ~neg), Mux(s1, (((y - e) >> (sh_th - 1)) + theta) >> 1, r_sub)),
            (nths, s1 | sdiv, Mux(s1, ~(theta << 3), Cat(nths[1:], Const(1, 1)))),
            (n, s1 | sdiv | s6, Mux(s6, n_clip, Mux(s1, 0, Cat(~neg, n[:3])))),
            (q, s6, Mux(p3 > F.Q.max, F.Q.max, p3)),
        ]
        for reg, en, nxt in regs:
            with m.If(en):
                m.d.sync += reg.eq(nxt)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(take):
            m.d.sync += [busy.eq(1), t.eq(1)]
        with m.If(busy):
            m.d.sync += t.eq(t + 1)
        with m.If(s8):
            m.d.sync += [busy.eq(0), self.o.valid.eq(1)]
        # the result is the working registers themselves: nothing changes them until the
        # result is taken (a new neuron is taken in that clock at the earliest)
        m.d.comb += [self.o.payload.q.eq(q), self.o.payload.e.eq(e), self.o.payload.n.eq(n),
                     self.o.payload.d.eq(d), self.o.payload.spike.eq(q != 0)]
        return m
