"""Run a network case (gammacore.sim.net_case) on the Chip in amaranth.sim, through its bus.

The testbench is a bus initiator doing what the host driver does: load the network
(gammacore.regmap.load_plan), clear, then per step write the input events, command a step,
read output packets while it runs (with random pauses: back-pressure on the output FIFO),
read the output layer's x, and on learning steps write the errors and command learn.
Random idle cycles between requests are seeded from the case seed.
"""
import numpy as np
from amaranth.sim import Simulator

from .. import regmap as R
from ..rtl.chip import Chip
from .net_case import chip_words

__all__ = ["BusInitiator", "run_chip_amaranth", "first_net_mismatch", "BusError"]


class BusError(Exception):
    """The chip refused a bus request."""


class BusInitiator:
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

    async def write_block(self, addr, words):
        for n, w in enumerate(words):
            await self.request(addr + n, w)

    async def read_block(self, addr, count):
        return [R.s32(await self.request(addr + n)) for n in range(count)]

    async def drain(self, got):
        """Read output packets until the FIFO is empty, appending (source, q, step) to got."""
        while True:
            pkt = R.decode_out(await self.request(R.Reg.OUT))
            if pkt is None:
                return
            got.append(pkt)

    async def wait_idle(self):
        while await self.request(R.Reg.STATUS) & R.Status.BUSY:
            pass

    async def load(self, case):
        for addr, words in chip_words(case):
            await self.write_block(addr, words)
        await self.request(R.Reg.CTRL, R.Cmd.CLEAR)
        await self.wait_idle()

    async def run_steps(self, case, obs, p_pause=0.5):
        """Every step of the case: events, step, output packets, x_out, learning."""
        n_out = case["sizes"][-1]
        for step in case["steps"]:
            for src, q in step["events"]:
                await self.request(R.Reg.EVENT, R.event_word(src, q))
            await self.request(R.Reg.CTRL, R.Cmd.STEP)
            got = []
            while True:
                status = await self.request(R.Reg.STATUS)
                if status & R.Status.OUT_READY and self.rng.random() >= p_pause:
                    await self.drain(got)
                if not status & R.Status.BUSY:
                    break
            await self.drain(got)
            obs["packets"].append(got)
            obs["cycles"].append(int(await self.request(R.Reg.CYCLES)))
            obs["x_out"].append(await self.read_block(R.mem_addr(R.Region.X, case["out_base"]), n_out))
            if step["err"] is not None:
                await self.write_block(R.mem_addr(R.Region.ERR, 0), step["err"])
                await self.request(R.Reg.CTRL, R.Cmd.LEARN)
                await self.wait_idle()
                obs["learn_cycles"].append(int(await self.request(R.Reg.LEARN_CYCLES)))

    async def read_final(self, case, obs):
        for name in ("W", "V", "B", "Z", "TRACE", "X", "E", "D"):
            obs[name] = await self.read_block(R.mem_addr(R.Region[name], 0), len(case["final"][name]))
        obs["counters"] = {r.name: int(await self.request(r)) for r in
                           (R.Reg.STEPS, R.Reg.EVENTS_IN, R.Reg.REFUSED, R.Reg.UNROUTED, R.Reg.BUS_ERRORS)}


def run_chip_amaranth(case, p_idle=0.3, p_pause=0.5, out_depth=4, extra=None):
    """Run the case; ``extra(host, obs)`` (async) runs after the steps, before the final reads."""
    rng = np.random.default_rng(case["seed"] + 2_000_003)
    dut = Chip(case["capacity"], out_depth=out_depth)
    obs = {"packets": [], "x_out": [], "cycles": [], "learn_cycles": []}

    async def bench(ctx):
        host = BusInitiator(ctx, dut.bus, rng, p_idle, case["seed"])
        await host.load(case)
        await host.run_steps(case, obs, p_pause)
        if extra is not None:
            await extra(host, obs)
        await host.read_final(case, obs)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return obs


def first_net_mismatch(case, obs):
    """None if the chip's run equals the golden one, else the first difference."""
    for t, (step, got, x) in enumerate(zip(case["steps"], obs["packets"], obs["x_out"])):
        want = [tuple(p) for p in step["packets"]]
        if [tuple(p) for p in got] != want:
            return f"step {t}: output packets {got} != golden {want}"
        if list(x) != list(step["x_out"]):
            return f"step {t}: output x {x} != golden {step['x_out']}"
    if len(obs["packets"]) != len(case["steps"]):
        return f"{len(obs['packets'])} steps completed, golden has {len(case['steps'])}"
    for name, want in case["final"].items():
        for i, (w, g) in enumerate(zip(want, obs[name])):
            if int(w) != int(g):
                return f"final {name}[{i}] = {g} != golden {w}"
    return None
