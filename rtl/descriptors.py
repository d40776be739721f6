"""Layer descriptors in one block RAM, the current layer's loaded into registers.

The network core works on one layer at a time (:mod:`gammacore.rtl.net_core`), so only
the current layer's descriptor (:func:`gammacore.regmap.layer_fields`, about 300 bits at
K = 4) has to be in flip-flops. Every layer's fields live in a 16-bit-wide memory, one word
per field at ``layer * 2**ceil(log2(n_fields)) + field``; fields wider than 16 bits
(``w_base``) keep their upper bits in a small register per layer. A layer switch loads the
descriptor one field per clock (``n_fields + 1`` clocks). A load of the layer already held
is skipped; a write to the layer held reloads it.
With ``alternate``, a second register set keeps the descriptor held before the last load:
a load of that layer swaps the two sets instead, in one clock (a two-layer
network's layer switches, and the asynchronous modes' firing layer and the layer its spike
goes to, then cost no load). A host write to the alternate's layer drops it.
On the iCE40 UP5K this replaces ``layers x ~300`` flip-flops and a ``layers``-way
multiplexer of 300 bits by one block RAM.
"""
from amaranth.hdl import Array, Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..regmap import layer_fields
from .ram import ram, read_port

__all__ = ["DescriptorStore", "descriptor_layout"]
WORD = 16


def descriptor_layout(K):
    return data.StructLayout({name: unsigned(width) for name, width in layer_fields(K)})


