"""``gammacore board --sim``: run the simulated board behind a pseudo-terminal until stopped."""
import signal
import time

from .cli import CliError

EXAMPLES = [
    "gammacore board --sim --link /tmp/gammacore-tty   # then: gammacore status --port /tmp/gammacore-tty",
]


def add_arguments(p):
    p.add_argument("--sim", action="store_true", required=True,
                   help="run the simulated board (the only board this command runs)")
    p.add_argument("--simulator", default="verilator", choices=["verilator", "icarus"],
                   help="simulator (default verilator; Icarus is far too slow for a board and is refused)")
    p.add_argument("--link", metavar="PATH", help="also make a symlink to the pty at PATH (removed on exit)")
    p.add_argument("--netlist", metavar="BOARD",
                   help="the gate-level board: BOARD's default build as yosys maps it, with the vendor cell "
                        "models (the PLL is not modelled: the core is clocked directly)")


def run(args):
    if args.simulator != "verilator":
        raise CliError("the simulated board runs on Verilator only: Icarus simulates this design at about "
                       "2 thousand cycles per second, a board needs at least 1 million")
    from .session import simulated_board
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    with simulated_board(log=print, link=args.link, netlist=args.netlist) as board:
        what = f"gate-level {args.netlist} board (PLL not modelled)" if args.netlist else "simulated board"
        print(f"{what} on {board.port}" + (f" (link {args.link})" if args.link else ""))
        print(f"UART: {board.divisor} clocks per bit; open it with --port {board.port}; Ctrl-C stops it", flush=True)
        try:
            while not stop and board.proc.poll() is None:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    print(board.stats or "simulated board stopped")
    return 0
