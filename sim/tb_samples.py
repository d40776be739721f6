"""cocotb testbench of the chip's sample sequencer (rtl/sample_unit.py) through the chip's bus.

The case (load plan, the samples' slot words and learn flags) comes as JSON in
$GAMMACORE_CASE; the bench loads the network, runs the samples two queued at a time
(gammacore.sim.sample_case.run_samples) with random idle cycles between requests, and
writes every sample's results and the final master weights to $GAMMACORE_OUT; pytest
compares them with gammacore.golden.sample.run_sample.
"""
import json
import os

import cocotb

from gammacore import regmap as R
from gammacore.sim.sample_case import run_samples
from gammacore.sim.tb_chip import BusTB


@cocotb.test()
async def samples_match_golden(dut):
    case = json.loads(open(os.environ["GAMMACORE_CASE"]).read())
    tb = BusTB(dut, case["seed"], float(os.environ.get("GAMMACORE_P_IDLE", "0.3")))
    await tb.start()
    for addr, words in case["plan"]:
        await tb.write_block(addr, words)

    class Cap:
        max_layer = case["max_layer"]
    results = await run_samples(tb, {"samples": case["samples"], "capacity": Cap, "n_out": case["n_out"]},
                                case["sample_words"])
    obs = {"results": results}
    for name, n in case["final_lengths"].items():
        obs[name] = await tb.read_block(R.mem_addr(R.Region[name], 0), n)
    obs["bus_errors"] = int(await tb.request(R.Reg.BUS_ERRORS))
    with open(os.environ["GAMMACORE_OUT"], "w") as f:
        json.dump(obs, f)
