"""SkidBuffer (rtl.pipeline): every word offered is delivered once, in order, with the
payload intact, under random producer pauses and consumer stalls; ``i.ready`` is a register
(the consumer's ready changing within a clock never changes it); an empty buffer passes a
word through in the clock it is offered."""
import pytest
from amaranth.hdl import unsigned

from gammacore.rtl.pipeline import SkidBuffer
from amaranth.sim import Simulator
from rtl_helpers import seeded


@pytest.mark.parametrize("seed,p_valid,p_ready", [(1, 0.9, 0.5), (2, 0.5, 0.9), (3, 0.7, 0.2), (4, 1.0, 1.0)])
def test_skid_buffer_delivers_every_word_in_order(seed, p_valid, p_ready):
    rng = seeded(seed)
    dut = SkidBuffer(unsigned(12))
    words = [int(x) for x in rng.integers(0, 1 << 12, 2000)]
    got, seen = [], {"stalls": 0, "through": 0}

    async def bench(ctx):
        k = 0
        for t in range(40000):
            offer = k < len(words) and rng.random() < p_valid
            ctx.set(dut.i.valid, offer)
            if offer:
                ctx.set(dut.i.payload, words[k])
            empty = ctx.get(dut.empty)
            # i.ready does not depend on o.ready in the same clock
            ctx.set(dut.o.ready, 0)
            r0 = ctx.get(dut.i.ready)
            ctx.set(dut.o.ready, 1)
            r1 = ctx.get(dut.i.ready)
            assert r0 == r1 == empty, f"seed={seed} clock {t}: i.ready {r0}/{r1} with o.ready 0/1, empty {empty}"
            if empty and offer:
                # an empty buffer shows the offered word at its output in the same clock
                assert ctx.get(dut.o.valid) and ctx.get(dut.o.payload) == words[k], f"seed={seed} clock {t}"
            ready = rng.random() < p_ready
            ctx.set(dut.o.ready, ready)
            if ctx.get(dut.o.valid) and ready:
                got.append(ctx.get(dut.o.payload))
                seen["through"] += empty
            seen["stalls"] += ctx.get(dut.o.valid) and not ready
            if offer and ctx.get(dut.i.ready):
                k += 1
            await ctx.tick()
            if k == len(words) and ctx.get(dut.empty):
                break

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    print(f"seed={seed} p_valid={p_valid} p_ready={p_ready}: {seen}, {len(got)} words")
    assert got == words, f"seed={seed}: {len(got)} words out of {len(words)}, first difference at " \
        f"{next((n for n, (a, b) in enumerate(zip(got, words)) if a != b), min(len(got), len(words)))}"
    assert seen["through"] > 0
    if p_ready < 1:
        assert seen["stalls"] > 0
