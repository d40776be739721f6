"""CRC-16/CCITT-FALSE (poly 0x1021, MSB first) as combinational logic, any data width.

The same CRC as :func:`gammacore.protocol.crc16`. The CRC is linear, so each output bit is
computed here (in Python, at elaboration) as the XOR of a fixed set of CRC and data bits: a
flat XOR per bit, whatever the data width, instead of a chain of shift stages.
"""
from amaranth.hdl import Cat, Const, Value

__all__ = ["POLY", "crc16_next"]

POLY = 0x1021


def crc16_next(crc, data):
    """The CRC register after shifting in ``data`` (a Value, most significant bit first)."""
    crc, data = Value.cast(crc), Value.cast(data)
    # state bit i as the set of inputs it XORs: ("c", j) CRC bit j, ("d", k) data bit k
    state = [{("c", i)} for i in range(16)]
    for k in reversed(range(len(data))):
        feedback = state[15] ^ {("d", k)}
        state = [(state[i - 1] if i else set()) ^ (feedback if POLY >> i & 1 else set())
                 for i in range(16)]
    bits = []
    for terms in state:
        value = Const(0, 1)
        for kind, j in sorted(terms):
            value = value ^ (crc[j] if kind == "c" else data[j])
        bits.append(value)
    return Cat(*bits)
