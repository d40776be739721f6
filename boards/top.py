"""Board top level: oscillator -> PLL -> core clock domain, reset synchroniser, UART, LEDs.

The design (the chip, or the characterisation probe) is any component with ports
``rx: In(1)``, ``tx: Out(1)``, ``leds: Out(4)``; it runs in the ``sync`` domain at the PLL's
output frequency. Its reset is held while the PLL is unlocked and released synchronously.
``rx`` comes from the FTDI bridge's UART through a two-flip-flop synchroniser; ``tx`` and the
LEDs go straight to their pins (a board with fewer than four LEDs shows the first ones).
"""
from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Module
from amaranth.lib import io
from amaranth.lib.cdc import FFSynchronizer, ResetSynchronizer
from amaranth.build import ResourceError

from .pll_ecp5 import ECP5PLL, ecp5_pll_params
from .pll_ice40 import ICE40PLL, ice40_pll_params

__all__ = ["BoardTop", "pll_params"]


def pll_params(board, core_clock):
    """The PLL setting of ``board`` closest to ``core_clock`` (Hz); its ``f_out`` is the real
    core clock. ValueError when the PLL cannot make it."""
    if board.family == "ice40":
        return ice40_pll_params(board.clock[1], core_clock)
    if board.family == "ecp5":
        return ecp5_pll_params(board.clock[1], core_clock)
    raise ValueError(f"board family must be 'ice40' or 'ecp5', not {board.family!r}")


class BoardTop(Elaboratable):
    """Top level of one board build.

    Parameters
    ----------
    board : :class:`~gammacore.boards.table.Board`
    design : callable ``design(clk_freq) -> Component`` with ``rx``, ``tx``, ``leds``; called
        with the PLL's real output frequency (Hz)
    core_clock : requested core clock (Hz)

    Attributes
    ----------
    pll : the PLL component (its ``params.f_out`` is the real core clock)
    design : the design built by ``design(clk_freq)``
    """

    def __init__(self, board, design, core_clock):
        self.board = board
        self.clk_freq = pll_params(board, core_clock).f_out
        self.core_clock = core_clock
        self.design = design(self.clk_freq)

    def elaborate(self, platform):
        m = Module()
        name, f_in = self.board.clock
        clk = platform.request(name, 0, dir="-")
        if self.board.family == "ice40":
            m.submodules.pll = pll = ICE40PLL(f_in, self.core_clock, pad=clk.io)
        else:
            m.submodules.pll = pll = ECP5PLL(f_in, self.core_clock)
            m.submodules.clk_buf = clk_buf = io.Buffer("i", clk)
            m.d.comb += pll.clk_in.eq(clk_buf.i)
        self.pll = pll
        m.domains.sync = ClockDomain("sync")
        m.d.comb += ClockSignal("sync").eq(pll.clk_out)
        platform.add_clock_constraint(pll.clk_out, pll.params.f_out)
        m.submodules.reset_sync = ResetSynchronizer(~pll.lock, domain="sync")

        m.submodules.design = design = self.design
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_buf = rx_buf = io.Buffer("i", uart.rx)
        m.submodules.tx_buf = tx_buf = io.Buffer("o", uart.tx)
        m.submodules.rx_sync = FFSynchronizer(rx_buf.i, design.rx, init=1)
        m.d.comb += tx_buf.o.eq(design.tx)

        for n in range(len(design.leds)):
            try:
                led = platform.request("led", n, dir="-")
            except ResourceError:
                break
            m.submodules[f"led_buf{n}"] = buf = io.Buffer("o", led)
            m.d.comb += buf.o.eq(design.leds[n])
        return m
