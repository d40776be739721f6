"""Every fixed-point format of gammacore, declared once.

golden/, rtl/ and host/ take their word widths from here. A format is a two's-complement
(``signed``) or unsigned integer of ``width`` bits whose value is ``raw / 2**frac``.

Conventions used by every operation (see :mod:`gammacore.golden.fixedpoint`):

* Products are exact: operands are widened before multiplying (NumPy int64 here, wide
  enough DSP cascades in the RTL).
* Every right shift that drops precision rounds half up: ``(v + 2**(s-1)) >> s`` with an
  arithmetic (floor) shift, so ties go toward +infinity. It costs one constant add in
  hardware. The one exception is the forward read of a master weight, which takes the
  top 16 bits (floor).
* Every state written back saturates at its format's bounds; nothing wraps.
* Sums of products (dendrite, errors to the layer below) are accumulated exactly in a
  wide accumulator and rounded and saturated once, at write-back, so they do not depend
  on the order of the terms. The synaptic accumulator A is 48 bits wide for the same
  reason: events can arrive in any order within a step.

Learning-update underflow (docs/model.md section 4) is solved with wide master weights: W, V and
b are stored as 32-bit words with 28 fraction bits (``MASTER``); the forward path reads
the top 16 bits (``W``/``V``/``B``, 12 fraction bits). Updates of down to 2**-28 therefore
accumulate instead of vanishing, deterministically and independent of update order (no
random rounding, no LFSR to keep in step).
"""
from dataclasses import dataclass

import numpy as np

__all__ = [
    "Format", "Q", "THETA", "W", "V", "B", "MASTER", "MASTER_SHIFT", "ACC", "Z", "X",
    "TRACE", "ENC", "ADAPT", "COEF", "ERR", "GRAD_OP", "GRAD_OP_SHIFT", "LR_SHIFT", "N_MAX", "FORMATS",
    "EXPT", "SUMEXP", "RECIP_BITS", "LOSS", "LOSS_SUM", "SCORE", "LOSS_DMAX", "LOSS_INDEX_BITS", "LOG2E",
    "LN2", "LOG2",
]


@dataclass(frozen=True)
class Format:
    """A fixed-point number format.

    Parameters
    ----------
    name : str
        What the format holds.
    width : int
        Word width in bits, sign included.
    frac : int
        Fraction bits: ``value = raw / 2**frac``.
    signed : bool
        Two's complement if true, unsigned otherwise.
    """
    name: str
    width: int
    frac: int
    signed: bool

    def __post_init__(self):
        if not isinstance(self.width, int) or self.width < 1:
            raise ValueError(f"Format width must be a positive integer, not {self.width!r}")
        if not isinstance(self.frac, int) or not 0 <= self.frac <= 62:
            raise ValueError(f"Format fraction bits must be an integer in 0..62, not {self.frac!r}")
        # bounds precomputed once (saturate runs tens of thousands of times per second):
        # int64 scalars for int64 arrays, floats for from_float; Python ints past int64
        lo, hi = self.min, self.max
        fits = -(1 << 63) <= lo and hi < (1 << 63)
        object.__setattr__(self, "_lo", np.int64(lo) if fits else lo)
        object.__setattr__(self, "_hi", np.int64(hi) if fits else hi)
        object.__setattr__(self, "_lo_f", float(lo))
        object.__setattr__(self, "_hi_f", float(hi))

    @property
    def min(self) -> int:
        """Smallest raw value."""
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        """Largest raw value."""
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lsb(self) -> float:
        """Value of one least significant bit."""
        return 2.0 ** -self.frac

    @property
    def max_value(self) -> float:
        return self.max * self.lsb

    @property
    def min_value(self) -> float:
        return self.min * self.lsb

    def saturate(self, raw):
        """Clip raw integers (int or int64 array) to this format's range."""
        if isinstance(raw, np.ndarray):
            # np.minimum/np.maximum with precomputed bounds: the values np.clip gives,
            # without its per-call dispatch and limit checks
            out = np.maximum(raw, self._lo)
            return np.minimum(out, self._hi, out=out) if isinstance(out, np.ndarray) else min(out, self._hi)
        return max(self.min, min(self.max, int(raw)))

    def from_float(self, value):
        """Quantize real values: round to nearest (half away from zero), then saturate."""
        raw = np.round(np.asarray(value, dtype=np.float64) * (1 << self.frac))
        raw = np.minimum(np.maximum(raw, self._lo_f), self._hi_f).astype(np.int64)
        return raw if np.ndim(value) else int(raw)

    def to_float(self, raw):
        """Real value of raw integers."""
        return np.asarray(raw, dtype=np.float64) * self.lsb if np.ndim(raw) else float(raw) * self.lsb

    def __str__(self):
        return f"{'S' if self.signed else 'U'}{self.width}.{self.frac}"


