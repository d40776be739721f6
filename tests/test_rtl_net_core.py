"""The network core with one layer vs the golden FixedLayer, through the chip's bus (amaranth.sim).

These replace the tests of the former single-layer core (rtl/layer_core.py) and synaptic
accumulator (rtl/accumulator.py): one layer with a sigma-delta encoder whose spikes go to
the host, every spike, every output x and every final state word equal to the golden
model, with random idle cycles and pauses in reading the output FIFO (back-pressure).
"""
import re

import numpy as np
import pytest

from gammacore import regmap as R
from gammacore.golden import fixedpoint as fp
from gammacore.rtl import fanout, ram
from gammacore.sim.amaranth_chip import BusInitiator, first_net_mismatch, run_chip_amaranth
from gammacore.rtl.chip import Chip
from gammacore.sim.net_case import chip_words, make_net_case


def check(case, **kw):
    print(f"seed={case['seed']} sizes={case['sizes']} K={case['K']} pow2={case['pow2']} {kw}")
    assert any(s["packets"] for s in case["steps"]), f"seed={case['seed']}: the case produced no spikes"
    obs = run_chip_amaranth(case, **kw)
    assert first_net_mismatch(case, obs) is None, f"seed={case['seed']}: {first_net_mismatch(case, obs)}"
    assert obs["collisions"] == [], f"seed={case['seed']}: read/write collisions {obs['collisions'][:5]}"
    # every memory port used only by the engine that owns it in that phase
    assert obs["violations"] == [], f"seed={case['seed']}: port ownership violated {obs['violations'][:5]}"
    return obs


def one_layer(seed, n_in, n_out, K, T, rate=0.5, pow2=False, p_learn=0.0):
    return make_net_case(seed, (n_in, n_out), K, T, rate=rate, p_learn=p_learn, pow2=pow2, out_encoder=True)


@pytest.mark.parametrize("seed", [1, 2, 4, 5, 6, 11])
def test_one_layer_matches_golden(seed):
    rng = np.random.default_rng(seed)
    check(one_layer(seed, int(rng.integers(1, 7)), int(rng.integers(1, 9)), int(rng.integers(1, 5)), T=12))


@pytest.mark.parametrize("seed", [7, 8, 9, 11])
def test_power_of_two_one_layer_matches_golden(seed):
    rng = np.random.default_rng(seed)
    check(one_layer(seed, int(rng.integers(1, 6)), int(rng.integers(1, 8)), int(rng.integers(1, 5)), T=12,
                    pow2=True))


@pytest.mark.parametrize("seed", [10, 11])
def test_one_layer_learning_matches_golden(seed):
    """The first layer's learning (no error below) with its encoder on."""
    rng = np.random.default_rng(seed)
    case = one_layer(seed, int(rng.integers(1, 7)), int(rng.integers(1, 9)), int(rng.integers(1, 5)), T=10,
                     p_learn=0.6)
    obs = check(case)
    assert obs["learn_cycles"], f"seed={seed}: the case must learn"


def test_cycles_per_step_without_stalls():
    """Without idle clocks or back-pressure a one-layer step costs its event fan-out
    E (N + 1) and the bucket pass (N + I) K, whose new Z words feed the dendrite and encoder
    (no second pass over Z), plus a few pipeline and descriptor-load clocks (``CYCLES``,
    the core's working clocks)."""
    n_in, n_out, K = 4, 5, 3
    case = one_layer(31, n_in, n_out, K, T=6, rate=0.5)
    obs = check(case, p_idle=0.0, p_pause=0.0)
    for c, step in zip(obs["cycles"], case["steps"]):
        E = len(step["events"])
        ideal = (n_out + n_in) * K + E * (n_out + 1)
        assert ideal <= c <= ideal + 24, (c, ideal, E)


