"""``gammacore import``: a NIR graph as a network file for ``gammacore run`` and ``export``."""
import json
from pathlib import Path

from .cli import CliError

EXAMPLES = [
    "gammacore import --nir digits.nir --save digits.json",
    "gammacore import --nir other_tool.nir --dt 0.0005 --save net.json",
]


def add_arguments(p):
    p.add_argument("--nir", required=True, metavar="PATH",
                   help="NIR graph (HDF5): one written by `gammacore export` (read back exactly), or another "
                        "tool's chain of Affine/Linear and LI/CubaLI nodes (what is approximated is listed)")
    p.add_argument("--save", required=True, metavar="PATH", help="write the network here (the `train --save` format)")
    p.add_argument("--dt", type=float, metavar="SECONDS",
                   help="time step for a graph that does not state one (default 0.001)")


def run(args):
    from ..golden.nir_io import read_nir, saved_network
    save = Path(args.save)
    if not save.resolve().parent.is_dir():
        raise CliError(f"--save: directory {str(save.parent)!r} does not exist")
    if args.dt is not None and not args.dt > 0:
        raise CliError(f"--dt expects a positive number of seconds, not {args.dt!r}")
    cfg, params, meta, notes = read_nir(args.nir, dt=args.dt)
    try:
        save.write_text(json.dumps(saved_network(cfg, params, meta, args.nir)) + "\n")
    except OSError as exc:
        raise CliError(f"cannot write --save {str(save)!r}: {exc.strerror}") from None
    shape = "-".join(str(n) for n in [cfg.layers[0].n_in] + [l.n_out for l in cfg.layers])
    print(f"network {shape}, K = {', '.join(str(l.K) for l in cfg.layers)} buckets per layer, dt = {cfg.dt:g} s")
    if args.dt is not None and not notes and args.dt != cfg.dt:
        print(f"--dt {args.dt:g} not used: the graph states dt = {cfg.dt:g} s")
    if notes:
        print("approximated:")
        for n in notes:
            print(f"  - {n}")
    else:
        print("exact: every parameter as in the graph")
    print(f"network: {save}")
    return 0
