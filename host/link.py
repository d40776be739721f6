"""Host side of the UART link: word reads and writes on the chip's bus, framed, windowed, retried.

:class:`Link` keeps up to a window of commands in flight (:mod:`gammacore.protocol`, "The window
and retries"): it learns the window, the link's receive buffer and the seq the link executes
next from a PING before its first command, then sends commands back to back - at most
``window`` of them, and after the oldest unanswered one at most the receive buffer's bytes
(the frames that wait there while the link executes one) - and collects the
responses in order. The link executes commands strictly in seq order:

- a command whose response does not come in time (the command or the response was damaged or
  lost) is sent again with the same ``seq``, after a 0x00 that resynchronises the receiver,
  together with every later command in flight that has no response yet (go-back-N); a command
  the link executed already is answered from its replay cache, not executed again, a WRITE to
  a FIFO port included;
- a ``SEQUENCE`` answer (a command before it was lost) sends again from the seq the link
  names;
- responses that arrive late (to an earlier attempt or command) and garbage between frames are
  dropped.

A link gateware with a window of 1 gets one command at a time (stop and wait), as a version 1
host did.

:meth:`Link.write` and :meth:`Link.read` split long transfers into frames of
:data:`gammacore.protocol.MAX_WORDS` words, pipelined. :meth:`Link.pipeline` runs a list of
transfers the same way - the host never waits a round trip between them - and
:meth:`Link.read_many` reads several address ranges in one pipeline (batched reads);
:meth:`Link.post` sends writes without waiting for them, their responses collected by the next
transfer (or :meth:`Link.flush`). If a
frame fails (bus error, retries exhausted) the exception says how many words of its transfer
were transferred, so a caller never mistakes a partly done transfer for a done one; in a
pipeline the frames sent after the failing one were executed too (the link does not know
they depend on it): the exception names the failing transfer (``index``).
"""
import os

from .. import protocol as P

__all__ = ["Link", "LinkError", "LinkTimeout", "BusError"]


class LinkError(Exception):
    """The link did not complete a transfer. ``done``: words transferred before the failure;
    ``index``: the transfer of a :meth:`Link.pipeline` that failed (0 outside one)."""

    def __init__(self, msg, done=0, index=0):
        super().__init__(msg)
        self.done, self.index = done, index


class LinkTimeout(LinkError):
    """No valid response after every retry."""


class BusError(LinkError):
    """The chip refused a word (``addr``): unmapped address, empty FIFO, chip busy."""

    def __init__(self, msg, done, addr, index=0):
        super().__init__(msg, done, index)
        self.addr = addr


class _Frame:
    """One command frame of an exchange: its transfer, encoder, seq and wire bytes once sent."""
    __slots__ = ("opcode", "encode", "index", "addr", "count", "start", "fixed", "seq", "wire",
                 "attempts", "stamp", "deadline", "response", "went_back")

    def __init__(self, opcode, encode, index=0, addr=0, count=0, start=0, fixed=False):
        self.opcode, self.encode, self.index = opcode, encode, index
        self.addr, self.count, self.start, self.fixed = addr, count, start, fixed
        self.seq = self.wire = self.response = None
        self.attempts = self.stamp = 0
        self.went_back = False          # sent again for a SEQUENCE answer, not timed out since
        self.deadline = 0.0


