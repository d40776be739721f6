"""The split memory (rtl.ram.SplitMemory) against amaranth.lib.memory.Memory, and a laned chip
whose W banks are split, against the golden model.

Random stimulus that keeps :func:`gammacore.rtl.ram.ram`'s contract (no read of the word a
write writes in the same clock; reads and writes of other words together are fine), with
reads held (``en`` low) for random stretches and addresses drawn on both sides of the split:
every read word must equal a ``Memory``'s read port driven the same way, and the collision
check over the two parts must report nothing (each part sees only its own addresses).
"""
from types import SimpleNamespace

import numpy as np
import pytest
from amaranth.hdl import Module, signed
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from gammacore.rtl import ram
from gammacore.rtl.net_memories import memory_shapes
from gammacore.rtl.ram import SplitMemory, collision_check, split_point
from gammacore.sim.amaranth_chip import first_net_mismatch, run_chip_amaranth
from gammacore.sim.net_case import make_net_case

from rtl_helpers import against_memory

SHAPE = signed(32)


@pytest.mark.parametrize("depth,low", [(16512, 16384), (16384 + 2048, 16384), (16384 + 2049, None),
                                       (32768, None), (4160, 4096), (1136, 1024), (1000, None), (1216, None),
                                       (1, None), (2, None)])
def test_split_point(depth, low):
    """A depth just above a power of two (at least SPLIT_MIN, the rest at most 1/SPLIT_REST of
    it) splits there; a power of two, a larger rest or a small memory does not."""
    assert split_point(depth) == low, (depth, split_point(depth), low)


@pytest.mark.parametrize("low", [0, 3, 32, 100, 128.0, True])
def test_bad_split_is_named(low):
    with pytest.raises(ValueError, match=f"low must be a power of two.*depth 100.*not {low!r}"):
        SplitMemory(shape=SHAPE, depth=100, low=low)


def stimulus(seed, depth, low, n=3000):
    """(read_en, read_addr, write_en, write_addr, write_data) per clock: reads and writes in
    the same clock to different words, half of the addresses near the split."""
    rng = np.random.default_rng(seed)

    def addr():
        if rng.random() < 0.5:
            return int(rng.integers(max(0, low - 4), depth))
        return int(rng.integers(depth))
    rows = []
    for _ in range(n):
        ren, wen = int(rng.random() < 0.5), int(rng.random() < 0.5)
        ra, wa = addr(), addr()
        if ren and wen and ra == wa:
            wa = (wa + 1) % depth
        rows.append((ren, ra, wen, wa, int(rng.integers(-2**31, 2**31))))
    return rows


def assert_unheld(seed, rows, seen):
    """Every clock's word in ``seen`` is the one at that clock's read address (before the
    clock's write), enabled or not (stimulus() never has a read and a write of one word in a
    clock), and it moved after more than 100 reads that were not enabled."""
    words, unheld = {}, 0
    for t, ((ren, ra, wen, wa, wd), got) in enumerate(zip(rows, seen)):
        want = words.get(ra, 0)
        assert got == want, f"seed={seed}: clock {t} (read enabled {ren}): {got} where the word is {want}"
        unheld += not ren and got != seen[t - 1]
        if wen:
            words[wa] = wd
    assert unheld > 100, f"seed={seed}: the word moved after {unheld} reads that were not enabled"


