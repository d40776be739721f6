"""The chip's configuration and memory map: one definition for golden/, rtl/ and host/.

A network on the chip is a list of layers described by a **layer descriptor** each
(:func:`layer_fields`): sizes, where the layer's words live in the shared memories
(bases), readout, encoder and learning configuration. :func:`descriptors` computes them
from a golden :class:`~gammacore.golden.config.NetworkConfig`, so the chip runs exactly the
network the bit-exact golden model runs.

Memory regions (:class:`Region`) are word-addressed; W, V and b hold the 32-bit master
words (S32.28, the forward path reads their top 16 bits), the state regions hold the raw
words of :mod:`gammacore.golden.formats`.
"""
import enum


__all__ = ["Region", "Route", "Reg", "Cmd", "Status", "Mode", "CapFlag", "Capacity", "layer_fields", "descriptors",
           "mem_addr", "desc_addr", "SAMPLE_SLOTS", "ResultField", "result_stride", "result_addr",
           "sample_command", "sample_words", "sample_lengths", "decode_sample", "event_word", "decode_out", "OutFormat", "out_format", "CHIP_ID"]


class Region(enum.IntEnum):
    """Memories reachable through the core's memory port."""
    W = 0        # master weights, w_base + j * n_in + i
    V = 1        # master bucket weights, (n_base + j) * K + k
    B = 2        # master biases, n_base + j
    Z = 3        # postsynaptic buckets, (n_base + j) * K + k
    TRACE = 4    # presynaptic traces, (i_base + i) * K + k
    X = 5        # pre-activation of the last step, n_base + j
    E = 6        # encoder estimate, n_base + j
    D = 7        # threshold adaptation, n_base + j
    ERR = 8      # learning errors: the output layer's e_j (written by the host), or below
    ROUTE = 9    # routing table entry of neuron n_base + j (Route bits)
    SAMPLE = 10  # sample memory (write only): word i of slot s at s * CAP_SAMPLE + i (sample_words)
    RESULT = 11  # per-sample results (read only): field f of slot s at s * result_stride(max_layer) + f


class Route(enum.IntFlag):
    """Targets of a source neuron's spikes (bits of a routing-table entry)."""
    NEXT = 1     # input event of the next layer (input index = the neuron's index j)
    HOST = 2     # packet to the host's output FIFO


def layer_fields(K):
    """Ordered (name, width) of a layer descriptor with K buckets; the index is the field's address."""
    fields = [("n_in", 16), ("n_out", 16), ("w_base", 24), ("n_base", 16), ("i_base", 16),
              ("relu", 1), ("encoder", 1), ("n_max", 4), ("theta0", 16), ("alpha_e", 16),
              ("alpha_theta", 16), ("m_f", 16), ("shift_w", 6), ("shift_v", 6), ("shift_b", 6)]
    fields += [(f"alpha{k}", 16) for k in range(K)]
    fields += [(f"beta{k}", 16) for k in range(K)]
    return fields