class Link:
    """The chip's word bus over a byte transport.

    Parameters
    ----------
    transport : object with ``write(bytes)`` and ``read(n) -> bytes`` (returning what has
        arrived, possibly nothing, after a short wait), such as
        :func:`gammacore.host.transport.open_transport`'s result.
    timeout : float
        Seconds to wait for each response (from the last time its command was sent).
    retries : int
        Extra attempts per command after a timeout.
    clock : callable returning seconds (for tests); default ``time.monotonic``.
    window : int or None
        At most this many commands in flight; default (None) the link's window (PING). 1 is
        stop and wait.
    """

    def __init__(self, transport, timeout=0.5, retries=3, clock=None, window=None):
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be a non-negative integer, not {retries!r}")
        if window is not None and (not isinstance(window, int) or isinstance(window, bool) or window < 1):
            raise ValueError(f"window must be a positive integer or None, not {window!r}")
        if clock is None:
            import time
            clock = time.monotonic
        self.transport, self.timeout, self.retries, self.clock = transport, timeout, retries, clock
        self.max_window = window
        # a random first seq: a new session never repeats the last command of an earlier one
        # (a window > 1 starts at the seq its PING names instead)
        self._seq = os.urandom(1)[0]
        self._rx = b""
        self._resync = True
        self._info = None               # PingInfo once synchronised
        self._posted = []               # frames sent by post() whose responses are not in yet
        self._unchecked = []            # frames of post() not checked yet (by the next exchange)
        self._stamp = 0
        self._stats = {"commands": 0, "retries": 0, "bad_frames": 0, "stale": 0, "sequence": 0,
                       "round_trips": 0}

    def stats(self):
        """Counts so far: commands sent, retries (frames sent again), bad frames and stale
        responses dropped, SEQUENCE answers, round trips (frames sent with nothing in flight:
        the host waited a whole round trip before each; a pipeline on a clean line is one, a
        stop-and-wait transfer one per frame)."""
        return dict(self._stats)

    @property
    def window(self):
        """Commands in flight (after the first command or :meth:`ping`; None before)."""
        if self._info is None:
            return None
        return min(self._info.window, self.max_window or self._info.window)

    # --- word API (the same as MmioWindow's) ----------------------------------------------
    def write(self, addr, words, fixed=False):
        """Write ``words`` at ``addr`` (all at ``addr`` if ``fixed``: a FIFO port)."""
        self.pipeline([("write", addr, words, fixed)])

    def read(self, addr, count, fixed=False):
        """Read ``count`` words from ``addr`` (all from ``addr`` if ``fixed``)."""
        return self.pipeline([("read", addr, count, fixed)])[0]

    def read_many(self, ranges):
        """Read several ``(addr, count)`` ranges in one pipeline; a list of word lists."""
        return self.pipeline([("read", addr, count) for addr, count in ranges])

    def pipeline(self, ops):
        """Run transfers without a round trip between them; returns their results in order.

        ``ops``: ``("write", addr, words[, fixed])`` (result None) and ``("read", addr,
        count[, fixed])`` (result the words read). The link executes them in this order.
        Raises :class:`BusError` or :class:`LinkError` for the first transfer that failed
        (``index``), :class:`LinkTimeout` when a frame went unanswered after every retry.
        """
        frames, results = self._frames(ops, "pipeline", ("write", "read"))
        if not frames and not self._posted and not self._unchecked:
            return results
        posted, self._unchecked = self._unchecked, []
        self._exchange(frames)
        self._check(posted, [None] * (max((fr.index for fr in posted), default=-1) + 1), "posted ")
        return self._check(frames, results)

    def post(self, ops):
        """Send writes without waiting for their responses: ``ops`` as :meth:`pipeline`'s,
        writes only. The next :meth:`pipeline` (any transfer) or :meth:`flush` collects the
        responses, in order before its own, and raises for a posted write that failed (the
        exception's message says "posted", ``index`` is the write's in ``ops``). A step's
        learning pass goes out this way with the next step's events behind it."""
        frames, _ = self._frames(ops, "post", ("write",))
        if frames:
            self._unchecked += frames
            self._exchange(frames, wait=False)

    def flush(self):
        """Collect the responses of every :meth:`post` ed write; raises for the first that failed."""
        self.pipeline([])

    def _frames(self, ops, what, kinds):
        frames, results = [], []
        for index, op in enumerate(ops):
            if not isinstance(op, (tuple, list)) or len(op) not in (3, 4) or op[0] not in kinds:
                raise ValueError(f"{what} op {index} must be "
                                 + " or ".join(f"('{k}', addr, {'words' if k == 'write' else 'count'}[, fixed])"
                                               for k in kinds) + f", not {op!r}")
            kind, addr, arg = op[:3]
            fixed = bool(op[3]) if len(op) == 4 else False
            flags = P.Flags.FIXED if fixed else 0
            if kind == "write":
                words = [int(w) for w in arg]
                self._check_range(addr, len(words), fixed)
                for w in words:
                    if not 0 <= w < 1 << 32:
                        raise ValueError(f"words must be unsigned 32-bit integers, not {w!r}")
                for start in range(0, len(words), P.MAX_WORDS):
                    chunk = words[start:start + P.MAX_WORDS]
                    a = addr if fixed else addr + start
                    frames.append(_Frame(P.Opcode.WRITE, lambda seq, a=a, c=chunk, f=flags: P.write(seq, a, c, f),
                                         index, a, len(chunk), start, fixed))
                results.append(None)
            else:
                self._check_range(addr, arg, fixed)
                for start in range(0, arg, P.MAX_WORDS):
                    n = min(P.MAX_WORDS, arg - start)
                    a = addr if fixed else addr + start
                    frames.append(_Frame(P.Opcode.READ, lambda seq, a=a, n=n, f=flags: P.read(seq, a, n, f),
                                         index, a, n, start, fixed))
                results.append([])
        return frames, results

    @staticmethod
    def _check(frames, results, posted=""):
        """``results`` filled from the frames' responses; raises for the first failure in order
        (the frames after it were executed too)."""
        for fr in frames:
            resp, what = fr.response, f"{posted}{fr.opcode.name} of {fr.count} words at {fr.addr:#x}"
            if resp.status == P.Status.BUS_ERROR:
                bad = fr.addr if fr.fixed else fr.addr + resp.done
                raise BusError(f"the chip refused {posted}{fr.opcode.name} word {resp.done} of {fr.count} at "
                               f"{fr.addr:#x}; {fr.start + resp.done} words of the transfer were done",
                               fr.start + resp.done, bad, fr.index)
            if resp.status != P.Status.OK or resp.done != fr.count:
                raise LinkError(f"{what} answered {resp!r}", fr.start, fr.index)
            if fr.opcode == P.Opcode.READ:
                if len(resp.words) != fr.count:
                    raise LinkError(f"{what} answered {len(resp.words)} words", fr.start, fr.index)
                results[fr.index] += resp.words
        return results

    def ping(self):
        """(protocol version, most words per frame) of the gateware; checks the version and
        learns the window (:attr:`window`), the receive buffer and the next seq."""
        if self._posted:
            self.flush()
        fr = _Frame(P.Opcode.PING, lambda seq: P.ping(seq))
        self._exchange([fr], ping=True)
        resp = fr.response
        if resp.status != P.Status.OK or len(resp.words) != 1:
            raise LinkError(f"PING answered {resp!r}")
        info = P.ping_info(resp.words[0])
        if info.version != P.VERSION:
            raise LinkError(f"the gateware speaks protocol version {info.version}, this host {P.VERSION}")
        self._info = info
        if info.window > 1:
            self._seq = (info.next_seq - 1) % 256
        return info.version, info.max_words

    # --- framing --------------------------------------------------------------------------
    @staticmethod
    def _check_range(addr, count, fixed):
        if not isinstance(addr, int) or not 0 <= addr < 1 << P.ADDR_BITS:
            raise ValueError(f"address must be in 0..{(1 << P.ADDR_BITS) - 1:#x}, not {addr!r}")
        if not isinstance(count, int) or count < 0:
            raise ValueError(f"word count must be a non-negative integer, not {count!r}")
        if not fixed and addr + count > 1 << P.ADDR_BITS:
            raise ValueError(f"{count} words at {addr:#x} run past the end of the address space")

    def _send(self, frames, resync):
        data = b"\x00" if resync or self._resync else b""
        self._resync = False
        now = self.clock()
        for fr in frames:
            self._stamp += 1
            fr.stamp, fr.deadline = self._stamp, now + self.timeout
            data += fr.wire
        self.transport.write(data)

    def _exchange(self, frames, ping=False, wait=True):
        """Send ``frames`` (a window at a time) until each has its response (``.response``);
        without ``wait``, until each is sent (the rest wait in ``_posted`` for the next
        exchange, which takes them up first)."""
        if not ping and self._info is None:
            self.ping()
        if ping:
            window, budget = 1, None
        else:
            window = self.window
            budget = self._info.rx_bytes if window > 1 else None
        carried = [] if ping else self._posted      # a PING is not sequenced: it needs no order
        now = self.clock()
        for fr in carried:              # their timeouts run from now, when the host waits
            fr.deadline = max(fr.deadline, now + self.timeout)
        frames = carried + list(frames)
        base, sent = 0, len(carried)
        if not ping:
            self._posted = []
        n = len(frames)
        while base < n and (wait or sent < n):
            # send what the window and the receive buffer allow (always one frame)
            # (the receive buffer holds the frames that come while the link executes one: the
            # frames after the oldest unanswered one)
            batch = []
            in_flight = sum(len(fr.wire) for fr in frames[base + 1:sent])
            if not wait and sent == n:
                break
            while sent < n and sent - base < window:
                fr = frames[sent]
                if fr.wire is None:
                    if ping:
                        fr.seq = self._seq      # PING changes nothing: its seq is not used up
                        if self._info is None or self._info.window == 1:
                            self._seq = (self._seq + 1) % 256
                    else:
                        self._seq = (self._seq + 1) % 256
                        fr.seq = self._seq
                    fr.wire = fr.encode(fr.seq)
                    self._stats["commands"] += 1
                if sent > base:
                    if budget is not None and in_flight + len(fr.wire) > budget:
                        break
                    in_flight += len(fr.wire)
                batch.append(fr)
                sent += 1
            if batch:
                if sent - len(batch) == base:       # nothing was in flight: a new round trip
                    self._stats["round_trips"] += 1
                self._send(batch, False)
            if not wait and sent == n:
                break
            oldest = frames[base]
            resp = self._next_response(oldest.deadline)
            if resp is None:                    # the oldest timed out: go back to it
                oldest.attempts += 1
                if oldest.attempts > self.retries:
                    self._resync = True
                    self._posted, self._unchecked = [], []
                    self._info = None if not ping else self._info   # synchronise again (PING)
                    raise LinkTimeout(f"no response to seq {oldest.seq} after {self.retries + 1} attempts "
                                      f"of {self.timeout} s; {oldest.start} words of the transfer were done",
                                      oldest.start, oldest.index)
                oldest.went_back = False
                self._go_back(frames, base, sent)
                continue
            match = next((fr for fr in frames[base:sent] if fr.seq == resp.seq and fr.opcode == resp.opcode), None)
            if match is None or match.response is not None:
                self._stats["stale"] += 1
                continue
            if resp.status == P.Status.SEQUENCE:
                self._stats["sequence"] += 1
                first = next((k for k in range(base, sent) if frames[k].seq == resp.done), None)
                if first is None and 0 < (frames[base].seq - resp.done) % 256 < 128:
                    self._stats["stale"] += 1   # a late answer: the link has executed frame base since
                    continue
                if first is None:
                    self._info = None       # out of step with the link: PING again next time
                    self._resync = True
                    self._posted, self._unchecked = [], []
                    raise LinkError(f"the link expects seq {resp.done}, not one of this exchange's "
                                    f"({frames[base].seq}..{frames[sent - 1].seq})", frames[base].start,
                                    frames[base].index)
                # the answers to the other frames sent after the lost one say the same: go back
                # once, then wait for the frame's response or its timeout
                if not frames[first].went_back:
                    frames[first].went_back = True
                    self._go_back(frames, first, sent)
                continue
            match.response = resp
            while base < n and frames[base].response is not None:
                base += 1
        if not wait:
            self._posted = frames[base:]

    def _go_back(self, frames, first, sent):
        again = [fr for fr in frames[first:sent] if fr.response is None]
        self._stats["retries"] += len(again)
        self._send(again, True)

    def _next_response(self, deadline):
        """The next response that decodes, or None at ``deadline``."""
        while True:
            while b"\x00" in self._rx:
                raw, self._rx = self._rx.split(b"\x00", 1)
                if not raw:
                    continue
                try:
                    return P.decode_response(P.unframe(raw))
                except P.ProtocolError:
                    self._stats["bad_frames"] += 1
            if self.clock() >= deadline:
                self._rx = b""      # a partial frame: its rest ends as a bad frame, dropped
                return None
            waiting = getattr(self.transport, "in_waiting", 0)
            self._rx += self.transport.read(max(1, waiting))
            if len(self._rx) > 4 * P.MAX_ENCODED_LEN:     # a line of garbage without delimiter
                self._rx = self._rx[-P.MAX_ENCODED_LEN:]
