"""The sample sequencer (rtl.sample_unit in rtl.chip) vs golden.sample.run_sample, in amaranth.sim.

Random small networks and random samples (steps, events, loss steps, labels, train or
infer), queued two at a time through the chip's bus with random idles: every sample's
results (scores, argmax, loss sum, output spikes) and every final master weight equal the
golden model's bit for bit; bad samples and disturbing requests are refused with a counted
bus error and change nothing.
"""
import numpy as np
import pytest

from gammacore import regmap as R
from gammacore.golden import fixedpoint as fp
from gammacore.golden import formats as F
from gammacore.rtl import ram
from gammacore.rtl.chip import Chip
from gammacore.rtl.net_memories import ownership_check
from gammacore.sim.amaranth_chip import BusInitiator
from gammacore.sim.sample_case import make_sample_case, run_samples


def simulate(case, bench, sample_words, **options):
    dut = Chip(case["capacity"], out_depth=4, sample_words=sample_words, **options)
    sim, collisions, _ = ram.watched_simulator(dut)
    process, violations = ownership_check(dut.core.arrangement)
    sim.add_process(process)
    sim.add_clock(1e-8)
    async def testbench(ctx):
        await bench(ctx, dut)

    sim.add_testbench(testbench)
    sim.run()
    assert collisions == [], f"seed={case['seed']}: read/write collisions {collisions[:5]}"
    assert violations == [], f"seed={case['seed']}: port ownership violated {violations[:5]}"


async def read_weights(host, case):
    """The master weights, and the buckets and traces the last sample left."""
    return {name: await host.read_block(R.mem_addr(R.Region[name], 0), len(case["final"][name]))
            for name in case["final"]}


@pytest.mark.parametrize("seed,sizes,out_encoder,lanes,p_mse", [
    (1, (3, 5, 3), False, 1, 0), (2, (4, 3), True, 1, 0), (7, (2, 4, 3, 2), True, 2, 0),
    (5, (3, 5, 3), False, 1, 0.6), (6, (2, 4, 3, 2), True, 2, 0.6), (6, (2, 4, 3, 2), True, 3, 0.6)])
def test_samples_match_golden(seed, sizes, out_encoder, lanes, p_mse):
    """p_mse: squared-error samples (targets after each loss marker) mixed with labelled ones."""
    case = make_sample_case(seed, sizes, K=2 + seed % 2, n_samples=5 if not p_mse else 7, out_encoder=out_encoder,
                            p_mse=p_mse)
    print(f"seed={seed} sizes={sizes} out_encoder={out_encoder} lanes={lanes} "
          f"learn={[s['learn'] for s in case['samples']]} mse={[s['target'] is not None for s in case['samples']]}")
    if p_mse:
        kinds = {(s["target"] is not None, s["learn"]) for s in case["samples"]}
        assert {(True, True), (True, False), (False, True)} <= kinds, f"seed={seed}: {kinds}"
        # a target beyond ERR's range from 0 (+-16): its error saturates unless y is as large
        errs = [fp.mse_unit(0, s["target"][s["mask"]])[0] for s in case["samples"] if s["target"] is not None]
        assert any(np.any((e == F.ERR.max) | (e == F.ERR.min)) for e in errs), f"seed={seed}: no target beyond ERR"
    runs = [w >> R.EVENT_SOURCE_SHIFT >> R.SAMPLE_REPEAT_SHIFT for smp in case["samples"] for w in smp["words"][1:]
            if w & ((1 << R.Q_BITS) - 1) == 0]
    assert max(runs) > 0, f"seed={seed}: no sample has a run of equal steps to replay"
    rng = np.random.default_rng(seed + 77)
    words = 64 if not p_mse else 96
    obs = {}

    async def running(host, n):
        # while a sample is queued or running: registers read, other requests refused
        obs.setdefault("steps_reads", []).append(int(await host.request(R.Reg.STEPS)))

    async def bench(ctx, dut):
        host = BusInitiator(ctx, dut.bus, rng, p_idle=0.3, seed=seed)
        assert int(await host.request(R.Reg.CAP_SAMPLE)) == words
        await host.load(R.load_plan(case["cfg"], case["initial"], route_hidden_to_host=False))
        obs["results"] = await run_samples(host, case, words, on_running=running)
        obs.update(await read_weights(host, case))
        obs["bus_errors"] = int(await host.request(R.Reg.BUS_ERRORS))
        obs["done"] = int(await host.request(R.Reg.SAMPLE_DONE))

    simulate(case, bench, words, lanes=lanes)
    if p_mse:
        assert any(s["target"] is not None and s["want"]["loss_sum"] for s in case["samples"]), f"seed={seed}"
    for n, (sample, got) in enumerate(zip(case["samples"], obs["results"])):
        want = dict(sample["want"], score=[int(v) for v in sample["want"]["score"]])
        assert got == want, f"seed={seed}: sample {n}: chip {got} != golden {want}"
    for name in case["final"]:
        assert obs[name] == case["final"][name], f"seed={seed}: final {name} differs"
    if not case["samples"][-1]["learn"]:
        # an inference sample's steps skip the traces (Cmd.NO_TRACES): zero since its CLEAR
        assert not any(case["final"]["TRACE"]), f"seed={seed}"
    assert any(s["learn"] for s in case["samples"]) and obs["W"] != [
        int(v) for l in case["initial"] for v in l.W_master.ravel()], f"seed={seed}: nothing learned"
    if out_encoder:
        assert any(s["want"]["spikes"] for s in case["samples"]), f"seed={seed}: no output spikes"
    assert obs["bus_errors"] == 0 and obs["done"] == len(case["samples"])


