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

__all__ = ["run_chip_amaranth", "first_net_mismatch", "BusError"]


class BusError(Exception):
    """The chip refused a bus request."""


def run_chip_amaranth(case, p_idle=0.3, p_pause=0.5, out_depth=4):
    rng = np.random.default_rng(case["seed"] + 2_000_003)
    dut = Chip(case["capacity"], out_depth=out_depth)
    bus = dut.bus
    obs = {"packets": [], "x_out": [], "cycles": [], "learn_cycles": []}

    async def request(ctx, addr, data=None):
        while rng.random() < p_idle:
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
        if err:
            raise BusError(f"bus error at address {int(addr):#08x} (seed {case['seed']})")
        return rdata

    async def write_block(ctx, addr, words):
        for n, w in enumerate(words):
            await request(ctx, addr + n, w)

    async def read_block(ctx, addr, count):
        return [R.s32(await request(ctx, addr + n)) for n in range(count)]

    async def drain(ctx, got):
        while True:
            word = await request(ctx, R.Reg.OUT)
            pkt = R.decode_out(word)
            if pkt is None:
                return
            got.append(pkt)

    async def bench(ctx):
        for addr, words in chip_words(case):
            await write_block(ctx, addr, words)
        await request(ctx, R.Reg.CTRL, R.Cmd.CLEAR)
        while await request(ctx, R.Reg.STATUS) & R.Status.BUSY:
            pass
        n_out = case["sizes"][-1]
        for t, step in enumerate(case["steps"]):
            for src, q in step["events"]:
                await request(ctx, R.Reg.EVENT, R.event_word(src, q))
            await request(ctx, R.Reg.CTRL, R.Cmd.STEP)
            got = []
            while True:
                status = await request(ctx, R.Reg.STATUS)
                if status & R.Status.OUT_READY and rng.random() >= p_pause:
                    await drain(ctx, got)
                if not status & R.Status.BUSY:
                    break
            await drain(ctx, got)
            obs["packets"].append(got)
            obs["cycles"].append(int(await request(ctx, R.Reg.CYCLES)))
            obs["x_out"].append(await read_block(ctx, R.mem_addr(R.Region.X, case["out_base"]), n_out))
            if step["err"] is not None:
                await write_block(ctx, R.mem_addr(R.Region.ERR, 0), step["err"])
                await request(ctx, R.Reg.CTRL, R.Cmd.LEARN)
                while await request(ctx, R.Reg.STATUS) & R.Status.BUSY:
                    pass
                obs["learn_cycles"].append(int(await request(ctx, R.Reg.LEARN_CYCLES)))
        core = dut.core
        for name in ("W", "V", "B", "Z", "TRACE", "X", "E", "D"):
            n = len(case["final"][name])
            obs[name] = await read_block(ctx, R.mem_addr(R.Region[name], 0), n)
        obs["counters"] = {r.name: int(await request(ctx, r)) for r in
                           (R.Reg.STEPS, R.Reg.EVENTS_IN, R.Reg.REFUSED, R.Reg.UNROUTED, R.Reg.BUS_ERRORS)}

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
