"""BlockFIFO (rtl.fifo) against Amaranth's SyncFIFOBuffered, clock by clock: the same random
writes and reads (bursts that fill it, pauses that drain it) into both, and every output
(w_rdy, r_rdy, r_data while r_rdy, level) equal in every clock; no word of its RAM read and
written in one clock."""
import pytest
from amaranth.hdl import Module
from amaranth.lib.fifo import SyncFIFOBuffered

from gammacore.rtl import ram
from gammacore.rtl.fifo import BlockFIFO
from rtl_helpers import seeded


@pytest.mark.parametrize("seed,depth", [(1, 1), (2, 2), (3, 3), (4, 5), (5, 16), (6, 64), (7, 1)])
def test_same_behaviour_as_syncfifobuffered(seed, depth):
    rng = seeded(seed)
    m = Module()
    m.submodules.dut = dut = BlockFIFO(width=8, depth=depth)
    m.submodules.ref = ref = SyncFIFOBuffered(width=8, depth=depth)
    seen = {"full": 0, "empty_reads": 0, "words": 0}

    async def bench(ctx):
        for t in range(3000):
            phase = (t // 200) % 3            # fill, drain, mixed
            p_w, p_r = ((0.9, 0.2), (0.2, 0.9), (0.5, 0.5))[phase]
            w, r, data = int(rng.random() < p_w), int(rng.random() < p_r), int(rng.integers(0, 256))
            for f in (dut, ref):
                ctx.set(f.w_en, w)
                ctx.set(f.w_data, data)
                ctx.set(f.r_en, r)
            got = [ctx.get(getattr(f, n)) for f in (dut, ref) for n in ("w_rdy", "r_rdy", "level")]
            assert got[:3] == got[3:], f"seed={seed} depth={depth} clock {t}: (w_rdy, r_rdy, level) {got[:3]} != {got[3:]}"
            if ctx.get(ref.r_rdy):
                assert ctx.get(dut.r_data) == ctx.get(ref.r_data), f"seed={seed} depth={depth} clock {t}: r_data"
                seen["words"] += r
            seen["full"] += not ctx.get(ref.w_rdy)
            seen["empty_reads"] += r and not ctx.get(ref.r_rdy)
            await ctx.tick()

    sim, collisions, _ = ram.watched_simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    print(f"seed={seed} depth={depth}: {seen}")
    assert collisions == [], f"seed={seed}: {collisions[:5]}"
    assert seen["full"] > 0 and seen["empty_reads"] > 0 and seen["words"] > 300, seen