#: Spike / input event magnitude q (spikes are positive).
Q = Format("spike magnitude q", 16, 10, signed=False)
#: Encoder threshold theta = theta_0 + d, same scale as q (q = n * theta).
THETA = Format("threshold theta", 16, 10, signed=False)
#: Forward synaptic weight W[j,i] (top 16 bits of its master word).
W = Format("weight W", 16, 12, signed=True)
#: Forward bucket weight V[j,k].
V = Format("bucket weight V", 16, 12, signed=True)
#: Forward bias b[j].
B = Format("bias b", 16, 12, signed=True)
#: Master (learning) word of W, V and b; forward value = master >> MASTER_SHIFT.
MASTER = Format("master weight", 32, 28, signed=True)
MASTER_SHIFT = MASTER.width - W.width
#: Synaptic accumulator A_j = sum_i W[j,i] q_i within one step (exact, 48 bits).
ACC = Format("synaptic accumulator A", 48, W.frac + Q.frac, signed=True)
#: Postsynaptic bucket state Z_j^k.
Z = Format("bucket state Z", 32, W.frac + Q.frac, signed=True)
#: Pre-activation x_j and output y_j.
X = Format("pre-activation x", 32, Z.frac, signed=True)
#: Presynaptic trace bucket yhat_i^k and the learning term u_ji = sum_k V[j,k] yhat_i^k.
TRACE = Format("presynaptic trace yhat", 32, Z.frac, signed=True)
#: Encoder estimate e_j of what the receivers decoded in their first bucket.
ENC = Format("encoder estimate e", 32, Z.frac, signed=True)
#: Threshold adaptation d_j.
ADAPT = Format("threshold adaptation d", 32, Z.frac, signed=True)
#: Retentions alpha_k, transfer rates beta_k = 1 - alpha_k, alpha_e, alpha_theta, m_f.
COEF = Format("coefficient", 16, 16, signed=False)
#: Errors e_j = dL/dy_j, deltas, and errors sent to the layer below. Range +-16: a hidden
#: neuron's error (a sum over the layer above) reaches about 16 in the float model's training.
ERR = Format("error", 17, 12, signed=True)
#: The learning rule's operands: each presynaptic trace yhat, each u_ji and each bucket state
#: Z enters its product with delta as sat(round(x >> GRAD_OP_SHIFT)), so that every product of
#: the rule is one 18 x 18 hard multiply. 10 fraction bits and a range of +-128: the largest
#: operands seen in the presets' training are about 31 (docs/model.md section 5).
GRAD_OP = Format("learning operand", 18, 10, signed=True)
GRAD_OP_SHIFT = Z.frac - GRAD_OP.frac
#: Learning rate: eta * dt = 2**-shift; shifts are unsigned 6-bit integers.
LR_SHIFT = Format("learning-rate shift", 6, 0, signed=False)
#: Largest number of thresholds one spike may carry (4 compare-and-subtract steps).
N_MAX = 15

# --- the loss unit (softmax cross-entropy on chip; golden.fixedpoint.softmax_ce_*) ---------
#: Table lookups index by this many fraction bits (exp2 and log2 tables of 256 entries).
LOSS_INDEX_BITS = 8
#: Distance below the largest output, d_j = max(y) - y_j, is clamped to this (a value):
#: exp(-16) < 2**-23 contributes nothing at ERR's resolution.
LOSS_DMAX = 16
#: exp(-d_j) = 2**-(d_j * log2 e), a power of two times a table entry 2**-f, f in [0, 1).
EXPT = Format("softmax term exp(-d)", 16, 15, signed=False)
#: Sum of the terms over the outputs (>= 1: the largest output's term is exactly 1).
SUMEXP = Format("softmax sum", 32, 15, signed=False)
#: The reciprocal of the sum, floor(2**RECIP_BITS / SUMEXP raw): one division per loss step.
RECIP_BITS = 31
#: log2(e) and ln(2) as multiplier constants.
LOG2E = Format("log2(e)", 18, 16, signed=False)
LN2 = Format("ln(2)", 16, 16, signed=False)
#: log2 of the sum (table of log2(1 + m / 256) on the 8 bits after the leading one).
LOG2 = Format("log2 of the softmax sum", 24, 16, signed=False)
#: One step's loss -ln p_label, and its sum over a sample's loss steps.
LOSS = Format("loss", 32, Z.frac, signed=False)
LOSS_SUM = Format("loss sum", 40, Z.frac, signed=False)
#: A sample's score of an output: the sum of its y (X raw) over the sample's loss steps.
SCORE = Format("sample score", 48, Z.frac, signed=True)

FORMATS = {f.name: f for f in (Q, THETA, W, V, B, MASTER, ACC, Z, X, TRACE, ENC, ADAPT, COEF, ERR, GRAD_OP, LR_SHIFT,
                                EXPT, SUMEXP, LOG2E, LN2, LOG2, LOSS, LOSS_SUM, SCORE)}
