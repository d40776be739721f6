"""``gammacore export``: a network saved by ``gammacore train --save`` as a NIR graph."""
from pathlib import Path

from .cli import CliError

EXAMPLES = [
    "gammacore export --nir digits.nir digits.json",
]


def add_arguments(p):
    p.add_argument("network", help="network file written by `gammacore train --save` (or `gammacore import`)")
    p.add_argument("--nir", required=True, metavar="PATH",
                   help="write the NIR graph (HDF5) here: per layer Affine (W), LI buckets, Affine (V, b) and a "
                        "readout; the encoder and readout, which NIR cannot express, in the graph's metadata")


def run(args):
    from ..golden.nir_io import write_nir
    from .cmd_run import load_network
    out = Path(args.nir)
    if not out.resolve().parent.is_dir():
        raise CliError(f"--nir: directory {str(out.parent)!r} does not exist")
    saved, cfg, params = load_network(args.network)
    extra = {k: saved[k] for k in ("task", "seed", "model", "data") if k in saved}
    try:
        write_nir(out, cfg, params, extra)
    except OSError as exc:
        raise CliError(f"cannot write --nir {str(out)!r}: {exc}") from None
    shape = "-".join(str(n) for n in [cfg.layers[0].n_in] + [l.n_out for l in cfg.layers])
    print(f"network {shape}, K = {', '.join(str(l.K) for l in cfg.layers)} buckets per layer")
    print(f"nir: {out}")
    return 0
