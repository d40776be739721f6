"""A random network case run on a board through the real host driver, compared with golden.

:func:`run_on_chip` loads a :func:`gammacore.sim.net_case.make_net_case` case through
:class:`gammacore.host.driver.Chip` (any port: the simulated board, the gate-level board, a
real board), steps it, streams its errors, and returns what the chip did: every output
packet, the output layer's x, the clocks of every step and learning pass (``CYCLES``,
``LEARN_CYCLES``) and the final master words. :func:`first_mismatch` compares that with the
case's golden results, bit for bit.
"""
import numpy as np

from .. import regmap as R

__all__ = ["run_on_chip", "first_mismatch"]


def run_on_chip(chip, case):
    """Run ``case`` on ``chip``; returns the observation dict (JSON-able)."""
    mode = case["mode"]
    chip.load(case["cfg"], case["initial"], route_hidden_to_host=True, mode=mode, seed=case["lfsr_seed"])
    n0 = case["sizes"][0]
    step0 = int(chip.link.read(R.Reg.STEPS, 1)[0])
    # the packets' step field counts modulo 2**step_bits of the chip's packet layout
    obs = {"packets": [], "x_out": [], "cycles": [], "learn_cycles": [], "step0": step0,
           "step_mod": 1 << chip.out_format().step_bits}
    for step in case["steps"]:
        q = np.zeros(n0, dtype=np.int64)
        for src, mag in step["events"]:
            q[src] = mag
        packets, x = chip.step(q)
        obs["packets"].append([[int(v) for v in p] for p in packets])
        obs["x_out"].append([int(v) for v in x])
        obs["cycles"].append(int(chip.link.read(R.Reg.CYCLES, 1)[0]))
        if step["err"] is not None:
            chip.learn(step["err"])
            obs["learn_cycles"].append(int(chip.link.read(R.Reg.LEARN_CYCLES, 1)[0]))
    got = chip.read_params()
    obs["W"] = np.concatenate([p["W"].ravel() for p in got]).tolist()
    obs["V"] = np.concatenate([p["V"].ravel() for p in got]).tolist()
    obs["B"] = np.concatenate([p["b"] for p in got]).tolist()
    return obs


def first_mismatch(case, obs):
    """None when ``obs`` equals the golden results of ``case``; else a one-line description
    of the first difference (step, what, expected, got)."""
    for t, (step, packets, x) in enumerate(zip(case["steps"], obs["packets"], obs["x_out"])):
        want = [[int(v) for v in p[:2]] + [(obs["step0"] + t) % obs["step_mod"]] for p in step["packets"]]
        if packets != want:
            return f"step {t}: output packets {packets} != golden {want}"
        if x != [int(v) for v in step["x_out"]]:
            return f"step {t}: output x {x} != golden {step['x_out']}"
    if len(obs["packets"]) != len(case["steps"]):
        return f"{len(obs['packets'])} steps ran, {len(case['steps'])} expected"
    for name in ("W", "V", "B"):
        want = [int(v) for v in case["final"][name]]
        if obs[name] != want:
            n = next(i for i, (a, b) in enumerate(zip(obs[name], want)) if a != b) if len(obs[name]) == len(want) \
                else min(len(obs[name]), len(want))
            return f"final {name}[{n}]: {obs[name][n] if n < len(obs[name]) else None} != golden " \
                   f"{want[n] if n < len(want) else None}"
    return None
