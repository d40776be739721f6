"""The host link protocol: the one definition shared by the gateware (rtl/link.py) and the host.

Framing
-------
Every frame is COBS-encoded (no 0x00 inside) and followed by one 0x00 delimiter. A receiver
that sees garbage drops bytes up to the next 0x00 and starts over, so the host resynchronises
any time by sending a single 0x00. COBS was chosen over SLIP because its overhead is bounded
(one byte per 254, however many zeros the words hold), which matters for event words whose
high bytes are mostly zero.

Decoded command frame (big endian)::

    opcode(1) seq(1) body... crc16(2)

``crc16`` is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor) over
opcode..body; a receiver may equally run the CRC over the whole frame, CRC bytes included, and
check for a zero residue. Command bodies:

- ``PING``: empty.
- ``WRITE``: addr(3) count(1) flags(1) then ``count`` 32-bit words.
- ``READ``: addr(3) count(1) flags(1).

``count`` is 1..:data:`MAX_WORDS`; ``flags`` bit 0 (:attr:`Flags.FIXED`) keeps the address
fixed (a FIFO port), otherwise word ``i`` goes to ``addr + i`` (modulo 2**24). Other flag
bits must be zero.

Decoded response frame::

    opcode|0x80(1) seq(1) status(1) done(1) words... crc16(2)

``seq`` echoes the command. ``done`` is the number of words transferred: ``count`` when the
status is OK, the index of the failing word for ``BUS_ERROR`` (words before it were
transferred), the seq the link expects next for ``SEQUENCE``, 0 for the other errors, 1 for
PING. ``words`` are the ``done`` words read (READ), the one info word (PING, see
:func:`ping_info`: version, window, receive buffer, next seq, MAX_WORDS), none for WRITE.
Statuses: :class:`Status`; BAD_OPCODE, BAD_LENGTH (length not matching opcode and count,
count outside 1..MAX_WORDS, frame over :data:`MAX_COMMAND_LEN`), BAD_FLAGS and SEQUENCE
change nothing.

A frame with a bad CRC, or shorter than 4 bytes, is not answered (it cannot be trusted to
name its seq): the host times out and sends it again.

The window and retries
----------------------
A link has a *window* of ``W`` commands (PING's info word names it, and the bytes of its
receive buffer). The host may send up to ``W`` commands, and up to the receive buffer's bytes,
before the first of them is answered; the link executes commands strictly in seq order and
answers them in that order.

``W > 1`` (:data:`WINDOW`, the default build): the link keeps ``next``, the seq it executes
next, and the responses of the last ``W`` commands it executed (slot ``seq % W``), each with
its command's opcode, length and CRC. A command (any opcode but PING) whose

- seq is ``next`` is executed (an answered error included), its response stored, ``next``
  incremented;
- seq is one of the ``W`` before ``next`` and whose opcode, length and CRC equal the stored
  ones, is answered with the stored response and not executed again (a retry);
- seq is anything else is answered ``SEQUENCE`` with ``done = next`` and not executed: a
  command before it was lost, the host goes back to ``next`` and sends again from there
  (go-back-N).

PING is always answered, never stored and changes nothing; its info word carries ``next``, so
a host starts its seqs there. So a retry of any command in the window, a WRITE to a FIFO port
included, is answered from the cache and never executed twice, and no command runs before
one sent earlier. :class:`gammacore.host.link.Link` does all this.

``W = 1`` (a build without room for the window, the iCEBreaker's): the link remembers only the
last command it executed (opcode, seq, length, CRC) and its response; a command identical to
it is answered with the stored response, any other is executed (PING included). The host
sends one command at a time, with a new seq for each new command.
"""
import struct

from amaranth.lib import enum

