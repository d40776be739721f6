"""Run a layer case (gammacore.sim.layer_case) on the layer core in amaranth.sim.

Random idle cycles between events and random back-pressure on the spike stream, seeded
from the case seed. Returns what the core produced, in the case's "expected" format, plus
the cycles of every step.
"""
import numpy as np
from amaranth.sim import Simulator

from ..rtl.layer_core import LayerCore, Region

__all__ = ["run_amaranth"]


def run_amaranth(case, p_idle=0.3, p_stall=0.3, load_by_port=False):
    I, N, K = case["n_in"], case["n_out"], case["K"]
    rng = np.random.default_rng(case["seed"] + 1_000_003)
    pow2 = case.get("pow2", False)
    dut = (LayerCore(I, N, K, pow2=pow2) if load_by_port
           else LayerCore(I, N, K, W=case["W"], V=case["V"], b=case["b"], pow2=pow2))
    obs = {"spikes": [], "cycles": []}

    async def driver(ctx):
        for k in range(K):
            ctx.set(dut.alpha[k], case["alpha"][k])
            ctx.set(dut.beta[k], case["beta"][k])
        for name, value in case["config"].items():
            ctx.set(getattr(dut, name), value)
        if load_by_port:
            for region, values in ((Region.W, case["W"]), (Region.V, case["V"]), (Region.B, case["b"])):
                for addr, value in enumerate(values):
                    ctx.set(dut.cfg_region, region)
                    ctx.set(dut.cfg_addr, addr)
                    ctx.set(dut.cfg_data, value)
                    ctx.set(dut.cfg_we, 1)
                    await ctx.tick()
            ctx.set(dut.cfg_we, 0)
        for events in case["events"]:
            for src, mag in events:
                while rng.random() < p_idle:
                    ctx.set(dut.events.valid, 0)
                    await ctx.tick()
                ctx.set(dut.events.valid, 1)
                ctx.set(dut.events.payload, {"source": src, "q": mag})
                await ctx.tick().until(dut.events.ready)
            ctx.set(dut.events.valid, 0)
            ctx.set(dut.step, 1)
            await ctx.tick().until(dut.busy)
            ctx.set(dut.step, 0)
            got = []
            while True:
                ready = int(rng.random() >= p_stall)
                ctx.set(dut.spikes.ready, ready)
                _, _, valid, payload, done = await ctx.tick().sample(dut.spikes.valid, dut.spikes.payload, dut.done)
                if valid and ready:
                    got.append([payload.neuron, payload.q])
                if done:
                    break
            ctx.set(dut.spikes.ready, 0)
            obs["spikes"].append(got)
            obs["cycles"].append(ctx.get(dut.cycles))
        mems = {**dut.memories, **dut.accumulator.memories}
        for key, name in (("x", "x"), ("e", "e"), ("d", "d"), ("Z", "Z"), ("trace", "trace"), ("A", "A"), ("qin", "qin")):
            obs[key] = [ctx.get(mems[name].data[i]) for i in range(mems[name].depth)]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(driver)
    sim.run()
    return obs
