"""The chip (network core, learning unit, router, bus) vs the golden network, in amaranth.sim.

Random multi-layer networks driven through the bus as the host does: every output packet
(source, q, step), the output layer's x every step, and every final master weight and state
word equal to the bit-exact golden model, with random idle cycles and pauses in reading
the output FIFO (back-pressure on the core).
"""
import numpy as np
import pytest
from amaranth.sim import Simulator

from gammacore import regmap as R
from gammacore.rtl.chip import Chip
from gammacore.sim import amaranth_chip
from gammacore.sim.amaranth_chip import BusInitiator, first_net_mismatch, run_chip_amaranth
from gammacore.sim.net_case import chip_words, make_net_case
from rtl_helpers import grid


def random_sizes(rng, layers):
    return tuple(int(n) for n in rng.integers(1, 7, size=layers + 1))


#: construction parameters of the chip that must not change any result: the default build,
#: the encoder on one shared multiplier, an inference-only build (W and V in SPRAM,
#: simulated by rtl.spram.SPRAMModel), the iCEBreaker's build, which is also sync-only, and
#: laned cores (P MACs per clock in the fan-out; W and A banked by lane): P = 2 and 4,
#: P = 4 inference-only with every W bank in SPRAM, P = 3 (not a power of two: lane and row
#: by a constant multiply) and P = 8 (more lanes than buckets: the passes not fused)
BUILDS = {"default": {}, "serial-encoder": {"serial_encoder": True},
          "inference-only": {"learning": False, "serial_encoder": True, "spram": True},
          "icebreaker": {"learning": False, "serial_encoder": True, "spram": True, "async_modes": False,
                         "counters": False},
          "lanes-2": {"lanes": 2}, "lanes-4": {"lanes": 4},
          "lanes-4-inference-only": {"lanes": 4, "learning": False, "serial_encoder": True, "spram": True},
          "lanes-3": {"lanes": 3}, "lanes-8": {"lanes": 8}}
BUILD_NAMES = list(BUILDS)
LEARNING_BUILD_NAMES = ["default", "serial-encoder", "lanes-2", "lanes-4", "lanes-3", "lanes-8"]
ASYNC_BUILD_NAMES = [b for b in BUILDS if BUILDS[b].get("async_modes", True)]
LEARNING_BUILDS = pytest.mark.parametrize("build", LEARNING_BUILD_NAMES)
ALL_BUILDS = pytest.mark.parametrize("build", BUILD_NAMES)
ASYNC_BUILDS = pytest.mark.parametrize("build", ASYNC_BUILD_NAMES)


def simulate(dut, bench):
    """Run the testbench ``bench`` against the chip ``dut`` on a 100 MHz clock."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def p_learn(build, p):
    """The case's learning probability on ``build``: none without the learning unit."""
    return p if BUILDS[build].get("learning", True) else 0.0


def check(case, **kw):
    print(f"seed={case['seed']} sizes={case['sizes']} K={case['K']} build={kw}")
    if len(case["sizes"]) > 2:
        assert any(s["packets"] for s in case["steps"]), f"seed={case['seed']}: the case produced no spikes"
    assert any(any(s["x_out"]) for s in case["steps"]), f"seed={case['seed']}: the output never moved"
    obs = run_chip_amaranth(case, **kw)
    assert first_net_mismatch(case, obs) is None, f"seed={case['seed']}: {first_net_mismatch(case, obs)}"
    # no block RAM word read and written in one clock (synthesis leaves that undefined)
    assert obs["collisions"] == [], f"seed={case['seed']}: read/write collisions {obs['collisions'][:5]}"
    # every memory port used only by the engine that owns it in that phase
    assert obs["violations"] == [], f"seed={case['seed']}: port ownership violated {obs['violations'][:5]}"
    return obs


# the default suite: two of the four seeds per build, in turn (the others: -m slow)
@grid("seed,build", [1, 2, 3, 4], LEARNING_BUILD_NAMES,
      default=lambda seed, build: (seed + LEARNING_BUILD_NAMES.index(build)) % 2 == 1)
