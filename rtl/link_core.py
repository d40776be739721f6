"""The link's command engine: wire bytes in, wire bytes out, the chip's word bus in between.

Receive path: byte FIFO -> :class:`~gammacore.rtl.cobs.CobsDecoder` -> frame receiver, which
latches the header, packs the payload into a word memory and runs the CRC over the whole
frame. Only a frame with a good CRC is acted on, so a damaged frame changes nothing; a frame
whose opcode, length or flags are wrong is answered with an error status and changes nothing
either. Frames shorter than 4 bytes or with a bad CRC are not answered (they cannot be trusted
to name their seq); the host times out and retries.

Execution: one bus request per word, held until ``ack`` (and dropped for one cycle between
words); ``err`` stops the command with ``BUS_ERROR`` and the index of the refused word. The
response (header registers plus a word memory) stays stored, so a retry is answered from it
and not executed again, which makes every retry safe, a WRITE to a FIFO port included
(:mod:`gammacore.protocol`, "The window and retries"):

- ``window`` 1: a command identical to the last one executed (opcode, seq, length, CRC) is
  answered with the stored response;
- ``window`` W > 1: the response memory holds W responses (slot ``seq % W``, ``MAX_WORDS``
  words each) and a register file their headers and their commands' opcode, length and CRC;
  ``expect`` is the seq executed next. A command with that seq is executed and stored, a retry
  of one of the W before it is answered from its slot, any other is answered ``SEQUENCE``
  (``done`` = ``expect``) and not executed; PING is answered and changes nothing but the
  slot of ``expect`` (freed: its response is the one the next command overwrites). The
  receive FIFO holds the window's frames (``rx_fifo_depth`` bytes) while a command executes.

Transmit path: the response is COBS-encoded straight from the response buffer (a scan finds
each block's length, then the block is sent), its CRC computed during the scan, through a
byte FIFO to ``o``. The next frame may be received while a response is being sent; it is
executed once the response buffer is free.
"""
from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out

from .. import protocol as P
from .bus import ADDR_WIDTH, bus_signature
from .cobs import CobsDecoder, Token
from .crc import crc16_next
from .fifo import BlockFIFO
from .ram import ram, read_port

__all__ = ["LinkCore", "COUNTERS"]

#: counter ports of :class:`LinkCore`, in the order a register map would list them
COUNTERS = ("frames_ok", "replays", "crc_errors", "cobs_errors", "bad_opcodes", "bad_lengths",
            "bus_errors")

_LEN_BITS = (P.MAX_COMMAND_LEN + 1).bit_length()