__all__ = ["VERSION", "UART_BAUD", "UART_TOLERANCE", "MAX_WORDS", "ADDR_BITS", "HEADER_LEN", "CRC_LEN", "Opcode", "Status",
           "Flags", "WINDOW", "RX_BUFFER", "PingInfo", "ping_info_word", "RESPONSE", "MAX_COMMAND_LEN", "MAX_RESPONSE_LEN", "MAX_ENCODED_LEN", "ProtocolError",
           "crc16", "cobs_encode", "cobs_decode", "frame", "unframe",
           "encode_command", "decode_command", "encode_response", "decode_response",
           "ping", "write", "read", "Response", "ping_info", "max_encoded_len"]

#: protocol version, returned by PING
VERSION = 2
#: commands in flight of the default build's link (its replay cache has a slot for each: the
#: response memory is 4 x MAX_WORDS words, the two block RAMs a 64-word one takes anyway)
WINDOW = 4
#: bytes of the default build's receive buffer (one iCE40 block RAM, 512 x 8): a window of
#: frames waits there while the chip is busy; the host keeps at most this many bytes in flight
RX_BUFFER = 512
#: most words in one WRITE or READ
MAX_WORDS = 64
#: the UART rate of the link: the host's default (every host command opens its port at this
#: rate) and every board's default build (``gammacore build``). 3 Mbaud is the fastest rate
#: both boards' FTDI bridges make exactly (FT2232H: 12 MHz / 4; FT231X: its 3 MHz maximum).
UART_BAUD = 3_000_000
#: the largest relative error of a build's UART rate (core clock / integer divisor) from the
#: requested rate that a build accepts: both ends of an 8N1 frame may be off, and the
#: receivers sample mid-bit, so 2 % each side keeps the tenth bit inside its cell
UART_TOLERANCE = 0.02
#: address bits (the chip's word bus, gammacore.rtl.bus)
ADDR_BITS = 24
#: bit set in a response's opcode
RESPONSE = 0x80
#: bytes of a command's header (opcode, seq, addr, count, flags) and of the CRC
HEADER_LEN = 7
CRC_LEN = 2
#: longest decoded command (a full WRITE) and response (a full READ)
MAX_COMMAND_LEN = HEADER_LEN + 4 * MAX_WORDS + CRC_LEN
MAX_RESPONSE_LEN = 4 + 4 * MAX_WORDS + CRC_LEN


class Opcode(enum.IntEnum, shape=8):
    PING = 0x01
    WRITE = 0x02
    READ = 0x03


class Status(enum.IntEnum, shape=8):
    OK = 0
    BAD_OPCODE = 1      # unknown opcode
    BAD_LENGTH = 2      # frame length does not match the opcode and count, count out of range
    BAD_FLAGS = 3       # reserved flag bits set
    BUS_ERROR = 4       # the bus refused word ``done``; words before it were transferred
    SEQUENCE = 5        # seq neither the next one nor a retry in the window; ``done`` = next seq


class Flags(enum.IntFlag, shape=8):
    FIXED = 1           # do not increment the address (FIFO port)


class ProtocolError(Exception):
    """A frame that does not follow the protocol (bad COBS, CRC, length, opcode)."""


def max_encoded_len(n):
    """Bytes on the wire for a decoded frame of ``n`` bytes, delimiter included."""
    return n + n // 254 + 2


MAX_ENCODED_LEN = max_encoded_len(MAX_COMMAND_LEN)


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of ``data`` (bytes), starting from ``crc``."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def cobs_encode(data):
    """COBS encoding of ``data``: no zero byte in the result, no delimiter appended."""
    out = bytearray()
    block = bytearray()
    for byte in bytes(data):
        if byte == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data):
    """Inverse of :func:`cobs_encode`; raises :class:`ProtocolError` on a malformed frame."""
    data = bytes(data)
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0:
            raise ProtocolError(f"zero byte at offset {i} inside a COBS frame")
        end = i + code
        if end > len(data):
            raise ProtocolError(f"COBS block at offset {i} runs past the end of the frame")
        block = data[i + 1:end]
        if 0 in block:
            raise ProtocolError(f"zero byte inside the COBS block at offset {i}")
        out += block
        i = end
        if code != 255 and i < len(data):
            out.append(0)
    return bytes(out)


