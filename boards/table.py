"""The boards gammacore builds for: platform, device, clocks, default network size.

``BOARDS`` maps the name used on the command line (``gammacore build --board NAME``) to a
:class:`Board`. On the ECP5 boards the default size is the largest whole chip (``soc``: two
layers of n x n, K = 4) that was built here and closed timing at 25 MHz
(``benchmarks/bench_boards.py --soc``, docs/boards.md); the default builds now meet the
higher core clocks below. On the iCEBreaker's UP5K the
chip fits with the board's options (inference-only, sync-only, serial encoder, no statistics
counters; W, V and B in the SPRAMs) at two layers of 16 x 16, which closes at about 22.5 MHz
there.

The default core clocks are chosen for the UART: the host opens every port at
:data:`gammacore.protocol.UART_BAUD` (3 Mbaud), so the core clock must be an integer multiple
of it, or within :data:`~gammacore.protocol.UART_TOLERANCE` of one. The iCEBreaker runs at
18 MHz (12 MHz x 48 / 32; 6 clocks per bit, exact): its lean build, at 98 % of the logic
cells, was placed at 20.4-23.9 MHz over small changes of the design, so 21 MHz (7 clocks per
bit) left no margin; at 18 the build has about 15 %. The ULX3S's PLL (EHXPLLL with CLKOP fed
back, phase detector at least 3.125 MHz) makes a multiple of 3 MHz from 25 MHz only at
multiples of 15 MHz (25 / 5 x 3k: 15, 30, 45, 60, 75 MHz ...); each board takes the
highest of them that its default build meets: 75 MHz (25 clocks per bit) on every ULX3S.
At 75 MHz (2026-12-06, docs/boards.md) the 12F/25F default build placed at 88.20 MHz, the
45F's at 79.30 (79.47 on 2026-12-07) and the 85F's two lanes at 76.53 (79.62 on 2026-12-07) at
nextpnr seed 3, the 85F's default seed
(:attr:`Board.seed`; it ran at 60 MHz from 2026-12-05 to 12-06). The former 20.833 MHz (25 x
5 / 6, 7 clocks per bit, -0.8 %) dated from builds that closed at 22-27 MHz.
"""
from dataclasses import dataclass, field

from ..protocol import WINDOW

from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.ulx3s import (ULX3S_12F_Platform, ULX3S_25F_Platform, ULX3S_45F_Platform,
                                   ULX3S_85F_Platform)

__all__ = ["Size", "Board", "BOARDS", "board"]


