"""cocotb testbench of the whole chip (rtl/chip.py) through its word bus.

The case (gammacore.sim.net_case.case_json: load plan, events and errors of every step)
comes as JSON in $GAMMACORE_CASE. The bench does what the host does - load, clear, per step
write events, command the step, read output packets while it runs (pausing at random:
back-pressure on the output FIFO), read the output layer's x, write errors and command
learning - with random idle cycles between requests, seeded from the case seed. What the
chip produced is written as JSON to $GAMMACORE_OUT; pytest compares it with the golden
model (gammacore.sim.amaranth_chip.first_net_mismatch).
"""
import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from gammacore.sim.host_script import BusError, HostScript


class BusTB(HostScript):
    """Drives after each falling edge and samples in the read-only phase before the rising edge."""

    def __init__(self, dut, seed, p_idle):
        self.dut, self.rng, self.p_idle, self.seed = dut, random.Random(seed * 7919 + 3), p_idle, seed

    async def start(self):
        """Start the clock, drive the bus idle and hold reset for three cycles."""
        d = self.dut
        cocotb.start_soon(Clock(d.clk, 10, unit="ns").start())
        await FallingEdge(d.clk)
        for name in ("bus__addr", "bus__w_data", "bus__we", "bus__re"):
            getattr(d, name).value = 0
        d.rst.value = 1
        for _ in range(3):
            await self.next_cycle()
        d.rst.value = 0
        await self.next_cycle()

    async def next_cycle(self):
        await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)

    async def request(self, addr, data=None, allow_error=False):
        d = self.dut
        while self.rng.random() < self.p_idle:
            await self.next_cycle()
        d.bus__addr.value = int(addr)
        if data is None:
            d.bus__re.value = 1
        else:
            d.bus__we.value = 1
            d.bus__w_data.value = int(data) & 0xFFFFFFFF
        while True:
            await ReadOnly()
            ack, err, rdata = int(d.bus__ack.value), int(d.bus__err.value), int(d.bus__r_data.value)
            await self.next_cycle()
            if ack:
                break
        d.bus__re.value = 0
        d.bus__we.value = 0
        if allow_error:
            return bool(err), rdata
        if err:
            raise BusError(f"bus error at address {int(addr):#08x} (seed {self.seed})")
        return rdata


@cocotb.test()
async def chip_matches_golden(dut):
    case = json.loads(open(os.environ["GAMMACORE_CASE"]).read())
    p_idle = float(os.environ.get("GAMMACORE_P_IDLE", "0.3"))
    p_pause = float(os.environ.get("GAMMACORE_P_PAUSE", "0.5"))
    tb = BusTB(dut, case["seed"], p_idle)
    await tb.start()

    obs = {"packets": [], "x_out": [], "cycles": [], "learn_cycles": []}
    await tb.load(case["plan"])
    await tb.run_steps(case, obs, p_pause)
    await tb.read_final(case["final_lengths"], obs, case.get("final_bases"))
    out = os.environ.get("GAMMACORE_OUT")
    if out:
        with open(out, "w") as f:
            json.dump(obs, f)
