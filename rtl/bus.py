"""The chip's word bus: one request at a time, held until acknowledged.

Everything the host can reach - registers, counters, weight memories, the routing table,
the input-event, error and spike FIFOs - sits in one word-addressed space (the address map
is :mod:`gammacore.regmap`). The UART command decoder is a bus initiator, and a PCIe
register window would be another one with the same map, so the host code is the same for
both.

Protocol (initiator side, ``Out`` members; target side is :meth:`wiring.Signature.flip`):

- ``addr``: word address; ``w_data``: word to write.
- ``we`` / ``re``: a write / read request. The initiator holds the request (and ``addr``,
  ``w_data``) high until ``ack``; never both at once.
- ``ack``: one-cycle completion. For a read, ``r_data`` is valid in the ``ack`` cycle.
  A target may take any number of cycles (a write to a full FIFO waits for room).
- ``err``: with ``ack``, the request was refused (address not mapped, read of an empty
  FIFO, write while the chip is busy); the initiator reports it, nothing changed.
"""
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["ADDR_WIDTH", "DATA_WIDTH", "bus_signature"]

ADDR_WIDTH = 24
DATA_WIDTH = 32

bus_signature = wiring.Signature({
    "addr": Out(ADDR_WIDTH),
    "w_data": Out(DATA_WIDTH),
    "we": Out(1),
    "re": Out(1),
    "r_data": In(DATA_WIDTH),
    "ack": In(1),
    "err": In(1),
})
