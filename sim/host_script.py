"""What the host does to the chip, as a script over an abstract bus initiator.

Shared by the amaranth.sim bench (gammacore.sim.amaranth_chip) and the cocotb bench
(gammacore.sim.tb_chip): a subclass supplies ``request(addr, data=None, allow_error=False)``
(a read when data is None; raises :class:`BusError` on a refused request unless
``allow_error``, then returns (err, data)) and ``rng`` (random pauses in reading the
output FIFO: back-pressure on the core).
"""
from .. import regmap as R

__all__ = ["BusError", "HostScript", "first_net_mismatch"]


class BusError(Exception):
    """The chip refused a bus request."""


class HostScript:
    """Host-side sequences: load, steps with output draining, learning, final read-back."""

    async def write_block(self, addr, words):
        for n, w in enumerate(words):
            await self.request(addr + n, w)

    async def read_block(self, addr, count):
        return [R.s32(await self.request(addr + n)) for n in range(count)]

    async def out_format(self):
        """The chip's output packet layout, from its CAP_NEURONS word (read once), as the
        host driver learns it."""
        if getattr(self, "_out_format", None) is None:
            self._out_format = R.out_format(int(await self.request(R.Reg.CAP_NEURONS)))
        return self._out_format

    async def drain(self, got):
        """Read output packets until the FIFO is empty, appending (source, q, step) to got."""
        fmt = await self.out_format()
        while True:
            pkt = R.decode_out(await self.request(R.Reg.OUT), fmt)
            if pkt is None:
                return
            got.append(pkt)

    async def wait_idle(self):
        while await self.request(R.Reg.STATUS) & R.Status.BUSY:
            pass

    async def load(self, plan):
        """Write a load plan (gammacore.regmap.load_plan), then clear the state."""
        for addr, words in plan:
            await self.write_block(addr, words)
        await self.request(R.Reg.CTRL, R.Cmd.CLEAR)
        await self.wait_idle()

    async def run_steps(self, case, obs, p_pause=0.5):
        """Every step of the case (its "steps", "sizes", "out_base"): events, step, output
        packets, the output layer's x, and learning on steps with errors."""
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

    async def read_final(self, lengths, obs, bases=None):
        """Read ``lengths[name]`` words of every memory region named there, from word
        ``bases[name]`` (default 0)."""
        for name, n in lengths.items():
            obs[name] = await self.read_block(R.mem_addr(R.Region[name], (bases or {}).get(name, 0)), n)
        obs["counters"] = {r.name: int(await self.request(r)) for r in
                           (R.Reg.STEPS, R.Reg.EVENTS_IN, R.Reg.REFUSED, R.Reg.UNROUTED, R.Reg.BUS_ERRORS)}


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