def test_bad_samples_and_disturbing_requests_are_refused_and_change_nothing():
    seed = 9
    case = make_sample_case(seed, (3, 4, 3), K=2, n_samples=2, max_T=4)
    rng = np.random.default_rng(seed)
    words = 16
    n_in, n_out = 3, 3
    good = R.sample_words(np.array([[1000, 0, 2000], [0, 3000, 0], [500, 0, 0]]), [0, 1, 1], 1)
    bad = {
        "0 steps": [0 | 1 << 16, 0],
        "label outside the output layer": [1 | n_out << 16, 0],
        "event source outside layer 0": [1 | 0 << 16, R.event_word(n_in, 100), 0],
        "longer than the slot": [2 | 1 << 16] + [R.event_word(0, 100)] * (words - 2) + [0],
        "a run past T": [3 | 1 << 16, R.event_word(0, 100), 1 << R.SAMPLE_REPEAT_SHIFT << R.EVENT_SOURCE_SHIFT,
                         2 << R.SAMPLE_REPEAT_SHIFT << R.EVENT_SOURCE_SHIFT],
        # a squared-error sample whose last loss step's n_out targets end one word past the slot
        "targets past the slot": [1 | R.SAMPLE_MSE] + [R.event_word(0, 100)] * (words - 1 - n_out)
                                 + [1 << R.SAMPLE_LOSS_BIT << R.EVENT_SOURCE_SHIFT] + [0] * (n_out - 1),
    }
    assert len(bad["targets past the slot"]) == words
    # one word shorter, the same sample fits: only the targets' end is refused
    fits = [1 | R.SAMPLE_MSE] + [R.event_word(0, 100)] * (words - 2 - n_out) + [
        1 << R.SAMPLE_LOSS_BIT << R.EVENT_SOURCE_SHIFT] + [0] * n_out
    assert R.decode_sample(fits, n_out)[2] == [(0,) * n_out]
    with pytest.raises(ValueError, match="targets go past the slot"):
        R.decode_sample(bad["targets past the slot"], n_out)
    obs = {}

    async def bench(ctx, dut):
        host = BusInitiator(ctx, dut.bus, rng, p_idle=0.2, seed=seed)
        # not configured yet: refused
        err, _ = await host.request(R.Reg.SAMPLE_CTRL, R.sample_command(0, False), allow_error=True)
        assert err
        await host.load(R.load_plan(case["cfg"], case["initial"], route_hidden_to_host=False))
        errors = int(await host.request(R.Reg.BUS_ERRORS))
        for name, w in bad.items():
            await host.write_block(R.mem_addr(R.Region.SAMPLE, 0), w)
            err, _ = await host.request(R.Reg.SAMPLE_CTRL, R.sample_command(0, True), allow_error=True)
            assert err, name
            errors += 1
            assert int(await host.request(R.Reg.BUS_ERRORS)) == errors, name
        for word in (2, R.SAMPLE_LEARN | 1 << 9):           # a slot outside, other bits set
            err, _ = await host.request(R.Reg.SAMPLE_CTRL, word, allow_error=True)
            assert err
            errors += 1
        err, _ = await host.request(R.mem_addr(R.Region.SAMPLE, 2 * words), 0, allow_error=True)
        assert err
        errors += 1
        assert int(await host.request(R.Reg.SAMPLE_DONE)) == 0
        assert int(await host.request(R.Reg.STEPS)) == 0
        assert int(await host.request(R.Reg.SAMPLE_STATUS)) == 0
        # a good sample: while it runs, what would disturb it is refused
        await host.write_block(R.mem_addr(R.Region.SAMPLE, 0), good)
        await host.request(R.Reg.SAMPLE_CTRL, R.sample_command(0, True))
        disturbing = [(R.Reg.CTRL, int(R.Cmd.STEP)), (R.Reg.EVENT, R.event_word(0, 5)), (R.Reg.OUT, None),
                      (R.mem_addr(R.Region.W, 0), 0), (R.mem_addr(R.Region.W, 0), None),
                      (R.mem_addr(R.Region.SAMPLE, 0), 0), (R.mem_addr(R.Region.SAMPLE, 0), 0),
                      (R.result_addr(0, R.ResultField.ARGMAX, 3), None),
                      (R.Reg.SAMPLE_CTRL, R.sample_command(0, False))]
        for addr, data in disturbing:
            err, _ = await host.request(addr, data, allow_error=True)
            assert err, f"{addr:#x} {data}"
            errors += 1
        status = int(await host.request(R.Reg.STATUS))
        assert status & R.Status.SAMPLE, "the sample finished before the checks: make it longer"
        # the other slot may be loaded meanwhile
        await host.write_block(R.mem_addr(R.Region.SAMPLE, words), good)
        while int(await host.request(R.Reg.SAMPLE_STATUS)):
            pass
        obs["errors"] = (int(await host.request(R.Reg.BUS_ERRORS)), errors)
        obs["done"] = int(await host.request(R.Reg.SAMPLE_DONE))
        obs["steps"] = int(await host.request(R.Reg.STEPS))
        obs["argmax"] = int(await host.request(R.result_addr(0, R.ResultField.ARGMAX, 3)))
        obs.update(await read_weights(host, case))
        # the squared-error sample whose targets end at the slot's last word runs (inferred:
        # the weights read above stay)
        await host.write_block(R.mem_addr(R.Region.SAMPLE, 0), fits)
        await host.request(R.Reg.SAMPLE_CTRL, R.sample_command(0, False))
        while int(await host.request(R.Reg.SAMPLE_STATUS)):
            pass
        obs["fits"] = (int(await host.request(R.Reg.SAMPLE_DONE)), int(await host.request(R.Reg.BUS_ERRORS)))

    simulate(case, bench, words)
    assert obs["errors"][0] == obs["errors"][1]
    assert obs["done"] == 1 and obs["steps"] == 3
    assert obs["fits"] == (2, obs["errors"][0])
    from gammacore.golden.sample import run_sample
    import copy
    from gammacore.golden.network import Network
    net = Network(case["cfg"], "fixed")
    net.layers = copy.deepcopy(case["initial"])
    want = run_sample(net, np.array([[1000, 0, 2000], [0, 3000, 0], [500, 0, 0]]), [0, 1, 1], 1, learn=True)
    assert obs["argmax"] == want["argmax"]
    assert obs["W"] == [int(v) for l in net.layers for v in l.W_master.ravel()]


def test_a_chip_without_the_sample_sequencer_refuses_its_addresses():
    case = make_sample_case(4, (2, 3), K=2, n_samples=1)
    rng = np.random.default_rng(4)
    seen = {}

    async def bench(ctx, dut):
        host = BusInitiator(ctx, dut.bus, rng, p_idle=0.2, seed=4)
        seen["cap"] = int(await host.request(R.Reg.CAP_SAMPLE))
        await host.load(R.load_plan(case["cfg"], case["initial"], route_hidden_to_host=False))
        seen["refused"] = [(await host.request(addr, data, allow_error=True))[0] for addr, data in [
            (R.mem_addr(R.Region.SAMPLE, 0), case["samples"][0]["words"][0]),
            (R.Reg.SAMPLE_CTRL, R.sample_command(0, True)), (R.Reg.SAMPLE_STATUS, None),
            (R.result_addr(0, R.ResultField.STEPS, 3), None)]]
        seen["errors"] = int(await host.request(R.Reg.BUS_ERRORS))

    simulate(case, bench, 16, samples=False)
    assert seen["cap"] == 0 and all(seen["refused"]) and seen["errors"] == 4