def frame(payload):
    """Wire bytes of a decoded frame body (CRC appended, COBS, 0x00 delimiter)."""
    payload = bytes(payload)
    return cobs_encode(payload + struct.pack(">H", crc16(payload))) + b"\x00"


def unframe(wire):
    """Decoded frame (CRC checked and removed) from its wire bytes (delimiter optional)."""
    wire = bytes(wire)
    if wire.endswith(b"\x00"):
        wire = wire[:-1]
    data = cobs_decode(wire)
    if len(data) < 4:
        raise ProtocolError(f"frame of {len(data)} bytes, at least 4 expected")
    if crc16(data) != 0:
        raise ProtocolError(f"CRC mismatch in a frame of {len(data)} bytes")
    return data[:-CRC_LEN]


def _check_transfer(addr, count, flags):
    if not 0 <= addr < 1 << ADDR_BITS:
        raise ValueError(f"address must be in 0..{(1 << ADDR_BITS) - 1:#x}, not {addr!r}")
    if not 1 <= count <= MAX_WORDS:
        raise ValueError(f"word count must be in 1..{MAX_WORDS}, not {count!r}")
    if int(flags) & ~int(Flags.FIXED) & 0xFF or not 0 <= int(flags) < 256:
        raise ValueError(f"flags must be a combination of {list(Flags)}, not {flags!r}")


def encode_command(opcode, seq, body=b""):
    """Decoded command frame (without CRC) of raw ``body`` bytes."""
    if not 0 <= seq < 256:
        raise ValueError(f"seq must be in 0..255, not {seq!r}")
    return bytes([int(opcode), seq]) + bytes(body)


def ping(seq):
    """Wire bytes of a PING."""
    return frame(encode_command(Opcode.PING, seq))


def write(seq, addr, words, flags=0):
    """Wire bytes of a WRITE of ``words`` at ``addr``."""
    words = [int(w) for w in words]
    _check_transfer(addr, len(words), flags)
    for w in words:
        if not 0 <= w < 1 << 32:
            raise ValueError(f"words must be unsigned 32-bit integers, not {w!r}")
    body = struct.pack(">I", addr)[1:] + bytes([len(words), int(flags)])
    body += struct.pack(f">{len(words)}I", *words)
    return frame(encode_command(Opcode.WRITE, seq, body))


def read(seq, addr, count, flags=0):
    """Wire bytes of a READ of ``count`` words at ``addr``."""
    _check_transfer(addr, count, flags)
    body = struct.pack(">I", addr)[1:] + bytes([count, int(flags)])
    return frame(encode_command(Opcode.READ, seq, body))


def decode_command(data):
    """(opcode, seq, addr, count, flags, words) of a decoded command frame (CRC removed).

    Raises :class:`ProtocolError` naming the fault; this is the host model of the checks the
    gateware makes (the status it would answer is in the exception's ``status``).
    """
    def fault(status, msg):
        err = ProtocolError(msg)
        err.status = status
        return err
    opcode, seq = data[0], data[1]
    if opcode == Opcode.PING:
        if len(data) != 2:
            raise fault(Status.BAD_LENGTH, f"PING with {len(data) - 2} body bytes")
        return Opcode.PING, seq, 0, 0, 0, []
    if opcode not in (Opcode.WRITE, Opcode.READ):
        raise fault(Status.BAD_OPCODE, f"unknown opcode {opcode:#04x}")
    if len(data) < HEADER_LEN:
        raise fault(Status.BAD_LENGTH, f"{Opcode(opcode).name} header of {len(data)} bytes")
    addr = int.from_bytes(data[2:5], "big")
    count, flags = data[5], data[6]
    n_words = count if opcode == Opcode.WRITE else 0
    if not 1 <= count <= MAX_WORDS or len(data) != HEADER_LEN + 4 * n_words:
        raise fault(Status.BAD_LENGTH, f"{Opcode(opcode).name} of {count} words in {len(data)} bytes")
    if flags & ~int(Flags.FIXED):
        raise fault(Status.BAD_FLAGS, f"reserved flag bits in {flags:#04x}")
    words = list(struct.unpack(f">{n_words}I", data[HEADER_LEN:]))
    return Opcode(opcode), seq, addr, count, flags, words


