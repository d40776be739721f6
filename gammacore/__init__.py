"""gammacore: an open FPGA accelerator for SpikingGamma spiking neural networks.

Subpackages: ``golden`` (the specification: float and bit-exact fixed-point models),
``rtl`` (Amaranth gateware), ``sim`` (cocotb benches, simulated board), ``boards``
(board top levels and build flow), ``host`` (transports, driver, CLI).
"""

__version__ = "0.1.0"
