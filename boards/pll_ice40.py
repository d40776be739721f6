"""iCE40 PLL (SB_PLL40_PAD / SB_PLL40_CORE) and its divider search.

The iCE40 LP/HX/UltraPlus PLL in SIMPLE feedback mode (Lattice TN1251, "iCE40 sysCLOCK PLL
Design and Usage Guide"):

- reference F_in in 10..133 MHz, divided by DIVR + 1 (DIVR 0..15) to the phase detector
  frequency F_pfd, which must stay in 10..133 MHz;
- the VCO runs at F_vco = F_pfd * (DIVF + 1) (DIVF 0..127), within 533..1066 MHz;
- the output is F_out = F_vco / 2**DIVQ (DIVQ 1..6), within 16..275 MHz;
- FILTER_RANGE follows F_pfd (the table icepll uses).
"""
from dataclasses import dataclass

from amaranth.hdl import Instance, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["ICE40PLLParams", "ice40_pll_params", "ICE40PLL"]

F_IN = (10e6, 133e6)
F_PFD = (10e6, 133e6)
F_VCO = (533e6, 1066e6)
F_OUT = (16e6, 275e6)
DIVR = range(0, 16)
DIVF = range(0, 128)
DIVQ = range(1, 7)


@dataclass(frozen=True)
class ICE40PLLParams:
    """Divider settings of one SB_PLL40 configuration and the frequencies they give (Hz)."""
    f_in: float
    divr: int
    divf: int
    divq: int

    @property
    def f_pfd(self):
        return self.f_in / (self.divr + 1)

    @property
    def f_vco(self):
        return self.f_pfd * (self.divf + 1)

    @property
    def f_out(self):
        return self.f_vco / 2 ** self.divq

    @property
    def filter_range(self):
        f = self.f_pfd / 1e6
        for limit, value in ((17, 1), (26, 2), (44, 3), (66, 4), (101, 5)):
            if f < limit:
                return value
        return 6


def ice40_pll_params(f_in, f_out, *, tolerance=0.01):
    """The SB_PLL40 dividers whose output is closest to ``f_out`` (Hz) from ``f_in`` (Hz).

    Among equally close settings the one with the highest phase detector frequency wins
    (less jitter). Raises ValueError when an input is outside the PLL's range or no setting
    comes within ``tolerance`` (relative) of the request.
    """
    if not F_IN[0] <= f_in <= F_IN[1]:
        raise ValueError(f"iCE40 PLL input frequency must be in 10..133 MHz, not {f_in / 1e6:g} MHz")
    if not F_OUT[0] <= f_out <= F_OUT[1]:
        raise ValueError(f"iCE40 PLL output frequency must be in 16..275 MHz, not {f_out / 1e6:g} MHz")
    best = None
    for divr in DIVR:
        f_pfd = f_in / (divr + 1)
        if not F_PFD[0] <= f_pfd <= F_PFD[1]:
            continue
        for divq in DIVQ:
            # F_out = F_pfd * (DIVF + 1) / 2**DIVQ: the nearest DIVF, then its neighbours
            ideal = f_out * 2 ** divq / f_pfd - 1
            for divf in {int(ideal), int(ideal) + 1}:
                if divf not in DIVF:
                    continue
                p = ICE40PLLParams(f_in, divr, divf, divq)
                if not (F_VCO[0] <= p.f_vco <= F_VCO[1] and F_OUT[0] <= p.f_out <= F_OUT[1]):
                    continue
                key = (abs(p.f_out - f_out), -p.f_pfd)
                if best is None or key < best[0]:
                    best = (key, p)
    if best is None or best[0][0] > tolerance * f_out:
        got = "no setting" if best is None else f"closest {best[1].f_out / 1e6:.4f} MHz"
        raise ValueError(f"iCE40 PLL cannot make {f_out / 1e6:g} MHz from {f_in / 1e6:g} MHz "
                         f"within {tolerance:.1%} ({got})")
    return best[1]


class ICE40PLL(wiring.Component):
    """iCE40 PLL from a reference clock to the core clock.

    Parameters
    ----------
    f_in, f_out : reference and requested output frequency (Hz)
    pad : the reference clock's pin (an IO port from ``platform.request(..., dir="-")``).
        With a pad the PLL takes its reference straight from the package pin
        (SB_PLL40_PAD: on the iCEBreaker the 12 MHz oscillator sits on the PLL's pad, pin
        35); without one it is an SB_PLL40_CORE fed from the ``clk_in`` port.
    tolerance : allowed relative error of the output frequency

    Attributes
    ----------
    clk_in : reference clock, in (only without ``pad``)
    clk_out : PLL output on a global net, out
    lock : PLL locked, out
    params : :class:`ICE40PLLParams` chosen; ``params.f_out`` is the real output frequency
    """

    def __init__(self, f_in, f_out, *, pad=None, tolerance=0.01):
        self.params = ice40_pll_params(f_in, f_out, tolerance=tolerance)
        self._pad = pad
        ports = {"clk_out": Out(1), "lock": Out(1)}
        if pad is None:
            ports["clk_in"] = In(1)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        p = self.params
        kwargs = dict(
            p_FEEDBACK_PATH="SIMPLE", p_DIVR=p.divr, p_DIVF=p.divf, p_DIVQ=p.divq,
            p_FILTER_RANGE=p.filter_range, i_RESETB=1, i_BYPASS=0, o_LOCK=self.lock,
        )
        if self._pad is None:
            m.submodules.pll = Instance("SB_PLL40_CORE", i_REFERENCECLK=self.clk_in,
                                        o_PLLOUTGLOBAL=self.clk_out, **kwargs)
        else:
            m.submodules.pll = Instance("SB_PLL40_PAD", i_PACKAGEPIN=self._pad,
                                        o_PLLOUTGLOBAL=self.clk_out, **kwargs)
        return m
