"""Streaming COBS decoder: wire bytes in, decoded bytes and frame boundaries out.

Implements the decoding of :func:`gammacore.protocol.cobs_decode` one byte per clock without a
buffer: a code byte ``c`` announces ``c - 1`` data bytes, then a zero unless ``c`` is 255 or
the frame ends there. 0x00 ends a frame; if it comes inside a block, the frame is truncated
and reported as ``ABORT`` so that the receiver drops it and starts again with the next byte
(resynchronisation after garbage).
"""
from amaranth.hdl import Module, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["CobsDecoder", "Token", "token_layout"]


class Token(enum.Enum, shape=2):
    BYTE = 0        # ``data`` is the next decoded byte of the frame
    END = 1         # delimiter after a complete frame (possibly empty)
    ABORT = 2       # delimiter inside a block: the frame is truncated


token_layout = data.StructLayout({"data": 8, "kind": Token})


class CobsDecoder(wiring.Component):
    """COBS decoder.

    Attributes
    ----------
    i : stream of 8-bit wire bytes, in
    o : stream of (data, kind) tokens, out
    """
    i: In(stream.Signature(8))
    o: Out(stream.Signature(token_layout))

    def elaborate(self, platform):
        m = Module()
        remaining = Signal(8)       # data bytes left in the current block; 0: a code byte is next
        zero_pending = Signal()     # the block ended below 255 bytes: a zero precedes the next one

        byte = self.i.payload
        is_code = (remaining == 0) & (byte != 0)
        silent = is_code & ~zero_pending        # a code byte that produces nothing
        m.d.comb += [
            self.o.valid.eq(self.i.valid & ~silent),
            self.i.ready.eq(self.o.ready | silent),
            self.o.payload.data.eq(byte),
        ]
        with m.If(byte == 0):
            m.d.comb += self.o.payload.kind.eq(Token.END)
            with m.If(remaining != 0):
                m.d.comb += self.o.payload.kind.eq(Token.ABORT)
        with m.Elif(is_code):
            m.d.comb += [self.o.payload.kind.eq(Token.BYTE), self.o.payload.data.eq(0)]
        with m.Else():
            m.d.comb += self.o.payload.kind.eq(Token.BYTE)

        with m.If(self.i.valid & self.i.ready):
            with m.If(byte == 0):
                m.d.sync += [remaining.eq(0), zero_pending.eq(0)]
            with m.Elif(is_code):
                m.d.sync += [remaining.eq(byte - 1), zero_pending.eq(byte != 255)]
            with m.Else():
                m.d.sync += remaining.eq(remaining - 1)
        return m