class DescriptorStore(wiring.Component):
    """Every layer's descriptor in a block RAM; one layer's in registers (``d``).

    Parameters
    ----------
    buckets : K, the number of buckets (fields alpha0.. and beta0..)
    layers : number of descriptors held
    alternate : with the second register set (about 300 flip-flops at K = 4)

    Attributes
    ----------
    w_layer, w_field, w_data, w_en : host write of one field (``w_data`` truncated to the
        field's width, as a register would), in. A write to the layer held in ``d`` starts
        (or restarts) a full load of it: ``busy`` until ``d`` holds the new value. Writes
        to another layer must not overlap a load.
    load, load_layer : a pulse starts loading ``load_layer`` into ``d``, in
    busy : a load is under way; ``d`` is complete for the request once it is low, out
        (it rises the clock after ``load``, unless the layer is already held; for one clock
        if the alternate set holds it)
    d : the loaded descriptor, out
    layer : the layer whose descriptor is in ``d`` (layer 0 after reset, all fields zero), out
    nonempty : per layer, ``n_in != 0`` and ``n_out != 0``, out
    peek_field, peek_en : while no load is under way, ``peek_en`` reads field ``peek_field``
        of the held layer from the memory (its value, not ``d``'s), in
    peek_data : that field's 16 bits, the clock after ``peek_en`` (held while ``peek_en`` is
        low), out; a unit that needs one field per clock (the bucket pass's coefficients)
        reads it here instead of from ``d``, whose flip-flops synthesis then drops
    """

    def __init__(self, buckets, layers, alternate=False):
        for name, v in (("buckets", buckets), ("layers", layers)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, not {v!r}")
        self.buckets, self.layers = buckets, layers
        self.alternate = bool(alternate) and layers > 1
        self.fields = layer_fields(buckets)
        self.field_bits = max(1, (len(self.fields) - 1).bit_length())
        super().__init__({
            "w_layer": In(range(layers)), "w_field": In(range(len(self.fields))), "w_data": In(32),
            "w_en": In(1),
            "load": In(1), "load_layer": In(range(layers)),
            "busy": Out(1), "d": Out(descriptor_layout(buckets)), "layer": Out(range(layers)),
            "nonempty": Out(layers),
            "peek_field": In(range(len(self.fields))), "peek_en": In(1), "peek_data": Out(WORD),
        })

    def elaborate(self, platform):
        m = Module()
        L, fields, fb = self.layers, self.fields, self.field_bits
        NF = len(fields)
        m.submodules.mem = mem = ram(shape=WORD, depth=L << fb)
        rd, wr = read_port(m, mem), mem.write_port()
        high = {name: Array(Signal(width - WORD, name=f"{name}_high{n}") for n in range(L))
                for name, width in fields if width > WORD}
        has_in = Signal(L)
        has_out = Signal(L)
        m.d.comb += self.nonempty.eq(has_in & has_out)
        d = self.d
        full = Signal(init=1)                  # d holds every field of self.layer

        def field_addr(layer, field):
            return Cat(field[:fb], layer) if L > 1 else field[:fb]

        # ---- host writes --------------------------------------------------------------
        issue = Signal(range(NF + 1))          # field whose address is presented
        last = Signal(range(NF))               # last field of the load
        valid = Signal()                       # rd.data holds field got
        got = Signal(range(NF))
        with m.If(self.w_en):
            m.d.comb += [wr.addr.eq(field_addr(self.w_layer, self.w_field)), wr.data.eq(self.w_data[:WORD]),
                         wr.en.eq(1)]
            with m.Switch(self.w_field):
                for f, (name, width) in enumerate(fields):
                    with m.Case(f):
                        if name in high:
                            m.d.sync += high[name][self.w_layer].eq(self.w_data[WORD:width])
                        if name in ("n_in", "n_out"):
                            flags = has_in if name == "n_in" else has_out
                            m.d.sync += flags.bit_select(self.w_layer, 1).eq(self.w_data[:width] != 0)

        # ---- loads ----------------------------------------------------------------------------
        # (no read in the clock the host writes the held layer: the load restarts, and the
        # memory would be read and written at one address)
        m.d.comb += [rd.addr.eq(field_addr(self.layer, Mux(self.busy, issue, self.peek_field))),
                     rd.en.eq((self.busy | self.peek_en) & ~(self.w_en & (self.w_layer == self.layer))),
                     self.peek_data.eq(rd.data)]
        if self.alternate:
            # the alternate set: the descriptor held before the last load (alt_full: complete
            # and not written since). The swap, or the move of d into it before a load, is done
            # the clock after the request, from registers (for Fmax: the request's decode does
            # not reach the ~600 flip-flops' enables in its clock)
            alt = Signal.like(d)
            alt_layer = Signal.like(self.layer)
            alt_full = Signal()
            prev_layer, prev_full = Signal.like(self.layer), Signal()
            swap, move = Signal(), Signal()
            held = Signal()
            alt_hit = Signal()
            m.d.comb += [held.eq((self.load_layer == self.layer) & full),
                         alt_hit.eq(alt_full & (alt_layer == self.load_layer)
                                    & ~(self.w_en & (self.w_layer == alt_layer)))]
            with m.If(self.load & ~self.busy & ~held):
                m.d.sync += [self.busy.eq(1), self.layer.eq(self.load_layer), full.eq(0),
                             prev_layer.eq(self.layer), prev_full.eq(full)]
                with m.If(alt_hit):
                    m.d.sync += swap.eq(1)
                with m.Else():
                    m.d.sync += [move.eq(full), issue.eq(0), valid.eq(0), last.eq(NF - 1)]
            with m.If(swap):
                m.d.sync += [swap.eq(0), self.busy.eq(0), full.eq(1), d.eq(alt),
                             alt.eq(d), alt_layer.eq(prev_layer), alt_full.eq(prev_full)]
            with m.If(move):
                # (d's first field is written two clocks after the request)
                m.d.sync += [move.eq(0), alt.eq(d), alt_layer.eq(prev_layer), alt_full.eq(1)]
            with m.If(self.w_en & (self.w_layer == alt_layer)):
                m.d.sync += alt_full.eq(0)
        else:
            with m.If(self.load & ~self.busy):
                with m.If(~full | (self.load_layer != self.layer)):
                    m.d.sync += [self.busy.eq(1), self.layer.eq(self.load_layer), issue.eq(0), valid.eq(0),
                                 last.eq(NF - 1), full.eq(0)]
        with m.If(self.busy & ~swap if self.alternate else self.busy):
            m.d.sync += [issue.eq(issue + 1), got.eq(issue), valid.eq(issue <= last)]
            with m.If(valid):
                with m.Switch(got):
                    for f, (name, width) in enumerate(fields):
                        with m.Case(f):
                            value = Cat(rd.data, high[name][self.layer]) if name in high else rd.data
                            m.d.sync += getattr(d, name).eq(value)
                with m.If(got == last):
                    m.d.sync += [self.busy.eq(0), valid.eq(0), full.eq(last == NF - 1)]
        with m.If(self.w_en & (self.w_layer == self.layer)):
            # refresh: d is loaded again from the first field (d is only ever written from
            # the memory: no multiplexer in front of its ~300 flip-flops)
            m.d.sync += [self.busy.eq(1), issue.eq(0), valid.eq(0), last.eq(NF - 1), full.eq(0)]
        return m