@pytest.mark.parametrize("free", [False, True], ids=["held", "free"])
@pytest.mark.parametrize("seed,depth,low", [(1, 40, 32), (2, 33, 32), (3, 64 + 16, 64), (4, 20, 16)])
def test_reads_equal_a_memory_read_port(seed, depth, low, free):
    """Held: every clock's word equals the Memory's. Free (the parts read every clock): the
    word after every enabled read equals the Memory's, and every clock's word is the one at
    that clock's address, enabled or not."""
    print(f"seed={seed} depth={depth} low={low} free={free}")
    rows = stimulus(seed, depth, low)
    m = Module()
    recorded = ram._recording
    ram._recording = []
    try:
        m.submodules.split = dut = SplitMemory(shape=SHAPE, depth=depth, low=low, free=free)
        parts = ram._recording
    finally:
        ram._recording = recorded
    m.submodules.ref = ref = Memory(shape=SHAPE, depth=depth, init=[])
    ports, out = (ref.read_port(), ref.write_port()), []
    sim = Simulator(m)
    process, found = collision_check(parts)
    sim.add_process(process)
    sim.add_clock(1e-8)
    sim.add_testbench(against_memory(dut, ports, rows, out))
    sim.run()
    assert len(parts) == 2 and [p.depth for p in parts] == [low, depth - low]
    bad = [(t, got, want) for t, (got, want) in enumerate(out) if got != want and (rows[t][0] or not free)]
    assert bad == [], f"seed={seed}: first clocks where the split memory reads otherwise {bad[:5]}"
    if free:
        assert_unheld(seed, rows, [got for got, _ in out])
    hi_reads = sum(1 for ren, ra, *_ in rows if ren and ra >= low)
    assert hi_reads > 100 and found == [], (hi_reads, found[:5])


@pytest.mark.parametrize("split", [False, True], ids=["one", "split"])
@pytest.mark.parametrize("seed,depth,low", [(5, 40, 32), (6, 80, 64)])
def test_hold_port_equals_a_memory_read_port_and_raw_is_the_word_read(seed, depth, low, split):
    """``read_port(hold=True)`` (a laned core's ports: the block RAM reads every clock, a
    multiplexer after it holds the word): every clock's word equals a Memory read port's
    driven the same way, with reads held for random stretches; its ``raw`` (what the readers
    in net_memories.NEXT_CLOCK_READERS take) is the word at the address of the clock before,
    enabled or not. ``split``: the same through a SplitMemory's two parts."""
    print(f"seed={seed} depth={depth} low={low} split={split}")
    rows = stimulus(seed, depth, low)
    m = Module()
    if split:
        m.submodules.split = dut = SplitMemory(shape=SHAPE, depth=depth, low=low, hold=True)
        also = ()
    else:
        mem = m.submodules.mem = ram.ram(shape=SHAPE, depth=depth)
        dut = SimpleNamespace(read=ram.read_port(m, mem, "rd", hold=True), write=mem.write_port())
        also = (dut.read.raw,)
    m.submodules.ref = ref = Memory(shape=SHAPE, depth=depth, init=[])
    ports, out = (ref.read_port(), ref.write_port()), []
    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(against_memory(dut, ports, rows, out, also))
    sim.run()
    bad = [(t, got, want) for t, (got, want, *_) in enumerate(out) if got != want]
    assert bad == [], f"seed={seed}: first clocks where the held port reads otherwise {bad[:5]}"
    held = sum(1 for ren, *_ in rows if not ren)
    assert held > 1000, f"seed={seed}: only {held} clocks with the read held"
    if also:
        assert_unheld(seed, rows, [raw for _, _, raw in out])


@pytest.mark.parametrize("seed", [131, 132])
def test_laned_chip_with_split_w_banks_matches_golden(seed, monkeypatch):
    """A chip at P = 2 whose W banks are split memories (the split made to apply to this small
    capacity): every spike, x, final word and weight, with learning, equal to the golden model."""
    monkeypatch.setattr(ram, "SPLIT_MIN", 16)
    monkeypatch.setattr(ram, "SPLIT_REST", 1)
    rng = np.random.default_rng(seed)
    sizes = (int(rng.integers(3, 6)), 2 * int(rng.integers(4, 7)) + 1, 3)
    case = make_net_case(seed, sizes, int(rng.integers(1, 5)), T=8, rate=0.7, p_learn=0.6)
    depth = memory_shapes(case["capacity"], 2)["W"][1]
    print(f"seed={seed} sizes={sizes} W bank depth={depth} split at {split_point(depth)}")
    assert split_point(depth) is not None, f"seed={seed}: W bank of {depth} words would not split"
    obs = run_chip_amaranth(case, lanes=2)
    assert first_net_mismatch(case, obs) is None, f"seed={seed}: {first_net_mismatch(case, obs)}"
    assert obs["collisions"] == [] and obs["violations"] == [], (obs["collisions"][:5], obs["violations"][:5])
    assert obs["learn_cycles"], f"seed={seed}: the case must learn"