class Response:
    """A decoded response: ``opcode`` (of the command), ``seq``, ``status``, ``done``, ``words``."""

    def __init__(self, opcode, seq, status, done, words):
        self.opcode, self.seq, self.status, self.done, self.words = opcode, seq, status, done, words

    def __eq__(self, other):
        return isinstance(other, Response) and vars(self) == vars(other)

    def __repr__(self):
        return (f"Response({self.opcode!r}, seq={self.seq}, status={self.status!r}, "
                f"done={self.done}, words={[hex(w) for w in self.words]})")


def encode_response(opcode, seq, status, done, words=()):
    """Decoded response frame (without CRC)."""
    words = list(words)
    return bytes([int(opcode) | RESPONSE, seq, int(status), done]) + struct.pack(f">{len(words)}I", *words)


def decode_response(data):
    """:class:`Response` of a decoded response frame (CRC removed)."""
    if len(data) < 4 or (len(data) - 4) % 4:
        raise ProtocolError(f"response of {len(data)} bytes: 4 + a multiple of 4 expected")
    if not data[0] & RESPONSE:
        raise ProtocolError(f"opcode {data[0]:#04x} of a response lacks bit 7")
    try:
        status = Status(data[2])
    except ValueError:
        raise ProtocolError(f"unknown status {data[2]}") from None
    opcode = data[0] & ~RESPONSE
    try:
        opcode = Opcode(opcode)
    except ValueError:
        pass    # the answer to an unknown opcode (BAD_OPCODE) names it as a plain int
    n = (len(data) - 4) // 4
    return Response(opcode, data[1], status, data[3], list(struct.unpack(f">{n}I", data[4:])))


class PingInfo:
    """What a PING's info word says: ``version``, ``max_words``, ``window`` (commands in
    flight), ``rx_bytes`` (receive buffer: bytes in flight), ``next_seq`` (the seq the link
    executes next; 0 and meaningless for a window of 1)."""

    def __init__(self, version, max_words, window, rx_bytes, next_seq):
        self.version, self.max_words, self.window = version, max_words, window
        self.rx_bytes, self.next_seq = rx_bytes, next_seq

    def __eq__(self, other):
        return isinstance(other, PingInfo) and vars(self) == vars(other)

    def __repr__(self):
        return "PingInfo(" + ", ".join(f"{k}={v}" for k, v in vars(self).items()) + ")"


def ping_info_word(window, rx_bytes, next_seq=0):
    """A PING's info word: ``VERSION << 24 | log2(window) << 20 | log2(rx_bytes) << 16 |
    next_seq << 8 | MAX_WORDS`` (window and rx_bytes powers of two)."""
    for name, v, top in (("window", window, 1 << 15), ("rx_bytes", rx_bytes, 1 << 15)):
        if not isinstance(v, int) or v < 1 or v & (v - 1) or v > top:
            raise ValueError(f"{name} must be a power of two in 1..{top}, not {v!r}")
    if not 0 <= next_seq < 256:
        raise ValueError(f"next_seq must be in 0..255, not {next_seq!r}")
    return (VERSION << 24 | (window.bit_length() - 1) << 20 | (rx_bytes.bit_length() - 1) << 16
            | next_seq << 8 | MAX_WORDS)


def ping_info(word):
    """:class:`PingInfo` of a PING's info word (a version 1 link's ``1 << 16 | MAX_WORDS``
    reads as version 1, window 1)."""
    if word >> 24 == 0:
        return PingInfo(word >> 16, word & 0xFFFF, 1, 0, 0)
    return PingInfo(word >> 24, word & 0xFF, 1 << (word >> 20 & 0xF), 1 << (word >> 16 & 0xF),
                    word >> 8 & 0xFF)