@dataclass(frozen=True)
class Size:
    """Network capacity: layers, inputs of the first layer, neurons per layer, buckets K.

    A layer has ``inputs`` sources (the first) or ``neurons`` sources (the others), so the
    synapse count is ``inputs * neurons + (layers - 1) * neurons**2``.
    """
    layers: int = 1
    inputs: int = 16
    neurons: int = 16
    buckets: int = 4

    def __post_init__(self):
        for name in ("layers", "inputs", "neurons", "buckets"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")

    @property
    def synapses(self):
        return self.inputs * self.neurons + (self.layers - 1) * self.neurons ** 2

    def capacity(self):
        """The chip's :class:`gammacore.regmap.Capacity` of this size (totals over layers)."""
        from ..regmap import Capacity
        return Capacity(self.layers, self.layers * self.neurons, self.inputs + (self.layers - 1) * self.neurons,
                        self.synapses, self.buckets, max(self.inputs, self.neurons))


@dataclass(frozen=True)
class Board:
    """One board.

    Attributes
    ----------
    name : command-line name
    platform : amaranth-boards platform class
    family : "ice40" or "ecp5" (selects PLL and tools)
    clock : board oscillator resource name and its frequency (Hz)
    core_clock : default core clock target (Hz)
    size : default network size (what fits with that clock)
    multipliers : hard multipliers of the device (SB_MAC16 / MULT18X18D)
    options : construction options of the chip on this board
        (:data:`gammacore.boards.flow.CHIP_OPTIONS`: ``learning``, ``serial_encoder``, ``async_modes``, ``counters``)
    nextpnr_args : device and package options of nextpnr
    programmer : openFPGALoader board name
    link_window : commands in flight on the soc build's host link (a power of two,
        :class:`gammacore.rtl.link_core.LinkCore`); the iCEBreaker's is 1 (stop and wait): the
        window's replay cache (W = 4) takes about 400 more logic cells than its 52 free ones
    seed : nextpnr's placement seed for the default build (``gammacore build`` without
        ``--seed``): 1, or one the board's default build was seen to meet its clock at
    max_lanes : the most lanes the board's default build (its size and options) holds, and
        ``lanes_bound``, what bounds it (measured; ``gammacore build --lanes`` refuses more
        before synthesis starts, with the board's chip options); ``lanes_size_bound``: the
        bound (block RAM) holds at the default size only, the others (multipliers) at any
    """
    name: str
    platform: type
    family: str
    clock: tuple
    core_clock: float
    size: Size
    multipliers: int
    nextpnr_args: tuple = field(default=())
    programmer: str = ""
    options: dict = field(default_factory=dict)
    link_window: int = WINDOW
    seed: int = 1
    max_lanes: int = 1
    lanes_bound: str = ""
    lanes_size_bound: bool = False

    def lanes_refused(self, design, size, options):
        """Why a build of ``design`` at ``size`` with chip ``options`` (its lanes among them)
        has more lanes than this board holds, or None: checked for the chip designs (soc,
        probe-chip) with the board's options apart from the lanes, and, when
        ``lanes_size_bound``, at the board's size (:attr:`max_lanes` was measured there)."""
        from .flow import CHIP_OPTIONS
        lanes = options.get("lanes", CHIP_OPTIONS["lanes"])
        same = all(options.get(n, v) == self.options.get(n, v) for n, v in CHIP_OPTIONS.items() if n != "lanes")
        if (design not in ("soc", "probe-chip") or not same or lanes <= self.max_lanes
                or (self.lanes_size_bound and size != self.size)):
            return None
        return f"the {self.name} build holds at most {self.max_lanes} lane{'s' * (self.max_lanes > 1)} ({self.lanes_bound})"

    @property
    def host_baud(self):
        """The rate the host opens this board's port at by default (and its default build's)."""
        from ..protocol import UART_BAUD
        return UART_BAUD

    @property
    def device(self):
        return self.platform.device

    @property
    def package(self):
        return self.platform.package


def _ulx3s(size_name, platform, multipliers, size, core_clock, options=None, **board):
    return Board(name=f"ulx3s-{size_name}", platform=platform, family="ecp5", clock=("clk25", 25e6),
                 core_clock=core_clock, size=size, multipliers=multipliers, options=options or {},
                 nextpnr_args=(f"--{size_name.rstrip('f')}k", "--package", "CABGA381", "--speed", "6"),
                 programmer="ulx3s", **board)


#: the ULX3S's default core clock: 25 MHz / 5 x 15, 25 UART clocks per bit at 3 Mbaud (exact)
ULX3S_CLOCK = 75e6
#: the 85F's default build's nextpnr seed: with the 18-bit learning operands its two lanes
#: meet 75 MHz at seed 4 (76.84 MHz, 742 s, 2026-12-07; 78.13 MHz on a0f9e71), where router1 had not finished after
#: 1,225 s at seed 3 and 1,336 s at seed 2 (stopped); with 32-bit operands seed 3 met it
#: (76.53-77.69 MHz) and seed 1's router gave up on congestion after 44 min
#: (benchmarks/README.md, "Reads without the hold multiplexer"); from 2026-12-05 to 12-06 the
#: 85F ran at 60 MHz
ULX3S_85F_SEED = 4
#: the 45F/85F hold the sample sequencer (whole samples on chip; their default build with it:
#: the 45F 26 multipliers, 106 DP16KD); the 12F/25F leave it out (20 of their 28 multipliers in
#: use without it since the learning operands are 18 bits, 26 before; not yet built with it)
ULX3S_LARGE_OPTIONS = {"samples": True}
#: the 85F builds two lanes (P = 2: two multiply-accumulates per clock, 40 of its 156
#: multipliers), at :data:`ULX3S_85F_SEED`; the 45F's 72 multipliers and 108 DP16KD hold P = 1
ULX3S_85F_OPTIONS = {**ULX3S_LARGE_OPTIONS, "lanes": 2}
#: hard multipliers (MULT18X18D) a lane adds to an ECP5 build with learning, measured on the
#: 85F's default options with the 18-bit learning operands: 26 / 40 / 70 at P = 1 / 2 / 4 (the
#: 45F's default build, the 85F's at P = 2 and at P = 4; 32 / 52 / 93 with 32-bit operands;
#: docs/boards.md)
ECP5_LANE_MULTIPLIERS = 15
#: the 85F's hard multipliers, and those its default build takes at one lane
ULX3S_85F_MULTIPLIERS, ULX3S_85F_ONE_LANE = 156, 26
#: what bounds each board's lanes at its default size and options (Board.max_lanes), from
#: the builds in docs/boards.md
ICEBREAKER_LANES = "one lane takes all 8 SB_MAC16 and 5113 of the 5280 logic cells"
ULX3S_SMALL_LANES = (f"one lane takes 20 of the 28 MULT18X18D, and a lane adds about "
                     f"{ECP5_LANE_MULTIPLIERS}")
ULX3S_45F_LANES = "one lane takes 106 of the 108 DP16KD, and two took 113 on the 85F"
ULX3S_85F_LANES = (f"{ULX3S_85F_ONE_LANE} MULT18X18D at one lane and about {ECP5_LANE_MULTIPLIERS} more per lane "
                   f"(40 at two, 70 at four), against its {ULX3S_85F_MULTIPLIERS}")

BOARDS = {b.name: b for b in [
    Board(name="icebreaker", platform=ICEBreakerPlatform, family="ice40", clock=("clk12", 12e6),
          core_clock=18e6, size=Size(2, 16, 16, 4), multipliers=8,
          nextpnr_args=("--up5k", "--package", "sg48"), programmer="icebreaker",
          options={"learning": False, "serial_encoder": True, "async_modes": False, "counters": False},
          link_window=1, lanes_bound=ICEBREAKER_LANES),
    _ulx3s("12f", ULX3S_12F_Platform, 28, Size(2, 64, 64, 4), ULX3S_CLOCK, lanes_bound=ULX3S_SMALL_LANES),
    _ulx3s("25f", ULX3S_25F_Platform, 28, Size(2, 64, 64, 4), ULX3S_CLOCK, lanes_bound=ULX3S_SMALL_LANES),
    _ulx3s("45f", ULX3S_45F_Platform, 72, Size(2, 128, 128, 4), ULX3S_CLOCK, ULX3S_LARGE_OPTIONS,
           lanes_bound=ULX3S_45F_LANES, lanes_size_bound=True),
    _ulx3s("85f", ULX3S_85F_Platform, ULX3S_85F_MULTIPLIERS, Size(2, 128, 128, 4), ULX3S_CLOCK, ULX3S_85F_OPTIONS,
           seed=ULX3S_85F_SEED, lanes_bound=ULX3S_85F_LANES,
           max_lanes=1 + (ULX3S_85F_MULTIPLIERS - ULX3S_85F_ONE_LANE) // ECP5_LANE_MULTIPLIERS),
]}


def board(name):
    """The :class:`Board` called ``name``; ValueError naming the known boards otherwise."""
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; expected one of {', '.join(BOARDS)}") from None