def test_three_layer_inference_and_learning_match_golden(seed, build):
    rng = np.random.default_rng(seed)
    case = make_net_case(seed, random_sizes(rng, 3), int(rng.integers(1, 5)), T=14, p_learn=0.6)
    learned = any(s["err"] is not None for s in case["steps"])
    obs = check(case, **BUILDS[build])
    assert learned and len(obs["learn_cycles"]) == sum(s["err"] is not None for s in case["steps"])
    init = np.concatenate([l.W_master.ravel() for l in case["initial"]])
    assert np.any(init != np.array(case["final"]["W"])), f"seed={seed}: learning changed no weight"


# the default suite: every depth on the default build, one depth per other build, in turn
@grid("seed,layers,build", [(11, 1), (12, 2), (13, 4)], BUILD_NAMES,
      default=lambda seed, layers, build: build == "default" or BUILD_NAMES.index(build) % 3 == layers // 2)
def test_other_depths_match_golden(seed, layers, build):
    rng = np.random.default_rng(seed)
    check(make_net_case(seed, random_sizes(rng, layers), int(rng.integers(1, 4)), T=10,
                        p_learn=p_learn(build, 0.5)), **BUILDS[build])


@pytest.mark.parametrize("seed", [15, 16])
def test_power_of_two_bucket_rates_match_golden(seed):
    """The shift-instead-of-multiply bucket pass (DSP-poor devices) on a 3-layer network."""
    rng = np.random.default_rng(seed)
    check(make_net_case(seed, random_sizes(rng, 3), int(rng.integers(1, 5)), T=10, p_learn=0.5, pow2=True))


#: the default suite runs one (seed, mode) per build, in turn; -m slow the other three
ASYNC_TURNS = [(82, "async-random"), (83, "async-priority"), (82, "async-priority"), (83, "async-random")]


@grid("seed,mode,build", [82, 83], ["async-random", "async-priority"], ASYNC_BUILD_NAMES,
      default=lambda seed, mode, build: ASYNC_TURNS[ASYNC_BUILD_NAMES.index(build) % 4] == (seed, mode))
def test_async_modes_match_golden(seed, mode, build):
    """Asynchronous execution (no layer barrier): every spike in the golden firing order,
    with learning, a small output FIFO and pauses in reading it."""
    rng = np.random.default_rng(seed)
    sizes = tuple(int(n) for n in rng.integers(3, 9, size=4))
    case = make_net_case(seed, sizes, int(rng.integers(1, 5)), T=12, rate=0.7, p_learn=p_learn(build, 0.5), mode=mode)
    assert any(s["packets"] != sorted(s["packets"]) for s in case["steps"]), \
        f"seed={seed}: no step fires out of layer order; the case does not exercise the dispatch"
    check(case, out_depth=2, **BUILDS[build])


def test_async_selection_waits_for_the_firing_layers_scan():
    """60 neurons over one output: the scan of the firing layer's pending words, which runs
    in the background from the firing neuron's pass on (a word per clock), outlasts the
    spike's route and the output's re-evaluation, so the next selection must wait for it.
    Every spike in the golden firing order (a selection that did not wait fires a neuron
    whose word the scan had not yet compared: the order differs)."""
    case = make_net_case(5, (4, 60, 1), 4, T=3, rate=0.6, p_learn=0.0, mode="async-priority")
    hidden = [sum(src < 60 for src, *_ in s["packets"]) for s in case["steps"]]
    assert max(hidden) >= 10, f"seed=5: hidden spikes per step {hidden}; the case does not fire the wide layer"
    check(case, out_depth=8)


def test_async_selection_takes_the_leaders_the_last_writes_set():
    """6-12-12-3 in random order. A layer's leader follows its pending words a clock after
    they are written, so after a re-evaluation the selection may compare leaders from the
    clock after its start on: the first two layers in that clock, then one more layer per
    clock. Every spike in the golden firing order (seed 2: a selection that compares a clock
    earlier misses a leader that the pass's last write set, and the order differs), and a
    selection costs n_layers - 1 clocks (at least 1) before its result."""
    sizes = (6, 12, 12, 3)
    case = make_net_case(2, sizes, 4, T=2, rate=0.4, p_learn=0.0, mode="async-random")

    def count(dut):
        ctl = dut.core.scheduler.ctrl
        return {"selects": ctl.select, "waiting": ~ctl.select_done}

    obs = check(case, out_depth=8, count=count)
    n = obs["counts"]
    spikes = sum(len(s["packets"]) for s in case["steps"])
    # one selection per spike and one per step that finds none
    assert n["selects"] == spikes + len(case["steps"]), f"seed=2: {n}, {spikes} spikes"
    assert n["waiting"] == n["selects"] * max(1, len(sizes) - 2), f"seed=2: {n}"


@pytest.mark.parametrize("mode", ["async-random", "async-priority"])
def test_async_fire_and_d_decay_passes_run_no_dendrite(mode):
    """The firing neuron's pass and the end of a step's d decay take y from X (the layer's
    last evaluation), not from a dendrite: they read no V, Z or b, a spike's own pass lasts
    the encoder's latency and a few clocks, and the d decay about a clock per neuron. Every
    spike still in the golden firing order."""
    from gammacore.rtl.encoder import STAGES
    from gammacore.rtl.neuron_pass import Pass
    sizes, T = (4, 12, 3), 6
    case = make_net_case(7, sizes, 4, T=T, rate=0.6, p_learn=0.0, mode=mode)

    def count(dut):
        npass = dut.core.neuron_pass
        ctl, mem = npass.ctrl, npass.mem
        fire, ddecay = ctl.active & (ctl.kind == Pass.FIRE), ctl.active & (ctl.kind == Pass.DDECAY)
        reads = mem.V.rd.en | mem.Z.rd.en | mem.B.rd.en
        return {"fire": fire, "ddecay": ddecay, "direct_dendrite_reads": (fire | ddecay) & reads}

    obs = check(case, out_depth=8, count=count)
    spikes = sum(len(s["packets"]) for s in case["steps"])
    n = obs["counts"]
    assert spikes >= 2 * T, f"seed=7: {spikes} spikes in {T} steps; the case hardly fires"
    assert n["direct_dendrite_reads"] == 0, f"seed=7: {n}"
    # per spike: the pass's first clock (its addresses), the X read, STAGES in the encoder,
    # the clock the neuron leaves in
    assert n["fire"] <= spikes * (STAGES + 3), f"seed=7: {n['fire']} clocks of fire passes for {spikes} spikes"
    # per step and layer: n_out neurons a clock apart, plus the same latency
    assert n["ddecay"] <= T * sum(k + STAGES + 3 for k in sizes[1:]), f"seed=7: {n['ddecay']} clocks of d decay, {T} steps"


def test_async_clear_restarts_the_lfsr_and_modes_are_registers():
    """After CLEAR the random order repeats (the LFSR restarts from SEED); MODE and SEED read
    back; a mode outside Mode, a zero seed and a mode change while busy are refused."""
    case = make_net_case(91, (4, 7, 6, 3), 2, T=8, rate=0.8, p_learn=0.0, mode="async-random")
    sync = make_net_case(91, (4, 7, 6, 3), 2, T=8, rate=0.8, p_learn=0.0)
    assert [s["packets"] for s in case["steps"]] != [s["packets"] for s in sync["steps"]]

    async def again(host, obs):
        obs["mode"] = [int(await host.request(R.Reg.MODE)), int(await host.request(R.Reg.SEED)),
                       int(await host.request(R.Reg.CAP_FLAGS)) & 2]
        obs["bad"] = [(await host.request(R.Reg.MODE, len(R.Mode), allow_error=True))[0],
                      (await host.request(R.Reg.SEED, 0, allow_error=True))[0]]
        await host.request(R.Reg.CTRL, R.Cmd.STEP)
        obs["bad"].append((await host.request(R.Reg.MODE, R.Mode.SYNC, allow_error=True))[0])
        await host.wait_idle()
        await host.drain([])
        await host.request(R.Reg.CTRL, R.Cmd.CLEAR)
        await host.wait_idle()
        second = {"packets": [], "x_out": [], "cycles": [], "learn_cycles": []}
        await host.run_steps(case, second)
        obs["second"] = second["packets"]

    obs = check(case, extra=again)
    assert obs["mode"] == [R.Mode.ASYNC_RANDOM, case["lfsr_seed"], 2], obs["mode"]
    # the step counter runs on across CLEAR: compare (source, q) in order
    assert [[tuple(p[:2]) for p in g] for g in obs["second"]] == [[tuple(p[:2]) for p in s["packets"]]
                                                                   for s in case["steps"]]
    assert all(obs["bad"]), obs["bad"]


# the default suite: both depths on the default build, one depth per other build, in turn
@grid("out_depth,build", [1, 2], BUILD_NAMES,
      default=lambda out_depth, build: build == "default" or BUILD_NAMES.index(build) % 2 == out_depth - 1)
def test_output_backpressure_loses_and_reorders_nothing(out_depth, build):
    """A tiny output FIFO read with long pauses stalls the core; every packet still arrives in order."""
    case = make_net_case(21, (3, 6, 5, 2), 2, T=8, rate=0.8, p_learn=0.0)
    check(case, out_depth=out_depth, p_pause=0.8, **BUILDS[build])


@pytest.mark.parametrize("lanes, K", [(1, 2), (2, 2), (3, 4), pytest.param(4, 4, marks=pytest.mark.slow)])
def test_fused_feed_held_by_back_pressure(lanes, K):
    """The core fuses the bucket pass into the neuron pass through a skid buffer
    (rtl.net_core): wide spiking layers, a one-word output FIFO read with long pauses, so the
    stall reaches the feed and the buffer holds words; every result still equals the golden
    model."""
    case = make_net_case(21, (3, 40, 3), K, T=4, rate=0.9, p_learn=0.0)
    obs = check(case, out_depth=1, p_pause=0.95, lanes=lanes,
                count=lambda dut: {"held": ~dut.core.feed_skid.empty})
    assert obs["counts"]["held"] > 0, "the case never stalled the feed: it does not test the skid buffer"


@pytest.mark.parametrize("build", ["default", "icebreaker", "lanes-4"])
def test_refused_events_and_bus_errors_are_counted_and_change_nothing(build):
    """Misuse is refused (bus errors, counted) and changes nothing; a lean build (counters=False)
    still counts steps and bus errors, and its statistics registers read 0."""
    case = make_net_case(31, (2, 4, 3, 2), 2, T=6, p_learn=p_learn(build, 0.5))
    n_in0, max_layer = case["sizes"][0], case["capacity"].max_layer

    async def misuse(host, obs):
        bad = []
        # a source that layer 0 does not have: taken, dropped, counted in REFUSED
        if n_in0 < max_layer:
            await host.request(R.Reg.EVENT, R.event_word(n_in0, 100))
        # a source wider than the event format: refused on the bus
        bad.append(await host.request(R.Reg.EVENT, R.event_word(max_layer, 100), allow_error=True))
        bad.append(await host.request(0x00FFFF, 1, allow_error=True))                # unmapped register
        bad.append(await host.request(R.Reg.CTRL, R.Cmd.STEP | R.Cmd.LEARN, allow_error=True))
        bad.append(await host.request(R.mem_addr(R.Region.Z, 0), 5, allow_error=True))  # read-only region
        bad.append(await host.request(R.mem_addr(R.Region.W, case["capacity"].synapses), 5, allow_error=True))
        bad.append(await host.request(R.desc_addr(0, "n_in", case["K"]) + 0xF0, 1, allow_error=True))
        obs["bad"] = [err for err, _ in bad]

    obs = run_chip_amaranth(case, extra=misuse, **BUILDS[build])
    assert first_net_mismatch(case, obs) is None, first_net_mismatch(case, obs)
    assert all(obs["bad"]), f"every misuse must be refused: {obs['bad']}"
    assert obs["counters"]["BUS_ERRORS"] == len(obs["bad"])
    assert obs["counters"]["STEPS"] == len(case["steps"])
    counted = BUILDS[build].get("counters", True)
    assert obs["counters"]["REFUSED"] == (1 if n_in0 < max_layer and counted else 0)
    assert obs["counters"]["EVENTS_IN"] == (sum(len(s["events"]) for s in case["steps"]) if counted else 0)
    assert counted or obs["counters"]["UNROUTED"] == 0


@ALL_BUILDS
def test_memory_reads_during_an_input_fan_out_change_nothing(build, monkeypatch):
    # the host reads a weight right after each input event, with no idle clocks: the
    # event's fan-out is still running when the read arrives (the core serves it after)
    class ReadAfterEvent(amaranth_chip.BusInitiator):
        async def request(self, addr, data=None, allow_error=False):
            result = await super().request(addr, data, allow_error)
            if addr == R.Reg.EVENT and data is not None:
                await super().request(R.mem_addr(R.Region.W, int(self.rng.integers(4))))
            return result

    monkeypatch.setattr(amaranth_chip, "BusInitiator", ReadAfterEvent)
    case = make_net_case(41, (6, 6, 3), 2, T=6, p_learn=p_learn(build, 0.5))
    check(case, p_idle=0.0, **BUILDS[build])


def test_commands_while_busy_are_refused():
    case = make_net_case(41, (4, 6, 2), 3, T=1, p_learn=0.0)
    dut = Chip(case["capacity"])
    seen = {}

    async def bench(ctx):
        host = BusInitiator(ctx, dut.bus, np.random.default_rng(0), p_idle=0.0, seed=41)
        await host.load(chip_words(case))
        for src, q in case["steps"][0]["events"]:
            await host.request(R.Reg.EVENT, R.event_word(src, q))
        await host.request(R.Reg.CTRL, R.Cmd.STEP)
        seen["busy"] = bool(await host.request(R.Reg.STATUS) & R.Status.BUSY)
        seen["ctrl"], _ = await host.request(R.Reg.CTRL, R.Cmd.LEARN, allow_error=True)
        seen["desc"], _ = await host.request(R.desc_addr(0, "n_in", case["K"]), 1, allow_error=True)
        seen["mem"], _ = await host.request(R.mem_addr(R.Region.W, 0), 0, allow_error=True)
        await host.wait_idle()
        got = []
        await host.drain(got)
        seen["packets"] = got

    simulate(dut, bench)
    assert seen["busy"] and seen["ctrl"] and seen["desc"] and seen["mem"], seen
    assert [tuple(p) for p in seen["packets"]] == [tuple(p) for p in case["steps"][0]["packets"]]


def test_unrouted_spikes_are_counted():
    """Emptying the routing entries of layer 0 stops its spikes, and each one is counted."""
    case = make_net_case(51, (3, 5, 2), 2, T=1, rate=1.0, p_learn=0.0)
    dut = Chip(case["capacity"])
    n0 = case["sizes"][1]
    expected = sum(1 for p in case["steps"][0]["packets"] if p[0] < n0)
    assert expected > 0, "the case must make layer 0 fire"
    seen = {}

    async def bench(ctx):
        host = BusInitiator(ctx, dut.bus, np.random.default_rng(1), p_idle=0.2, seed=51)
        await host.load(chip_words(case))
        await host.write_block(R.mem_addr(R.Region.ROUTE, 0), [0] * n0)
        seen["route"] = await host.read_block(R.mem_addr(R.Region.ROUTE, 0), n0)
        for src, q in case["steps"][0]["events"]:
            await host.request(R.Reg.EVENT, R.event_word(src, q))
        await host.request(R.Reg.CTRL, R.Cmd.STEP)
        await host.wait_idle()
        seen["unrouted"] = int(await host.request(R.Reg.UNROUTED))
        seen["to_next"] = int(await host.request(R.Reg.TO_NEXT))

    simulate(dut, bench)
    assert seen["route"] == [0] * n0
    assert seen["unrouted"] == expected and seen["to_next"] == 0, seen


@ALL_BUILDS
def test_identity_and_capacity_registers(build):
    """Identity, capacity and CAP_FLAGS; an inference-only build refuses LEARN and the ERR
    region with bus errors (counted) and still steps."""
    case = make_net_case(61, (2, 3, 2), 2, T=1)
    cap = case["capacity"]
    learning = BUILDS[build].get("learning", True)
    dut = Chip(cap, **BUILDS[build])
    seen = {}

    async def bench(ctx):
        host = BusInitiator(ctx, dut.bus, np.random.default_rng(2), p_idle=0.0)
        seen["id"] = int(await host.request(R.Reg.ID))
        seen["cap"] = [int(await host.request(r)) for r in (R.Reg.CAP_LAYERS, R.Reg.CAP_NEURONS, R.Reg.CAP_INPUTS,
                                                            R.Reg.CAP_SYNAPSES, R.Reg.CAP_BUCKETS, R.Reg.CAP_MAX_LAYER)]
        seen["flags"] = int(await host.request(R.Reg.CAP_FLAGS))
        seen["lanes"] = int(await host.request(R.Reg.CAP_LANES))
        await host.load(chip_words(case))
        seen["learn"] = [(await host.request(R.Reg.CTRL, R.Cmd.LEARN | R.Cmd.WAIT, allow_error=True))[0],
                         (await host.request(R.mem_addr(R.Region.ERR, 0), 1, allow_error=True))[0],
                         (await host.request(R.mem_addr(R.Region.ERR, 0), allow_error=True))[0]]
        seen["step"], _ = await host.request(R.Reg.CTRL, R.Cmd.STEP | R.Cmd.WAIT, allow_error=True)
        seen["errors"] = int(await host.request(R.Reg.BUS_ERRORS))
        # a sync-only build refuses the asynchronous modes (bus error) and stays in sync mode
        seen["modes"] = [(await host.request(R.Reg.MODE, mode, allow_error=True))[0]
                         for mode in (R.Mode.SYNC, R.Mode.SYNC, R.Mode.ASYNC_RANDOM, R.Mode.ASYNC_PRIORITY)]
        seen["mode"] = int(await host.request(R.Reg.MODE))
        seen["errors_after"] = int(await host.request(R.Reg.BUS_ERRORS))

    simulate(dut, bench)
    assert seen["id"] == R.CHIP_ID
    assert seen["cap"] == [cap.layers, cap.neurons, cap.inputs, cap.synapses, cap.buckets, cap.max_layer]
    asynchronous = BUILDS[build].get("async_modes", True)
    counters = BUILDS[build].get("counters", True)
    assert seen["flags"] == ((R.CapFlag.ASYNC if asynchronous else 0) | (R.CapFlag.LEARNING if learning else 0)
                             | (R.CapFlag.COUNTERS if counters else 0)), seen["flags"]
    assert seen["lanes"] == BUILDS[build].get("lanes", 1), seen["lanes"]
    assert seen["modes"] == [False, False, not asynchronous, not asynchronous] and seen["mode"] == (R.Mode.ASYNC_PRIORITY if asynchronous else R.Mode.SYNC), seen
    assert seen["learn"] == [not learning] * 3 and not seen["step"], seen
    assert seen["errors"] == (0 if learning else 3), seen
    assert seen["errors_after"] - seen["errors"] == sum(seen["modes"]), seen


def test_wait_commands_acknowledge_when_done_and_bad_commands_are_refused():
    case = make_net_case(71, (3, 5, 2), 2, T=3, rate=0.9, p_learn=0.0)
    dut = Chip(case["capacity"])
    seen = {"busy_after": [], "packets": []}

    async def bench(ctx):
        host = BusInitiator(ctx, dut.bus, np.random.default_rng(3), p_idle=0.1, seed=71)
        await host.load(chip_words(case))
        for step in case["steps"]:
            for src, q in step["events"]:
                await host.request(R.Reg.EVENT, R.event_word(src, q))
            await host.request(R.Reg.CTRL, R.Cmd.STEP | R.Cmd.WAIT)
            seen["busy_after"].append(int(await host.request(R.Reg.STATUS)) & R.Status.BUSY)
            got = []
            await host.drain(got)
            seen["packets"].append(got)
        # an unknown bit, and NO_TRACES with a command other than STEP
        seen["bad"] = [(await host.request(R.Reg.CTRL, cmd, allow_error=True))[0]
                       for cmd in (R.Cmd.STEP | 32, R.Cmd.LEARN | R.Cmd.NO_TRACES, R.Cmd.CLEAR | R.Cmd.NO_TRACES)]

    simulate(dut, bench)
    assert seen["busy_after"] == [0] * len(case["steps"]), "a WAIT command returned before it was done"
    assert [[tuple(p) for p in g] for g in seen["packets"]] == [[tuple(p) for p in s["packets"]] for s in case["steps"]]
    assert seen["bad"] == [True] * 3, f"these commands must be refused: {seen['bad']}"


@pytest.mark.parametrize("build", ["default", "inference-only"])
def test_step_and_learn_refused_until_every_layer_is_loaded(build):
    """A layer with no inputs or no neurons (its descriptors not written) would never finish
    a pass: STEP and LEARN are refused with counted bus errors until every layer in use has
    both; CLEAR is taken; once loaded, a step matches the golden model."""
    case = make_net_case(81, (3, 4, 2), 2, T=1, rate=1.0, p_learn=0.0)
    K, sizes = case["K"], case["sizes"]
    dut = Chip(case["capacity"], **BUILDS[build])
    seen = {}

    async def refused(host):
        return [(await host.request(R.Reg.CTRL, cmd | R.Cmd.WAIT, allow_error=True))[0]
                for cmd in (R.Cmd.STEP, R.Cmd.LEARN)]

    async def bench(ctx):
        host = BusInitiator(ctx, dut.bus, np.random.default_rng(4), p_idle=0.1, seed=81)
        seen["fresh"] = await refused(host)
        seen["clear"], _ = await host.request(R.Reg.CTRL, R.Cmd.CLEAR | R.Cmd.WAIT, allow_error=True)
        await host.load(chip_words(case))
        await host.request(R.desc_addr(1, "n_out", K), 0)       # the output layer emptied
        seen["no_out"] = await refused(host)
        await host.request(R.desc_addr(1, "n_out", K), sizes[2])
        await host.request(R.desc_addr(0, "n_in", K), 0)        # the first layer without inputs
        seen["no_in"] = await refused(host)
        await host.request(R.desc_addr(0, "n_in", K), sizes[0])
        seen["errors"] = int(await host.request(R.Reg.BUS_ERRORS))
        seen["busy"] = int(await host.request(R.Reg.STATUS)) & R.Status.BUSY
        for src, q in case["steps"][0]["events"]:
            await host.request(R.Reg.EVENT, R.event_word(src, q))
        seen["step"], _ = await host.request(R.Reg.CTRL, R.Cmd.STEP | R.Cmd.WAIT, allow_error=True)
        got = []
        await host.drain(got)
        seen["packets"] = got

    simulate(dut, bench)
    print(f"seed=81 build={build}: {seen}")
    assert seen["fresh"] == [True, True] and seen["no_out"] == [True, True] and seen["no_in"] == [True, True], seen
    assert not seen["clear"] and not seen["busy"] and not seen["step"], seen
    assert seen["errors"] == 6, seen
    assert case["steps"][0]["packets"], "the case must fire in its first step"
    assert [tuple(p) for p in seen["packets"]] == [tuple(p) for p in case["steps"][0]["packets"]]


@pytest.mark.parametrize("neurons,seed", [(4096, 101), (8192, 102)])
def test_wide_capacity_packets_carry_source_and_step(neurons, seed):
    """A chip of more than 2,048 neurons (the output packet's source field widens, the step
    field narrows: gammacore.regmap.out_format) with a random 3-layer network loaded above
    neuron 2,047: every packet's source and step (wrapping at its narrower modulus) decode
    as the golden model's, as do x and every final word. Before the packet layout followed
    the capacity, source bit 11 overwrote the step field."""
    rng = np.random.default_rng(seed)
    sizes = tuple(int(n) for n in rng.integers(3, 7, size=4))
    K = int(rng.integers(1, 3))
    need = sum(sizes[1:])
    base = int(rng.integers(2048, neurons - need + 1))
    cap = R.Capacity(3, neurons, sum(sizes[:-1]), sum(a * b for a, b in zip(sizes, sizes[1:])), K, max(sizes))
    fmt = cap.out_format
    assert fmt == R.out_format(neurons) and fmt.source_bits == (neurons - 1).bit_length()
    print(f"seed={seed} neurons={neurons} neuron_base={base} {fmt}")
    T = (1 << fmt.step_bits) + 3                 # the step field wraps within the run
    case = make_net_case(seed, sizes, K, T=T, rate=0.8, p_learn=0.3, capacity=cap, neuron_base=base)
    packets = [p for s in case["steps"] for p in s["packets"]]
    assert packets and min(p[0] for p in packets) >= 2048, f"seed={seed}: no source above 2,047"
    assert any(s["packets"] for s in case["steps"][1 << fmt.step_bits:]), \
        f"seed={seed}: no packet after the step field wrapped"
    check(case)
