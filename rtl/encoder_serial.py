"""Sigma-delta encoder on one shared 16 x 16 multiplier, one neuron per 13 clocks.

The same step as :class:`~gammacore.rtl.encoder.Encoder` (:func:`gammacore.golden.fixedpoint.
encoder_step` and its asynchronous parts), bit for bit and with the same ports, for devices
short of multipliers: the pipelined encoder infers six hard multipliers (two 32 x 16
products, ``alpha_e e`` and ``alpha_theta d``, split in two each, plus ``n theta`` and
``m_f q``); this one issues all six 16 x 16 partial products, one per clock, to a single
unsigned multiplier, and divides with one compare-and-subtract stage used four times. One
neuron is in flight at a time:

=====  ======================================================================================
clock  work
=====  ======================================================================================
0      take (y, e, d)
1, 2   ``acc = e alpha_e`` from the low and high halves of e (the sign bit's weight
       ``-2**31`` is subtracted as ``alpha_e << 32``); e1 = round(acc >> 16) or e
3      theta = sat(theta0 + round(d >> 12)), th = theta << 12, rem = y - e1 + th/2
4 - 7  quotient bits 3 .. 0 of rem / th
8      n = min(n, n_max), q = sat(n theta) (0 without ``fire``)
9      e2 = sat(e1 + (q << 12)), d1 = sat(d + round(m_f q >> 4))
10, 11 ``acc = d1 alpha_theta`` as for e
12     d2 = round(acc >> 16) or d1; the result waits in ``o`` until taken
=====  ======================================================================================

A new neuron is taken in the clock its predecessor's result is taken; until then the result
is read straight from the working registers (no output register). ``decay_e``, ``fire``
and ``decay_d`` are read while the neuron is in the unit and must be held as for the
pipelined encoder.
"""
from amaranth.hdl import Module, Mux, Signal, signed, unsigned

from ..golden import formats as F
from .bucket_decay import saturate
from .encoder import EncoderPorts

__all__ = ["SerialEncoder"]

#: clocks from taking a neuron to its result
LATENCY = 13


class SerialEncoder(EncoderPorts):
    """Sigma-delta encoder unit with one shared multiplier (see the module docs; ports:
    :class:`~gammacore.rtl.encoder.EncoderPorts`)."""

    def elaborate(self, platform):
        m = Module()
        sh_d = F.ADAPT.frac - F.THETA.frac
        sh_th = F.X.frac - F.THETA.frac
        sh_q = F.ENC.frac - F.Q.frac
        sh_mf = F.COEF.frac + F.Q.frac - F.ADAPT.frac

        busy = Signal()
        t = Signal(range(LATENCY))
        y = Signal(signed(F.X.width))
        e = Signal(signed(F.ENC.width + 1))     # e, then e1, then e2
        d = Signal(signed(F.ADAPT.width))       # d, then d1
        theta = Signal(unsigned(F.THETA.width))
        ths = Signal(unsigned(F.THETA.width + sh_th + 3))
        rem = Signal(signed(F.X.width + 4))
        n = Signal(unsigned(4))
        q = Signal(unsigned(F.Q.width))
        acc = Signal(signed(F.ENC.width + F.COEF.width + 2))

        # the shared multiplier: unsigned 16 x 16
        ma = Signal(unsigned(16))
        mb = Signal(unsigned(16))
        prod = Signal(unsigned(32))
        m.d.comb += prod.eq(ma * mb)

        take = Signal()
        m.d.comb += [take.eq(self.i.valid & self.i.ready),
                     self.i.ready.eq(~busy & (~self.o.valid | self.o.ready))]
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(take):
            m.d.sync += [busy.eq(1), t.eq(1), y.eq(self.i.payload.y), e.eq(self.i.payload.e),
                         d.eq(self.i.payload.d)]

        # alpha_e e (clocks 1, 2) and alpha_theta d1 (clocks 10, 11) share one adder
        second = Signal()
        word = Signal(signed(F.ENC.width + 1))
        coef = Signal(unsigned(F.COEF.width))
        acc_round = Signal(signed(F.ENC.width + 1))
        m.d.comb += [second.eq(t >= 8), word.eq(Mux(second, d, e)),
                     coef.eq(Mux(second, self.alpha_theta, self.alpha_e)),
                     acc_round.eq((acc + (1 << (F.COEF.frac - 1))) >> F.COEF.frac)]

        th = Signal(unsigned(F.THETA.width + sh_th))
        theta_new = saturate(m, self.theta0 + ((d + (1 << (sh_d - 1))) >> sh_d), F.THETA, "theta_new")
        m.d.comb += th.eq(theta_new << sh_th)
        n_clip = Signal(unsigned(4))
        m.d.comb += n_clip.eq(Mux(n > self.n_max, self.n_max, n))
        q_new = saturate(m, prod, F.Q, "q_new")
        e2 = saturate(m, e + (q << sh_q), F.ENC, "e2")
        d1 = saturate(m, d + ((prod + (1 << (sh_mf - 1))) >> sh_mf), F.ADAPT, "d1")

        with m.If(busy):
            m.d.sync += t.eq(t + 1)
            with m.If((t == 1) | (t == 10)):
                m.d.comb += [ma.eq(word[:16]), mb.eq(coef)]
                m.d.sync += acc.eq(prod)
            with m.If((t == 2) | (t == 11)):
                m.d.comb += [ma.eq(word[16:32]), mb.eq(coef)]
                m.d.sync += acc.eq(acc + (prod << 16) - Mux(word[31], coef << 32, 0))
            with m.If(t == 3):
                m.d.sync += [theta.eq(theta_new), ths.eq(th << 3), n.eq(0)]
                e1 = Mux(self.decay_e, acc_round, e)
                m.d.sync += [e.eq(e1), rem.eq(y - e1 + (th >> 1))]
            with m.If((t >= 4) & (t <= 7)):
                with m.If(rem >= ths):
                    m.d.sync += [rem.eq(rem - ths), n.eq((n << 1) | 1)]
                with m.Else():
                    m.d.sync += n.eq(n << 1)
                m.d.sync += ths.eq(ths >> 1)
            with m.If(t == 8):
                m.d.comb += [ma.eq(theta), mb.eq(Mux(self.fire, n_clip, 0))]
                m.d.sync += [q.eq(q_new), n.eq(n_clip)]
            with m.If(t == 9):
                m.d.comb += [ma.eq(self.m_f), mb.eq(q)]
                m.d.sync += [e.eq(e2), d.eq(d1)]
            with m.If(t == LATENCY - 1):
                m.d.sync += [busy.eq(0), self.o.valid.eq(1), d.eq(Mux(self.decay_d, acc_round, d))]
        # the result is the working registers themselves: nothing changes them until the
        # result is taken (a new neuron is taken in that clock at the earliest)
        m.d.comb += [self.o.payload.q.eq(q), self.o.payload.e.eq(e), self.o.payload.n.eq(n),
                     self.o.payload.d.eq(d)]
        return m
