"""Sample sequencer: runs a whole sample from the sample memory on the network core.

The host writes a sample into a slot of the sample memory (``Region.SAMPLE``, the words of
:func:`gammacore.regmap.sample_words`) and queues it with ``Reg.SAMPLE_CTRL``; the sequencer
then does what the host's per-step loop did, through the chip's own word bus (the same
commands, arbitrated with the host's requests in :class:`~gammacore.rtl.chip.Chip`):

- CLEAR; per step its events (``Reg.EVENT``) and STEP (with ``Cmd.NO_TRACES`` when
  inferring: the traces feed only learning, so an inference sample's stay as CLEAR left
  them); after every command it reads ``Reg.STATUS`` until the core is idle, popping and
  counting output packets meanwhile;
- at a loss step it reads the output layer's x (``Region.X``), streams y (x, or max(x, 0)
  for a ReLU readout) into the :class:`~gammacore.rtl.loss_unit.LossUnit` and adds it to the
  output's score; the unit's errors go to ``Region.ERR`` and LEARN runs when training (when
  inferring the errors are dropped), and its loss is summed;
- a squared-error sample (the header's ``SAMPLE_MSE``) has its loss step's targets after the
  step's marker: each y is taken with its target, and the error and loss of
  :func:`gammacore.golden.fixedpoint.mse_unit` are formed here, an output at a time (a
  subtraction, the rounding and saturation to ERR, and the error's square, each registered),
  in place of the loss unit's;
- at the end: the argmax of the scores (the first of equal ones), and the slot's results
  (``Region.RESULT``, :class:`gammacore.regmap.ResultField`).

:func:`gammacore.golden.sample.run_sample` is the specification. The command is checked
before it is queued, by a scan of the slot: a slot outside the memory, a slot queued or
running, a command with other bits set, training on an inference-only build, an unloaded
network, 0 steps, a label outside the output layer, an event source outside layer 0, or a
sample that does not end (T steps, a marker counting 1 + R of them, a loss step's targets)
within its slot or whose last run goes past T is refused with a bus error and nothing runs. A marker's run of R
repeats is replayed from the sample memory: the step's events are fetched again R times.
Two slots: the host loads and queues the next sample while one runs.

The output layer's n_base, n_out and readout and layer 0's n_in are taken from the
descriptor writes the chip accepts (``desc_we``); ``n_layers`` selects the output layer.
"""
from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .. import regmap as R
from ..golden import fixedpoint as fp
from ..golden import formats as F
from .bus import bus_signature
from .loss_unit import LossUnit
from .ram import ram, read_port

__all__ = ["SampleUnit", "is_sample_address"]

FIELD = {name: n for n, (name, _) in enumerate(R.layer_fields(1))}


def is_sample_address(addr, reg_bits):
    """The condition that bus address ``addr`` is the sample unit's (its registers, the
    sample memory and the results)."""
    mem_bit = R.MEM_BASE.bit_length() - 1
    region = addr[R.MEM_REGION_SHIFT:mem_bit]
    is_reg = addr[reg_bits:] == 0
    reg = addr[:reg_bits]
    return ((is_reg & ((reg == R.Reg.SAMPLE_CTRL) | (reg == R.Reg.SAMPLE_STATUS) | (reg == R.Reg.SAMPLE_DONE)))
            | (addr[mem_bit] & ((region == R.Region.SAMPLE) | (region == R.Region.RESULT))))