class LinkCore(wiring.Component):
    """Command engine of the host link (everything but the UART).

    Parameters
    ----------
    rx_fifo_depth : int
        Bytes buffered on ``i`` while a command executes (default: :data:`~gammacore.protocol.RX_BUFFER`
        for a window, else 32). PING names the largest power of two not above it.
    window : int
        Commands in flight (a power of two, 1..16; default :data:`~gammacore.protocol.WINDOW`):
        the replay cache's slots. 1 is the stop-and-wait engine (one stored response).
    registered : the receive FIFO's bytes registered before the COBS decoder (for Fmax: no
        clock carries the FIFO's block-RAM read through the decoder and the frame receiver),
        the response memory's words before the sender's byte choice, CRC and COBS blocks,
        and the executor's writes to the response memory (a clock later); without, the read
        ports' words are taken directly and the writes are direct (the iCE40's lean build)

    Attributes
    ----------
    i : stream of wire bytes from the host, in
    o : stream of wire bytes to the host, out
    bus : bus initiator (:data:`gammacore.rtl.bus.bus_signature`), out
    busy : Signal, out
        A command is executing or a response is being sent.
    frames_ok, replays, crc_errors, cobs_errors, bad_opcodes, bad_lengths, bus_errors : Signal(16), out
        Counters (wrapping): commands answered (replays included), retried commands answered
        from the stored response, frames with a bad CRC or shorter than 4 bytes, frames cut by a
        delimiter inside a COBS block, answered BAD_OPCODE, answered BAD_LENGTH or BAD_FLAGS,
        answered BUS_ERROR.
    """

    def __init__(self, rx_fifo_depth=None, window=P.WINDOW, registered=True):
        if not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= 16 \
                or window & (window - 1):
            raise ValueError(f"window must be a power of two in 1..16, not {window!r}")
        if rx_fifo_depth is None:
            rx_fifo_depth = P.RX_BUFFER if window > 1 else 32
        if not isinstance(rx_fifo_depth, int) or rx_fifo_depth < 2:
            raise ValueError(f"rx_fifo_depth must be an integer >= 2, not {rx_fifo_depth!r}")
        self.rx_fifo_depth, self.window, self.registered = rx_fifo_depth, window, registered
        #: the receive buffer PING names: the largest power of two not above rx_fifo_depth
        self.rx_bytes = 1 << (rx_fifo_depth.bit_length() - 1)
        super().__init__({
            "i": In(stream.Signature(8)),
            "o": Out(stream.Signature(8)),
            "bus": Out(bus_signature),
            "busy": Out(1),
            **{name: Out(16) for name in COUNTERS},
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx_fifo = rx_fifo = BlockFIFO(width=8, depth=self.rx_fifo_depth)
        m.submodules.tx_fifo = tx_fifo = BlockFIFO(width=8, depth=16)
        m.submodules.cobs = cobs = CobsDecoder()
        m.submodules.frame_mem = frame_mem = ram(shape=32, depth=P.MAX_WORDS)
        W = self.window
        slot_bits = W.bit_length() - 1
        info_word = P.ping_info_word(W, self.rx_bytes)
        m.submodules.resp_mem = resp_mem = ram(shape=32, depth=W * P.MAX_WORDS)
        frame_wr, frame_rd = frame_mem.write_port(), read_port(m, frame_mem, "frame_rd")
        m.d.comb += frame_rd.en.eq(0)
        resp_wr, resp_rd = resp_mem.write_port(), read_port(m, resp_mem, "resp_rd")
        if self.registered:
            # the executor's writes registered before the memory's write port: a word lands a
            # clock later (a write is followed by LAND, so the buffer is final when its response
            # starts); for Fmax, the bus's acknowledgement does not also meet the block RAM
            port, resp_wr = resp_wr, WritePort.Signature(addr_width=len(resp_wr.addr), shape=32).create(
                path=("resp_wr_req",))
            m.d.sync += [port.addr.eq(resp_wr.addr), port.data.eq(resp_wr.data), port.en.eq(resp_wr.en)]
        after_write = "LAND" if self.registered else "RESPOND"    # the state after a response word's write

        m.d.comb += [rx_fifo.w_data.eq(self.i.payload), rx_fifo.w_en.eq(self.i.valid),
                     self.i.ready.eq(rx_fifo.w_rdy)]
        if self.registered:
            # one register stage (a byte per clock): loaded when empty or taken
            rx_valid, rx_byte = Signal(), Signal(8)
            rx_load = Signal()
            m.d.comb += [rx_load.eq(~rx_valid | cobs.i.ready), rx_fifo.r_en.eq(rx_load),
                         cobs.i.payload.eq(rx_byte), cobs.i.valid.eq(rx_valid)]
            with m.If(rx_load):
                m.d.sync += [rx_valid.eq(rx_fifo.r_rdy), rx_byte.eq(rx_fifo.r_data)]
        else:
            m.d.comb += [cobs.i.payload.eq(rx_fifo.r_data), cobs.i.valid.eq(rx_fifo.r_rdy),
                         rx_fifo.r_en.eq(cobs.i.ready)]
        m.d.comb += [self.o.payload.eq(tx_fifo.r_data), self.o.valid.eq(tx_fifo.r_rdy),
                     tx_fifo.r_en.eq(self.o.ready)]

        # --- response buffer (shared by the executor, which fills it, and the sender) -------
        r_op, r_seq, r_status, r_done = (Signal(8, name=f"r_{n}") for n in ("op", "seq", "status", "done"))
        r_nwords = Signal(range(P.MAX_WORDS + 1))
        send_start = Signal()
        sending = Signal()

        # --- receiver and executor ----------------------------------------------------------
        length = Signal(_LEN_BITS)          # decoded bytes so far, saturating at MAX_COMMAND_LEN + 1
        crc = Signal(16, init=0xFFFF)
        opcode, seq, count, flags = (Signal(8, name=n) for n in ("opcode", "seq", "count", "flags"))
        addr = Signal(ADDR_WIDTH)
        tail = Signal(16)                   # last two bytes: the frame's CRC
        acc = Signal(24)
        lane = Signal(2)
        widx = Signal(range(P.MAX_WORDS + 1))
        last_valid = Signal()
        last_op, last_seq = Signal(8), Signal(8)
        last_len, last_tail = Signal(_LEN_BITS), Signal(16)
        index = Signal(range(P.MAX_WORDS + 1))
        status = Signal(8)

        tok = cobs.o.payload
        byte = tok.data
        oversize = length > P.MAX_COMMAND_LEN
        n_payload = Mux(opcode == P.Opcode.WRITE, count, 0)
        length_ok = ((count >= 1) & (count <= P.MAX_WORDS) & ~oversize
                     & (length == P.HEADER_LEN + P.CRC_LEN + (n_payload << 2)))
        with m.If(opcode == P.Opcode.PING):
            m.d.comb += status.eq(Mux(length == 2 + P.CRC_LEN, P.Status.OK, P.Status.BAD_LENGTH))
        with m.Elif((opcode == P.Opcode.WRITE) | (opcode == P.Opcode.READ)):
            m.d.comb += status.eq(Mux(~length_ok, P.Status.BAD_LENGTH,
                                      Mux(flags[1:] != 0, P.Status.BAD_FLAGS, P.Status.OK)))
        with m.Else():
            m.d.comb += status.eq(P.Status.BAD_OPCODE)
        replay = (last_valid & (last_op == opcode) & (last_seq == seq) & (last_len == length)
                  & (last_tail == tail))
        bus_addr = (addr + Mux(flags[0], 0, index))[:ADDR_WIDTH]
        # the checks are registered: their inputs are final from the END token's clock on, and
        # CHECK comes a clock later (on the iCE40 the checks and what CHECK does with them
        # were one 52 ns path)
        status_q, replay_q = Signal(8), Signal()
        if W > 1:
            # the window: expect, and per slot the stored command's key and response header
            expect = Signal(8)
            slot = seq[:slot_bits]
            s_valid = Signal(W)
            s_op, s_tail, s_status, s_done = (Array(Signal(w, name=f"s_{n}{k}") for k in range(W))
                                              for n, w in (("op", 8), ("tail", 16), ("status", 8), ("done", 8)))
            s_len = Array(Signal(_LEN_BITS, name=f"s_len{k}") for k in range(W))
            s_nwords = Array(Signal(range(P.MAX_WORDS + 1), name=f"s_nwords{k}") for k in range(W))
            behind = (expect - seq)[:8]
            is_ping = opcode == P.Opcode.PING
            replay = (~is_ping & (behind >= 1) & (behind <= W) & s_valid.bit_select(slot, 1)
                      & (s_op[slot] == opcode) & (s_len[slot] == length) & (s_tail[slot] == tail))
            out_of_order = ~is_ping & (seq != expect)
            out_of_order_q = Signal()
            m.d.sync += out_of_order_q.eq(out_of_order)
            exec_slot, send_slot, store = Signal(slot_bits), Signal(slot_bits), Signal()
        m.d.sync += [status_q.eq(status), replay_q.eq(replay)]

        m.d.comb += [frame_wr.addr.eq(widx), frame_wr.data.eq(Cat(byte, acc)),
                     frame_rd.addr.eq(index)]

        def reset_frame():
            m.d.sync += [length.eq(0), crc.eq(0xFFFF), lane.eq(0), widx.eq(0)]

        with m.FSM(name="exec") as exec_fsm:
            with m.State("RECEIVE"):
                m.d.comb += cobs.o.ready.eq(1)
                with m.If(cobs.o.valid & (tok.kind == Token.BYTE)):
                    with m.If(~oversize):
                        m.d.sync += length.eq(length + 1)
                    m.d.sync += [crc.eq(crc16_next(crc, byte)), tail.eq(Cat(byte, tail[:8]))]
                    with m.Switch(length):
                        with m.Case(0):
                            m.d.sync += opcode.eq(byte)
                        with m.Case(1):
                            m.d.sync += seq.eq(byte)
                        with m.Case(2):
                            m.d.sync += addr[16:24].eq(byte)
                        with m.Case(3):
                            m.d.sync += addr[8:16].eq(byte)
                        with m.Case(4):
                            m.d.sync += addr[0:8].eq(byte)
                        with m.Case(5):
                            m.d.sync += count.eq(byte)
                        with m.Case(6):
                            m.d.sync += flags.eq(byte)
                        with m.Default():
                            m.d.sync += [acc.eq(Cat(byte, acc[:16])), lane.eq(lane + 1)]
                            with m.If((lane == 3) & (widx < P.MAX_WORDS)):
                                m.d.comb += frame_wr.en.eq(1)
                                m.d.sync += widx.eq(widx + 1)
                with m.If(cobs.o.valid & (tok.kind == Token.ABORT)):
                    m.d.sync += self.cobs_errors.eq(self.cobs_errors + 1)
                    reset_frame()
                with m.If(cobs.o.valid & (tok.kind == Token.END)):
                    with m.If((length >= 4) & (crc == 0)):
                        m.next = "CHECK"
                    with m.Else():
                        with m.If(length != 0):
                            m.d.sync += self.crc_errors.eq(self.crc_errors + 1)
                        reset_frame()
            with m.State("CHECK"):
                with m.If(~sending):
                    m.d.sync += [index.eq(0), self.frames_ok.eq(self.frames_ok + 1)]
                    if W > 1:
                        m.d.sync += [store.eq(0), exec_slot.eq(slot), send_slot.eq(slot)]
                    with m.If(replay_q):
                        m.d.sync += self.replays.eq(self.replays + 1)
                        if W > 1:
                            m.d.sync += [r_op.eq(opcode | P.RESPONSE), r_seq.eq(seq), r_status.eq(s_status[slot]),
                                         r_done.eq(s_done[slot]), r_nwords.eq(s_nwords[slot])]
                        m.next = "RESPOND"
                    if W > 1:
                        with m.Elif(out_of_order_q):
                            m.d.sync += [r_op.eq(opcode | P.RESPONSE), r_seq.eq(seq),
                                         r_status.eq(P.Status.SEQUENCE), r_done.eq(expect), r_nwords.eq(0)]
                            m.next = "RESPOND"
                    with m.Else():
                        if W == 1:
                            m.d.sync += [last_valid.eq(1), last_op.eq(opcode), last_seq.eq(seq),
                                         last_len.eq(length), last_tail.eq(tail)]
                        else:
                            # stored and counted in RESPOND (a PING is not: it changes nothing)
                            m.d.sync += store.eq(opcode != P.Opcode.PING)
                        m.d.sync += [r_op.eq(opcode | P.RESPONSE), r_seq.eq(seq), r_status.eq(status_q),
                                     r_done.eq(0), r_nwords.eq(0)]
                        with m.If(status_q == P.Status.BAD_OPCODE):
                            m.d.sync += self.bad_opcodes.eq(self.bad_opcodes + 1)
                        with m.If((status_q == P.Status.BAD_LENGTH) | (status_q == P.Status.BAD_FLAGS)):
                            m.d.sync += self.bad_lengths.eq(self.bad_lengths + 1)
                        with m.If(status_q != P.Status.OK):
                            m.next = "RESPOND"
                        with m.Elif(opcode == P.Opcode.PING):
                            if W == 1:
                                m.d.comb += [resp_wr.addr.eq(0), resp_wr.data.eq(info_word), resp_wr.en.eq(1)]
                            else:
                                # the slot of expect: its response is the next one overwritten
                                m.d.comb += [resp_wr.addr.eq(Cat(Const(0, 6), expect[:slot_bits])),
                                             resp_wr.data.eq(info_word | (expect << 8)), resp_wr.en.eq(1)]
                                m.d.sync += [s_valid.bit_select(expect[:slot_bits], 1).eq(0),
                                             send_slot.eq(expect[:slot_bits])]
                            m.d.sync += [r_done.eq(1), r_nwords.eq(1)]
                            m.next = after_write
                        with m.Elif(opcode == P.Opcode.WRITE):
                            m.next = "W_FETCH"
                        with m.Else():
                            m.next = "R_REQ"
            with m.State("W_FETCH"):
                # frame_rd.addr follows index: its data is valid from the next cycle (the
                # frame memory is read only here; nothing writes it while a frame executes)
                m.d.comb += frame_rd.en.eq(1)
                m.next = "W_REQ"
            with m.State("W_REQ"):
                m.d.sync += [self.bus.addr.eq(bus_addr), self.bus.w_data.eq(frame_rd.data),
                             self.bus.we.eq(1)]
                m.next = "W_WAIT"
            with m.State("W_WAIT"):
                with m.If(self.bus.ack):
                    m.d.sync += self.bus.we.eq(0)
                    with m.If(self.bus.err):
                        m.next = "BUS_ERROR"
                    with m.Else():
                        m.d.sync += [index.eq(index + 1), r_done.eq(index + 1)]
                        m.next = "W_FETCH"
                        with m.If(index + 1 == count):
                            m.next = "RESPOND"
            with m.State("R_REQ"):
                m.d.sync += [self.bus.addr.eq(bus_addr), self.bus.re.eq(1)]
                m.next = "R_WAIT"
            with m.State("R_WAIT"):
                with m.If(self.bus.ack):
                    m.d.sync += self.bus.re.eq(0)
                    with m.If(self.bus.err):
                        m.next = "BUS_ERROR"
                    with m.Else():
                        m.d.comb += [resp_wr.addr.eq(index if W == 1 else Cat(index[:6], exec_slot)),
                                     resp_wr.data.eq(self.bus.r_data), resp_wr.en.eq(1)]
                        m.d.sync += [index.eq(index + 1), r_done.eq(index + 1), r_nwords.eq(index + 1)]
                        m.next = "R_REQ"
                        with m.If(index + 1 == count):
                            m.next = after_write
            with m.State("BUS_ERROR"):
                m.d.sync += [r_status.eq(P.Status.BUS_ERROR), self.bus_errors.eq(self.bus_errors + 1)]
                m.next = "RESPOND"
            if self.registered:
                with m.State("LAND"):
                    # the last response word lands (the writes are registered): the buffer is
                    # final when its response starts
                    m.next = "RESPOND"
            with m.State("RESPOND"):
                m.d.comb += send_start.eq(1)
                if W > 1:
                    with m.If(store):
                        m.d.sync += [s_valid.bit_select(exec_slot, 1).eq(1), s_op[exec_slot].eq(opcode),
                                     s_len[exec_slot].eq(length), s_tail[exec_slot].eq(tail),
                                     s_status[exec_slot].eq(r_status), s_done[exec_slot].eq(r_done),
                                     s_nwords[exec_slot].eq(r_nwords), expect.eq(expect + 1)]
                reset_frame()
                m.next = "RECEIVE"

        # --- sender: COBS encoding of the response buffer, CRC on the fly -----------------
        # response length and CRC positions, registered at the start (off the critical path)
        total, crc_hi, crc_lo = (Signal(range(P.MAX_RESPONSE_LEN + 1), name=n)
                                 for n in ("total", "crc_hi", "crc_lo"))
        pos = Signal(range(P.MAX_RESPONSE_LEN + 1))
        blk = Signal(range(P.MAX_RESPONSE_LEN + 1))         # first byte of the current block
        blk_end = Signal(range(P.MAX_RESPONSE_LEN + 1))     # one past its last data byte
        nxt = Signal(range(P.MAX_RESPONSE_LEN + 1))         # first byte of the next block
        final = Signal()
        code = Signal(8)
        tcrc = Signal(16, init=0xFFFF)
        # byte pos >= 4 is in word pos // 4 - 1, lane pos % 4; the read data is that word's
        # when pos // 4 has not changed since the last clock (no subtraction on this path)
        loaded = Signal.like(pos[2:])
        # (read only while sending: the response memory is written only while not)
        word_at = (pos[2:] - 1)[:6]
        m.d.comb += [resp_rd.addr.eq(word_at if W == 1 else Cat(word_at, send_slot)), resp_rd.en.eq(sending)]
        m.d.sync += loaded.eq(pos[2:])
        word = resp_rd.data
        if self.registered:
            # the word read is registered before its byte is chosen (for Fmax: the block RAM's
            # clock-to-out ends there, not in the CRC and the block decisions); it is the
            # word of pos // 4 when that has not changed for two clocks
            word = Signal.like(resp_rd.data, name="resp_word")
            loaded_r = Signal.like(loaded)
            m.d.sync += [word.eq(resp_rd.data), loaded_r.eq(loaded)]
            loaded = loaded_r
        cur = Signal(8)
        cur_valid = Signal()
        lane_bytes = [word[24 - 8 * k:32 - 8 * k] for k in range(4)]
        with m.If(pos < 4):
            m.d.comb += [cur_valid.eq(1),
                         cur.eq(Mux(pos == 0, r_op, Mux(pos == 1, r_seq, Mux(pos == 2, r_status, r_done))))]
        with m.Elif(pos == crc_hi):
            m.d.comb += [cur_valid.eq(1), cur.eq(tcrc[8:])]
        with m.Elif(pos == crc_lo):
            m.d.comb += [cur_valid.eq(1), cur.eq(tcrc[:8])]
        with m.Else():
            m.d.comb += [cur_valid.eq(loaded == pos[2:]),
                         cur.eq(Mux(pos[:2] == 0, lane_bytes[0],
                                    Mux(pos[:2] == 1, lane_bytes[1],
                                        Mux(pos[:2] == 2, lane_bytes[2], lane_bytes[3]))))]

        m.d.comb += self.busy.eq(sending | ~exec_fsm.ongoing("RECEIVE"))
        with m.FSM(name="send"):
            with m.State("IDLE"):
                with m.If(send_start):
                    m.d.sync += [sending.eq(1), pos.eq(0), blk.eq(0), tcrc.eq(0xFFFF),
                                 crc_hi.eq(4 + (r_nwords << 2)), crc_lo.eq(5 + (r_nwords << 2)),
                                 total.eq(6 + (r_nwords << 2))]
                    m.next = "SCAN"
            with m.State("SCAN"):
                with m.If(pos == total):
                    m.d.sync += [code.eq(pos - blk + 1), blk_end.eq(pos), final.eq(1)]
                    m.next = "CODE"
                with m.Elif(cur_valid):
                    with m.If(pos < crc_hi):
                        m.d.sync += tcrc.eq(crc16_next(tcrc, cur))
                    m.d.sync += pos.eq(pos + 1)
                    with m.If(cur == 0):
                        m.d.sync += [code.eq(pos - blk + 1), blk_end.eq(pos), nxt.eq(pos + 1), final.eq(0)]
                        m.next = "CODE"
                    with m.Elif(pos - blk == 253):
                        m.d.sync += [code.eq(255), blk_end.eq(pos + 1), nxt.eq(pos + 1), final.eq(0)]
                        m.next = "CODE"
            with m.State("CODE"):
                m.d.comb += [tx_fifo.w_data.eq(code), tx_fifo.w_en.eq(1)]
                with m.If(tx_fifo.w_rdy):
                    m.d.sync += pos.eq(blk)
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(pos == blk_end):
                    m.d.sync += [pos.eq(nxt), blk.eq(nxt)]
                    m.next = "SCAN"
                    with m.If(final):
                        m.next = "DELIMIT"
                with m.Elif(cur_valid):
                    m.d.comb += [tx_fifo.w_data.eq(cur), tx_fifo.w_en.eq(1)]
                    with m.If(tx_fifo.w_rdy):
                        m.d.sync += pos.eq(pos + 1)
            with m.State("DELIMIT"):
                m.d.comb += [tx_fifo.w_data.eq(0), tx_fifo.w_en.eq(1)]
                with m.If(tx_fifo.w_rdy):
                    m.d.sync += sending.eq(0)
                    m.next = "IDLE"
        return m
