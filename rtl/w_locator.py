"""Where a weight of the host's W region lives in a laned core's W banks.

The host addresses W[j,i] of a layer as ``w_base + j n_in + i`` (:class:`gammacore.regmap.Region`),
whatever the lane count. A core with P > 1 lanes keeps row j in bank j mod P at
``B + (j div P) n_in + i``, B = (w_base + (P-1) i_base) div P
(:func:`~gammacore.rtl.net_memories.lane_w_base`). The locator finds (lane, local address)
of a host address ``g``: for each layer l < ``n_layers`` in turn, if g >= w_base and
n_in > 0, it divides off = g - w_base by n_in with a restoring divider (one quotient bit
per clock, MSB first); the layer holds g when the quotient j < n_out. Then lane = j mod P,
i = the remainder, and (j div P) n_in = (off div P) - ((off div P) mod n_in): with P a
power of two, the partial remainder after the quotient bit of weight P, taken on the way,
so no multiplier is needed; otherwise j div P and j mod P by a constant multiply and
(j div P) n_in by a multiply, one clock more. About (bits of the W region + 2) clocks per
layer tried; host accesses are rare.

The layer fields it needs (n_in, n_out, w_base, i_base) are shadow copies of the host's
descriptor writes (a few flip-flops per layer; the descriptor store keeps only the current
layer in registers). An address that no layer below ``n_layers`` holds is not a weight:
``found`` is low and the core refuses the access (a bus error).
"""
from amaranth.hdl import Array, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..regmap import layer_fields
from .net_memories import is_pow2, lane_div, lane_mod, lane_w_base

__all__ = ["WLocator"]


def _bits(n):
    return max(1, (n - 1).bit_length())


class WLocator(wiring.Component):
    """Host W address -> (lane, local address) in a core with ``lanes`` lanes.

    Parameters
    ----------
    capacity : :class:`gammacore.regmap.Capacity`
    lanes : P (> 1)
    local_width : the address width of a W bank

    Attributes
    ----------
    addr : the host's word address in the W region, in (held with ``req``)
    req : locate ``addr`` (level; low resets the locator), in
    n_layers : layers of the loaded network, in
    desc_layer, desc_field, desc_data, desc_we : the host's descriptor writes, in
    valid : the answer below is ready (held while ``req``), out
    found, lane, local : a layer holds ``addr``: its word is in bank ``lane`` at ``local``, out
    """

    def __init__(self, capacity, lanes, local_width):
        c = self.cap = capacity
        self.lanes = lanes
        self.aw = _bits(c.synapses)
        fields = layer_fields(c.buckets)
        self.field_index = {name: n for n, (name, _) in enumerate(fields)}
        self.widths = dict(fields)
        super().__init__({
            "addr": In(self.aw), "req": In(1), "n_layers": In(range(c.layers + 1)),
            "desc_layer": In(range(c.layers)), "desc_field": In(range(len(fields))), "desc_data": In(32),
            "desc_we": In(1),
            "valid": Out(1), "found": Out(1), "lane": Out(range(lanes)), "local": Out(local_width),
        })

    def elaborate(self, platform):
        m = Module()
        c, P, aw = self.cap, self.lanes, self.aw
        sh = P.bit_length() - 1
        pow2 = is_pow2(P)
        names = ("n_in", "n_out", "w_base", "i_base")
        shadow = {name: Array(Signal(self.widths[name], name=f"{name}{n}") for n in range(c.layers)) for name in names}
        with m.If(self.desc_we):
            with m.Switch(self.desc_field):
                for name in names:
                    with m.Case(self.field_index[name]):
                        m.d.sync += shadow[name][self.desc_layer].eq(self.desc_data[:self.widths[name]])

        layer = Signal(range(c.layers + 1))
        n_in, n_out = Signal(16), Signal(16)
        w_base, i_base = Signal(self.widths["w_base"]), Signal(16)
        off = Signal(aw)                        # g - w_base
        shift = Signal(aw)                      # off, shifted out MSB first
        rem = Signal(17)
        quo = Signal(aw)
        rem_p = Signal(17)                      # (off div P) mod n_in
        count = Signal(range(aw + 1))
        rem_next = Signal(18)
        m.d.comb += rem_next.eq((rem << 1) | shift[aw - 1])
        take = Signal()
        m.d.comb += take.eq(rem_next >= n_in)
        rem_new = Signal(17)
        m.d.comb += rem_new.eq(rem_next - (n_in & take.replicate(16)))

        with m.FSM():
            with m.State("IDLE"):
                m.d.sync += [self.valid.eq(0), self.found.eq(0), layer.eq(0)]
                with m.If(self.req):
                    m.next = "LAYER"
            with m.State("LAYER"):
                m.d.sync += [n_in.eq(shadow["n_in"][layer]), n_out.eq(shadow["n_out"][layer]),
                             w_base.eq(shadow["w_base"][layer]), i_base.eq(shadow["i_base"][layer])]
                with m.If(~self.req):
                    m.next = "IDLE"
                with m.Elif(layer >= self.n_layers):
                    m.d.sync += [self.valid.eq(1), self.found.eq(0)]
                    m.next = "DONE"
                with m.Else():
                    m.next = "CHECK"
            with m.State("CHECK"):
                with m.If(~self.req):
                    m.next = "IDLE"
                with m.Elif((self.addr < w_base) | (n_in == 0)):
                    m.d.sync += layer.eq(layer + 1)
                    m.next = "LAYER"
                with m.Else():
                    m.d.sync += [off.eq(self.addr - w_base), shift.eq(self.addr - w_base), rem.eq(0), quo.eq(0),
                                 rem_p.eq(0), count.eq(aw)]
                    m.next = "DIVIDE"
            with m.State("DIVIDE"):
                # quotient bit of weight 2**(count-1)
                m.d.sync += [rem.eq(rem_new), quo.eq((quo << 1) | take), shift.eq(shift << 1), count.eq(count - 1)]
                if pow2:
                    with m.If(count == sh + 1):
                        m.d.sync += rem_p.eq(rem_new)
                with m.If(~self.req):
                    m.next = "IDLE"
                with m.Elif(count == 1):
                    m.next = "FINISH"
            with m.State("FINISH"):
                with m.If(~self.req):
                    m.next = "IDLE"
                with m.Elif(quo < n_out):
                    base = lane_w_base(w_base, i_base, P)
                    if pow2:
                        m.d.sync += [self.valid.eq(1), self.found.eq(1), self.lane.eq(quo[:sh]),
                                     self.local.eq(base + (off >> sh) - rem_p + rem)]
                        m.next = "DONE"
                    else:
                        # P not a power of two: (j div P) n_in by a multiply, a clock later
                        m.d.sync += [self.lane.eq(lane_mod(quo, P)), quo.eq(lane_div(quo, P)), off.eq(base + rem)]
                        m.next = "SCALE"
                with m.Else():
                    m.d.sync += layer.eq(layer + 1)
                    m.next = "LAYER"
            if not pow2:
                with m.State("SCALE"):
                    with m.If(~self.req):
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [self.valid.eq(1), self.found.eq(1), self.local.eq(off + quo * n_in)]
                        m.next = "DONE"
            with m.State("DONE"):
                with m.If(~self.req):
                    m.d.sync += [self.valid.eq(0), self.found.eq(0)]
                    m.next = "IDLE"
        return m
