"""The word formats of gammacore.regmap against the chip's capacity.

The output packet's layout follows the capacity (regmap.out_format); a capacity that some
format cannot address is refused when it is made, with an error naming the value, the field
and the limit; the host driver decodes packets in the layout the capacity words give.
"""
import numpy as np
import pytest

from gammacore import regmap as R
from gammacore.host.driver import Chip as Driver
from gammacore.rtl.chip import OUT_LEVEL_LIMIT, Chip
from rtl_helpers import seeded

SMALL = dict(layers=1, neurons=1, inputs=1, synapses=1, buckets=1, max_layer=1)


def test_out_format_rule_keeps_todays_layout_and_widens_the_source():
    rng = seeded(7)
    for neurons in list(rng.integers(1, 8193, size=300)) + [1, 2, 2047, 2048, 2049, 4096, 4097, 8192]:
        neurons = int(neurons)
        fmt = R.out_format(neurons)
        # the source field holds every neuron 0..neurons - 1, never narrower than 11 bits
        assert (neurons - 1) < 1 << fmt.source_bits
        assert fmt.source_bits == max(11, (neurons - 1).bit_length()), neurons
        # the fields tile the word: q 15..0, source above it, step up to bit 30, valid bit 31
        assert fmt.step_shift == 16 + fmt.source_bits and fmt.step_shift + fmt.step_bits == 31
        assert fmt.step_bits >= R.OUT_STEP_MIN_BITS
        assert R.Capacity(1, neurons, 1, 1, 1, 1).out_format == fmt
    # up to 2,048 neurons: today's layout, bit 31 valid, 30..27 step mod 16, 26..16 source
    assert R.out_format(2048).source_bits == 11 and R.out_format(2048).step_bits == 4
    assert R.out_format(2049).source_bits == 12 and R.out_format(2049).step_bits == 3
    assert R.out_format(8192).source_bits == 13 and R.out_format(8192).step_bits == 2


def test_out_words_round_trip_and_fields_do_not_overlap():
    rng = seeded(8)
    for _ in range(200):
        neurons = int(rng.integers(1, 8193))
        fmt = R.out_format(neurons)
        source, q, step = int(rng.integers(neurons)), int(rng.integers(1 << 16)), int(rng.integers(1 << 20))
        word = fmt.encode(source, q, step)
        assert 0 <= word < 1 << 32 and word & R.OUT_VALID
        assert R.decode_out(word, fmt) == (source, q, step % (1 << fmt.step_bits))
        # each field alone lands in its own bits
        assert fmt.encode(source, 0, 0) == R.OUT_VALID | source << 16
        assert fmt.encode(0, 0, step) >> fmt.step_shift == (1 << fmt.step_bits) | step % (1 << fmt.step_bits)
    assert R.decode_out(0, R.out_format(5000)) is None
    with pytest.raises(ValueError, match="source 4096 does not fit the 12-bit"):
        R.out_format(4096).encode(4096, 0, 0)
    with pytest.raises(TypeError, match="OutFormat"):
        R.decode_out(R.OUT_VALID, None)


def test_todays_packet_layout_for_up_to_2048_neurons():
    """A chip of up to 2,048 neurons keeps the documented word of before: bit 31 valid, bits
    30..27 step mod 16, bits 26..16 source, bits 15..0 q."""
    rng = seeded(9)
    for _ in range(100):
        fmt = R.out_format(int(rng.integers(1, 2049)))
        s, q, t = int(rng.integers(2048)), int(rng.integers(1 << 16)), int(rng.integers(1000))
        assert fmt.encode(s, q, t) == (1 << 31) | (t % 16) << 27 | s << 16 | q


#: per limit of Capacity.limits() (what, field): a capacity just over it, the others small
OVER = {
    ("neurons", "the output packet's source field"): dict(neurons=8193),
    ("neurons", "descriptor field n_base"): dict(neurons=65537),
    ("neurons", "the B, X, E, D and ROUTE regions'"): dict(neurons=(1 << 19) + 1),
    ("neurons x buckets", "the V and Z regions'"): dict(neurons=8192, buckets=65),
    ("inputs", "descriptor field i_base"): dict(inputs=65537),
    ("inputs x buckets", "the TRACE region's"): dict(inputs=65536, buckets=9),
    ("synapses", "descriptor field w_base"): dict(synapses=(1 << 24) + 1),
    ("synapses", "the W region's"): dict(synapses=(1 << 19) + 1),
    ("max_layer", "descriptor fields n_in and n_out"): dict(max_layer=65536),
    ("max_layer", "the input event's source field"): dict(max_layer=65537),
    ("max_layer", "the ERR region's"): dict(max_layer=(1 << 19) + 1),
    ("layers", "the descriptor address's layer index"): dict(layers=257),
    ("buckets", "the descriptor address's field index"): dict(buckets=121),
}


def _value(what, kw):
    names = what.split(" x ")
    return int(np.prod([kw[n] for n in names]))


