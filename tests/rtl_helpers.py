"""Stream drivers for amaranth.sim testbenches: random idle cycles and back-pressure."""
import itertools

import numpy as np
import pytest
from amaranth.sim import Simulator


async def send(ctx, port, items, rng, p_idle=0.3):
    """Drive ``items`` (dicts or ints) into a stream, with random idle cycles."""
    for item in items:
        while rng.random() < p_idle:
            ctx.set(port.valid, 0)
            await ctx.tick()
        ctx.set(port.valid, 1)
        ctx.set(port.payload, item)
        await ctx.tick().until(port.ready)
    ctx.set(port.valid, 0)


async def receive(ctx, port, count, rng, p_stall=0.3):
    """Collect ``count`` payloads from a stream, with random back-pressure."""
    out = []
    while len(out) < count:
        ready = int(rng.random() >= p_stall)
        ctx.set(port.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(port.valid, port.payload)
        if ready and valid:
            out.append(payload)
    ctx.set(port.ready, 0)
    return out


def against_memory(dut, ref, rows, out, also=()):
    """A testbench driving a memory component ``dut`` (``read``/``write`` ports, as
    :class:`~gammacore.rtl.spram.SPRAMMemory`) and ``ref`` = (read port, write port) of a
    ``Memory`` with the same ``rows`` of (read enable, read address, write enable, write
    address, word), one per clock; appends (dut's read data, ref's, then the value of each
    signal in ``also``) to ``out`` each clock."""
    rd, wr = ref

    async def tb(ctx):
        for ren, raddr, wen, waddr, wdata in rows:
            for port, en in ((dut.read, ren), (rd, ren), (dut.write, wen), (wr, wen)):
                ctx.set(port.en, en)
            for port in (dut.read, rd):
                ctx.set(port.addr, raddr)
            for port in (dut.write, wr):
                ctx.set(port.addr, waddr)
                ctx.set(port.data, wdata)
            await ctx.tick()
            out.append((ctx.get(dut.read.data), ctx.get(rd.data), *(ctx.get(sig) for sig in also)))
    return tb


def run(dut, *testbenches):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for tb in testbenches:
        sim.add_testbench(tb)
    sim.run()


def seeded(seed):
    print(f"seed={seed}")
    return np.random.default_rng(seed)


def grid(argnames, *values, default):
    """``pytest.mark.parametrize`` over every combination of ``values`` (one list per name in
    ``argnames``), where a combination that ``default(*combination)`` rejects is marked slow:
    the default suite (./dev.sh test) runs a spread of the grid, ``-m slow`` the rest, and the
    ids are the ones the stacked parametrize decorators gave. A tuple in a list stands for
    that many names."""
    combos = [tuple(x for v in c for x in (v if isinstance(v, tuple) else (v,))) for c in itertools.product(*values)]
    return pytest.mark.parametrize(argnames, [
        pytest.param(*c, marks=() if default(*c) else pytest.mark.slow) for c in combos])


#: the counts of a sample's results (Chip.sample_result, golden.sample.run_sample) beside its scores
SAMPLE_COUNTS = ("steps", "argmax", "loss_sum", "spikes")


def assert_sample_result(got, want, note):
    """A sample's results from the driver (:meth:`Chip.sample_result`) equal golden.sample's:
    every output's score and every count."""
    assert got["score"].tolist() == want["score"].tolist(), note
    assert {k: got[k] for k in SAMPLE_COUNTS} == {k: want[k] for k in SAMPLE_COUNTS}, note


def assert_final_params(params, final, note=""):
    """The master words the driver reads back (:meth:`Chip.read_params`) equal a sample case's
    final W, V and b (gammacore.sim.sample_case)."""
    for key, name in (("W", "W"), ("V", "V"), ("b", "B")):
        assert np.concatenate([p[key].ravel() for p in params]).tolist() == final[name], f"{note} final {name}"
