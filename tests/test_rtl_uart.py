"""UART receiver and transmitter: loopback, bit-banged frames at a mismatched baud, errors."""
import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.sim import Simulator

from gammacore.rtl.uart import UartRx, UartTx
from rtl_helpers import receive, seeded, send


class Loopback(Elaboratable):
    def __init__(self, divisor):
        self.tx, self.rx = UartTx(divisor), UartRx(divisor)

    def elaborate(self, platform):
        m = Module()
        m.submodules.tx, m.submodules.rx = self.tx, self.rx
        m.d.comb += self.rx.rx.eq(self.tx.tx)
        return m


@pytest.mark.parametrize("seed", range(4))
def test_loopback_random_bytes_divisors_gaps(seed):
    rng = seeded(seed)
    divisor = int(rng.integers(4, 17))
    data = [int(b) for b in rng.integers(0, 256, 60)]
    dut = Loopback(divisor)
    got = []

    async def producer(ctx):
        await send(ctx, dut.tx.i, data, rng, p_idle=0.5)

    async def consumer(ctx):
        # a byte takes 10 * divisor clocks: short stalls never overrun
        got.extend(await receive(ctx, dut.rx.o, len(data), rng, p_stall=0.5))
        assert ctx.get(dut.rx.framing_errors) == 0 and ctx.get(dut.rx.overruns) == 0

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    assert got == data, f"seed={seed} divisor={divisor}"


def test_back_to_back_bytes_take_ten_bits():
    """Consecutive bytes leave no idle clock: n bytes take 10 * n * divisor clocks."""
    divisor, n = 5, 8
    dut = UartTx(divisor)
    cycles = []

    async def tb(ctx):
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.i.payload, 0x55)
        count = 0
        start = None
        while count < n:
            _, _, ready = await ctx.tick().sample(dut.i.ready)
            t = len(cycles)
            cycles.append(ctx.get(dut.tx))
            if ready:
                count += 1
                start = t if start is None else start
        ctx.set(dut.i.valid, 0)
        while ctx.get(dut.busy):
            await ctx.tick()
            cycles.append(ctx.get(dut.tx))
        bits = cycles[start + 1:]
        assert len(bits) == 10 * n * divisor
        for k in range(n):
            frame = bits[k * 10 * divisor:(k + 1) * 10 * divisor:divisor]
            assert frame == [0] + [(0x55 >> i) & 1 for i in range(8)] + [1]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()


async def bitbang(ctx, pin, byte, period, stop=1):
    """Drive one 8N1 frame with a bit period of ``period`` clocks (a float: baud mismatch)."""
    levels = [0] + [(byte >> i) & 1 for i in range(8)] + [stop]
    t = 0.0
    for k, level in enumerate(levels):
        ctx.set(pin, level)
        end = (k + 1) * period
        while t < end:
            await ctx.tick()
            t += 1
    ctx.set(pin, 1)


@pytest.mark.parametrize("seed", range(3))
def test_receiver_tolerates_baud_mismatch_and_counts_errors(seed):
    rng = seeded(seed)
    divisor = int(rng.integers(4, 13))
    dut = UartRx(divisor)
    plan = []
    for _ in range(30):
        byte = int(rng.integers(0, 256))
        bad_stop = rng.random() < 0.2
        period = divisor * (1 + rng.uniform(-0.03, 0.03))
        gap = int(rng.integers(0, 2 * divisor))
        plan.append((byte, bad_stop, period, gap))
    got = []
    done = []

    async def driver(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(3)
        for byte, bad_stop, period, gap in plan:
            await bitbang(ctx, dut.rx, byte, period, stop=0 if bad_stop else 1)
            # after a bad stop bit the line must go high before the next start bit counts
            await ctx.tick().repeat(gap + (divisor if bad_stop else 0) + 1)
        await ctx.tick().repeat(4 * divisor)
        done.append((ctx.get(dut.framing_errors), ctx.get(dut.overruns)))

    async def monitor(ctx):
        ctx.set(dut.o.ready, 1)
        while not done:
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            if valid:
                got.append(payload)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(driver)
    sim.add_testbench(monitor, background=True)
    sim.run()
    expected = [b for b, bad, _, _ in plan if not bad]
    assert got == expected, f"seed={seed} divisor={divisor}"
    assert done == [(sum(bad for _, bad, _, _ in plan), 0)], f"seed={seed} divisor={divisor}"


def test_overrun_is_counted_and_first_byte_kept():
    divisor = 4
    dut = UartRx(divisor)

    async def tb(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(3)
        for byte in (0x12, 0x34, 0x56):
            await bitbang(ctx, dut.rx, byte, divisor)
            await ctx.tick().repeat(2)
        await ctx.tick().repeat(2 * divisor)
        assert ctx.get(dut.o.valid) and ctx.get(dut.o.payload) == 0x12
        assert ctx.get(dut.overruns) == 2 and ctx.get(dut.framing_errors) == 0

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()


@pytest.mark.parametrize("divisor", [3, 0, 4.5, "8"])
def test_bad_divisor(divisor):
    with pytest.raises(ValueError, match="divisor"):
        UartRx(divisor)
    with pytest.raises(ValueError, match="divisor"):
        UartTx(divisor)
