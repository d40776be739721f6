"""A memory with one read and one write port on the iCE40 UP5K's single-port RAM (SPRAM).

The UP5K has 4 SPRAM blocks (``SB_SPRAM256KA``, 16384 x 16 bits each) beside its 30 block
RAMs. A memory that is never read and written in the same clock - the master weights W,
V and B of an inference-only chip, written only by the host while the core is idle - fits
them (the network core puts the biases B after W in the same blocks: W is read only in
the event phases, B only in the neuron pass): ``ceil(width / 16)`` blocks side by side,
the write port's address when it writes, the read port's otherwise. Reads behave as
:class:`amaranth.lib.memory.Memory`'s synchronous read port: the data of the address presented with ``en`` high appears the
next clock and is held while ``en`` is low (the SPRAM's DATAOUT register keeps its value
while CHIPSELECT is low; yosys ``techlibs/ice40/cells_sim.v``). Unlike a block RAM, a write
leaves the read data undefined until the next read, and a read in the same clock as a
write is not done: the user must not rely on either (:class:`SPRAMModel` returns
:data:`POISON` there).

Without a platform (amaranth.sim) the blocks are :class:`SPRAMModel`, the behaviour of
``SB_SPRAM256KA`` in cells_sim.v written in Amaranth.
"""
from amaranth.hdl import ClockSignal, Const, Instance, Module, Mux, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import In, Out

__all__ = ["SPRAMMemory", "SPRAMModel", "POISON", "SPRAM_DEPTH", "has_spram"]

SPRAM_DEPTH = 16384
SPRAM_WIDTH = 16
#: what :class:`SPRAMModel` reads where the hardware's DATAOUT is undefined ('bx)
POISON = 0xA5C3


def has_spram(platform):
    """Whether ``platform`` is an iCE40 UltraPlus (the devices with SB_SPRAM256KA)."""
    return getattr(platform, "family", None) == "iCE40" and str(getattr(platform, "device", "")).startswith("iCE40UP")


class SPRAMModel(wiring.Component):
    """``SB_SPRAM256KA`` as yosys simulates it (cells_sim.v), for amaranth.sim.

    Ports as the primitive's, in lower case (STANDBY, SLEEP and POWEROFF are not modelled:
    always awake; MASKWREN is not modelled: every nibble written). DATAOUT takes the
    addressed word on a read (CHIPSELECT, no WREN), becomes :data:`POISON` on a write and
    holds otherwise.
    """
    address: In(14)
    datain: In(SPRAM_WIDTH)
    wren: In(1)
    chipselect: In(1)
    dataout: Out(SPRAM_WIDTH)

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=SPRAM_WIDTH, depth=SPRAM_DEPTH, init=[])
        rd, wr = mem.read_port(), mem.write_port()
        poisoned = Signal()
        m.d.comb += [rd.addr.eq(self.address), rd.en.eq(self.chipselect & ~self.wren),
                     wr.addr.eq(self.address), wr.data.eq(self.datain), wr.en.eq(self.chipselect & self.wren),
                     self.dataout.eq(Mux(poisoned, POISON, rd.data))]
        with m.If(self.chipselect):
            m.d.sync += poisoned.eq(self.wren)
        return m


class SPRAMMemory(wiring.Component):
    """A read port and a write port on SPRAM blocks (see the module docstring).

    Parameters
    ----------
    shape : shape of a word (up to 64 bits: 4 blocks)
    depth : words, at most 16384
    primitive : instantiate ``SB_SPRAM256KA`` (True) or :class:`SPRAMModel` (False); None:
        the primitive when elaborated for a platform, the model without one (amaranth.sim)

    Attributes
    ----------
    read : :class:`amaranth.lib.memory.ReadPort` signature (addr, en; data out)
    write : :class:`amaranth.lib.memory.WritePort` signature (addr, data, en)
    blocks : number of SB_SPRAM256KA used
    """

    def __init__(self, *, shape, depth, primitive=None):
        if primitive is not None and not isinstance(primitive, bool):
            raise TypeError(f"primitive must be None or a bool, not {primitive!r}")
        self.primitive = primitive
        if not isinstance(depth, int) or isinstance(depth, bool) or not 1 <= depth <= SPRAM_DEPTH:
            raise ValueError(f"depth must be an integer from 1 to {SPRAM_DEPTH}, not {depth!r}")
        self.shape, self.depth = shape, depth
        width = Shape.cast(shape).width
        self.blocks = -(-width // SPRAM_WIDTH)
        if not 1 <= self.blocks <= 4:
            raise ValueError(f"shape must be 1 to 64 bits wide (the UP5K has 4 SPRAM blocks), not {shape!r}")
        aw = max(1, (depth - 1).bit_length())
        super().__init__({"read": Out(ReadPort.Signature(addr_width=aw, shape=shape)),
                          "write": Out(WritePort.Signature(addr_width=aw, shape=shape))})

    def elaborate(self, platform):
        m = Module()
        rd, wr = self.read, self.write
        address = Signal(14)
        m.d.comb += address.eq(Mux(wr.en, wr.addr, rd.addr))
        wdata = Signal(SPRAM_WIDTH * self.blocks)
        m.d.comb += wdata.eq(wr.data)
        rdata = Signal(SPRAM_WIDTH * self.blocks)
        m.d.comb += rd.data.eq(rdata)
        cs = rd.en | wr.en
        for n in range(self.blocks):
            part = slice(n * SPRAM_WIDTH, (n + 1) * SPRAM_WIDTH)
            if not (platform is not None if self.primitive is None else self.primitive):
                m.submodules[f"block{n}"] = block = SPRAMModel()
                m.d.comb += [block.address.eq(address), block.datain.eq(wdata[part]), block.wren.eq(wr.en),
                             block.chipselect.eq(cs), rdata[part].eq(block.dataout)]
            else:
                m.submodules[f"block{n}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=address, i_DATAIN=wdata[part], i_MASKWREN=Const(0b1111, 4), i_WREN=wr.en,
                    i_CHIPSELECT=cs, i_CLOCK=ClockSignal("sync"), i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1,
                    o_DATAOUT=rdata[part])
        return m
