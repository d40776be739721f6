"""The ``gammacore`` command line.

Each subcommand lives in its own module ``gammacore.host.cmd_<name>`` that defines
``EXAMPLES`` (shown at the end of its ``--help``), ``add_arguments(parser)`` and
``run(args) -> int``; its one-line help is in :data:`COMMANDS`. The options every
board-facing command shares, ``--port`` and ``--baud``, are defined once here
(:func:`add_port`, :func:`add_baud`).

Bad input raises :class:`CliError` (or ``ValueError`` from the library), which is printed as
one line naming the value, with exit status 2 - never a traceback. A chip or link that does
not answer or refuses (``ChipError``, ``LinkError``) is one line too, exit status 3.
"""
import argparse
import importlib
import sys

#: name -> one-line help. The module gammacore.host.cmd_<name> implements it.
COMMANDS = {
    "train": "train a network on a reference task with the golden model (float or fixed point)",
    "verify": "run a random layer or network on the RTL in a simulator and compare it bit for bit with the golden model",
    "build": "build a bitstream for a board (yosys + nextpnr) and report resources and Fmax",
    "program": "load a bitstream into a board with openFPGALoader (or iceprog for the iCEBreaker)",
    "board": "run the simulated board (the whole top level in Verilator) behind a pty until Ctrl-C",
    "status": "show a chip's identity, capacity, step counter and every event and error counter",
    "run": "run a trained network (train --save) on a task's test set on the chip and compare with golden",
    "demo": "train a task online on the chip (simulated board by default) and compare with the golden model",
    "export": "write a saved network (train --save) as a NIR graph",
    "import": "read a NIR graph into a network file for run and export",
    "selftest": "check a board end to end: identity, memories, a known network and learning vs golden, link errors",
}


class CliError(Exception):
    """A user-facing error: bad input, missing tool, unreachable board."""


#: default baud rate of the host's UART (a board built by ``gammacore build`` runs its link
#: at that build's ``--baud``, 115200 unless given)


def add_port(p, default="sim", help=None):
    """``--port``: the board's serial port, a ``socket://`` URL, or ``sim`` (the simulated board)."""
    p.add_argument("--port", default=default, metavar="PATH|sim",
                   help=help or ("serial port of a board (/dev/ttyUSB1, socket://host:port) or 'sim' for the "
                                 f"simulated board (default {default})"))


def add_baud(p, default=None, help=None):
    """``--baud``: a UART baud rate, checked to be a positive integer."""
    from ..protocol import UART_BAUD
    default = UART_BAUD if default is None else default
    p.add_argument("--baud", type=_baud, default=default, metavar="BAUD",
                   help=help or f"UART baud rate of a real board (default {default})")


def _baud(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer baud rate, not {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer baud rate, not {text!r}")
    return v


def _module(name):
    return importlib.import_module(f"gammacore.host.cmd_{name.replace('-', '_')}")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="gammacore",
        description="gammacore: SpikingGamma networks with on-chip online learning - golden "
                    "model, RTL verification, FPGA builds and the host side of the board.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, help_text in COMMANDS.items():
        module = _module(name)
        p = sub.add_parser(name, help=help_text, description=help_text,
                           epilog="examples:\n" + "\n".join(f"  {line}" for line in module.EXAMPLES),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(_command=name)
        module.add_arguments(p)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(_module(args._command).run(args) or 0)
    except (CliError, ValueError, FileNotFoundError) as exc:
        print(f"gammacore {args._command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        # the board did not answer or did not do what it was told: say so in one line
        from .driver import ChipError
        from .link import LinkError
        if not isinstance(exc, (ChipError, LinkError)):
            raise
        print(f"gammacore {args._command}: chip error: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print(f"gammacore {args._command}: interrupted", file=sys.stderr)
        return 130
