"""gammacore.boards: board top levels and the yosys/nextpnr build flow.

- :mod:`.table`: the supported boards (``BOARDS``) and the network :class:`~.table.Size`;
- :mod:`.pll_ice40`, :mod:`.pll_ecp5`: PLL components and their divider searches;
- :mod:`.top`: the board top (PLL, reset synchroniser, UART, LEDs) around a design;
- :mod:`.probe`: characterisation designs (one layer core / one MAC lane behind a scan chain);
- :mod:`.flow`: synthesis, place and route, bitstream and the resource/timing report;
- :mod:`.program`: loading a bitstream with openFPGALoader or iceprog.
"""
