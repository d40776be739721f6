"""Run a network case (gammacore.sim.net_case) on the Chip in amaranth.sim, through its bus.

The testbench is a bus initiator doing what the host driver does: load the network
(gammacore.regmap.load_plan), clear, then per step write the input events, command a step,
read output packets while it runs (with random pauses: back-pressure on the output FIFO),
read the output layer's x, and on learning steps write the errors and command learn.
Random idle cycles between requests are seeded from the case seed.
"""
import numpy as np

from ..rtl import ram
from ..rtl.chip import Chip
from ..rtl.net_memories import ownership_check
from .host_script import BusError, HostScript, first_net_mismatch
from .net_case import chip_words

__all__ = ["BusInitiator", "run_chip_amaranth", "first_net_mismatch", "BusError"]


class BusInitiator(HostScript):
    """Bus requests from an amaranth.sim testbench, with random idle cycles before each."""

    def __init__(self, ctx, bus, rng, p_idle=0.3, seed=None):
        self.ctx, self.bus, self.rng, self.p_idle, self.seed = ctx, bus, rng, p_idle, seed

    async def request(self, addr, data=None, allow_error=False):
        ctx, bus = self.ctx, self.bus
        while self.rng.random() < self.p_idle:
            await ctx.tick()
        ctx.set(bus.addr, int(addr))
        if data is None:
            ctx.set(bus.re, 1)
        else:
            ctx.set(bus.we, 1)
            ctx.set(bus.w_data, int(data) & 0xFFFFFFFF)
        while True:
            _, _, ack, err, rdata = await ctx.tick().sample(bus.ack, bus.err, bus.r_data)
            if ack:
                break
        ctx.set(bus.re, 0)
        ctx.set(bus.we, 0)
        if allow_error:
            return bool(err), rdata
        if err:
            raise BusError(f"bus error at address {int(addr):#08x} (seed {self.seed})")
        return rdata


def run_chip_amaranth(case, p_idle=0.3, p_pause=0.5, out_depth=4, extra=None, count=None, **options):
    """Run the case; ``extra(host, obs)`` (async) runs after the steps, before the final reads.
    ``count(dut)``: names and 1-bit signals of the elaborated chip; ``obs["counts"][name]`` is
    the number of clocks each was high (to show that a case reaches a state).
    ``options``: further construction parameters of the Chip (e.g. ``learning=False``)."""
    rng = np.random.default_rng(case["seed"] + 2_000_003)
    dut = Chip(case["capacity"], out_depth=out_depth, pow2=case.get("pow2", False), **options)
    obs = {"packets": [], "x_out": [], "cycles": [], "learn_cycles": []}

    async def bench(ctx):
        host = BusInitiator(ctx, dut.bus, rng, p_idle, case["seed"])
        await host.load(chip_words(case))
        await host.run_steps(case, obs, p_pause)
        if extra is not None:
            await extra(host, obs)
        await host.read_final({k: len(v) for k, v in case["final"].items()}, obs, case.get("final_bases"))

    # every block RAM is watched for a read and a write of one word in one clock, which
    # synthesis may leave undefined (gammacore.rtl.ram): obs["collisions"] must stay empty;
    # so must obs["violations"]: clocks where an engine of the network core used a memory
    # port outside its phase (gammacore.rtl.net_memories)
    sim, obs["collisions"], _ = ram.watched_simulator(dut)
    process, obs["violations"] = ownership_check(dut.core.arrangement)
    sim.add_process(process)
    if count is not None:
        obs["counts"] = {}

        async def counter(ctx):
            signals = count(dut)
            obs["counts"].update(dict.fromkeys(signals, 0))
            async for _, _, *values in ctx.tick().sample(*signals.values()):
                for name, v in zip(signals, values):
                    obs["counts"][name] += int(v)

        sim.add_process(counter)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return obs
