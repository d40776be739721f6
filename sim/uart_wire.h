// The simulated board's pins, shared by sim/board_harness.cpp and benchmarks/board_replay.cpp:
// the power-up reset, one clock, and the UART's 8N1 frames driven onto the design's `rx` pin
// and sampled from its `tx` pin, `divisor` clocks a bit. sim/board.py's build() keys its
// cache on this file and defines RESET_CLOCKS (its RESET_CLOCKS).
#pragma once

#ifndef RESET_CLOCKS
#error "RESET_CLOCKS: sim/board.py's build() defines it (-DRESET_CLOCKS=<n>)"
#endif

// one clock: a rising and a falling edge, one eval() each
template <class Top> static inline void board_clock(Top* top) {
    top->clk = 1;
    top->eval();
    top->clk = 0;
    top->eval();
}

// power-up: `rx` idle (high), `rst` high for the first RESET_CLOCKS clocks, then low (the RTL
// board's model makes this reset itself, sim/board.py's RESET_WRAPPER, and leaves the `rst`
// pin unconnected)
template <class Top> static inline void board_power_up(Top* top) {
    top->clk = 0;
    top->rst = 1;
    top->rx = 1;
    top->eval();
    for (int i = 0; i < RESET_CLOCKS; ++i) board_clock(top);
    top->rst = 0;
}

// host -> design: one frame at a time shifted onto the `rx` pin
struct UartDrive {
    int bit = -1;               // -1 idle, 0 start, 1..8 data, 9 stop
    long count = 0;
    unsigned char byte = 0;

    bool idle() const { return bit < 0; }
    void start(unsigned char b) { byte = b; bit = 0; count = 0; }
    // the `rx` level for the coming clock (high when idle); the frame then moves on a clock
    int next(long divisor) {
        int level = 1;
        if (bit == 0) level = 0;
        else if (bit >= 1 && bit <= 8) level = (byte >> (bit - 1)) & 1;
        if (bit >= 0 && ++count == divisor) {
            count = 0;
            if (++bit == 10) bit = -1;
        }
        return level;
    }
};

// design -> host: the `tx` pin sampled after each clock, mid-bit
struct UartSample {
    enum { NONE = -1, START = -2 };
    int bit = -1;               // -1 waiting for a start bit, 0 start, 1..8 data, 9 stop
    long count = 0;
    unsigned byte = 0;

    bool idle() const { return bit < 0; }
    // `tx` after a clock: the byte received (0..255, at the middle of its stop bit), START
    // when a start bit's falling edge is seen, else NONE
    int next(int tx, long divisor) {
        if (bit < 0) {
            if (!tx) { bit = 0; count = 0; byte = 0; return START; }
        } else if (++count == (bit == 0 ? divisor / 2 : divisor)) {
            count = 0;
            if (bit == 0) {
                bit = tx ? -1 : 1;      // high mid-bit: a glitch, not a start bit
            } else if (bit <= 8) {
                byte |= (tx & 1) << (bit - 1);
                ++bit;
            } else {
                bit = -1;
                return (int)byte;
            }
        }
        return NONE;
    }
};
