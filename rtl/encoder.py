"""Sigma-delta encoder with a multiplicative adaptive threshold, one neuron per clock.

Implements :func:`gammacore.golden.fixedpoint.encoder_step` bit for bit: the spike count
``n = min(n_max, floor((y - e)/theta + 1/2))`` comes from four compare-and-subtract stages
(8, 4, 2, 1 thresholds, two per stage), no divider. Twelve pipeline stages (the first
registers the inputs, which come from memory reads; the estimate's decay product and the
adaptation's product are registered before their rounding and add, the clipped count
before its product with theta, the adaptation's decay product as two partial products
before their sum), stall-all
(:class:`~gammacore.rtl.pipeline.Pipe`). Parameters (theta0, alpha_e, alpha_theta, m_f,
n_max) are configuration inputs, held constant while a step is evaluated.

For asynchronous execution the step splits into its parts (``encoder_decay``,
``encoder_count``, ``encoder_fire``, ``adapt_decay`` of the golden model): the flags
``decay_e``, ``fire`` and ``decay_d`` switch each part on (all three: one whole step), and
``n`` is the clipped spike count whether or not the neuron fires. The flags are held
constant while neurons are in the pipeline.
"""
from amaranth.hdl import Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden import formats as F
from .bucket_decay import saturate
from .pipeline import Pipe

__all__ = ["Encoder", "EncoderPorts", "encoder_in_layout", "encoder_out_layout", "STAGES"]

#: the pipelined :class:`Encoder`'s stages (its latency in clocks, input to output register)
STAGES = 12

encoder_in_layout = data.StructLayout({"y": signed(F.X.width), "e": signed(F.ENC.width),
                                       "d": signed(F.ADAPT.width)})
#: ``spike`` is q != 0 (the pipelined unit registers it, so a consumer's ready decision does
#: not start with a 16-bit compare)
encoder_out_layout = data.StructLayout({"q": unsigned(F.Q.width), "e": signed(F.ENC.width),
                                        "d": signed(F.ADAPT.width), "n": unsigned(4), "spike": unsigned(1)})


def _round_shift(value, s):
    return (value + (1 << (s - 1))) >> s


class EncoderPorts(wiring.Component):
    """The ports every sigma-delta encoder unit has (:class:`Encoder`, and the shared-multiplier
    :class:`~gammacore.rtl.encoder_serial.SerialEncoder`), so the network core takes either.

    Attributes
    ----------
    i : stream of (y, e, d) per neuron, in
    o : stream of (q, e, d, n, spike): spike magnitude (0: none), the new states, the count,
        q != 0, out
    theta0, alpha_e, alpha_theta, m_f, n_max : configuration, in
    decay_e, fire, decay_d : parts of the step to apply (default: all), in
    """
    i: In(stream.Signature(encoder_in_layout))
    o: Out(stream.Signature(encoder_out_layout))
    theta0: In(unsigned(F.THETA.width))
    alpha_e: In(unsigned(F.COEF.width))
    alpha_theta: In(unsigned(F.COEF.width))
    m_f: In(unsigned(F.COEF.width))
    n_max: In(unsigned(4))
    decay_e: In(1, init=1)
    fire: In(1, init=1)
    decay_d: In(1, init=1)



