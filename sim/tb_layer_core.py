"""cocotb testbench of the layer core (rtl/layer_core.py), held to the golden model.

The case (random layer, events, golden spikes and final states) comes from
gammacore.sim.layer_case as JSON in $GAMMACORE_CASE. A source inserts random idle cycles
between events, a sink applies random back-pressure to the spike stream; a scoreboard
compares every spike in order and, at the end, every state word (x, e, d, Z, traces).
Stall probabilities: $GAMMACORE_P_IDLE, $GAMMACORE_P_STALL. The stall pattern is seeded
from the case seed (printed on failure). What the core produced is written as JSON to
$GAMMACORE_OUT when set (used by ``gammacore verify``).
"""
import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from gammacore.rtl.layer_core import State
from gammacore.sim.layer_case import first_mismatch


def _signed(v, bits):
    v = int(v)
    return v - (1 << bits) if v >> (bits - 1) else v


class TB:
    """Drives inputs after each falling edge and samples in the read-only phase before the
    rising edge, so a handshake seen there takes effect at that rising edge."""

    def __init__(self, dut, case):
        self.dut, self.case = dut, case
        self.src_bits = max(1, (case["n_in"] - 1).bit_length())
        self.nrn_bits = max(1, (case["n_out"] - 1).bit_length())
        self.rng = random.Random(case["seed"] * 7919 + 1)
        self.p_idle = float(os.environ.get("GAMMACORE_P_IDLE", "0.3"))
        self.p_stall = float(os.environ.get("GAMMACORE_P_STALL", "0.3"))
        self.cycles = []

    async def next_cycle(self):
        await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)

    async def reset(self):
        d = self.dut
        await FallingEdge(d.clk)
        for name in ("events__valid", "events__payload", "spikes__ready", "step", "cfg_we", "cfg_region",
                     "cfg_addr", "cfg_data", "state_sel", "state_addr"):
            getattr(d, name).value = 0
        d.rst.value = 1
        for name, value in self.case["config"].items():
            getattr(d, name).value = value
        d.alpha.value = sum(a << (16 * k) for k, a in enumerate(self.case["alpha"]))
        d.beta.value = sum(b << (16 * k) for k, b in enumerate(self.case["beta"]))
        for _ in range(3):
            await self.next_cycle()
        d.rst.value = 0
        await self.next_cycle()

    async def run_step(self, events):
        d = self.dut
        for src, q in events:
            while self.rng.random() < self.p_idle:
                d.events__valid.value = 0
                await self.next_cycle()
            d.events__valid.value = 1
            d.events__payload.value = src | (q << self.src_bits)
            while True:
                await ReadOnly()
                taken = int(d.events__ready.value)
                await self.next_cycle()
                if taken:
                    break
        d.events__valid.value = 0
        d.step.value = 1
        got = []
        while True:
            ready = int(self.rng.random() >= self.p_stall)
            d.spikes__ready.value = ready
            await ReadOnly()
            if ready and int(d.spikes__valid.value):
                p = int(d.spikes__payload.value)
                got.append([p & ((1 << self.nrn_bits) - 1), p >> self.nrn_bits])
            done, busy = int(d.done.value), int(d.busy.value)
            await self.next_cycle()
            if busy:
                d.step.value = 0
            if done:
                break
        d.spikes__ready.value = 0
        await ReadOnly()
        self.cycles.append(int(d.cycles.value))
        await self.next_cycle()
        return got


@cocotb.test()
async def layer_core_matches_golden(dut):
    with open(os.environ["GAMMACORE_CASE"]) as f:
        case = json.load(f)
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    tb = TB(dut, case)
    await tb.reset()
    observed = {"spikes": []}
    for events in case["events"]:
        observed["spikes"].append(await tb.run_step(events))
    K = case["K"]
    words = {"x": case["n_out"], "e": case["n_out"], "d": case["n_out"], "Z": case["n_out"] * K,
             "trace": case["n_in"] * K}
    for sel, key in ((State.X, "x"), (State.E, "e"), (State.D, "d"), (State.Z, "Z"), (State.TRACE, "trace")):
        dut.state_sel.value = sel.value
        observed[key] = []
        for j in range(words[key]):
            dut.state_addr.value = j
            await tb.next_cycle()       # data one clock after the address
            await ReadOnly()
            observed[key].append(_signed(dut.state_data.value, 32))
            await tb.next_cycle()
    observed["cycles"] = tb.cycles
    if "GAMMACORE_OUT" in os.environ:
        with open(os.environ["GAMMACORE_OUT"], "w") as f:
            json.dump(observed, f)
    mismatch = first_mismatch(case, observed)
    assert mismatch is None, f"seed={case['seed']}: {mismatch}"
