"""The top level of gammacore without board specifics: UART link + chip + status LEDs.

A board top level (gammacore.boards) adds its PLL, reset and pins; the simulated board
(gammacore.sim.board) clocks it natively behind a pty. Both talk to it with the same host
code: frames of :mod:`gammacore.protocol` over the UART, carrying word-bus requests in the
address map of :mod:`gammacore.regmap`.

The link's counters are readable at ``Reg.LINK_COUNTERS`` (see :mod:`gammacore.regmap`).
LEDs: 0 busy (a command is running), 1 an output packet waits for the host, 2 the link saw
a bad frame since reset (sticky), 3 heartbeat (toggles every 2**24 clocks).
"""
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import protocol as P
from ..regmap import Capacity
from .chip import Chip
from .link import COUNTERS as LINK_COUNTERS, Link

__all__ = ["SoC", "SIM_CAPACITY", "SIM_LANES"]

#: the simulated board's capacity: room for the reference tasks' networks (digits 8-128-10)
SIM_CAPACITY = Capacity(layers=4, neurons=256, inputs=256, synapses=4096, buckets=4, max_layer=128)
#: the simulated board's lanes (the network core's neurons per clock; no board's resources bound it)
SIM_LANES = 4


class SoC(wiring.Component):
    """UART link and chip.

    Parameters
    ----------
    capacity : :class:`gammacore.regmap.Capacity`
    divisor : clocks per UART bit (clock frequency / baud rate), at least 4
    pow2 : power-of-two bucket rates (DSP-poor devices)
    learning : with the learning unit (False: inference only, see :class:`~gammacore.rtl.chip.Chip`)
    serial_encoder : the encoder for few logic cells (see :class:`~gammacore.rtl.net_core.NetCore`)
    async_modes : with the asynchronous modes (False: sync only, see :class:`~gammacore.rtl.chip.Chip`)
    counters : with the statistics counters, the link's included (False: they read 0, see
        :class:`~gammacore.rtl.chip.Chip`)
    lanes : the network core's lanes (see :class:`~gammacore.rtl.net_core.NetCore`)
    samples : with the sample sequencer (see :class:`~gammacore.rtl.chip.Chip`)
    link_window : commands in flight on the link (see :class:`~gammacore.rtl.link_core.LinkCore`;
        1: stop and wait, the engine for the fewest logic cells)

    Attributes
    ----------
    rx : UART receive pin (idle high), in
    tx : UART transmit pin, out
    leds : status (see the module docs), out
    chip : the :class:`~gammacore.rtl.chip.Chip` (set when elaborated)
    """

    def __init__(self, capacity: Capacity, divisor=4, *, pow2=False, out_depth=256, learning=True,
                 serial_encoder=False, async_modes=True, counters=True, lanes=1, samples=True,
                 link_window=P.WINDOW):
        if not isinstance(capacity, Capacity):
            raise TypeError(f"capacity must be a gammacore.regmap.Capacity, not {capacity!r}")
        self.capacity, self.divisor, self.pow2, self.out_depth = capacity, divisor, pow2, out_depth
        self.learning, self.serial_encoder, self.async_modes = learning, serial_encoder, async_modes
        self.counters, self.lanes, self.samples, self.link_window = counters, lanes, samples, link_window
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "leds": Out(4)})

    def elaborate(self, platform):
        m = Module()
        # the link's Fmax register with the chip's (both left out of the lean build, whose
        # serial encoder marks it)
        m.submodules.link = link = Link(self.divisor, window=self.link_window, registered=not self.serial_encoder)
        m.submodules.chip = self.chip = chip = Chip(self.capacity, pow2=self.pow2, out_depth=self.out_depth,
                                        n_link_counters=len(LINK_COUNTERS), learning=self.learning,
                                        serial_encoder=self.serial_encoder, async_modes=self.async_modes,
                                        counters=self.counters, lanes=self.lanes, samples=self.samples)
        wiring.connect(m, link.bus, chip.bus)
        for n, name in enumerate(LINK_COUNTERS):
            m.d.comb += chip.link_counters[n].eq(getattr(link, name))
        m.d.comb += [link.rx.eq(self.rx), self.tx.eq(link.tx)]
        bad = Signal()
        beat = Signal(25)
        m.d.sync += beat.eq(beat + 1)
        with m.If(link.crc_errors != 0):
            m.d.sync += bad.eq(1)
        m.d.comb += self.leds.eq(chip.busy | (chip.activity << 1) | (bad << 2) | (beat[24] << 3))
        return m
