"""Open a chip behind a port: a serial device, a socket:// URL, or the simulated board.

``--port sim`` builds (once, cached) and starts the simulated board - the SoC's Verilog
Verilated with a native harness, its UART behind a pty - and opens that pty with pyserial,
exactly as ``--port /dev/ttyUSB0`` opens a real board's FTDI bridge.
"""
import contextlib
import sys

from ..protocol import UART_BAUD
from .cli import CliError

__all__ = ["open_chip", "simulated_board", "SIM_DIVISOR", "NETLIST_TIMEOUT"]

#: clocks per UART bit of the simulated board (the link's minimum)
SIM_DIVISOR = 4


@contextlib.contextmanager
def simulated_board(log=None, divisor=SIM_DIVISOR, link=None, netlist=None, lanes=None):
    """Build and start the simulated board; yields the running SimulatedBoard.

    ``netlist``: a board name - the gate-level board of that board's default build
    (:mod:`gammacore.sim.netlist`; its PLL is not modelled, the core is clocked directly, at
    the build's UART divisor) instead of the RTL of the simulation capacity; ``lanes``: the
    RTL board's lanes (default :data:`~gammacore.rtl.soc.SIM_LANES`)."""
    from amaranth.back import verilog

    from ..rtl.soc import SIM_CAPACITY, SIM_LANES, SoC
    from ..sim.board import SimulatedBoard, build
    try:
        if netlist is not None:
            from ..boards.table import board as lookup
            from ..sim.netlist import NetlistBoard
            gate = NetlistBoard(lookup(netlist), log=log)
            binary, divisor = gate.binary, gate.divisor
        else:
            binary = build(verilog.convert(SoC(SIM_CAPACITY, divisor=divisor, lanes=SIM_LANES if lanes is None else lanes), name="top"), log=log)
    except RuntimeError as exc:
        raise CliError(str(exc)) from None
    board = SimulatedBoard(binary, divisor, link=link)
    try:
        board.start()
    except RuntimeError as exc:
        raise CliError(str(exc)) from None
    try:
        yield board
    finally:
        board.stop()


#: seconds the host waits for a command's response from the gate-level board: it simulates
#: 7 (the 85F) to 70 thousand clocks per second, a 64-word frame at 25 clocks per bit is
#: about 65 thousand clocks on the wire, and a window of 4 of them queue behind each other:
#: about 40 s on the 85F. A retry sent too early adds its frame to that queue (with 30 s,
#: `demo --port sim-netlist:ulx3s-85f` gave up after 4 attempts; with 5 s, ``verify
#: --netlist`` gave up on the 12F while the netlist was still answering)
NETLIST_TIMEOUT = 120.0


def is_simulated(port):
    """True for the simulated boards' ports: "sim" (RTL) and "sim-netlist:BOARD" (gate level)."""
    return port == "sim" or str(port).startswith("sim-netlist:")


@contextlib.contextmanager
def open_chip(port, baud=UART_BAUD, timeout=1.0, log=None, lanes=None):
    """Yields (chip, info): a :class:`gammacore.host.driver.Chip` and a dict describing the port.

    ``port``: a device path or pyserial URL; "sim" (the simulated board, RTL); or
    "sim-netlist:BOARD" (the gate-level board of BOARD's default build). ``lanes``: the RTL
    simulated board's lanes (default :data:`~gammacore.rtl.soc.SIM_LANES`); only with "sim"."""
    from .driver import Chip
    from .link import Link
    from .transport import open_transport
    log = log or (lambda msg: print(msg, file=sys.stderr))
    with contextlib.ExitStack() as stack:
        info, waits = {"port": port}, {}
        if is_simulated(port):
            netlist = str(port).split(":", 1)[1] if port != "sim" else None
            if lanes is not None and netlist is not None:
                raise CliError(f"lanes={lanes}: the gate-level board {netlist!r} has its default build's lanes")
            board = stack.enter_context(simulated_board(log=log, netlist=netlist, lanes=lanes))
            path = board.port
            info.update(simulated=True, pty=path, divisor=board.divisor, netlist=netlist)
            if netlist is not None:
                # the driver waits for a busy chip or sample slot as long as for a response
                # (a coincidence sample is ~52 k clocks on the 85F's netlist: its default 10 s
                # was too short on a loaded machine)
                timeout = max(timeout, NETLIST_TIMEOUT)
                waits["poll_timeout"] = timeout
            info["board"] = board
        else:
            if lanes is not None:
                raise CliError(f"lanes={lanes}: only the simulated board ('sim') is built on request, not {port!r}")
            path = port
            info["simulated"] = False
        try:
            transport = open_transport(path, baudrate=baud)
        except Exception as exc:
            raise CliError(f"cannot open port {port!r}: {exc}") from None
        stack.callback(transport.close)
        yield Chip(Link(transport, timeout=timeout), **waits), info