@pytest.mark.parametrize("lanes", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_fan_out_matches_golden_accumulate(seed, lanes):
    """The fan-out engine alone: the host's events of one step, taken by the idle core, leave
    A = golden accumulate(W, q) (with P lanes: A_j in bank j mod P at j div P) and qin = q
    (qin_i in bank i mod P at i div P)
    in the core's memories (events in random order, random idle clocks); ``BUSY_CLOCKS``
    counts the fan-out (the core's work, though no command runs): at least ceil(n_out / P)
    clocks per event, at most that plus the take and the pipeline's STAGES."""
    rng = np.random.default_rng(seed if lanes == 1 else seed + 100 * lanes)
    n_in, n_out = int(rng.integers(1, 9)), int(rng.integers(1, 12))
    print(f"seed={seed} lanes={lanes} n_in={n_in} n_out={n_out}")
    case = one_layer(seed, n_in, n_out, 2, T=1, rate=0.7)
    layer = case["initial"][0]
    q = np.zeros(n_in, dtype=np.int64)
    for src, mag in case["steps"][0]["events"]:
        q[src] = mag
    want_a = fp.accumulate(layer.W, q).tolist()
    dut = Chip(case["capacity"], lanes=lanes)
    got = {}

    async def bench(ctx):
        host = BusInitiator(ctx, dut.bus, rng, p_idle=0.3, seed=seed)
        await host.load(chip_words(case))
        busy0 = int(await host.request(R.Reg.BUSY_CLOCKS))
        for src, mag in case["steps"][0]["events"]:
            await host.request(R.Reg.EVENT, R.event_word(src, mag))
        while int(await host.request(R.Reg.EVENTS_IN)) < len(case["steps"][0]["events"]):
            pass                            # queued events are still being taken
        for _ in range(n_out + fanout.STAGES):   # the last event's fan-out
            await ctx.tick()
        mems = dut.core.memories
        banks = mems["A"] if lanes > 1 else [mems["A"]]
        assert len(banks) == lanes
        got["A"] = [ctx.get(banks[j % lanes].data[j // lanes]) for j in range(n_out)]
        qbanks = mems["QIN"] if lanes > 1 else [mems["QIN"]]
        got["qin"] = [ctx.get(qbanks[i % lanes].data[i // lanes]) for i in range(n_in)]
        got["events_in"] = int(await host.request(R.Reg.EVENTS_IN))
        got["lanes"] = int(await host.request(R.Reg.CAP_LANES))
        got["busy"] = int(await host.request(R.Reg.BUSY_CLOCKS)) - busy0

    sim, collisions, _ = ram.watched_simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got["A"] == want_a, f"seed={seed} lanes={lanes}"
    assert got["qin"] == q.tolist(), f"seed={seed} lanes={lanes}"
    assert got["events_in"] == len(case["steps"][0]["events"]) and collisions == []
    assert got["lanes"] == lanes
    E, rows = len(case["steps"][0]["events"]), -(-n_out // lanes)
    assert E * rows <= got["busy"] <= E * (rows + 1 + fanout.STAGES), \
        f"seed={seed} lanes={lanes}: BUSY_CLOCKS counted {got['busy']} clocks for {E} events of {rows} rows"


@pytest.mark.parametrize("lanes, rows", [(1, 1), (2, 1), (4, 1), (1, 2), (2, 2), (4, 2), (4, 3),
                                         (3, 1), (3, 2)])
def test_fan_out_takes_events_back_to_back(lanes, rows):
    """Events queued while a step (of no events) runs are then taken back to back, one every
    ceil(n_out / P) clocks (a one-row layer: every clock). Repeated sources make each row's
    read-modify-write of A, and the input trace's of qin, meet the last event's (one row: the
    sum forwarded from the write in that clock; two rows: from the register of the last
    write, the read that would meet it not made): A = sum of W q, qin = sat(sum of q), no
    read/write collision. With lanes and two rows or more an event is accepted while the one
    at the engine's input waits: its input is a skid buffer, its ready a register."""
    seed = 7 + lanes + 10 * rows
    rng = np.random.default_rng(seed)
    n_in, n_out = 40, lanes * rows - (1 if rows > 2 else 0)
    print(f"seed={seed} lanes={lanes} n_out={n_out} rows={rows}")
    # a long step (40 input traces in the bucket pass) so that every event is queued by its end
    case = one_layer(5, n_in, n_out, 4, T=1, rate=0.7)
    layer = case["initial"][0]
    events = ([(0, int(rng.integers(1, 30000))) for _ in range(6)] + [(1, 50), (1, 60), (2, 7), (1, 9), (1, 255)]
              + [(int(rng.integers(0, 3)), int(rng.integers(1, 1 << 16))) for _ in range(9)])
    q = np.zeros(n_in, dtype=np.int64)
    for src, mag in events:
        q[src] += mag
    want_a = sum(fp.accumulate(layer.W, np.eye(n_in, dtype=np.int64)[src] * mag) for src, mag in events).tolist()
    want_qin = np.minimum(q, (1 << 16) - 1).tolist()
    dut = Chip(case["capacity"], lanes=lanes)
    got = {"takes": []}

    got["held_while_waiting"] = 0

    async def watch(ctx):
        clock = 0
        fo = dut.core.fanout           # the chip's parts exist once the simulator elaborated it
        async for _, _, took, valid, ready, taking, queued in ctx.tick().sample(
                fo.ctrl.accepted, fo.ev.valid, fo.ev.ready, fo.ctrl.took, fo.ctrl.queued):
            clock += 1
            if took:
                got["takes"].append(clock)
            # an event accepted while the one at the input waits (not taken): the second
            # register's, which keeps the take decision off the FIFO's read enable
            got["held_while_waiting"] += bool(valid and ready and queued and not taking)

    async def bench(ctx):
        host = BusInitiator(ctx, dut.bus, rng, p_idle=0.0, seed=seed)
        await host.load(chip_words(case))
        got["takes"].clear()
        # a step with no events: the events queue while it runs, then are taken back to back
        await host.request(R.Reg.CTRL, R.Cmd.STEP)
        for src, mag in events:
            await host.request(R.Reg.EVENT, R.event_word(src, mag))
        while int(await host.request(R.Reg.EVENTS_IN)) < len(events):
            pass
        for _ in range(n_out + fanout.STAGES + 2):
            await ctx.tick()
        mems = dut.core.memories
        banks = mems["A"] if lanes > 1 else [mems["A"]]
        got["A"] = [ctx.get(banks[j % lanes].data[j // lanes]) for j in range(n_out)]
        qbanks = mems["QIN"] if lanes > 1 else [mems["QIN"]]
        got["qin"] = [ctx.get(qbanks[i % lanes].data[i // lanes]) for i in range(n_in)]

    sim, collisions, _ = ram.watched_simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(watch)
    sim.add_testbench(bench)
    sim.run()
    assert got["A"] == want_a and got["qin"] == want_qin and collisions == [], (got, want_a, want_qin, collisions)
    gaps = np.diff(got["takes"]).tolist()
    assert len(got["takes"]) == len(events) and gaps == [rows] * (len(events) - 1), \
        f"seed={seed}: events taken at clocks {got['takes']} (gaps {gaps}), expected one every {rows}"
    if rows > 1 and lanes > 1:
        assert got["held_while_waiting"] > 0, f"seed={seed}: no event was accepted while the input's waited"


def test_bad_capacity_is_named():
    with pytest.raises(ValueError, match="neurons"):
        R.Capacity(1, 0, 2, 2, 4, 2)


def _set_owner(ctx, dut, owner):
    """Give NetMemories ``dut`` the phase of ``owner``, as the sequencer does (its owner register
    and the owner it decodes from its state agree)."""
    ctx.set(dut.owner, owner)
    ctx.set(dut.owner_decoded, owner)


def test_memory_ownership_table_and_violation_flag():
    """Every engine's memory interface is what OWNERSHIP gives it, and NetMemories flags a
    port used outside its owner's phase, or an owner that differs from the one the sequencer
    decodes from its state (and only then)."""
    from amaranth.sim import Simulator

    from gammacore.rtl.net_memories import OWNERSHIP, Engine, NetMemories, client_signature
    cap = R.Capacity(2, 6, 5, 15, 2, 3)
    for engine in Engine:
        members = client_signature(cap, engine).members
        assert set(members) == {n for n, users in OWNERSHIP.items() if engine in users}, engine
        for name, member in members.items():
            assert set(member.signature.members) == {{"r": "rd", "w": "wr"}[p] for p in OWNERSHIP[name][engine]}
    dut = NetMemories(cap)
    seen = []

    async def bench(ctx):
        for client in dut.clients.values():         # nobody asks
            for port in client.signature.flatten(client):
                if port[0][-1] == "en":
                    ctx.set(port[2], 0)
        fan = dut.clients[Engine.FANOUT]
        for owner, en in ((Engine.FANOUT, 1), (Engine.HOST, 0), (Engine.HOST, 1), (Engine.BUCKETS, 1)):
            _set_owner(ctx, dut, owner)
            ctx.set(fan.W.rd.en, en)
            await ctx.delay(1e-9)
            seen.append(ctx.get(dut.violation))
        ctx.set(fan.W.rd.en, 0)
        ctx.set(dut.clients[Engine.CLEAR].Z.wr.en, 1)
        _set_owner(ctx, dut, Engine.CLEAR)
        await ctx.delay(1e-9)
        seen.append(ctx.get(dut.violation))
        ctx.set(dut.owner_decoded, Engine.HOST)     # the sequencer's owner register went astray
        await ctx.delay(1e-9)
        seen.append(ctx.get(dut.violation))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [0, 0, 1, 1, 0, 1], seen


def test_fused_phase_splits_the_memories_between_buckets_and_neurons():
    """In the FUSED phase the bucket pass owns Z, TRACE, A, QIN, V and B, the neuron pass X,
    E, D and the pending table (FUSED_SPLIT): each may use its own, and a port of the other's
    raises the violation flag, as does any other engine's."""
    from amaranth.sim import Simulator

    from gammacore.rtl.net_memories import FUSED_SPLIT, OWNERSHIP, Engine, NetMemories
    assert set(FUSED_SPLIT) == set(OWNERSHIP) - {"W"}          # W: neither pass uses it
    assert all(e in OWNERSHIP[name] for name, e in FUSED_SPLIT.items())
    cap = R.Capacity(2, 6, 5, 15, 2, 3)
    dut = NetMemories(cap)
    seen = []
    cl = dut.clients

    async def bench(ctx):
        for client in cl.values():
            for port in client.signature.flatten(client):
                if port[0][-1] == "en":
                    ctx.set(port[2], 0)
        _set_owner(ctx, dut, Engine.FUSED)
        for port in (cl[Engine.BUCKETS].Z.rd, cl[Engine.BUCKETS].V.rd, cl[Engine.BUCKETS].B.rd,
                     cl[Engine.NEURONS].E.rd, cl[Engine.NEURONS].PEND.wr,     # their own: 0
                     cl[Engine.NEURONS].Z.rd, cl[Engine.NEURONS].V.rd, cl[Engine.FANOUT].W.rd,
                     cl[Engine.LEARN].X.rd):                                   # not theirs: 1
            ctx.set(port.en, 1)
            await ctx.delay(1e-9)
            seen.append(ctx.get(dut.violation))
            ctx.set(port.en, 0)

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [0] * 5 + [1] * 4, seen


# ---- lanes: P MACs per clock in the fan-out, W and A banked by lane -----------------------

def laned_sizes(rng, P, shape):
    """(n_in, n_out) of a layer for ``P`` lanes: "small" has fewer neurons than lanes,
    "ragged" a number that is not a multiple of P (more than P), "even" a multiple."""
    n_in = int(rng.integers(1, 7))
    if shape == "small":
        n_out = int(rng.integers(1, P))
    elif shape == "ragged":
        n_out = P * int(rng.integers(1, 3)) + int(rng.integers(1, P))
    else:
        n_out = P * int(rng.integers(1, 3))
    return n_in, n_out


@pytest.mark.parametrize("lanes", [2, 3, 4])
@pytest.mark.parametrize("shape", ["small", "ragged", "even"])
@pytest.mark.parametrize("seed", [106, 107])
def test_laned_one_layer_matches_golden(seed, shape, lanes):
    """A laned core (P = 2, 3, 4): one layer with fewer neurons than lanes, a number that is no
    multiple of P, and a multiple; learning on; every spike, x and final word equal to the
    golden model, random idles and back-pressure, the ownership and collision checks."""
    rng = np.random.default_rng(seed * 10 + lanes)
    n_in, n_out = laned_sizes(rng, lanes, shape)
    print(f"seed={seed} lanes={lanes} shape={shape} n_in={n_in} n_out={n_out}")
    case = one_layer(seed, n_in, n_out, int(rng.integers(1, 5)), T=10, rate=0.7, p_learn=0.6)
    obs = check(case, lanes=lanes)
    assert obs["learn_cycles"] or not any(s["err"] for s in case["steps"])


@pytest.mark.parametrize("lanes", [2, 3, 4])
@pytest.mark.parametrize("seed", [111, 112])
def test_laned_three_layers_match_golden(seed, lanes):
    """Three layers whose sizes straddle P (below, ragged, a multiple), sync, learning."""
    rng = np.random.default_rng(seed)
    sizes = (int(rng.integers(1, 7)), lanes * 2 + 1, max(1, lanes - 1), lanes * 2)
    print(f"seed={seed} lanes={lanes} sizes={sizes}")
    case = make_net_case(seed, sizes, int(rng.integers(1, 5)), T=10, rate=0.7, p_learn=0.6)
    obs = run_chip_amaranth(case, lanes=lanes)
    assert first_net_mismatch(case, obs) is None, f"seed={seed}: {first_net_mismatch(case, obs)}"
    assert obs["collisions"] == [] and obs["violations"] == [], (obs["collisions"][:5], obs["violations"][:5])
    assert obs["learn_cycles"], f"seed={seed}: the case must learn"


@pytest.mark.parametrize("lanes", [1, 2, 3, 4, 8])
def test_laned_cycles_per_step_without_stalls(lanes):
    """With P lanes an event's fan-out costs ceil(N / P) + 1 clocks and the bucket pass
    (ceil(N / P) + ceil(I / P)) K (rows of P units, the layer's first unit in lane 0 here);
    with P <= K the bucket pass feeds the dendrites (fused, no second pass over Z), with
    P > K a neuron pass of ceil(N / P) max(K, P) clocks follows (one shared encoder): a
    one-layer step costs their sum plus a few pipeline and descriptor clocks: 13, a clock per
    pass for its registered start (``Sequencer(start_registered=True)``: one pass fused, two
    with P > K) and the drains of the fan-out and of the encoder (their ``STAGES``; P > K
    reaches this bound)."""
    from gammacore.rtl import encoder
    n_in, n_out, K = 4, 9, 3
    case = one_layer(31, n_in, n_out, K, T=6, rate=0.8)
    obs = check(case, p_idle=0.0, p_pause=0.0, lanes=lanes)
    rows_n, rows_i = -(-n_out // lanes), -(-n_in // lanes)
    for c, step in zip(obs["cycles"], case["steps"]):
        E = len(step["events"])
        ideal = (rows_n + rows_i) * K + (rows_n * max(K, lanes) if lanes > K else 0) + E * (rows_n + 1)
        starts = 2 if lanes > K else 1
        assert ideal <= c <= ideal + 13 + starts + fanout.STAGES + encoder.STAGES, (c, ideal, E, lanes)


@pytest.mark.parametrize("lanes", [0, -2, True, 2.0, "4"])
def test_lanes_must_be_a_whole_number_of_at_least_one(lanes):
    from gammacore.rtl.net_core import NetCore
    cap = R.Capacity(1, 4, 4, 16, 2, 4)
    for make in (lambda: Chip(cap, lanes=lanes), lambda: NetCore(cap, lanes=lanes)):
        with pytest.raises(ValueError, match=f"lanes must be a whole number of at least 1.*{re.escape(repr(lanes))}"):
            make()


@pytest.mark.parametrize("lanes", [1, 2, 3, 4])
def test_laned_w_region_keeps_the_host_map(lanes):
    """The host's W addresses do not move with P: every weight written at w_base + j n_in + i
    reads back there, after the layers are loaded in any order of writes; with P > 1 an
    address that no loaded layer holds is refused with a (counted) bus error."""
    case = make_net_case(121, (3, 5, 2), 2, T=1, p_learn=0.0)
    dut = Chip(R.Capacity(3, 7, 8, 40, 2, 5), lanes=lanes)      # room beyond the network's 25 weights
    rng = np.random.default_rng(121)
    seen = {}

    async def bench(ctx):
        host = BusInitiator(ctx, dut.bus, rng, p_idle=0.2, seed=121)
        await host.load(chip_words(case))
        n = 3 * 5 + 5 * 2
        words = [int(w) for w in rng.integers(-2**31, 2**31, size=n)]
        for a in rng.permutation(n):
            await host.request(R.mem_addr(R.Region.W, int(a)), words[a] & 0xFFFFFFFF)
        seen["W"] = [R.s32(await host.request(R.mem_addr(R.Region.W, a))) for a in range(n)]
        seen["want"] = words
        seen["outside"] = [(await host.request(R.mem_addr(R.Region.W, n), 7, allow_error=True))[0],
                           (await host.request(R.mem_addr(R.Region.W, 39), allow_error=True))[0]]
        seen["errors"] = int(await host.request(R.Reg.BUS_ERRORS))

    sim, collisions, _ = ram.watched_simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen["W"] == seen["want"] and collisions == []
    assert seen["outside"] == [lanes > 1] * 2 and seen["errors"] == (2 if lanes > 1 else 0), seen


@pytest.mark.parametrize("lanes", [2, 3, 4])
def test_laned_memories_follow_the_ownership_table(lanes):
    """With P lanes every engine that OWNERSHIP gives W or A sees P bank ports of the kinds
    the table names, each bank as deep as w_bank_depth / ceil(max_layer / P), and a bank's
    port used outside its owner's phase raises the violation flag."""
    from amaranth.sim import Simulator

    from gammacore.rtl.net_memories import (BANKED, OWNERSHIP, Engine, NetMemories, client_signature, lane_ports,
                                            memory_shapes, w_bank_depth)
    cap = R.Capacity(2, 6, 5, 15, 2, 3)
    shapes = memory_shapes(cap, lanes)
    assert shapes["W"][1] == w_bank_depth(cap, lanes) and shapes["A"][1] == -(-3 // lanes)
    # every network that fits the capacity fits the banks: the worst layer split
    assert w_bank_depth(cap, lanes) * lanes >= cap.synapses
    for engine in Engine:
        members = client_signature(cap, engine, lanes=lanes).members
        for name in BANKED:
            if engine in OWNERSHIP[name]:
                lanes_sig = members[name].signature.members
                assert list(lanes_sig) == [f"lane{p}" for p in range(lanes)], (engine, name)
                for member in lanes_sig.values():
                    assert set(member.signature.members) == {{"r": "rd", "w": "wr"}[p] for p in OWNERSHIP[name][engine]}
    dut = NetMemories(cap, lanes=lanes)
    seen = []

    async def bench(ctx):
        for client in dut.clients.values():
            for port in client.signature.flatten(client):
                if port[0][-1] == "en":
                    ctx.set(port[2], 0)
        last = lane_ports(dut.clients[Engine.FANOUT].W)[-1]
        for owner, en in ((Engine.FANOUT, 1), (Engine.HOST, 0), (Engine.HOST, 1)):
            _set_owner(ctx, dut, owner)
            ctx.set(last.rd.en, en)
            await ctx.delay(1e-9)
            seen.append(ctx.get(dut.violation))
        ctx.set(last.rd.en, 0)
        ctx.set(lane_ports(dut.clients[Engine.CLEAR].A)[1].wr.en, 1)
        for owner in (Engine.CLEAR, Engine.BUCKETS):
            _set_owner(ctx, dut, owner)
            await ctx.delay(1e-9)
            seen.append(ctx.get(dut.violation))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [0, 0, 1, 0, 1], seen


@pytest.mark.parametrize("lanes,serial,fused", [(1, False, True), (4, False, True), (8, False, False),
                                                (1, True, False), (4, True, False)])
def test_fusion_needs_lanes_up_to_k_and_the_parallel_encoder(lanes, serial, fused):
    """The bucket and neuron passes are fused when P <= K and the encoder is the parallel one;
    an unfused core's bucket pass has no V or B port and no feed, and a fused pass with
    P > K is refused with the numbers named."""
    from gammacore.rtl.neuron_pass import BucketPass, NeuronPass
    from gammacore.rtl.net_core import NetCore
    cap = R.Capacity(2, 8, 8, 64, 4, 4)
    assert NetCore(cap, lanes=lanes, serial_encoder=serial).fused is fused
    bp = BucketPass(cap, lanes=lanes, fusable=fused)
    npass = NeuronPass(cap, lanes=lanes, fusable=fused)
    members = set(bp.signature.members)
    assert ({"feed", "fused"} <= members) is fused and ("feed" in npass.signature.members) is fused
    assert {"V", "B"} <= set(bp.mem.signature.members) if fused else not {"V", "B"} & set(bp.mem.signature.members)
    if lanes > cap.buckets:
        with pytest.raises(ValueError, match="lanes 8, buckets 4"):
            BucketPass(cap, lanes=lanes, fusable=True)


# ---- the learning pass: one synapse per clock -------------------------------------------

def learning_ideal(sizes, K, lanes):
    """Issue 14's ideal of a learning pass: per layer ceil(N_out / P) (N_in + K + 1)."""
    return sum(-(-n_out // lanes) * (n_in + K + 1) for n_in, n_out in zip(sizes, sizes[1:]))


@pytest.mark.parametrize("lanes,sizes,K", [(1, (24, 12), 4), (1, (5, 16, 7), 3), (1, (16, 8, 8), 1),
                                           pytest.param(1, (40, 10), 2, marks=pytest.mark.slow),
                                           (2, (12, 10, 6), 2), (2, (9, 7), 4),
                                           pytest.param(4, (32, 16), 4, marks=pytest.mark.slow),
                                           (4, (24, 9, 6), 3), (3, (14, 11, 5), 3),
                                           pytest.param(8, (40, 20), 2, marks=pytest.mark.slow)])
def test_learning_pass_meets_its_target(lanes, sizes, K):
    """Without idle clocks or back-pressure every learning pass (all layers, descriptor
    loads included) costs at most 1.5 x its ideal, ceil(N_out / P) (N_in + K + 1) per layer
    (one synapse per clock per lane; rows of P neurons, layers not a multiple of P, a layer
    whose first neuron is not in lane 0), and the chip still equals the golden model. The
    output layer is linear, so each of its neurons with a non-zero error is updated. (Each
    layer also costs a fixed 25-30 clocks - its descriptor load, the pipeline's drain - so
    layers of a few synapses miss the target: the sizes here are of at least ~100.)"""
    seed, learned = learning_passes(lanes, sizes, K)
    ideal = learning_ideal(sizes, K, lanes)
    print(f"learning clocks per pass {learned}, ideal {ideal}")
    assert all(c <= 1.5 * ideal for c in learned), (learned, ideal, f"seed={seed}")


def test_first_layer_learns_while_the_error_below_is_written():
    """2-96-2 at P = 4, the coincidence network's shape: the output layer's error below (96
    inputs, one per clock) is written while the first layer's rows (2 inputs each) learn, not
    before them (the first layer reads no sums below, so its W reads need not wait for that
    pass; its deltas are fetched word by word as they are written). Each pass then costs at most
    its ideal plus the fixed ~30 clocks per layer; waiting for the pass cost about 90 more."""
    lanes, sizes, K = 4, (2, 96, 2), 4
    seed, learned = learning_passes(lanes, sizes, K)
    bound = learning_ideal(sizes, K, lanes) + 30 * (len(sizes) - 1)
    print(f"learning clocks per pass {learned}, bound {bound}")
    assert all(c <= bound for c in learned), (learned, bound, f"seed={seed}")


def learning_passes(lanes, sizes, K):
    """A 4-step case with a learning pass after every step, without idle clocks or
    back-pressure, checked against golden; returns (seed, each pass's clocks)."""
    seed = 300 + sum(sizes) * 11 + 7 * K + lanes
    print(f"seed={seed} lanes={lanes} sizes={sizes} K={K}")
    case = make_net_case(seed, sizes, K, T=4, rate=0.6, p_learn=1.0)
    obs = run_chip_amaranth(case, p_idle=0.0, p_pause=0.0, lanes=lanes)
    assert first_net_mismatch(case, obs) is None, f"seed={seed}: {first_net_mismatch(case, obs)}"
    assert obs["collisions"] == [] and obs["violations"] == [], (obs["collisions"][:5], obs["violations"][:5])
    learned = obs["learn_cycles"]
    assert len(learned) == sum(s["err"] is not None for s in case["steps"]) > 0, f"seed={seed}"
    return seed, learned


@pytest.mark.parametrize("lanes,K", [(1, 3), (2, 4), (4, 3), (2, 1), (3, 2)])
def test_traces_banked_by_bucket_give_the_learning_unit_a_unit_per_read(lanes, K):
    """With learning the TRACE memories are banked by bucket too (K_BANKED): words the host
    writes at its word addresses (u div P) K + k of lane u mod P come back there, and the
    learning unit's K-wide port reads the K words of unit u at u div P in one clock; its port
    used outside the LEARN phase raises the violation flag."""
    from amaranth.sim import Simulator

    from gammacore.rtl.net_memories import Engine, K_BANKED, NetMemories, lane_ports
    assert "TRACE" in K_BANKED
    seed = 40 + lanes * 10 + K
    print(f"seed={seed} lanes={lanes} K={K}")
    rng = np.random.default_rng(seed)
    cap = R.Capacity(2, 6, 7, 30, K, 4)
    dut = NetMemories(cap, lanes=lanes)
    words = rng.integers(-2**15, 2**15, size=(cap.inputs, K))
    got = {"host": [], "wide": [], "violation": []}

    async def bench(ctx):
        for client in dut.clients.values():
            for port in client.signature.flatten(client):
                if port[0][-1] == "en":
                    ctx.set(port[2], 0)
        host = lane_ports(dut.clients[Engine.HOST].TRACE)
        learn = lane_ports(dut.clients[Engine.LEARN].TRACE)
        _set_owner(ctx, dut, Engine.FANOUT)     # FANOUT may write TRACE
        fan = lane_ports(dut.clients[Engine.FANOUT].TRACE)
        for u in map(int, rng.permutation(cap.inputs)):
            for k in map(int, rng.permutation(K)):
                port = fan[u % lanes].wr
                ctx.set(port.addr, (u // lanes) * K + k)
                ctx.set(port.data, int(words[u, k]))
                ctx.set(port.en, 1)
                await ctx.tick()
                ctx.set(port.en, 0)
        _set_owner(ctx, dut, Engine.HOST)
        for u in range(cap.inputs):
            row = []
            for k in range(K):
                port = host[u % lanes].rd
                ctx.set(port.addr, (u // lanes) * K + k)
                ctx.set(port.en, 1)
                await ctx.tick()
                ctx.set(port.en, 0)
                row.append(ctx.get(port.data))
            got["host"].append(row)
        _set_owner(ctx, dut, Engine.LEARN)
        for u in range(cap.inputs):
            port = learn[u % lanes].rd
            ctx.set(port.addr, u // lanes)
            ctx.set(port.en, 1)
            await ctx.tick()
            ctx.set(port.en, 0)
            got["wide"].append([ctx.get(port.data[k]) for k in range(K)])
        for owner in (Engine.LEARN, Engine.HOST, Engine.BUCKETS):
            _set_owner(ctx, dut, owner)
            ctx.set(learn[-1].rd.en, 1)
            await ctx.delay(1e-9)
            got["violation"].append(ctx.get(dut.violation))
        ctx.set(learn[-1].rd.en, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    want = words.tolist()
    assert got["host"] == want, f"seed={seed}"
    assert got["wide"] == want, f"seed={seed}"
    assert got["violation"] == [0, 1, 1], got["violation"]
    assert len(dut.memories["TRACE"]) == lanes if lanes > 1 else len(dut.memories["TRACE"]) == K


@pytest.mark.parametrize("P", [1, 2, 3, 4, 5, 6, 7, 8, 12])
def test_lane_arithmetic_for_any_lane_count(P):
    """lane_div, lane_mod, lane_add, lane_sub, lane_mul and lane_unit (the laned core's unit
    -> (lane, row) arithmetic; shifts and bits when P is a power of two, a multiply by a
    constant otherwise) equal Python's //, % and * for every 8-bit x and every pair of lanes;
    _div_const's (M, S) for every a below 2**width."""
    from amaranth.hdl import Module, Signal
    from amaranth.sim import Simulator

    from gammacore.rtl.net_memories import (_csd, _div_const, lane_add, lane_div, lane_mod, lane_mul, lane_sub,
                                            lane_unit)
    for c in [0, 1, 2, 3, 5, 7, 11, 87382, 174763, 2**20 - 1] + list(range(P, 200, P)):
        assert sum(d << k for k, d in _csd(c)) == c and all(d in (1, -1) for _, d in _csd(c)), c
    for width in range(1, 13):
        M, S = _div_const(width, P)
        assert all((a * M) >> S == a // P for a in range(1 << width)), (P, width, M, S)
    m = Module()
    x, a, b = Signal(8), Signal(range(P)), Signal(range(P))
    outs = {"div": Signal(8), "mod": Signal(range(P)), "add": Signal(range(P)), "sub": Signal(range(P)),
            "mul": Signal(16), "unit": Signal(16)}
    m.d.comb += [outs["div"].eq(lane_div(x, P)), outs["mod"].eq(lane_mod(x, P)), outs["add"].eq(lane_add(a, b, P)),
                 outs["sub"].eq(lane_sub(a, b, P)), outs["mul"].eq(lane_mul(x, P)), outs["unit"].eq(lane_unit(x, a, P))]
    bad = []

    async def bench(ctx):
        for v in range(256):
            for p in range(P):
                ctx.set(x, v)
                ctx.set(a, p)
                ctx.set(b, (v * 7 + p) % P)
                q = (v * 7 + p) % P
                want = {"div": v // P, "mod": v % P, "add": (p + q) % P, "sub": (p - q) % P, "mul": v * P,
                        "unit": v * P + p}
                got = {k: ctx.get(s) for k, s in outs.items()}
                if got != want:
                    bad.append((v, p, q, got, want))
    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert bad == [], bad[:3]
    assert lane_div(17, P) == 17 // P


def test_const_mul_is_adders_and_exact():
    """const_mul(x, c): x c from shifted copies of x (no $mul cell for yosys to map to a hard
    multiplier), for every 6-bit x and constants with runs of ones, zeros and alternating bits."""
    from amaranth.back import rtlil
    from amaranth.hdl import Module, Signal
    from amaranth.sim import Simulator

    from gammacore.rtl.net_memories import const_mul
    consts = [0, 1, 3, 5, 6, 7, 11, 15, 87382, 174763, 0b1011101111]
    m = Module()
    x = Signal(6)
    outs = [Signal(6 + c.bit_length() + 1, name=f"y{n}") for n, c in enumerate(consts)]
    m.d.comb += [o.eq(const_mul(x, c)) for o, c in zip(outs, consts)]
    assert "$mul" not in rtlil.convert(m, ports=[x, *outs])
    bad = []

    async def bench(ctx):
        for v in range(64):
            ctx.set(x, v)
            bad.extend((v, c, ctx.get(o)) for o, c in zip(outs, consts) if ctx.get(o) != v * c)
    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert bad == [], bad[:3]
