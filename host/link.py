"""Host side of the UART link: word reads and writes on the chip's bus, framed and retried.

:class:`Link` sends one command at a time (stop and wait) and waits for the response with the
same ``seq``. Any command whose response does not come in time - the command or the response
was damaged or lost - is sent again with the same ``seq`` after a 0x00 that resynchronises the
receiver. Retries are safe for every command, a WRITE to a FIFO port included: the link
gateware answers a repeat of the command it executed last from its stored response without
executing it again (see :mod:`gammacore.protocol`). Responses that arrive late (to an earlier
attempt or command) carry another ``seq`` and are dropped, as is garbage between frames.

Long transfers are split into frames of :data:`gammacore.protocol.MAX_WORDS` words. If one of
them fails (bus error, retries exhausted), the exception says how many words were transferred,
so a caller never mistakes a partly done transfer for a done one.
"""
import os

from .. import protocol as P

__all__ = ["Link", "LinkError", "LinkTimeout", "BusError"]


class LinkError(Exception):
    """The link did not complete a transfer. ``done``: words transferred before the failure."""

    def __init__(self, msg, done=0):
        super().__init__(msg)
        self.done = done


class LinkTimeout(LinkError):
    """No valid response after every retry."""


class BusError(LinkError):
    """The chip refused a word (``addr``): unmapped address, empty FIFO, chip busy."""

    def __init__(self, msg, done, addr):
        super().__init__(msg, done)
        self.addr = addr


class Link:
    """The chip's word bus over a byte transport.

    Parameters
    ----------
    transport : object with ``write(bytes)`` and ``read(n) -> bytes`` (returning what has
        arrived, possibly nothing, after a short wait), such as
        :func:`gammacore.host.transport.open_transport`'s result.
    timeout : float
        Seconds to wait for each response.
    retries : int
        Extra attempts per command after a timeout.
    clock : callable returning seconds (for tests); default ``time.monotonic``.
    """

    def __init__(self, transport, timeout=0.5, retries=3, clock=None):
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if not isinstance(retries, int) or retries < 0:
            raise ValueError(f"retries must be a non-negative integer, not {retries!r}")
        if clock is None:
            import time
            clock = time.monotonic
        self.transport, self.timeout, self.retries, self.clock = transport, timeout, retries, clock
        # a random first seq: a new session never repeats the last command of an earlier one
        self._seq = os.urandom(1)[0]
        self._rx = b""
        self._resync = True
        self._stats = {"commands": 0, "retries": 0, "bad_frames": 0, "stale": 0}

    def stats(self):
        """Counts so far: commands sent, retries, bad frames and stale responses dropped."""
        return dict(self._stats)

    # --- word API (the same as MmioWindow's) ----------------------------------------------
    def write(self, addr, words, fixed=False):
        """Write ``words`` at ``addr`` (all at ``addr`` if ``fixed``: a FIFO port)."""
        words = [int(w) for w in words]
        self._check_range(addr, len(words), fixed)
        flags = P.Flags.FIXED if fixed else 0
        for start in range(0, len(words), P.MAX_WORDS):
            chunk = words[start:start + P.MAX_WORDS]
            a = addr if fixed else addr + start
            self._transfer(P.Opcode.WRITE, a, len(chunk), start, fixed,
                           lambda seq: P.write(seq, a, chunk, flags))

    def read(self, addr, count, fixed=False):
        """Read ``count`` words from ``addr`` (all from ``addr`` if ``fixed``)."""
        self._check_range(addr, count, fixed)
        flags = P.Flags.FIXED if fixed else 0
        out = []
        for start in range(0, count, P.MAX_WORDS):
            n = min(P.MAX_WORDS, count - start)
            a = addr if fixed else addr + start
            resp = self._transfer(P.Opcode.READ, a, n, start, fixed, lambda seq: P.read(seq, a, n, flags))
            if len(resp.words) != n:
                raise LinkError(f"READ of {n} words at {a:#x} answered {len(resp.words)} words", start)
            out += resp.words
        return out

    def ping(self):
        """(protocol version, most words per frame) of the gateware; checks the version."""
        resp = self._command(P.Opcode.PING, lambda seq: P.ping(seq))
        if resp.status != P.Status.OK or len(resp.words) != 1:
            raise LinkError(f"PING answered {resp!r}")
        version, max_words = P.ping_info(resp.words[0])
        if version != P.VERSION:
            raise LinkError(f"the gateware speaks protocol version {version}, this host {P.VERSION}")
        return version, max_words

    # --- framing --------------------------------------------------------------------------
    @staticmethod
    def _check_range(addr, count, fixed):
        if not isinstance(addr, int) or not 0 <= addr < 1 << P.ADDR_BITS:
            raise ValueError(f"address must be in 0..{(1 << P.ADDR_BITS) - 1:#x}, not {addr!r}")
        if not isinstance(count, int) or count < 0:
            raise ValueError(f"word count must be a non-negative integer, not {count!r}")
        if not fixed and addr + count > 1 << P.ADDR_BITS:
            raise ValueError(f"{count} words at {addr:#x} run past the end of the address space")

    def _transfer(self, opcode, addr, count, start, fixed, encode):
        try:
            resp = self._command(opcode, encode)
        except LinkTimeout as exc:
            raise LinkTimeout(f"{opcode.name} of {count} words at {addr:#x}: {exc}; "
                              f"{start} words of the transfer were done", start) from None
        if resp.status == P.Status.BUS_ERROR:
            bad = addr if fixed else addr + resp.done
            raise BusError(f"the chip refused {opcode.name} word {resp.done} of {count} at {addr:#x}; "
                           f"{start + resp.done} words of the transfer were done",
                           start + resp.done, bad)
        if resp.status != P.Status.OK or resp.done != count:
            raise LinkError(f"{opcode.name} of {count} words at {addr:#x} answered {resp!r}", start)
        return resp

    def _command(self, opcode, encode):
        """Send a command until its response arrives; returns the :class:`Response`."""
        self._seq = (self._seq + 1) % 256
        seq = self._seq
        wire = encode(seq)
        self._stats["commands"] += 1
        for attempt in range(self.retries + 1):
            if attempt:
                self._stats["retries"] += 1
            self.transport.write((b"\x00" if self._resync or attempt else b"") + wire)
            self._resync = False
            resp = self._wait(seq, opcode)
            if resp is not None:
                return resp
        self._resync = True
        raise LinkTimeout(f"no response to seq {seq} after {self.retries + 1} attempts "
                          f"of {self.timeout} s")

    def _wait(self, seq, opcode):
        deadline = self.clock() + self.timeout
        while True:
            while b"\x00" in self._rx:
                raw, self._rx = self._rx.split(b"\x00", 1)
                if not raw:
                    continue
                try:
                    resp = P.decode_response(P.unframe(raw))
                except P.ProtocolError:
                    self._stats["bad_frames"] += 1
                    continue
                if resp.seq == seq and resp.opcode == opcode:
                    return resp
                self._stats["stale"] += 1
            if self.clock() >= deadline:
                self._rx = b""      # a partial frame: its rest ends as a bad frame, dropped
                return None
            waiting = getattr(self.transport, "in_waiting", 0)
            self._rx += self.transport.read(max(1, waiting))
            if len(self._rx) > 4 * P.MAX_ENCODED_LEN:     # a line of garbage without delimiter
                self._rx = self._rx[-P.MAX_ENCODED_LEN:]
