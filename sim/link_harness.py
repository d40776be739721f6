"""The host link with a host-side UART pair on its pins, for simulation (tests, benchmarks)."""
from amaranth.hdl import Elaboratable, Module

from ..rtl.link import Link
from ..rtl.uart import UartRx, UartTx

__all__ = ["PinHarness"]


class PinHarness(Elaboratable):
    """The full Link with a host-side UART pair on its pins (``host_tx`` drives ``link.rx``,
    ``link.tx`` drives ``host_rx``)."""

    def __init__(self, divisor):
        self.link = Link(divisor)
        self.host_tx, self.host_rx = UartTx(divisor), UartRx(divisor)

    def elaborate(self, platform):
        m = Module()
        m.submodules.link, m.submodules.host_tx, m.submodules.host_rx = self.link, self.host_tx, self.host_rx
        m.d.comb += [self.link.rx.eq(self.host_tx.tx), self.host_rx.rx.eq(self.link.tx)]
        return m
