"""``gammacore selftest``: check a board end to end in one command, one verdict per line.

For the day a board is plugged in (and for the simulated and gate-level boards, which CI
runs): identity and build options; a walking-ones and an address-in-address pattern over
every memory the host can write (weights W, bucket weights V, biases B, the routing table,
and the error memory on a learning build), each restored and read back afterwards; input
events in and spikes out on a known random network, compared with the golden model; a short
learning run compared with golden (on a learning build); and the link's error counters
before and after. Exit status 0 when every line passes, 1 otherwise (3 when the board does
not answer at all).
"""
import json
import time
from pathlib import Path

from .cli import CliError, add_baud, add_port

EXAMPLES = [
    "gammacore selftest --port /dev/ttyUSB1",
    "gammacore selftest --port sim",
    "gammacore selftest --port sim-netlist:icebreaker --json selftest.json",
]

#: the link counters that must not grow during the self-test
ERROR_COUNTERS = ("crc_errors", "cobs_errors", "bad_opcodes", "bad_lengths", "framing_errors", "overruns")


def add_arguments(p):
    add_port(p, default=None, help="serial port of the board (/dev/ttyUSB1 ...), sim (the simulated board) or "
                                   "sim-netlist:BOARD (the gate-level board of BOARD's default build); required")
    add_baud(p)
    p.add_argument("--seed", type=int, default=1, help="seed of the test networks and patterns (default 1)")
    p.add_argument("--steps", type=int, default=12, metavar="T", help="steps of each network run (default 12)")
    p.add_argument("--json", metavar="PATH", help="write every line's verdict and details to this JSON file")


class _Lines:
    def __init__(self):
        self.rows = []

    def add(self, name, ok, detail):
        verdict = "PASS" if ok else "FAIL"
        self.rows.append({"check": name, "verdict": verdict, "detail": detail})
        print(f"{verdict}  {name:<18} {detail}", flush=True)
        return ok


def _sext(value, width):
    """``value`` as a ``width``-bit word read back sign-extended (the bus reads memories so)."""
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value


def _read(chip, addr, n):
    from .. import regmap as R
    out = []
    for start in range(0, n, 64):
        out += [R.s32(w) for w in chip.link.read(addr + start, min(64, n - start))]
    return out


def _write(chip, addr, words):
    for start in range(0, len(words), 64):
        chip.link.write(addr + start, [int(w) & 0xFFFFFFFF for w in words[start:start + 64]])


def _memory(chip, name, region, depth, seed):
    """Walking ones (finding the word width), address-in-address twice, restore; returns
    (ok, detail)."""
    from .. import regmap as R
    base = R.mem_addr(region, 0)
    saved = _read(chip, base, depth)
    # walking ones over 32 words at each end of the region: word i holds bit i
    width = None
    signed = True
    problems = []
    for start in sorted({0, max(0, depth - 32)}):
        n = min(32, depth - start)
        pattern = [1 << b for b in range(n)]
        _write(chip, base + start, pattern)
        got = _read(chip, base + start, n)
        neg = [b for b, g in enumerate(got) if g < 0]
        w = neg[0] + 1 if neg else (32 if n == 32 and got[31] == -(1 << 31) else None)
        if w is None:
            # no bit reads back negative: an unsigned word (the routing table), as wide as the
            # highest bit that reads back
            w = max((b + 1 for b, g in enumerate(got) if g == 1 << b), default=0)
            signed = False
            expect = [p if b < w else 0 for b, p in enumerate(pattern)]
        else:
            expect = [_sext(p, w) for p in pattern]
        width = w if width is None else min(width, w)
        if got != expect:
            b = next(b for b, (g, e) in enumerate(zip(got, expect)) if g != e)
            problems.append(f"walking ones: word {start + b} bit {b} read {got[b]:#x}, expected {expect[b]:#x}")
    if width is None or width < 1:
        return False, f"{depth} words: no bit of the walking-ones pattern reads back"
    mask = (1 << width) - 1
    for label, value in (("address", lambda a: a), ("hash", lambda a: (a * 0x9E3779B1 + seed) >> 7)):
        words = [_sext(value(a) & mask, width) if signed else value(a) & mask for a in range(depth)]
        _write(chip, base, words)
        got = _read(chip, base, depth)
        if got != words:
            a = next(a for a, (g, e) in enumerate(zip(got, words)) if g != e)
            problems.append(f"address-in-address ({label}): word {a} read {got[a]:#x}, expected {words[a]:#x}")
    _write(chip, base, saved)
    restored = _read(chip, base, depth) == saved
    if not restored:
        problems.append("the saved contents did not read back after restoring")
    detail = (f"{depth} words of {width} bits ({'signed' if signed else 'unsigned'}): walking ones, address-in-address x2, restored"
              if not problems else "; ".join(problems[:3]))
    return not problems, detail