class SampleUnit(wiring.Component):
    """The sample sequencer (see the module's description).

    Parameters
    ----------
    capacity : :class:`gammacore.regmap.Capacity`
    sample_words : words of one slot (``Reg.CAP_SAMPLE``)
    learning : the chip has the learning unit (else a training command is refused)

    Attributes
    ----------
    host : bus target for the sample unit's addresses (:func:`is_sample_address`), in
    bus : bus initiator on the chip's bus, out
    active : a slot is queued or running, out
    n_layers, configured : the chip's, in
    desc_we, desc_layer, desc_field, desc_data : an accepted descriptor write, in
    """

    def __init__(self, capacity, sample_words, learning=True):
        if not isinstance(sample_words, int) or isinstance(sample_words, bool) or not 2 <= sample_words <= (
                1 << R.MEM_REGION_SHIFT) // R.SAMPLE_SLOTS:
            raise ValueError(f"sample_words must be an integer in 2..{(1 << R.MEM_REGION_SHIFT) // R.SAMPLE_SLOTS}, "
                             f"not {sample_words!r}")
        assert R.SAMPLE_SLOTS == 2
        self.cap, self.sample_words, self.learning = capacity, sample_words, learning
        c = capacity
        super().__init__({
            "host": In(bus_signature), "bus": Out(bus_signature), "active": Out(1),
            "n_layers": In(range(c.layers + 1)), "configured": In(1),
            "desc_we": In(1), "desc_layer": In(range(c.layers)), "desc_field": In(8), "desc_data": In(32),
        })

    def elaborate(self, platform):
        m = Module()
        c, S = self.cap, self.sample_words
        C = c.max_layer
        stride = R.result_stride(C)
        m.submodules.loss = lu = LossUnit(max_outputs=C)

        # ---- what the runner needs of the network, from the accepted descriptor writes ----
        n_in0 = Signal(16)
        n_out = Array(Signal(16, name=f"n_out{l}") for l in range(c.layers))
        n_base = Array(Signal(16, name=f"n_base{l}") for l in range(c.layers))
        relu = Array(Signal(name=f"relu{l}") for l in range(c.layers))
        with m.If(self.desc_we):
            with m.Switch(self.desc_field):
                with m.Case(FIELD["n_in"]):
                    with m.If(self.desc_layer == 0):
                        m.d.sync += n_in0.eq(self.desc_data)
                with m.Case(FIELD["n_out"]):
                    m.d.sync += n_out[self.desc_layer].eq(self.desc_data)
                with m.Case(FIELD["n_base"]):
                    m.d.sync += n_base[self.desc_layer].eq(self.desc_data)
                with m.Case(FIELD["relu"]):
                    m.d.sync += relu[self.desc_layer].eq(self.desc_data[0])
        last_layer = Signal(range(c.layers))
        m.d.comb += last_layer.eq(self.n_layers - 1)
        out_n, out_base, out_relu = Signal(16), Signal(16), Signal()
        m.d.sync += [out_n.eq(n_out[last_layer]), out_base.eq(n_base[last_layer]), out_relu.eq(relu[last_layer])]

        # ---- memories -------------------------------------------------------------------------
        smem = ram(shape=32, depth=R.SAMPLE_SLOTS * S)
        score = ram(shape=signed(F.SCORE.width), depth=R.SAMPLE_SLOTS * C)
        m.submodules.smem, m.submodules.score = smem, score
        s_wr = smem.write_port()
        scan_rd = read_port(m, smem, "scan_rd")
        run_rd = read_port(m, smem, "run_rd")
        sc_wr = score.write_port()
        sc_rd = read_port(m, score, "score_rd")
        res_rd = read_port(m, score, "result_rd")
        # a port reads only when a state enables it (its en is 1 unless driven)
        m.d.comb += [scan_rd.en.eq(0), run_rd.en.eq(0), sc_rd.en.eq(0), res_rd.en.eq(0)]

        # ---- the queue: the running (or next) slot and one after it ----------------------------
        cur_valid, cur_slot, cur_learn = Signal(), Signal(), Signal()
        nxt_valid, nxt_slot, nxt_learn = Signal(), Signal(), Signal()
        enq, enq_slot, enq_learn, deq = Signal(), Signal(), Signal(), Signal()
        slot_busy = Signal(R.SAMPLE_SLOTS)
        m.d.comb += [slot_busy.eq(Mux(cur_valid, 1 << cur_slot, 0) | Mux(nxt_valid, 1 << nxt_slot, 0)),
                     self.active.eq(cur_valid)]
        with m.If(deq):
            with m.If(nxt_valid):
                m.d.sync += [cur_slot.eq(nxt_slot), cur_learn.eq(nxt_learn), nxt_valid.eq(0)]
            with m.Elif(enq):
                m.d.sync += [cur_slot.eq(enq_slot), cur_learn.eq(enq_learn)]
            with m.Else():
                m.d.sync += cur_valid.eq(0)
        with m.Elif(enq):
            with m.If(~cur_valid):
                m.d.sync += [cur_valid.eq(1), cur_slot.eq(enq_slot), cur_learn.eq(enq_learn)]
            with m.Else():
                m.d.sync += [nxt_valid.eq(1), nxt_slot.eq(enq_slot), nxt_learn.eq(enq_learn)]

        res_steps = Array(Signal(16, name=f"res_steps{s}") for s in range(R.SAMPLE_SLOTS))
        res_arg = Array(Signal(16, name=f"res_arg{s}") for s in range(R.SAMPLE_SLOTS))
        res_loss = Array(Signal(F.LOSS_SUM.width, name=f"res_loss{s}") for s in range(R.SAMPLE_SLOTS))
        res_spikes = Array(Signal(32, name=f"res_spikes{s}") for s in range(R.SAMPLE_SLOTS))
        done_count = Signal(32)

        self._host_side(m, S, C, stride, s_wr, scan_rd, res_rd, slot_busy, enq, enq_slot, enq_learn,
                        n_in0, out_n, res_steps, res_arg, res_loss, res_spikes, done_count)
        self._runner(m, S, C, lu, run_rd, sc_rd, sc_wr, cur_valid, cur_slot, cur_learn, deq, out_n, out_base,
                     out_relu, res_steps, res_arg, res_loss, res_spikes, done_count)
        return m

    def _host_side(self, m, S, C, stride, s_wr, scan_rd, res_rd, slot_busy, enq, enq_slot, enq_learn,
                   n_in0, out_n, res_steps, res_arg, res_loss, res_spikes, done_count):
        h = self.host
        addr = h.addr
        mem_bit = R.MEM_BASE.bit_length() - 1
        region = addr[R.MEM_REGION_SHIFT:mem_bit]
        index = addr[:R.MEM_REGION_SHIFT]
        is_mem = addr[mem_bit]
        reg = addr[:8]
        resp_err, resp_data = Signal(), Signal(32)

        def ack(err=0, data=0):
            m.d.sync += [resp_err.eq(err), resp_data.eq(data)]
            m.next = "RESPOND"

        # the sample memory: slot s is words s * S .. s * S + S - 1
        w_slot = index >= S
        # results: slot = index // stride, field = index % stride
        sb = (stride - 1).bit_length()
        r_slot, r_field = index[sb:], index[:sb]
        r_j = (r_field - R.ResultField.SCORE)[1:]
        m.d.comb += res_rd.addr.eq(Mux(r_slot[0], C, 0) + r_j)
        res_hi = Signal(32)
        m.d.comb += res_hi.eq(res_rd.data >> 32)            # sign-extended
        # the command and its scan
        w = h.w_data
        cmd_slot, cmd_learn = Signal(8), Signal()
        scan_i = Signal(range(S + 1))
        base = Signal(range(R.SAMPLE_SLOTS * S))
        steps, markers = Signal(16), Signal(16)
        scan_mse = Signal()
        # the last word index at which a loss step's targets may start (registered: for Fmax,
        # no subtraction before the scan's compare)
        room = Signal(range(-(1 << 16), S + 1))
        m.d.sync += room.eq(S - out_n)
        m.d.comb += scan_rd.addr.eq(base + scan_i)
        # the word read is registered before its checks (for Fmax: the block RAM's
        # clock-to-out does not meet the compares, the response and the next state in one
        # clock); a scanned word takes three clocks
        word = Signal.like(scan_rd.data, name="scan_word")
        m.d.sync += word.eq(scan_rd.data)
        # the steps counted up to and including a marker's run of 1 + R
        counted = Signal(17)
        m.d.comb += counted.eq(markers + 1 + word[R.EVENT_SOURCE_SHIFT + R.SAMPLE_REPEAT_SHIFT:])
        with m.FSM(name="host"):
            with m.State("IDLE"):
                with m.If(h.we & is_mem & (region == R.Region.SAMPLE)):
                    with m.If((index >= R.SAMPLE_SLOTS * S) | slot_busy.bit_select(w_slot, 1)):
                        ack(err=1)
                    with m.Else():
                        m.d.comb += [s_wr.addr.eq(index), s_wr.data.eq(w), s_wr.en.eq(1)]
                        ack()
                with m.Elif(h.re & is_mem & (region == R.Region.RESULT)):
                    with m.If((r_slot >= R.SAMPLE_SLOTS) | slot_busy.bit_select(r_slot[0], 1)):
                        ack(err=1)
                    with m.Elif(r_field >= R.ResultField.SCORE):
                        with m.If(r_j >= C):
                            ack(err=1)
                        with m.Else():
                            m.d.comb += res_rd.en.eq(1)
                            m.next = "SCORE_READ"       # res_rd reads the word this clock
                    with m.Else():
                        with m.Switch(r_field):
                            with m.Case(R.ResultField.STEPS):
                                ack(data=res_steps[r_slot[0]])
                            with m.Case(R.ResultField.ARGMAX):
                                ack(data=res_arg[r_slot[0]])
                            with m.Case(R.ResultField.LOSS_LO):
                                ack(data=res_loss[r_slot[0]][:32])
                            with m.Case(R.ResultField.LOSS_HI):
                                ack(data=res_loss[r_slot[0]][32:])
                            with m.Case(R.ResultField.SPIKES):
                                ack(data=res_spikes[r_slot[0]])
                            with m.Default():
                                ack(data=0)             # the words up to SCORE read 0 (one block read)
                with m.Elif(h.re & (reg == R.Reg.SAMPLE_STATUS)):
                    ack(data=slot_busy)
                with m.Elif(h.re & (reg == R.Reg.SAMPLE_DONE)):
                    ack(data=done_count)
                with m.Elif(h.we & (reg == R.Reg.SAMPLE_CTRL)):
                    slot = w[:8]
                    bad = ((slot >= R.SAMPLE_SLOTS) | (w[9:] != 0) | ~self.configured
                           | (w[8] & (not self.learning)))
                    with m.If(bad):
                        ack(err=1)
                    with m.Elif(slot_busy.bit_select(slot[0], 1)):
                        ack(err=1)
                    with m.Else():
                        m.d.sync += [cmd_slot.eq(slot), cmd_learn.eq(w[8]), base.eq(Mux(slot[0], S, 0)),
                                     scan_i.eq(0)]
                        m.next = "SCAN_HEADER"
                with m.Elif(h.we | h.re):
                    ack(err=1)
            with m.State("SCAN_HEADER"):
                # the read of word scan_i is issued; its data comes the clock after
                m.d.comb += scan_rd.en.eq(1)
                m.d.sync += scan_i.eq(1)
                m.next = "SCAN_HEADER_WAIT"
            with m.State("SCAN_HEADER_WAIT"):
                m.next = "SCAN_HEADER_CHECK"
            with m.State("SCAN_HEADER_CHECK"):
                with m.If((word[:16] == 0) | (word[16:31] >= out_n)):
                    ack(err=1)
                with m.Else():
                    m.d.sync += [steps.eq(word[:16]), markers.eq(0), scan_mse.eq(word[31])]
                    m.next = "SCAN_ISSUE"
            with m.State("SCAN_ISSUE"):
                with m.If(scan_i == S):
                    ack(err=1)                  # no end within the slot
                with m.Else():
                    m.d.comb += scan_rd.en.eq(1)
                    m.d.sync += scan_i.eq(scan_i + 1)
                    m.next = "SCAN_WAIT"
            with m.State("SCAN_WAIT"):
                m.next = "SCAN_CHECK"
            with m.State("SCAN_CHECK"):
                with m.If(word[:16] != 0):
                    with m.If(word[16:] >= n_in0):
                        ack(err=1)
                    with m.Else():
                        m.next = "SCAN_ISSUE"
                with m.Else():
                    # a squared-error sample's loss step: its n_out targets follow the marker
                    targets = scan_mse & word[R.EVENT_SOURCE_SHIFT + R.SAMPLE_LOSS_BIT]
                    with m.If(counted > steps):
                        ack(err=1)                  # a run past T
                    with m.Elif(targets & (scan_i > room)):
                        ack(err=1)                  # the targets past the slot
                    with m.Elif(counted == steps):
                        m.d.comb += [enq.eq(1), enq_slot.eq(cmd_slot[0]), enq_learn.eq(cmd_learn)]
                        ack()
                    with m.Else():
                        m.d.sync += [markers.eq(counted), scan_i.eq(scan_i + Mux(targets, out_n, 0))]
                        m.next = "SCAN_ISSUE"
            with m.State("SCORE_READ"):
                ack(data=Mux(r_field[0], res_hi, res_rd.data[:32]))
            with m.State("RESPOND"):
                m.d.comb += [h.ack.eq(1), h.err.eq(resp_err), h.r_data.eq(resp_data)]
                m.next = "IDLE"

    def _runner(self, m, S, C, lu, run_rd, sc_rd, sc_wr, cur_valid, cur_slot, cur_learn, deq, out_n, out_base,
                out_relu, res_steps, res_arg, res_loss, res_spikes, done_count):
        bus = self.bus
        ma, mw, mwe, mre = Signal(24), Signal(32), Signal(), Signal()
        m.d.comb += [bus.addr.eq(ma), bus.w_data.eq(mw), bus.we.eq(mwe), bus.re.eq(mre)]

        def write(addr, data, then):
            m.d.sync += [ma.eq(addr), mw.eq(data), mwe.eq(1)]
            m.next = then

        def read(addr, then):
            m.d.sync += [ma.eq(addr), mre.eq(1)]
            m.next = then

        with m.If(bus.ack):
            m.d.sync += [mwe.eq(0), mre.eq(0)]

        T, label, mse = Signal(16), Signal(16), Signal()
        ptr = Signal(range(S + 1))
        step_i = Signal(16)
        # a marker's run: the repeats left, whether the step now fetched is one, its first word
        left = Signal(R.EVENT_SOURCE_BITS - R.SAMPLE_REPEAT_SHIFT)
        replay = Signal()
        step_start = Signal(range(S + 1))
        loss_step = Signal()
        j = Signal(range(C + 1))
        y = Signal(signed(F.X.width))
        loss_sum = Signal(F.LOSS_SUM.width)
        spikes = Signal(32)
        best = Signal(signed(F.SCORE.width))
        cand = Signal.like(best)        # the score read for the argmax, registered
        held = Signal.like(best)        # this output's score read for its sum, registered
        arg = Signal(16)
        word = Signal.like(run_rd.data)     # the sample word fetched, registered
        after = Signal(2)               # what follows the status poll: 0 fetch, 1 the step's loss, 2 next step
        sbase = Signal(range(R.SAMPLE_SLOTS * S))
        cbase = Signal(range(R.SAMPLE_SLOTS * C))
        m.d.comb += [run_rd.addr.eq(sbase + ptr), sc_rd.addr.eq(cbase + j)]
        # a squared-error step: the output's target (from the sample memory, after the step's
        # marker), y - target, the error (ERR raw), its square, and the step's loss so far
        tgt = Signal(signed(32))
        diff = Signal(signed(F.X.width + 1))
        err = Signal(signed(F.ERR.width))
        sq = Signal(2 * F.ERR.width)
        step_loss = Signal(2 * F.ERR.width - fp.MSE_LOSS_SHIFT + (C - 1).bit_length() + 1)
        # the step's loss saturated to LOSS, registered (MSE_SAT) before it is added to the sum:
        # for Fmax, the compare's and the sum's carry chains are not in one clock
        step_sat = Signal(F.LOSS.width)
        e_round = Signal(signed(F.X.width + 2 - (F.X.frac - F.ERR.frac)))
        m.d.comb += e_round.eq((diff + (1 << (F.X.frac - F.ERR.frac - 1))) >> (F.X.frac - F.ERR.frac))
        # the loss sum saturates (F.LOSS_SUM, as golden.sample)
        sum_next, loss_next = Signal(F.LOSS_SUM.width + 1), Signal(F.LOSS_SUM.width)
        m.d.comb += [sum_next.eq(loss_sum + Mux(mse, step_sat, lu.o.payload.loss)),
                     loss_next.eq(Mux(sum_next[-1], F.LOSS_SUM.max, sum_next[:-1]))]
        # commands without Cmd.WAIT, then STATUS polls: every request of the sequencer is short,
        # so a host register read waits at most for one of them
        cmd_wait = lambda cmd: int(cmd)
        x_base = R.mem_addr(R.Region.X, 0)
        err_base = R.mem_addr(R.Region.ERR, 0)
        with m.FSM(name="runner") as fsm:
            # the state machine (its ``state`` signal, made at the block's end, decodes to the state
            # names: benchmarks/bench_sample_clocks.py counts each state's clocks)
            self.fsm = fsm
            with m.State("IDLE"):
                with m.If(cur_valid):
                    m.d.sync += [sbase.eq(Mux(cur_slot, S, 0)), cbase.eq(Mux(cur_slot, C, 0)), ptr.eq(0),
                                 j.eq(0)]
                    m.next = "HEADER"
            with m.State("HEADER"):
                m.d.comb += run_rd.en.eq(1)
                m.next = "HEADER_TAKE"
            with m.State("HEADER_TAKE"):
                m.d.sync += [T.eq(run_rd.data[:16]), label.eq(run_rd.data[16:31]), mse.eq(run_rd.data[31]),
                             ptr.eq(1), step_i.eq(0),
                             loss_sum.eq(0), spikes.eq(0), j.eq(0), step_start.eq(1), replay.eq(0)]
                m.next = "ZERO"
            with m.State("ZERO"):
                m.d.comb += [sc_wr.addr.eq(cbase + j), sc_wr.data.eq(0), sc_wr.en.eq(1)]
                m.d.sync += j.eq(j + 1)
                with m.If(j == out_n - 1):
                    m.d.sync += after.eq(0)
                    write(R.Reg.CTRL, cmd_wait(R.Cmd.CLEAR), "CMD_ACK")
            with m.State("CMD_ACK"):
                with m.If(bus.ack):
                    read(R.Reg.STATUS, "POLL")
            with m.State("POLL"):
                with m.If(bus.ack):
                    with m.If(bus.r_data & R.Status.OUT_READY):
                        read(R.Reg.OUT, "POP")
                    with m.Elif(bus.r_data & R.Status.BUSY):
                        read(R.Reg.STATUS, "POLL")
                    with m.Elif(after == 0):
                        m.next = "FETCH"
                    with m.Elif(after == 1):
                        with m.If(loss_step):
                            m.d.sync += [j.eq(0), step_loss.eq(0)]
                            m.next = "X_READ"
                        with m.Else():
                            m.next = "NEXT"
                    with m.Else():
                        m.next = "NEXT"
            with m.State("POP"):
                with m.If(bus.ack):
                    m.d.sync += spikes.eq(spikes + bus.r_data[31])
                    read(R.Reg.STATUS, "POLL")
            with m.State("FETCH"):
                m.d.comb += run_rd.en.eq(1)
                m.next = "FETCH_HOLD"
            with m.State("FETCH_HOLD"):
                # the word registered before it is decoded (for Fmax: the block RAM's
                # clock-to-out does not meet the decode and the runner's next state in one clock)
                m.d.sync += word.eq(run_rd.data)
                m.next = "FETCH_TAKE"
            with m.State("FETCH_TAKE"):
                m.d.sync += ptr.eq(ptr + 1)
                with m.If(word[:R.Q_BITS] != 0):
                    write(R.Reg.EVENT, word, "EVENT_ACK")
                with m.Else():
                    m.d.sync += [loss_step.eq(word[R.EVENT_SOURCE_SHIFT + R.SAMPLE_LOSS_BIT]), after.eq(1)]
                    with m.If(~replay):
                        m.d.sync += left.eq(word[R.EVENT_SOURCE_SHIFT + R.SAMPLE_REPEAT_SHIFT:])
                    # an inference sample's steps skip the traces: only learning reads them
                    write(R.Reg.CTRL, Mux(cur_learn, cmd_wait(R.Cmd.STEP), cmd_wait(R.Cmd.STEP | R.Cmd.NO_TRACES)),
                          "CMD_ACK")
            with m.State("EVENT_ACK"):
                with m.If(bus.ack):
                    m.next = "FETCH"
            with m.State("X_READ"):
                m.d.comb += sc_rd.en.eq(1)              # this output's score, for the sum
                m.d.comb += run_rd.en.eq(mse)           # and its target (squared error)
                read(x_base + out_base + j, "X_ACK")
            with m.State("X_ACK"):
                with m.If(bus.ack):
                    x = bus.r_data.as_signed()
                    # the score (read in X_READ) registered too: the block RAM's clock-to-out
                    # and the sum's carry chain do not fit one clock before its write
                    m.d.sync += [y.eq(Mux(out_relu & x[-1], 0, x)), held.eq(sc_rd.data)]
                    with m.If(mse):
                        m.d.sync += [tgt.eq(run_rd.data), ptr.eq(ptr + 1)]
                        m.next = "MSE_DIFF"
                    with m.Else():
                        m.next = "PUSH"
            with m.State("MSE_DIFF"):
                m.d.comb += [sc_wr.addr.eq(cbase + j), sc_wr.data.eq(held + y), sc_wr.en.eq(1)]
                m.d.sync += diff.eq(y - tgt)
                m.next = "MSE_ERR"
            with m.State("MSE_ERR"):
                m.d.sync += err.eq(Mux(e_round > F.ERR.max, F.ERR.max, Mux(e_round < F.ERR.min, F.ERR.min, e_round)))
                m.next = "MSE_SQ"
            with m.State("MSE_SQ"):
                m.d.sync += sq.eq(err * err)
                with m.If(cur_learn):
                    write(err_base + j, err, "MSE_ERR_ACK")
                with m.Else():
                    m.next = "MSE_LOSS"
            with m.State("MSE_ERR_ACK"):
                with m.If(bus.ack):
                    m.next = "MSE_LOSS"
            with m.State("MSE_LOSS"):
                m.d.sync += step_loss.eq(step_loss + ((sq + (1 << (fp.MSE_LOSS_SHIFT - 1))) >> fp.MSE_LOSS_SHIFT))
                with m.If(j == out_n - 1):
                    m.next = "MSE_SAT"
                with m.Else():
                    m.d.sync += j.eq(j + 1)
                    m.next = "X_READ"
            with m.State("MSE_SAT"):
                m.d.sync += step_sat.eq(Mux(step_loss > F.LOSS.max, F.LOSS.max, step_loss))
                m.next = "MSE_END"
            with m.State("MSE_END"):
                m.d.sync += loss_sum.eq(loss_next)
                with m.If(cur_learn):
                    m.d.sync += after.eq(2)
                    write(R.Reg.CTRL, cmd_wait(R.Cmd.LEARN), "CMD_ACK")
                with m.Else():
                    m.next = "NEXT"
            with m.State("PUSH"):
                last = j == out_n - 1
                m.d.comb += [lu.i.valid.eq(1), lu.i.payload.y.eq(y), lu.i.payload.label.eq(label),
                             lu.i.payload.last.eq(last)]
                with m.If(lu.i.ready):
                    m.d.comb += [sc_wr.addr.eq(cbase + j), sc_wr.data.eq(held + y), sc_wr.en.eq(1)]
                    with m.If(last):
                        m.d.sync += j.eq(0)
                        m.next = "ERR_OUT"
                    with m.Else():
                        m.d.sync += j.eq(j + 1)
                        m.next = "X_READ"
            with m.State("ERR_OUT"):
                o = lu.o
                with m.If(o.valid):
                    with m.If(cur_learn):
                        write(err_base + j, o.payload.e.as_signed(), "ERR_ACK")
                    with m.Else():
                        m.d.comb += o.ready.eq(1)
                        m.d.sync += j.eq(j + 1)
                        with m.If(o.payload.last):
                            m.d.sync += loss_sum.eq(loss_next)
                            m.next = "NEXT"
            with m.State("ERR_ACK"):
                o = lu.o
                with m.If(bus.ack):
                    m.d.comb += o.ready.eq(1)
                    m.d.sync += j.eq(j + 1)
                    with m.If(o.payload.last):
                        m.d.sync += [loss_sum.eq(loss_next), after.eq(2)]
                        write(R.Reg.CTRL, cmd_wait(R.Cmd.LEARN), "CMD_ACK")
                    with m.Else():
                        m.next = "ERR_OUT"
            with m.State("NEXT"):
                m.d.sync += step_i.eq(step_i + 1)
                with m.If(step_i + 1 == T):
                    m.d.sync += j.eq(0)
                    m.next = "ARG_READ"
                with m.Elif(left != 0):
                    # the run's next step: its events again, from the step's first word
                    m.d.sync += [left.eq(left - 1), replay.eq(1), ptr.eq(step_start)]
                    m.next = "FETCH"
                with m.Else():
                    m.d.sync += [replay.eq(0), step_start.eq(ptr)]
                    m.next = "FETCH"
            with m.State("ARG_READ"):
                m.d.comb += sc_rd.en.eq(1)
                m.next = "ARG_HOLD"
            with m.State("ARG_HOLD"):
                # the score registered before the compare (for Fmax: the block RAM's
                # clock-to-out does not meet the compare and the argmax registers' enables)
                m.d.sync += cand.eq(sc_rd.data)
                m.next = "ARG_TAKE"
            with m.State("ARG_TAKE"):
                with m.If((j == 0) | (cand > best)):
                    m.d.sync += [best.eq(cand), arg.eq(j)]
                m.d.sync += j.eq(j + 1)
                with m.If(j == out_n - 1):
                    m.next = "FINISH"
                with m.Else():
                    m.next = "ARG_READ"
            with m.State("FINISH"):
                m.d.comb += deq.eq(1)
                m.d.sync += [res_steps[cur_slot].eq(T), res_arg[cur_slot].eq(arg), res_loss[cur_slot].eq(loss_sum),
                             res_spikes[cur_slot].eq(spikes), done_count.eq(done_count + 1)]
                m.next = "IDLE"
