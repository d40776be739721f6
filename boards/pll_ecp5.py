"""ECP5 PLL (EHXPLLL) and its divider search.

EHXPLLL with CLKOP fed back (Lattice FPGA-DS-02012 "ECP5 Family Data Sheet", sysCLOCK PLL
timing; TN1263 "ECP5 sysCLOCK PLL/DLL Design and Usage Guide"):

- reference F_in in 8..400 MHz, divided by CLKI_DIV (1..128) to the phase detector frequency
  F_pfd, which must stay in 3.125..400 MHz;
- F_out = F_pfd * CLKFB_DIV (1..80), within 3.125..400 MHz;
- the VCO runs at F_vco = F_out * CLKOP_DIV (1..128), within 400..800 MHz.
"""
from dataclasses import dataclass

from amaranth.hdl import Instance, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["ECP5PLLParams", "ecp5_pll_params", "ECP5PLL"]

F_IN = (8e6, 400e6)
F_PFD = (3.125e6, 400e6)
F_VCO = (400e6, 800e6)
F_OUT = (3.125e6, 400e6)
CLKI_DIV = range(1, 129)
CLKFB_DIV = range(1, 81)
CLKOP_DIV = range(1, 129)


@dataclass(frozen=True)
class ECP5PLLParams:
    """Divider settings of one EHXPLLL configuration and the frequencies they give (Hz)."""
    f_in: float
    clki_div: int
    clkfb_div: int
    clkop_div: int

    @property
    def f_pfd(self):
        return self.f_in / self.clki_div

    @property
    def f_out(self):
        return self.f_pfd * self.clkfb_div

    @property
    def f_vco(self):
        return self.f_out * self.clkop_div


def ecp5_pll_params(f_in, f_out, *, tolerance=0.01):
    """The EHXPLLL dividers whose CLKOP is closest to ``f_out`` (Hz) from ``f_in`` (Hz).

    Among equally close settings the one with the highest phase detector frequency wins,
    then the one with the VCO nearest the middle of its range. Raises ValueError when an
    input is outside the PLL's range or no setting comes within ``tolerance`` (relative).
    """
    if not F_IN[0] <= f_in <= F_IN[1]:
        raise ValueError(f"ECP5 PLL input frequency must be in 8..400 MHz, not {f_in / 1e6:g} MHz")
    if not F_OUT[0] <= f_out <= F_OUT[1]:
        raise ValueError(f"ECP5 PLL output frequency must be in 3.125..400 MHz, not {f_out / 1e6:g} MHz")
    mid = sum(F_VCO) / 2
    best = None
    for clki in CLKI_DIV:
        f_pfd = f_in / clki
        if not F_PFD[0] <= f_pfd <= F_PFD[1]:
            continue
        ideal = f_out / f_pfd
        for clkfb in {int(ideal), int(ideal) + 1}:
            if clkfb not in CLKFB_DIV:
                continue
            for clkop in CLKOP_DIV:
                p = ECP5PLLParams(f_in, clki, clkfb, clkop)
                if not (F_VCO[0] <= p.f_vco <= F_VCO[1] and F_OUT[0] <= p.f_out <= F_OUT[1]):
                    continue
                key = (abs(p.f_out - f_out), -p.f_pfd, abs(p.f_vco - mid))
                if best is None or key < best[0]:
                    best = (key, p)
    if best is None or best[0][0] > tolerance * f_out:
        got = "no setting" if best is None else f"closest {best[1].f_out / 1e6:.4f} MHz"
        raise ValueError(f"ECP5 PLL cannot make {f_out / 1e6:g} MHz from {f_in / 1e6:g} MHz "
                         f"within {tolerance:.1%} ({got})")
    return best[1]


class ECP5PLL(wiring.Component):
    """ECP5 EHXPLLL from a reference clock to the core clock (CLKOP, fed back internally).

    Parameters
    ----------
    f_in, f_out : reference and requested output frequency (Hz)
    tolerance : allowed relative error of the output frequency

    Attributes
    ----------
    clk_in : reference clock, in
    clk_out : CLKOP, out
    lock : PLL locked, out
    params : :class:`ECP5PLLParams` chosen; ``params.f_out`` is the real output frequency
    """
    clk_in: In(1)
    clk_out: Out(1)
    lock: Out(1)

    def __init__(self, f_in, f_out, *, tolerance=0.01):
        self.params = ecp5_pll_params(f_in, f_out, tolerance=tolerance)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        p = self.params
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{p.f_in / 1e6:g}", a_FREQUENCY_PIN_CLKOP=f"{p.f_out / 1e6:g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1", a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_CLKOP_ENABLE="ENABLED",
            p_CLKI_DIV=p.clki_div, p_CLKFB_DIV=p.clkfb_div, p_CLKOP_DIV=p.clkop_div,
            p_CLKOP_CPHASE=p.clkop_div - 1, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
            i_RST=0, i_STDBY=0, i_CLKI=self.clk_in, i_CLKFB=self.clk_out,
            i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
            i_PLLWAKESYNC=0, i_ENCLKOP=0,
            o_CLKOP=self.clk_out, o_LOCK=self.lock,
        )
        return m
