"""``gammacore program``: load a bitstream built by ``gammacore build`` into a board."""
from pathlib import Path

from .cli import CliError

EXAMPLES = [
    "gammacore program --board icebreaker",
    "gammacore program --board ulx3s-85f --bitstream build/ulx3s-85f-soc/top.bit --flash",
]


def add_arguments(p):
    from ..boards.table import BOARDS
    p.add_argument("--board", required=True, metavar="{" + ",".join(BOARDS) + "}", help="target board")
    p.add_argument("--bitstream", metavar="PATH",
                   help="bitstream (default: build/<board>-<design>/top.bin or top.bit of the default design)")
    p.add_argument("--flash", action="store_true", help="write the configuration flash (default: SRAM only)")


def default_bitstream(board):
    from ..boards.flow import default_design
    return Path("build") / f"{board.name}-{default_design()}" / ("top.bin" if board.family == "ice40" else "top.bit")


def run(args):
    from ..boards.program import ProgramError, program
    from ..boards.table import board as lookup
    b = lookup(args.board)
    path = Path(args.bitstream) if args.bitstream else default_bitstream(b)
    if not path.is_file():
        raise CliError(f"bitstream {str(path)!r} not found (build it with: gammacore build --board {b.name})")
    try:
        output = program(b, path, flash=args.flash)
    except ProgramError as exc:
        raise CliError(str(exc)) from None
    print(output.rstrip())
    print(f"programmed {b.name} with {path}")
    return 0
