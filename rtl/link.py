"""The host link: UART pins to the chip's word bus, speaking :mod:`gammacore.protocol`.

:class:`~gammacore.rtl.uart.UartRx` -> :class:`~gammacore.rtl.link_core.LinkCore` (framing,
CRC, command decoder, bus initiator, stored response for retries) ->
:class:`~gammacore.rtl.uart.UartTx`.
"""
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, connect

from .. import protocol as P
from .bus import bus_signature
from .link_core import COUNTERS as CORE_COUNTERS, LinkCore
from .uart import UartRx, UartTx

__all__ = ["Link", "COUNTERS"]

#: counter ports of :class:`Link`, in the order a register map would list them
COUNTERS = CORE_COUNTERS + ("framing_errors", "overruns")


class Link(wiring.Component):
    """Host link: UART, framing, command decoder and bus initiator.

    Parameters
    ----------
    divisor : int
        Clock cycles per UART bit (>= 4): clock frequency / baud rate.
    rx_fifo_depth : int
        Bytes buffered while a command executes (see :class:`LinkCore`).
    window : int
        Commands in flight (see :class:`LinkCore`).
    registered : bool
        The receive FIFO's bytes registered (see :class:`LinkCore`).

    Attributes
    ----------
    rx : Signal, in
        UART line from the host (idle high).
    tx : Signal, out
        UART line to the host (idle high).
    bus : bus initiator (:data:`gammacore.rtl.bus.bus_signature`), out
    busy : Signal, out
        A command is executing or a response is being sent.
    frames_ok, replays, crc_errors, cobs_errors, bad_opcodes, bad_lengths, bus_errors : Signal(16), out
        The counters of :class:`LinkCore`.
    framing_errors, overruns : Signal(16), out
        UART stop-bit errors; bytes lost because the receive FIFO was full.
    """

    def __init__(self, divisor, rx_fifo_depth=None, window=P.WINDOW, registered=True):
        self.uart_rx, self.uart_tx = UartRx(divisor), UartTx(divisor)
        self.core = LinkCore(rx_fifo_depth, window, registered)
        self.divisor = divisor
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "bus": Out(bus_signature),
            "busy": Out(1),
            **{name: Out(16) for name in COUNTERS},
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = urx = self.uart_rx
        m.submodules.uart_tx = utx = self.uart_tx
        m.submodules.core = core = self.core
        connect(m, urx.o, core.i)
        connect(m, core.o, utx.i)
        connect(m, wiring.flipped(self.bus), core.bus)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx), self.busy.eq(core.busy | utx.busy),
                     self.framing_errors.eq(urx.framing_errors), self.overruns.eq(urx.overruns)]
        m.d.comb += [getattr(self, name).eq(getattr(core, name)) for name in CORE_COUNTERS]
        return m