class Capacity:
    """What a chip can hold: layers, neurons, input channels, synapses, buckets.

    neurons / inputs / synapses are totals over the layers (inputs: the sum of every
    layer's n_in, i.e. its presynaptic trace channels); max_layer bounds one layer's n_out
    and n_in (the forward FIFO, the error memory).
    """

    def __init__(self, layers, neurons, inputs, synapses, buckets, max_layer):
        for name, v in (("layers", layers), ("neurons", neurons), ("inputs", inputs),
                        ("synapses", synapses), ("buckets", buckets), ("max_layer", max_layer)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"capacity {name} must be a positive integer, not {v!r}")
        self.layers, self.neurons, self.inputs = layers, neurons, inputs
        self.synapses, self.buckets, self.max_layer = synapses, buckets, max_layer
        refused = [f"{what} = {value} exceeds {field} (at most {limit})"
                   for what, value, field, limit in self.limits() if value > limit]
        if refused:
            raise ValueError("the formats cannot address this capacity: " + "; ".join(refused))

    def limits(self):
        """(what, its value, the format field that addresses it, the field's limit) for every
        format of this module that holds a capacity-sized value; the constructor refuses a
        capacity with any value over its limit."""
        w = dict(layer_fields(1))
        region = 1 << MEM_REGION_SHIFT
        K, N = self.buckets, self.neurons
        words = f"{MEM_REGION_SHIFT}-bit memory index"
        return [
            ("neurons", N, f"the output packet's source field ({OUT_SOURCE_MAX_BITS} bits, leaving the step "
                           f"field its {OUT_STEP_MIN_BITS} bits)", 1 << OUT_SOURCE_MAX_BITS),
            # a base field holds at most the total minus one (every layer has a neuron / an input)
            ("neurons", N, f"descriptor field n_base ({w['n_base']} bits)", 1 << w["n_base"]),
            ("neurons", N, f"the B, X, E, D and ROUTE regions' {words}", region),
            ("neurons x buckets", N * K, f"the V and Z regions' {words}", region),
            ("inputs", self.inputs, f"descriptor field i_base ({w['i_base']} bits)", 1 << w["i_base"]),
            ("inputs x buckets", self.inputs * K, f"the TRACE region's {words}", region),
            ("synapses", self.synapses, f"descriptor field w_base ({w['w_base']} bits)", 1 << w["w_base"]),
            ("synapses", self.synapses, f"the W region's {words}", region),
            ("max_layer", self.max_layer, f"descriptor fields n_in and n_out ({w['n_in']} bits)",
             (1 << min(w["n_in"], w["n_out"])) - 1),
            ("max_layer", self.max_layer, f"the input event's source field ({EVENT_SOURCE_BITS} bits)",
             1 << EVENT_SOURCE_BITS),
            ("max_layer", self.max_layer, f"the ERR region's {words}", region),
            ("layers", self.layers, f"the descriptor address's layer index ({DESC_LAYER_BITS} bits)",
             1 << DESC_LAYER_BITS),
            ("buckets", K, f"the descriptor address's field index ({len(layer_fields(0))} + 2 K fields "
                           f"in {DESC_STRIDE})", (DESC_STRIDE - len(layer_fields(0))) // 2),
        ]

    def region_depths(self):
        """Words of every memory region (:class:`Region` name -> depth)."""
        K, N = self.buckets, self.neurons
        return {"W": self.synapses, "V": N * K, "B": N, "Z": N * K, "TRACE": self.inputs * K, "X": N,
                "E": N, "D": N, "ERR": self.max_layer, "ROUTE": N}

    @property
    def out_format(self):
        """The layout of this chip's output packet word (:func:`out_format`)."""
        return out_format(self.neurons)

    def as_dict(self):
        return dict(layers=self.layers, neurons=self.neurons, inputs=self.inputs,
                    synapses=self.synapses, buckets=self.buckets, max_layer=self.max_layer)

    @classmethod
    def for_config(cls, cfg):
        """The smallest capacity that holds the network ``cfg`` (a NetworkConfig)."""
        L = cfg.layers
        return cls(len(L), sum(l.n_out for l in L), sum(l.n_in for l in L),
                   sum(l.n_in * l.n_out for l in L), L[0].K, max(max(l.n_in, l.n_out) for l in L))

    def check(self, cfg):
        """Raise ValueError naming what of ``cfg`` does not fit."""
        need = Capacity.for_config(cfg)
        if any(l.K != self.buckets for l in cfg.layers):
            raise ValueError(f"every layer must have {self.buckets} buckets on this chip, "
                             f"not {[l.K for l in cfg.layers]}")
        for l in cfg.layers:
            if l.encoder == "bypass":
                raise ValueError("the chip has no encoder bypass (an ablation of the golden model only); "
                                 "use encoder 'sigma-delta' or 'none'")
        for n, (a, b) in enumerate(zip(cfg.layers, cfg.layers[1:])):
            if a.n_out != b.n_in:
                raise ValueError(f"layer {n + 1} has n_in {b.n_in} but layer {n} has {a.n_out} neurons")
        for name in ("layers", "neurons", "inputs", "synapses", "max_layer"):
            if getattr(need, name) > getattr(self, name):
                raise ValueError(f"the network needs {getattr(need, name)} {name}, "
                                 f"the chip holds {getattr(self, name)}")


def descriptors(cfg, coefs=None, pow2=False, neuron_base=0):
    """Layer descriptors (dicts of :func:`layer_fields` values) of NetworkConfig ``cfg``.

    ``coefs``: per-layer LayerCoefs to use instead of ``cfg.derived()`` (e.g. the golden
    layers' own). ``pow2``: the chip shifts instead of multiplying in the bucket pass; every
    beta_k must then be 2**-s (alpha_1 = 1 - 2**-s) and the alpha/beta fields carry s.
    ``neuron_base``: the first layer's n_base (the layers' neurons follow it); 0 packs the
    network at the start of the neuron regions. A value that does not fit its field's width
    raises ValueError naming the layer, the field and the width.
    """
    out, w_base, n_base, i_base = [], 0, int(neuron_base), 0
    for lc, co in zip(cfg.layers, cfg.derived() if coefs is None else coefs):
        d = {"n_in": lc.n_in, "n_out": lc.n_out, "w_base": w_base, "n_base": n_base, "i_base": i_base,
             "relu": int(lc.readout == "relu"), "encoder": int(lc.encoder == "sigma-delta"),
             "n_max": lc.n_max, "theta0": int(co.theta0), "alpha_e": int(co.alpha_e),
             "alpha_theta": int(co.alpha_theta), "m_f": int(co.m_f),
             "shift_w": int(co.shift_w), "shift_v": int(co.shift_v), "shift_b": int(co.shift_b)}
        for k in range(lc.K):
            d[f"alpha{k}"] = int(co.alpha[k])
            d[f"beta{k}"] = int(co.beta[k])
            if pow2:
                beta = int(co.beta[k])
                if beta <= 0 or beta & (beta - 1):
                    raise ValueError(f"pow2 needs power-of-two bucket rates; beta_{k + 1} = {beta} / 2**16 is not")
                d[f"alpha{k}"] = d[f"beta{k}"] = 16 - (beta.bit_length() - 1)
        for name, width in layer_fields(lc.K):
            if not 0 <= d[name] < 1 << width:
                raise ValueError(f"layer {len(out)}: descriptor field {name} = {d[name]} does not fit its "
                                 f"{width} bits (0..{(1 << width) - 1})")
        out.append(d)
        w_base += lc.n_in * lc.n_out
        n_base += lc.n_out
        i_base += lc.n_in
    return out


# --- the bus address map (word addresses, gammacore.rtl.bus) -----------------------------

#: identity word at REG_ID ("GAMA")
CHIP_ID = 0x47414D41


class Reg(enum.IntEnum):
    """Registers (word addresses below 0x10000)."""
    ID = 0x0000             # r: CHIP_ID
    CAP_LAYERS = 0x0001     # r: capacity (see Capacity), one word each
    CAP_NEURONS = 0x0002
    CAP_INPUTS = 0x0003
    CAP_SYNAPSES = 0x0004
    CAP_BUCKETS = 0x0005
    CAP_MAX_LAYER = 0x0006
    CAP_FLAGS = 0x0007      # r: CapFlag bits (power-of-two buckets, asynchronous modes, learning)
    CAP_LANES = 0x0008      # r: lanes of the network core (P MACs per clock in the fan-out); the
                            # map does not depend on it
    CAP_SAMPLE = 0x0009     # r: words of one sample slot of the sample memory (SAMPLE_SLOTS slots)
    CTRL = 0x0010           # w: one Cmd bit; refused (bus error) while busy, and STEP/LEARN
                            # while a layer below N_LAYERS has n_in == 0 or n_out == 0
    STATUS = 0x0011         # r: Status bits
    N_LAYERS = 0x0012       # r/w: layers of the loaded network
    MODE = 0x0013           # r/w: execution mode (Mode); refused while busy
    SEED = 0x0014           # r/w: LFSR seed of async-random (1..65535), taken at the next CLEAR
    EVENT = 0x0100          # w: input event (source << 16 | q); waits while the FIFO is full
    OUT = 0x0101            # r: pops one output packet (Capacity.out_format), 0 when empty
    OUT_LEVEL = 0x0102      # r: packets waiting in the output FIFO
    # counters (r)
    STEPS = 0x0020
    CYCLES = 0x0021         # working clocks of the last step
    LEARN_CYCLES = 0x0022   # clocks of the last learn command
    EVENTS_IN = 0x0023      # host events taken
    REFUSED = 0x0024        # host events with a source outside layer 0, stray forward events
    UNROUTED = 0x0025       # spikes whose routing entry is empty
    TO_NEXT = 0x0026        # spikes forwarded to the next layer
    TO_HOST = 0x0027        # packets put in the output FIFO
    BUS_ERRORS = 0x0028     # refused bus requests
    BUSY_CLOCKS = 0x0029    # clocks in which the network core worked (a step, learn or clear, or the fan-out
                            # of input events, which layer 0 takes while idle), mod 2**32
    CLOCKS = 0x002A         # clocks since reset, mod 2**32 (BUSY_CLOCKS / CLOCKS: the core's load)
    LINK_COUNTERS = 0x0030  # r: the UART link's counters, in the order of gammacore.rtl.link.COUNTERS
    # the sample sequencer (see "sample interface" below)
    SAMPLE_CTRL = 0x0040    # w: run a loaded slot (sample_command); refused (bus error, nothing run)
                            # for a bad slot, a slot queued or running, a bad sample (sample_words)
    SAMPLE_STATUS = 0x0041  # r: bit s: slot s is queued or running
    SAMPLE_DONE = 0x0042    # r: samples finished since reset (mod 2**32)


class Cmd(enum.IntFlag):
    STEP = 1                # run one time step of every layer
    LEARN = 2               # apply the online rule from the errors in the ERR region
    CLEAR = 4               # zero every state word (the golden model's reset)
    WAIT = 8                # with one of the above: acknowledge the write when done (or the
                            # output FIFO is full), not at once
    NO_TRACES = 16          # with STEP: the presynaptic traces, which only learning reads, are
                            # not updated (they keep their words; the step's input to them stays
                            # summed in the core until a step without the flag or a CLEAR).
                            # For steps whose traces nothing reads before the next CLEAR: the
                            # sample sequencer's inference samples. Ignored in the asynchronous
                            # modes


class CapFlag(enum.IntFlag):
    """Bits of ``Reg.CAP_FLAGS``: what this build of the chip does."""
    POW2 = 1                # power-of-two bucket rates (the bucket pass shifts)
    ASYNC = 2               # asynchronous modes (Mode)
    LEARNING = 4            # the learning unit; without it (an inference-only build) Cmd.LEARN
                            # and every access to the ERR region are refused with a bus error
    COUNTERS = 8            # the statistics counters EVENTS_IN, REFUSED, UNROUTED, TO_NEXT,
                            # TO_HOST, BUSY_CLOCKS, CLOCKS and the link's counters; without them (a lean build) those
                            # registers read 0 (STEPS, CYCLES, LEARN_CYCLES, BUS_ERRORS always count)


class Mode(enum.IntEnum):
    """Execution modes (docs/model.md section 6; :mod:`gammacore.golden.async_model`)."""
    SYNC = 0                # layer-synchronous, zero latency per layer
    ASYNC_RANDOM = 1        # no layer barrier, pending spikes in LFSR-random order
    ASYNC_PRIORITY = 2      # no layer barrier, the largest spike count first

    @property
    def label(self):
        """The name used on the command line and by the golden model ("async-random")."""
        return self.name.lower().replace("_", "-")

    @classmethod
    def from_label(cls, label):
        for mode in cls:
            if mode.label == label:
                return mode
        raise ValueError(f"unknown mode {label!r}; expected one of {', '.join(m.label for m in cls)}")


class Status(enum.IntFlag):
    BUSY = 1                # a command is pending or running
    OUT_READY = 2           # the output FIFO holds a packet
    SAMPLE = 4              # a sample is queued or running (SAMPLE_STATUS)


#: descriptor field f of layer l is at DESC_BASE + l * DESC_STRIDE + f (write only); the
#: chip decodes l from DESC_LAYER_BITS address bits
DESC_BASE = 0x10000
DESC_STRIDE = 0x100
DESC_LAYER_BITS = 8
#: memory word a of region r is at MEM_BASE | r << MEM_REGION_SHIFT | a
MEM_BASE = 0x800000
MEM_REGION_SHIFT = 19


def mem_addr(region, index):
    """Bus address of word ``index`` of memory ``region``."""
    if not 0 <= int(index) < 1 << MEM_REGION_SHIFT:
        raise ValueError(f"memory index {index} is outside the {MEM_REGION_SHIFT}-bit index of a region")
    return MEM_BASE | (int(Region(region)) << MEM_REGION_SHIFT) | int(index)


def desc_addr(layer, field, K):
    """Bus address of descriptor field ``field`` (a name) of ``layer``."""
    if not 0 <= int(layer) < 1 << DESC_LAYER_BITS:
        raise ValueError(f"layer {layer} is outside the {DESC_LAYER_BITS}-bit layer index of a descriptor address")
    names = [name for name, _ in layer_fields(K)]
    return DESC_BASE + layer * DESC_STRIDE + names.index(field)


#: input event word: source in bits 31..16, magnitude q (Q raw) in bits 15..0
EVENT_SOURCE_SHIFT, EVENT_SOURCE_BITS = 16, 16
Q_BITS = 16


def event_word(source, q):
    """Input event word: source in bits 31..16, magnitude (Q raw) in bits 15..0."""
    source, q = int(source), int(q)
    if not 0 <= source < 1 << EVENT_SOURCE_BITS:
        raise ValueError(f"event source {source} does not fit the event word's {EVENT_SOURCE_BITS}-bit source field")
    if not 0 <= q < 1 << Q_BITS:
        raise ValueError(f"event magnitude {q} does not fit the event word's {Q_BITS}-bit q field")
    return (source << EVENT_SOURCE_SHIFT) | q


#: output packet word: bit 31 valid, then the step (mod 2**step_bits), the source neuron
#: and q in bits 15..0; the source field is wide enough for the chip's neurons
#: (:func:`out_format`), at least OUT_SOURCE_MIN_BITS wide, and the step takes the rest
OUT_VALID = 1 << 31
OUT_SOURCE_SHIFT = Q_BITS
OUT_SOURCE_MIN_BITS = 11
OUT_STEP_MIN_BITS = 2
OUT_SOURCE_MAX_BITS = 31 - OUT_SOURCE_SHIFT - OUT_STEP_MIN_BITS


class OutFormat:
    """The output packet word of a chip: bit 31 valid, bits 30..``step_shift`` step (mod
    2**``step_bits``), bits ``step_shift - 1``..16 source, bits 15..0 q."""

    def __init__(self, source_bits):
        if not OUT_SOURCE_MIN_BITS <= source_bits <= OUT_SOURCE_MAX_BITS:
            raise ValueError(f"an output packet's source field has {OUT_SOURCE_MIN_BITS}..{OUT_SOURCE_MAX_BITS} "
                             f"bits, not {source_bits}")
        self.source_bits = source_bits
        self.step_shift = OUT_SOURCE_SHIFT + source_bits
        self.step_bits = 31 - self.step_shift

    def __eq__(self, other):
        return isinstance(other, OutFormat) and other.source_bits == self.source_bits

    def __hash__(self):
        return self.source_bits

    def __repr__(self):
        return f"OutFormat(source_bits={self.source_bits}, step_bits={self.step_bits})"

    def encode(self, source, q, step):
        """The packet word of a spike of neuron ``source`` with magnitude ``q`` in ``step``."""
        if not 0 <= int(source) < 1 << self.source_bits:
            raise ValueError(f"source {source} does not fit the {self.source_bits}-bit source field")
        if not 0 <= int(q) < 1 << Q_BITS:
            raise ValueError(f"q {q} does not fit the {Q_BITS}-bit q field")
        return (OUT_VALID | (int(step) % (1 << self.step_bits)) << self.step_shift
                | int(source) << OUT_SOURCE_SHIFT | int(q))

    def decode(self, word):
        """(source, q, step mod 2**step_bits) of a packet word, or None when it is empty."""
        if not word & OUT_VALID:
            return None
        return ((word >> OUT_SOURCE_SHIFT) & ((1 << self.source_bits) - 1), word & ((1 << Q_BITS) - 1),
                (word >> self.step_shift) & ((1 << self.step_bits) - 1))

    def describe(self):
        """The layout in words (docs/architecture.md)."""
        return (f"bit 31 valid, bits 30..{self.step_shift} step (mod {1 << self.step_bits}), "
                f"bits {self.step_shift - 1}..{OUT_SOURCE_SHIFT} source neuron, bits {Q_BITS - 1}..0 q")


def out_format(neurons):
    """The output packet layout of a chip with ``neurons`` neurons (sources 0..neurons - 1):
    the source field is max(OUT_SOURCE_MIN_BITS, ceil(log2(neurons))) bits wide, so every chip
    of up to 2,048 neurons keeps the 11-bit source and 4-bit step; the step field takes the
    bits left between it and the valid bit. A chip whose sources would leave the step fewer
    than OUT_STEP_MIN_BITS bits (more than 2**OUT_SOURCE_MAX_BITS neurons) is refused."""
    if not isinstance(neurons, int) or isinstance(neurons, bool) or neurons < 1:
        raise ValueError(f"neurons must be a positive integer, not {neurons!r}")
    need = (neurons - 1).bit_length()
    if need > OUT_SOURCE_MAX_BITS:
        raise ValueError(f"{neurons} neurons need a {need}-bit source field in the output packet, which "
                         f"holds at most {OUT_SOURCE_MAX_BITS} bits ({1 << OUT_SOURCE_MAX_BITS} neurons) to keep "
                         f"{OUT_STEP_MIN_BITS} step bits")
    return OutFormat(max(OUT_SOURCE_MIN_BITS, need))


def decode_out(word, fmt):
    """(source, q, step mod 2**fmt.step_bits) of an output packet word, or None when it is
    empty; ``fmt``: the chip's :class:`OutFormat` (``Capacity.out_format``)."""
    if not isinstance(fmt, OutFormat):
        raise TypeError(f"decode_out needs the chip's OutFormat (Capacity.out_format), not {fmt!r}")
    return fmt.decode(word)


def load_plan(cfg, layers, route_hidden_to_host=True, pow2=False, mode=Mode.SYNC, seed=1, neuron_base=0):
    """Bus writes that load network ``cfg`` with the weights of golden FixedLayers ``layers``.

    The descriptors carry the layers' own coefficients (``layer.coefs``); ``pow2``: see
    :func:`descriptors`; ``mode`` (:class:`Mode`) and ``seed``: the execution mode and the
    LFSR seed (effective from the next CLEAR); ``neuron_base``: see :func:`descriptors`. Returns a
    list of (address, [words]) in order: number of layers, mode, seed, every descriptor field,
    the W, V and b master words, the routing table (hidden layers to the next layer, and to
    the host too when ``route_hidden_to_host``; the output layer to the host).
    """
    K = cfg.layers[0].K
    descs = descriptors(cfg, [layer.coefs for layer in layers], pow2=pow2, neuron_base=neuron_base)
    if not 1 <= int(seed) <= 0xFFFF:
        raise ValueError(f"the LFSR seed must be in 1..65535, not {seed!r}")
    plan = [(Reg.N_LAYERS, [len(cfg.layers)]), (Reg.MODE, [int(Mode(mode))]), (Reg.SEED, [int(seed)])]
    for n, desc in enumerate(descs):
        base = DESC_BASE + n * DESC_STRIDE
        plan.append((base, [desc[name] for name, _ in layer_fields(K)]))
    for desc, layer in zip(descs, layers):
        plan.append((mem_addr(Region.W, desc["w_base"]), _u32(layer.W_master.ravel())))
        plan.append((mem_addr(Region.V, desc["n_base"] * K), _u32(layer.V_master.ravel())))
        plan.append((mem_addr(Region.B, desc["n_base"]), _u32(layer.b_master.ravel())))
    for n, desc in enumerate(descs):
        last = n == len(descs) - 1
        route = Route.HOST if last else (Route.NEXT | (Route.HOST if route_hidden_to_host else 0))
        plan.append((mem_addr(Region.ROUTE, desc["n_base"]), [int(route)] * desc["n_out"]))
    return plan


# --- the sample interface: a whole sample in the chip's sample memory, run by one command ---
#
# The sample memory has SAMPLE_SLOTS slots of CAP_SAMPLE words (Region.SAMPLE). A slot holds a
# header word (the step count T in bits 15..0, the label in bits 30..16, and bit 31,
# SAMPLE_MSE: a squared-error sample), then per step its input events (event words, q != 0)
# and a step-end marker (a word with q == 0; bit SAMPLE_LOSS_BIT of its source field: the
# step carries the loss; the field's bits from SAMPLE_REPEAT_SHIFT: R, the number of steps
# after this one that repeat its events and its loss bit (and targets), so a run of 1 + R
# equal steps takes one step's words). In a squared-error sample a loss step's marker is
# followed by the step's targets, one word per output (X raw), and the loss unit computes
# gammacore.golden.fixedpoint.mse_unit instead of the softmax cross-entropy (whose label is
# then unused: 0). SAMPLE_CTRL = slot |
# SAMPLE_LEARN queues the slot: the sequencer clears the state (Cmd.CLEAR), runs the T steps
# (events, Cmd.STEP), and at each loss step streams the output layer's y into the loss unit
# (gammacore.golden.fixedpoint.loss_unit), writes its errors to ERR and, with SAMPLE_LEARN,
# learns (Cmd.LEARN); it sums each output's y over the loss steps (the score, SCORE raw), the
# loss (LOSS_SUM raw) and the output packets of the sample (the output layer's spikes when the
# hidden layers are not routed to the host), and leaves them in the slot's results
# (Region.RESULT, fields ResultField). gammacore.golden.sample.run_sample is the specification.
# While a slot is queued or running the host may write the other slot, read results, and read
# registers other than Reg.OUT; anything else is refused with a bus error.

SAMPLE_SLOTS = 2
SAMPLE_LEARN = 1 << 8        # SAMPLE_CTRL: bits 7..0 slot, bit 8 learn (train) or not (infer)
SAMPLE_LOSS_BIT = 0          # marker word: source field bit 0, the step carries the loss
SAMPLE_REPEAT_SHIFT = 1      # marker word: source field bits 15..1, R (the step repeats R times)
SAMPLE_REPEAT_MAX = (1 << (EVENT_SOURCE_BITS - SAMPLE_REPEAT_SHIFT)) - 1
SAMPLE_STEPS_BITS = 16       # header: T in bits 15..0, label in bits 30..16, SAMPLE_MSE bit 31
SAMPLE_LABEL_SHIFT = 16
SAMPLE_LABEL_BITS = 15
SAMPLE_MSE = 1 << 31         # header: a squared-error sample (targets after each loss marker)


class ResultField(enum.IntEnum):
    """Words of a slot's results (Region.RESULT, slot * result_stride(max_layer) + field)."""
    STEPS = 0          # steps run
    ARGMAX = 1         # the output with the largest score (the first of equal ones)
    LOSS_LO = 2        # loss sum (LOSS_SUM raw) bits 31..0
    LOSS_HI = 3        # bits 63..32
    SPIKES = 4         # output packets of the sample
                       # (fields 5..7 read 0, so the results read as one block)
    SCORE = 8          # output j's score (SCORE raw, sign-extended to 64 bits): words SCORE + 2 j
                       # (bits 31..0) and SCORE + 2 j + 1 (bits 63..32)


def result_stride(max_layer):
    """Words between two slots' results in Region.RESULT (a power of two)."""
    need = ResultField.SCORE + 2 * int(max_layer)
    return 1 << (need - 1).bit_length()


def result_addr(slot, field, max_layer):
    """Bus address of result word ``field`` (a ResultField or an int) of ``slot``."""
    if not 0 <= int(slot) < SAMPLE_SLOTS:
        raise ValueError(f"sample slot {slot} is outside 0..{SAMPLE_SLOTS - 1}")
    return mem_addr(Region.RESULT, int(slot) * result_stride(max_layer) + int(field))


def sample_command(slot, learn):
    """The SAMPLE_CTRL word that runs ``slot``, training when ``learn``."""
    if not 0 <= int(slot) < SAMPLE_SLOTS:
        raise ValueError(f"sample slot {slot} is outside 0..{SAMPLE_SLOTS - 1}")
    return int(slot) | (SAMPLE_LEARN if learn else 0)


def _runs(same):
    """(first step, length) of each run of a sample's steps, as its markers split them:
    ``same[t]`` says step t equals step t - 1 (events and loss bit; ``same[0]`` is ignored),
    and a marker counts at most SAMPLE_REPEAT_MAX repeats."""
    T, t = len(same), 0
    while t < T:
        run = 1
        while t + run < T and run <= SAMPLE_REPEAT_MAX and same[t + run]:
            run += 1
        yield t, run
        t += run


def sample_words(q, mask, label, n_in=None, n_out=None, capacity=None, target=None):
    """The slot words of one sample: ``q`` (T, n_in) input magnitudes (Q raw, 0 = no event),
    ``mask`` (T,) the steps that carry the loss, ``label`` its class (softmax cross-entropy);
    or, with ``target`` (T, n_out) X raw and ``label`` None, a squared-error sample: the
    targets of its loss steps (the other steps' rows are not used).

    A run of equal steps (the same events, the same loss bit and, at a loss step of a
    squared-error sample, the same targets) takes one step's words, its marker counting the
    repeats (at most SAMPLE_REPEAT_MAX per marker).

    Refuses (ValueError naming the value) what the chip would refuse: 0 steps, more steps than
    the header holds, an event source at or above ``n_in`` (layer 0's inputs), a label outside
    0..``n_out`` - 1, more words than ``capacity`` (the chip's CAP_SAMPLE); and a label and
    targets both or neither, targets of another shape than (T, n_out) or outside X's range.
    """
    q = [tuple(int(v) for v in row) for row in q]
    T = len(q)
    if len(mask) != T:
        raise ValueError(f"the loss mask has {len(mask)} steps, the sample {T}")
    if not 1 <= T < 1 << SAMPLE_STEPS_BITS:
        raise ValueError(f"a sample has 1..{(1 << SAMPLE_STEPS_BITS) - 1} steps, not {T}")
    if (label is None) == (target is None):
        raise ValueError("a sample has a label (softmax cross-entropy) or targets (squared error), "
                         f"not {'both' if target is not None else 'neither'}")
    if target is None:
        label = int(label)
        if not 0 <= label < 1 << SAMPLE_LABEL_BITS or (n_out is not None and label >= n_out):
            top = (1 << SAMPLE_LABEL_BITS) if n_out is None else n_out
            raise ValueError(f"label {label} is outside the output layer's 0..{top - 1}")
        words = [T | label << SAMPLE_LABEL_SHIFT]
        rows = [()] * T
    else:
        rows = [tuple(int(v) for v in row) for row in target]
        width = len(rows[0]) if rows else 0
        if len(rows) != T or any(len(r) != width for r in rows) or (n_out is not None and width != n_out):
            shape = (len(rows), width) if all(len(r) == width for r in rows) else "ragged"
            raise ValueError(f"targets of shape {shape}, expected ({T}, {n_out if n_out is not None else 'n_out'}): "
                             "one per step and output")
        lo, hi = -(1 << 31), (1 << 31) - 1
        bad = next((v for r, m in zip(rows, mask) if m for v in r if not lo <= v <= hi), None)
        if bad is not None:
            raise ValueError(f"target {bad} (X raw) is outside X's {lo}..{hi}")
        words = [T | SAMPLE_MSE]
    same = [t > 0 and q[t] == q[t - 1] and bool(mask[t]) == bool(mask[t - 1])
            and (not mask[t] or rows[t] == rows[t - 1]) for t in range(T)]
    for t, run in _runs(same):
        row, loss = q[t], bool(mask[t])
        for i, v in enumerate(row):
            if v:
                if n_in is not None and i >= n_in:
                    raise ValueError(f"event source {i} is outside layer 0's inputs 0..{n_in - 1}")
                words.append(event_word(i, v))
        words.append((int(loss) << SAMPLE_LOSS_BIT | (run - 1) << SAMPLE_REPEAT_SHIFT) << EVENT_SOURCE_SHIFT)
        if loss and target is not None:
            words += _u32(rows[t])
    if capacity is not None and len(words) > capacity:
        raise ValueError(f"the sample takes {len(words)} words, a slot of the sample memory holds {capacity}")
    return words


def sample_lengths(q, mask, target=None):
    """Words each sample of ``q`` (samples, T, n_in; Q raw, 0 = no event) with loss masks
    ``mask`` (samples, T) takes in a slot, as :func:`sample_words` lays it out: the header,
    then per run of equal steps (at most 1 + SAMPLE_REPEAT_MAX) its events and one marker,
    and with ``target`` (samples, T, n_out; squared-error samples) a loss run's n_out targets."""
    import numpy as np
    q, mask = np.asarray(q), np.asarray(mask, dtype=bool)
    if mask.shape != q.shape[:2]:
        raise ValueError(f"loss masks of shape {mask.shape} for samples of shape {q.shape[:2]}")
    same = np.zeros(mask.shape, dtype=bool)     # step t equals step t - 1
    same[:, 1:] = np.all(q[:, 1:] == q[:, :-1], axis=2) & (mask[:, 1:] == mask[:, :-1])
    n_out = 0
    if target is not None:
        target = np.asarray(target)
        if target.shape[:2] != q.shape[:2]:
            raise ValueError(f"targets of shape {target.shape} for samples of shape {q.shape[:2]}")
        n_out = target.shape[2]
        same[:, 1:] &= ~mask[:, 1:] | np.all(target[:, 1:] == target[:, :-1], axis=2)
    events = np.count_nonzero(q, axis=2)
    return np.array([1 + sum(int(events[s, t]) + 1 + n_out * int(mask[s, t]) for t, _ in _runs(same[s]))
                     for s in range(len(q))], dtype=np.int64)


def decode_sample(words, n_out=None):
    """(label, steps, targets) of a slot's words, runs expanded: steps [(events [(source, q)],
    loss)]; for a squared-error sample (SAMPLE_MSE) label None and targets, per step, the
    tuple of its n_out targets (X raw, signed) at a loss step and None at the others (else
    targets None). Raises ValueError for a slot the chip refuses for its form (0 steps, fewer
    steps than T before the slot ends, a run past T, a loss step's targets past the slot) and
    for a squared-error sample without ``n_out``."""
    head = int(words[0])
    T, mse = head & ((1 << SAMPLE_STEPS_BITS) - 1), bool(head & SAMPLE_MSE)
    label = None if mse else head >> SAMPLE_LABEL_SHIFT & ((1 << SAMPLE_LABEL_BITS) - 1)
    if mse and n_out is None:
        raise ValueError("a squared-error sample's targets need n_out, the output layer's size")
    if T == 0:
        raise ValueError("a sample of 0 steps")
    steps, targets, events = [], [] if mse else None, []
    k = 1
    while k < len(words):
        w = int(words[k])
        k += 1
        source, q = (w >> EVENT_SOURCE_SHIFT) & ((1 << EVENT_SOURCE_BITS) - 1), w & ((1 << Q_BITS) - 1)
        if q:
            events.append((source, q))
            continue
        repeat, loss = source >> SAMPLE_REPEAT_SHIFT, bool(source >> SAMPLE_LOSS_BIT & 1)
        if len(steps) + 1 + repeat > T:
            raise ValueError(f"a run of {1 + repeat} steps after step {len(steps)} goes past the sample's {T} steps")
        steps += [(list(events), loss)] * (1 + repeat)
        if mse:
            if loss and k + n_out > len(words):
                raise ValueError(f"step {len(steps) - 1 - repeat}'s {n_out} targets go past the slot's {len(words)} words")
            targets += [tuple(s32(v) for v in words[k:k + n_out]) if loss else None] * (1 + repeat)
            k += n_out if loss else 0
        events = []
        if len(steps) == T:
            return label, steps, targets
    raise ValueError(f"the sample has {len(steps)} steps of its {T} within {len(words)} words")


def _u32(values):
    return [int(v) & 0xFFFFFFFF for v in values]


def s32(word):
    """Signed value of a 32-bit bus word."""
    word = int(word) & 0xFFFFFFFF
    return word - (1 << 32) if word & (1 << 31) else word