def _laned_w_memory(chip, cap, seed):
    """The W test of a laned core. Its W banks hold row j of a layer in lane j mod P, so the
    host reaches a W word only inside a loaded layer (gammacore.rtl.w_locator): one layer
    of the largest n_out x n_in that fits the capacity is described over the start of W,
    the words it covers are tested as the other memories are, and N_LAYERS is restored."""
    from .. import regmap as R
    K = cap["buckets"]
    n_out = min(cap["max_layer"], cap["neurons"])
    n_in = max(1, min(cap["inputs"], cap["synapses"] // n_out))
    (n_layers,) = chip.link.read(R.Reg.N_LAYERS, 1)
    chip.link.write(R.Reg.N_LAYERS, [1])
    for field, value in (("n_in", n_in), ("n_out", n_out), ("w_base", 0), ("n_base", 0), ("i_base", 0)):
        chip.link.write(R.desc_addr(0, field, K), [value])
    try:
        ok, detail = _memory(chip, "W", R.Region.W, n_in * n_out, seed)
    finally:
        chip.link.write(R.Reg.N_LAYERS, [int(n_layers)])
    return ok, f"laned core, one layer of {n_out} x {n_in}: " + detail


def _network(chip, ident, seed, steps, learn):
    from ..sim.board_case import first_mismatch, run_on_chip
    from ..sim.net_case import make_net_case
    cap = ident["capacity"]
    # two layers, 8 inputs, 8 hidden, 4 outputs (every build holds that; one layer of 8 x 4 otherwise)
    sizes = (8, 8, 4) if cap["layers"] >= 2 else (8, 4)
    case = make_net_case(seed, sizes, cap["buckets"], steps, p_learn=0.6 if learn else 0.0)
    obs = run_on_chip(chip, case)
    mismatch = first_mismatch(case, obs)
    spikes = sum(len(p) for p in obs["packets"])
    events = sum(len(s["events"]) for s in case["steps"])
    return mismatch, sizes, events, spikes, len(obs["learn_cycles"])


def run(args):
    if args.port is None:
        raise CliError("--port is required: a board's serial port (/dev/ttyUSB1), sim or sim-netlist:BOARD")
    if not 1 <= args.steps <= 1000:
        raise CliError(f"--steps expects an integer in 1..1000, not {args.steps}")
    json_path = Path(args.json) if args.json else None
    if json_path is not None and not json_path.parent.is_dir():
        raise CliError(f"--json: directory {str(json_path.parent)!r} does not exist")
    from .. import regmap as R
    from .session import open_chip
    lines = _Lines()
    t0 = time.monotonic()
    with open_chip(args.port, baud=args.baud) as (chip, info):
        where = info.get("pty", args.port)
        ident = chip.identity()
        opts = ", ".join(f"{k}={'on' if ident[k] else 'off'}" for k in
                         ("learning", "async_modes", "statistics_counters", "pow2_buckets"))
        lines.add("identity", ident["id"] == f"{R.CHIP_ID:#010x}",
                  f"{ident['id']} on {where}; capacity {ident['capacity']}; {opts}")
        before = chip.counters()
        lean = before.get("link_crc_errors") is None
        lines.add("link counters", True, "lean build: the link's counters are not built (counters=off)" if lean
                  else "before: " + ", ".join(f"{k}={before['link_' + k]}" for k in ERROR_COUNTERS + ("frames_ok",)))
        lines.add("idle", not before["busy"], f"busy={before['busy']}, output FIFO level {before['out_level']}")
        cap = ident["capacity"]
        regions = [("W", R.Region.W, cap["synapses"]), ("V", R.Region.V, cap["neurons"] * cap["buckets"]),
                   ("B", R.Region.B, cap["neurons"]), ("ROUTE", R.Region.ROUTE, cap["neurons"])]
        if ident["learning"]:
            regions.append(("ERR", R.Region.ERR, cap["max_layer"]))
        for name, region, depth in regions:
            if name == "W" and ident.get("lanes", 1) > 1:
                ok, detail = _laned_w_memory(chip, cap, args.seed)
            else:
                ok, detail = _memory(chip, name, region, depth, args.seed)
            lines.add(f"memory {name}", ok, detail)
        mismatch, sizes, events, spikes, _ = _network(chip, ident, args.seed, args.steps, learn=False)
        lines.add("events/spikes", mismatch is None and spikes > 0,
                  f"network {sizes}, {args.steps} steps, {events} events in, {spikes} spikes out: "
                  + ("equal to golden" if mismatch is None else mismatch))
        if ident["learning"]:
            mismatch, sizes, events, spikes, n_learn = _network(chip, ident, args.seed + 1, args.steps, learn=True)
            lines.add("learning", mismatch is None and n_learn > 0,
                      f"network {sizes}, {args.steps} steps, {n_learn} learning passes: "
                      + ("every output and final weight equal to golden" if mismatch is None else mismatch))
        else:
            # an inference-only build must refuse LEARN (a bus error), not run it
            from .link import BusError
            try:
                chip.command(R.Cmd.LEARN, wait=False)
                refused = False
            except BusError:
                refused = True
            lines.add("learning", refused, "inference-only build (learning=off): LEARN "
                      + ("refused with a bus error, as built" if refused else "was accepted - it must be refused"))
        after = chip.counters()
        host = chip.link.stats()
        host_ok = host["retries"] == 0 and host["bad_frames"] == 0
        if lean:
            lines.add("link errors", host_ok, f"lean build (no chip-side counters); host link: {host}")
        else:
            grown = {k: after["link_" + k] - before["link_" + k] for k in ERROR_COUNTERS
                     if after["link_" + k] != before["link_" + k]}
            lines.add("link errors", not grown and host_ok,
                      ("after: no error counter grew" if not grown else f"grew: {grown}")
                      + f"; frames_ok +{after['link_frames_ok'] - before['link_frames_ok']}; host link: {host}")
    failed = [r for r in lines.rows if r["verdict"] != "PASS"]
    print(f"{'FAIL' if failed else 'PASS'}  selftest           {len(lines.rows) - len(failed)}/{len(lines.rows)} "
          f"checks passed in {time.monotonic() - t0:.0f} s")
    if json_path is not None:
        json_path.write_text(json.dumps({"port": args.port, "pass": not failed, "checks": lines.rows,
                                         "seed": args.seed}, indent=1) + "\n")
    return 1 if failed else 0
