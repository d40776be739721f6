"""8N1 UART receiver and transmitter with byte streams; one bit is ``divisor`` clocks.

``divisor = clock frequency / baud rate`` (a constructor parameter, at least 4: 3 Mbaud from
12 MHz). The receiver samples each bit in its middle, timed from the falling edge of the start
bit, so it tolerates the usual few percent of baud-rate mismatch; the transmitter sends back to
back bytes without idle time between them.
"""
from amaranth.hdl import Module, Signal
from amaranth.lib import enum, stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UartRx", "UartTx", "MIN_DIVISOR"]

#: smallest divisor: the receiver needs a start-bit half of at least 2 clocks
MIN_DIVISOR = 4


def _check_divisor(divisor):
    if not isinstance(divisor, int) or divisor < MIN_DIVISOR:
        raise ValueError(f"UART divisor (clocks per bit) must be an integer >= {MIN_DIVISOR}, "
                         f"not {divisor!r}")


class UartRx(wiring.Component):
    """8N1 receiver.

    A byte whose stop bit is low is dropped and counted in ``framing_errors``; the receiver
    then waits for the line to return high (a break is one error, not many). A byte that
    arrives while the previous one is still not taken is dropped and counted in
    ``overruns``. Counters wrap.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (>= 4).

    Attributes
    ----------
    rx : Signal, in
        Serial line (idle high); synchronised inside.
    o : stream of 8-bit bytes, out
    framing_errors, overruns : Signal(16), out
    """
    rx: In(1, init=1)
    o: Out(stream.Signature(8))
    framing_errors: Out(16)
    overruns: Out(16)

    class State(enum.Enum, shape=3):
        IDLE = 0
        START = 1
        DATA = 2
        STOP = 3
        WAIT_HIGH = 4

    def __init__(self, divisor):
        _check_divisor(divisor)
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, rx, init=1)

        State = self.State
        state = Signal(State)
        timer = Signal(range(self.divisor))
        bits = Signal(range(8))
        shreg = Signal(8)

        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)

        with m.Switch(state):
            with m.Case(State.IDLE):
                with m.If(~rx):
                    m.d.sync += [timer.eq(self.divisor // 2 - 1), state.eq(State.START)]
            with m.Case(State.START):
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1), bits.eq(0)]
                    m.d.sync += state.eq(State.DATA)
                    with m.If(rx):
                        m.d.sync += state.eq(State.IDLE)   # a glitch, not a start bit
            with m.Case(State.DATA):
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self.divisor - 1), shreg.eq((shreg >> 1) | (rx << 7)),
                                 bits.eq(bits + 1)]
                    with m.If(bits == 7):
                        m.d.sync += state.eq(State.STOP)
            with m.Case(State.STOP):
                with m.If(timer == 0):
                    with m.If(rx):
                        with m.If(self.o.valid & ~self.o.ready):
                            m.d.sync += self.overruns.eq(self.overruns + 1)
                        with m.Else():
                            m.d.sync += [self.o.valid.eq(1), self.o.payload.eq(shreg)]
                        m.d.sync += state.eq(State.IDLE)
                    with m.Else():
                        m.d.sync += [self.framing_errors.eq(self.framing_errors + 1),
                                     state.eq(State.WAIT_HIGH)]
            with m.Case(State.WAIT_HIGH):
                with m.If(rx):
                    m.d.sync += state.eq(State.IDLE)
        return m


class UartTx(wiring.Component):
    """8N1 transmitter: takes a byte from ``i`` whenever the line is free.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (>= 4).

    Attributes
    ----------
    i : stream of 8-bit bytes, in
    tx : Signal, out
        Serial line (idle high).
    busy : Signal, out
        A byte is being sent.
    """
    i: In(stream.Signature(8))
    tx: Out(1, init=1)
    busy: Out(1)

    def __init__(self, divisor):
        _check_divisor(divisor)
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        bits = Signal(range(11))
        shreg = Signal(10, init=0x3FF)

        # the next byte is taken in the last cycle of a stop bit: no idle clock between bytes
        m.d.comb += [self.i.ready.eq((bits == 0) | ((bits == 1) & (timer == 0))),
                     self.busy.eq(bits != 0), self.tx.eq(shreg[0])]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [shreg.eq((1 << 9) | (self.i.payload << 1)), bits.eq(10),
                         timer.eq(self.divisor - 1)]
        with m.Elif((bits != 0) & (timer == 0)):
            m.d.sync += [shreg.eq((shreg >> 1) | (1 << 9)), bits.eq(bits - 1),
                         timer.eq(self.divisor - 1)]
        with m.Elif(bits != 0):
            m.d.sync += timer.eq(timer - 1)
        return m
