"""Characterisation top: one datapath component with nothing to optimise away.

Every input port of the wrapped component (for the layer core: events, step, configuration
writes, bucket coefficients, encoder parameters, state read address, spike back-pressure) is
a bit of one serial scan-in shift register fed from ``rx``; every output is registered and
XOR-reduced, through a pipelined tree, to ``tx``. Synthesis therefore keeps the whole
datapath with its memories and multipliers, and the build reports the size and Fmax of
that datapath alone: the network core :class:`~gammacore.rtl.net_core.NetCore` with one
layer (``layer_probe``: the forward datapath, inference-only), the same core in its
leanest build, inference-only and sync-only with the serial encoder, around its MAC lane
(``accumulator_probe``), or the chip's bus target :class:`~gammacore.rtl.chip.Chip`, the
whole network with learning and routing but without the UART (``chip_probe``). It has the same ports as the chip (``rx``, ``tx``, ``leds``), so
the board top treats both alike.
"""
from amaranth.hdl import Cat, Module, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..regmap import Capacity
from ..rtl.chip import Chip
from ..rtl.net_core import NetCore

__all__ = ["Probe", "layer_probe", "accumulator_probe", "chip_probe"]


class Probe(wiring.Component):
    """A component behind a scan chain, for size and Fmax figures.

    Parameters
    ----------
    core : the wiring.Component to characterise (plain ports, streams and arrays)
    group : outputs XORed per first-level register of the reduction tree

    Attributes
    ----------
    rx : scan-in data, one bit per clock, in
    tx : XOR of all core outputs (two clocks late), out
    leds : the first four output bits of the core, registered, out
    core : the wrapped component
    scan_bits, out_bits : lengths of the scan chain and of the observed output vector
    """
    rx: In(1)
    tx: Out(1)
    leds: Out(4)

    def __init__(self, core, *, group=16):
        if not isinstance(core, wiring.Component):
            raise TypeError(f"core must be a wiring.Component, not {core!r}")
        if not isinstance(group, int) or group < 2:
            raise ValueError(f"group must be an integer >= 2, not {group!r}")
        self.core = core
        self.group = group
        self._ins, self._outs = [], []
        for path, member, value in self.core.signature.flatten(self.core):
            (self._ins if member.flow == In else self._outs).append(value)
        self.scan_bits = sum(len(Value.cast(v)) for v in self._ins)
        self.out_bits = sum(len(Value.cast(v)) for v in self._outs)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = self.core
        scan = Signal(self.scan_bits)
        m.d.sync += scan.eq(Cat(scan[1:], self.rx))
        m.d.comb += Cat(*(Value.cast(v) for v in self._ins)).eq(scan)

        captured = Signal(self.out_bits)
        m.d.sync += captured.eq(Cat(*(Value.cast(v) for v in self._outs)))
        partial = Signal(-(-self.out_bits // self.group))
        m.d.sync += [partial[n].eq(captured[i:i + self.group].xor())
                     for n, i in enumerate(range(0, self.out_bits, self.group))]
        m.d.sync += self.tx.eq(partial.xor())
        m.d.sync += self.leds.eq(captured)
        return m


def one_layer(inputs, neurons, buckets):
    """The :class:`Capacity` of one layer of ``inputs`` x ``neurons``, K = ``buckets``."""
    return Capacity(1, neurons, inputs, inputs * neurons, buckets, max(inputs, neurons))


def layer_probe(inputs, neurons, buckets, *, pow2=False):
    """:class:`Probe` of the :class:`NetCore` of one layer of ``inputs`` x ``neurons``, K =
    ``buckets``: the forward datapath (parallel encoder, asynchronous modes) without the
    learning unit, as the former single-layer core had it."""
    return Probe(NetCore(one_layer(inputs, neurons, buckets), pow2=pow2, learning=False))


def accumulator_probe(inputs, neurons):
    """:class:`Probe` of the :class:`NetCore` of one layer of ``inputs`` x ``neurons`` (K = 1)
    in its leanest build (inference-only, sync-only, serial encoder): the MAC lane with its
    W and A memories and the least of the rest."""
    return Probe(NetCore(one_layer(inputs, neurons, 1), learning=False, serial_encoder=True, async_modes=False))


def chip_probe(capacity, *, pow2=False, **options):
    """:class:`Probe` of the :class:`Chip` of ``capacity`` (a :class:`gammacore.regmap.Capacity`);
    ``options`` are the chip's further construction parameters (``learning``, ``serial_encoder``,
    ``async_modes``, ``counters``)."""
    return Probe(Chip(capacity, pow2=pow2, **options))