class Encoder(EncoderPorts):
    """Sigma-delta encoder unit, one neuron per clock (ports: :class:`EncoderPorts`)."""

    def elaborate(self, platform):
        m = Module()
        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]
        pipe = Pipe(m, advance)
        p = self.i.payload
        sh_d = F.ADAPT.frac - F.THETA.frac
        sh_th = F.X.frac - F.THETA.frac

        # 0: register the inputs (they come from memory reads; for Fmax)
        v, s = pipe.stage(self.i.valid, y=p.y, e=p.e, d=p.d)
        # 1: the estimate's decay product e alpha_e (registered before its rounding, for
        # Fmax), the threshold
        ea = Signal(signed(F.ENC.width + F.COEF.width + 1))
        m.d.comb += ea.eq(s.e * self.alpha_e)
        theta = saturate(m, self.theta0 + _round_shift(s.d, sh_d), F.THETA, "theta")
        v, s = pipe.stage(v, y=s.y, e=s.e, ea=ea, d=s.d, theta=theta)
        # 2: decay the estimate
        e1 = Signal(signed(F.ENC.width + 1))
        m.d.comb += e1.eq(Mux(self.decay_e, _round_shift(s.ea, F.COEF.frac), s.e))
        v, s = pipe.stage(v, y=s.y, e=e1, d=s.d, theta=s.theta)
        # 3: residual plus half a threshold
        th = Signal(unsigned(F.THETA.width + sh_th))
        m.d.comb += th.eq(s.theta << sh_th)
        rem = Signal(signed(F.X.width + 4))
        m.d.comb += rem.eq(s.y - s.e + (th >> 1))
        v, s = pipe.stage(v, rem=rem, e=s.e, d=s.d, theta=s.theta, th=th, n=Const(0, 4))
        # 4-5: restoring division, four quotient bits, two per stage
        for bits in ((3, 2), (1, 0)):
            rem, n = s.rem, s.n
            for bit in bits:
                take = Signal(name=f"take{bit}")
                m.d.comb += take.eq(rem >= (s.th << bit))
                new_rem = Signal(signed(F.X.width + 4), name=f"rem{bit}")
                new_n = Signal(unsigned(4), name=f"n{bit}")
                m.d.comb += [new_rem.eq(Mux(take, rem - (s.th << bit), rem)),
                             new_n.eq(n | Mux(take, 1 << bit, 0))]
                rem, n = new_rem, new_n
            v, s = pipe.stage(v, rem=rem, n=n, e=s.e, d=s.d, theta=s.theta, th=s.th)
        # 6: clip n (registered before the multiply, for Fmax)
        n = Signal(unsigned(4))
        m.d.comb += n.eq(Mux(s.n > self.n_max, self.n_max, s.n))
        v, s = pipe.stage(v, n=n, nf=Mux(self.fire, n, 0), e=s.e, d=s.d, theta=s.theta)
        # 7: spike magnitude
        q = saturate(m, s.nf * s.theta, F.Q, "q")
        v, s = pipe.stage(v, q=q, e=s.e, d=s.d, n=s.n)
        # 8: new estimate; the adaptation's product m_f q registered (for Fmax: no clock
        # carries the multiply through the add and saturation)
        e2 = saturate(m, s.e + (s.q << (F.ENC.frac - F.Q.frac)), F.ENC, "e2")
        mq = Signal(unsigned(F.COEF.width + F.Q.width))
        m.d.comb += mq.eq(self.m_f * s.q)
        v, s = pipe.stage(v, q=s.q, e=e2, d=s.d, n=s.n, mq=mq, spike=s.q != 0)
        # 9: adapt the threshold
        d1 = saturate(m, s.d + _round_shift(s.mq, F.COEF.frac + F.Q.frac - F.ADAPT.frac), F.ADAPT, "d1")
        v, s = pipe.stage(v, q=s.q, e=s.e, d=d1, n=s.n, spike=s.spike)
        # 10: the adaptation's decay product d alpha_theta as two partial products (16 x 16
        # bits, one hard multiplier each), each registered as it leaves its multiplier: the
        # one multiply of 32 x 16 bits, its parts summed by yosys and rounded into the output
        # register in one clock, was the 85F's critical path (63.6 MHz for 75, 8.5 ns of it
        # the routes to and from the multipliers)
        split = F.COEF.frac                 # round(d a >> 16) = d_hi a + round(d_lo a >> 16)
        d_lo, d_hi = s.d[:split], s.d[split:].as_signed()
        p_lo = Signal(unsigned(split + F.COEF.width))
        p_hi = Signal(signed(len(d_hi) + F.COEF.width + 1))
        m.d.comb += [p_lo.eq(d_lo * self.alpha_theta), p_hi.eq(d_hi * self.alpha_theta)]
        v, s = pipe.stage(v, q=s.q, e=s.e, d=s.d, n=s.n, spike=s.spike, p_lo=p_lo, p_hi=p_hi)
        # 11: decay the adaptation (into the output register)
        d2 = Signal(signed(F.ADAPT.width))
        m.d.comb += d2.eq(Mux(self.decay_d, s.p_hi + _round_shift(s.p_lo, split), s.d))
        assert pipe.n + 1 == STAGES
        with m.If(advance):
            m.d.sync += [self.o.valid.eq(v), self.o.payload.q.eq(s.q), self.o.payload.e.eq(s.e),
                         self.o.payload.d.eq(d2), self.o.payload.n.eq(s.n), self.o.payload.spike.eq(s.spike)]
        return m