@pytest.mark.parametrize("key", list(OVER), ids=[f"{w}:{f.split()[-1]}" for w, f in OVER])
def test_capacity_over_a_format_is_refused_naming_value_field_and_limit(key):
    what, field = key
    kw = {**SMALL, **OVER[key]}
    limit = next(lim for w, _, f, lim in R.Capacity(**SMALL).limits() if w == what and f.startswith(field))
    value = _value(what, kw)
    assert value == limit + 1 if " x " not in what else limit < value, (value, limit)
    with pytest.raises(ValueError) as err:
        R.Capacity(**kw)
    msg = str(err.value)
    print(msg)
    part = f"{what} = {value} exceeds {field}"
    assert part in msg and msg.split(part, 1)[1].split(";")[0].endswith(f"(at most {limit})"), msg
    # at the limit, this field takes the capacity (another may still refuse it)
    names = what.split(" x ")
    at = {**kw, names[0]: limit // (kw[names[1]] if len(names) > 1 else 1)}
    assert _value(what, at) <= limit
    try:
        R.Capacity(**at)
    except ValueError as exc:
        assert f"exceeds {field}" not in str(exc), str(exc)


def test_every_capacity_limit_has_a_refusal_test():
    limits = [(w, f) for w, _, f, _ in R.Capacity(**SMALL).limits()]
    for what, field in limits:
        assert sum(w == what and field.startswith(f) for w, f in OVER) == 1, (what, field)
    assert len(limits) == len(OVER)


def test_the_largest_capacity_every_format_addresses_is_taken():
    cap = R.Capacity(layers=256, neurons=8192, inputs=8192, synapses=1 << 19, buckets=64, max_layer=65535)
    assert cap.out_format.step_bits == R.OUT_STEP_MIN_BITS
    assert max(cap.region_depths().values()) == 1 << R.MEM_REGION_SHIFT


def test_descriptors_refuse_a_value_wider_than_its_field():
    from gammacore.sim.net_case import random_network
    net = random_network(seeded(10), (3, 4, 2), 2)
    d = R.descriptors(net.cfg, neuron_base=65536 - 6)
    assert [x["n_base"] for x in d] == [65530, 65534]
    with pytest.raises(ValueError, match=r"layer 1: descriptor field n_base = 65536 does not fit its 16 bits"):
        R.descriptors(net.cfg, neuron_base=65536 - 4)


def test_event_memory_and_descriptor_addresses_refuse_what_they_cannot_hold():
    assert R.event_word(65535, 65535) == 0xFFFFFFFF
    with pytest.raises(ValueError, match="event source 65536 does not fit the event word's 16-bit source"):
        R.event_word(65536, 1)
    with pytest.raises(ValueError, match="event magnitude 65536 does not fit"):
        R.event_word(0, 65536)
    with pytest.raises(ValueError, match="event source -1"):
        R.event_word(-1, 0)
    assert R.mem_addr(R.Region.W, (1 << 19) - 1) == R.MEM_BASE | (1 << 19) - 1
    with pytest.raises(ValueError, match="memory index 524288 is outside the 19-bit index"):
        R.mem_addr(R.Region.W, 1 << 19)
    with pytest.raises(ValueError, match="layer 256 is outside the 8-bit layer index"):
        R.desc_addr(256, "n_in", 2)


def test_chip_refuses_an_output_fifo_its_level_register_cannot_count():
    cap = R.Capacity(**SMALL)
    Chip(cap, out_depth=OUT_LEVEL_LIMIT)
    with pytest.raises(ValueError, match=f"out_depth {OUT_LEVEL_LIMIT + 1} exceeds .*16-bit OUT_LEVEL"):
        Chip(cap, out_depth=OUT_LEVEL_LIMIT + 1)
    with pytest.raises(TypeError, match="Capacity"):
        Chip(SMALL)


class PacketLink:
    """A link to a stand-in chip: identity and capacity words, STATUS, OUT_LEVEL and an OUT
    register that pops the packet words it was given."""

    def __init__(self, cap, words):
        self.cap, self.words = cap, list(words)

    def read(self, addr, count, fixed=False):
        c = self.cap
        regs = {R.Reg.ID: R.CHIP_ID, R.Reg.CAP_LAYERS: c.layers, R.Reg.CAP_NEURONS: c.neurons,
                R.Reg.CAP_INPUTS: c.inputs, R.Reg.CAP_SYNAPSES: c.synapses, R.Reg.CAP_BUCKETS: c.buckets,
                R.Reg.CAP_MAX_LAYER: c.max_layer, R.Reg.CAP_FLAGS: 0, R.Reg.CAP_LANES: 1, R.Reg.CAP_SAMPLE: 1024,
                R.Reg.STATUS: R.Status.OUT_READY if self.words else 0, R.Reg.OUT_LEVEL: len(self.words)}
        if addr == R.Reg.OUT and fixed:
            return [self.words.pop(0) if self.words else 0 for _ in range(count)]
        return [int(regs[addr + n]) for n in range(count)]


@pytest.mark.parametrize("neurons", [300, 3000, 8000])
def test_driver_decodes_packets_in_the_layout_of_the_chips_capacity(neurons):
    rng = seeded(neurons)
    cap = R.Capacity(2, neurons, 8, 64, 2, 8)
    fmt = R.out_format(neurons)
    sent = [(int(rng.integers(neurons)), int(rng.integers(1 << 16)), int(rng.integers(1 << 16)))
            for _ in range(100)]
    got = []
    Driver(PacketLink(cap, [fmt.encode(*p) for p in sent])).wait_idle(got)
    assert got == [(s, q, t % (1 << fmt.step_bits)) for s, q, t in sent]
