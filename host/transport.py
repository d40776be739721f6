"""Byte transports to a board, and a memory-mapped register window.

:func:`open_transport` opens anything pyserial can (a serial device such as ``/dev/ttyUSB0``,
the pty of the simulated board, ``socket://host:port``); :class:`gammacore.host.link.Link`
speaks the framed protocol over it. :class:`MmioWindow` is the other way to reach the chip's
bus: a memory-mapped register window (what a PCIe BAR gives), here backed by a file since no
PCIe board is at hand; it has the same word API as the link, so the driver runs over both.
"""
import mmap
import os
import struct
from pathlib import Path

import serial

from .. import protocol as P

__all__ = ["open_transport", "MmioWindow", "DEFAULT_BAUD"]

#: the boards' UART rate (:data:`gammacore.protocol.UART_BAUD`, 3 Mbaud)
DEFAULT_BAUD = P.UART_BAUD


def open_transport(url, baudrate=DEFAULT_BAUD, poll=0.01):
    """Open ``url`` (device path, pty path or pyserial URL such as ``socket://host:port``).

    Returns a pyserial port whose ``read(n)`` waits at most ``poll`` seconds: the link polls it
    until its own deadline.
    """
    if not isinstance(url, (str, os.PathLike)) or not str(url):
        raise ValueError(f"transport must be a device path or a pyserial URL, not {url!r}")
    try:
        return serial.serial_for_url(str(url), baudrate=baudrate, timeout=poll, write_timeout=10)
    except (serial.SerialException, ValueError) as exc:
        raise ValueError(f"cannot open transport {str(url)!r}: {exc}") from None


class MmioWindow:
    """A word-addressed register window mapped from ``path``: word ``a`` at byte offset ``4 a``.

    Words are little endian (PCIe's byte order). Reads and writes go straight to the mapping,
    so there are no retries to worry about; an access outside the window raises
    :class:`ValueError`. A FIFO port (``fixed=True``) is one word accessed repeatedly.

    Parameters
    ----------
    path : path of the file backing the window; created (zero-filled) if ``create``.
    words : size of the window in words; default: the file's size.
    """

    def __init__(self, path, words=None, create=False):
        path = Path(path)
        if words is not None and (not isinstance(words, int) or not 0 < words <= 1 << P.ADDR_BITS):
            raise ValueError(f"window size must be 1..{1 << P.ADDR_BITS} words, not {words!r}")
        if create:
            if words is None:
                raise ValueError("creating a window needs its size in words")
            with open(path, "ab") as f:
                if f.tell() < 4 * words:
                    f.truncate(4 * words)
        if not path.exists():
            raise ValueError(f"no register window file at {str(path)!r}")
        size = path.stat().st_size
        if words is None:
            words = size // 4
        if words == 0 or size < 4 * words:
            raise ValueError(f"register window {str(path)!r} has {size} bytes, {4 * (words or 1)} needed")
        self.path, self.words = path, words
        self._file = open(path, "r+b")
        self._map = mmap.mmap(self._file.fileno(), 4 * words)

    def _check(self, addr, count, fixed):
        if not isinstance(addr, int) or not isinstance(count, int) or count < 0:
            raise ValueError(f"address and count must be integers, not {addr!r}, {count!r}")
        last = addr if fixed or count == 0 else addr + count - 1
        if not (0 <= addr < self.words and last < self.words):
            raise ValueError(f"access of {count} words at {addr:#x} is outside the window of "
                             f"{self.words:#x} words")

    def write(self, addr, words, fixed=False):
        words = [int(w) for w in words]
        self._check(addr, len(words), fixed)
        for i, w in enumerate(words):
            if not 0 <= w < 1 << 32:
                raise ValueError(f"words must be unsigned 32-bit integers, not {w!r}")
            struct.pack_into("<I", self._map, 4 * (addr if fixed else addr + i), w)

    def read(self, addr, count, fixed=False):
        self._check(addr, count, fixed)
        return [struct.unpack_from("<I", self._map, 4 * (addr if fixed else addr + i))[0]
                for i in range(count)]

    def close(self):
        self._map.close()
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
