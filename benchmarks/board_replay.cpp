// Replay of a simulated-board session recorded by sim/board_harness.cpp
// ($GAMMACORE_BOARD_RECORD): the same model clocked the same way, each recorded host byte
// started on rx at its recorded clock, no pty and no host; every byte the design sends on tx
// is compared with the recording (value and clock). Measures the model's cycles per second
// alone, and shows that a change to the build leaves the board's behaviour the same at every
// clock.
//
// Usage: replay RECORDING [--divisor D]   (exit status 1 if any byte or clock differs)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vector>

#include "../sim/uart_wire.h"
#include "Vtop.h"
#include "verilated.h"

static double now() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

struct Byte { unsigned long long clock; unsigned value; };

int main(int argc, char** argv) {
    if (argc < 2) { fprintf(stderr, "usage: replay RECORDING [--divisor D]\n"); return 2; }
    long divisor = 4;
    for (int i = 2; i < argc; ++i)
        if (!strcmp(argv[i], "--divisor") && i + 1 < argc) divisor = atol(argv[++i]);
    FILE* f = fopen(argv[1], "r");
    if (!f) { perror("replay"); return 2; }
    std::vector<Byte> ins, outs;
    unsigned long long end = 0;
    char kind;
    Byte b;
    while (fscanf(f, " %c %llu %u", &kind, &b.clock, &b.value) == 3) {
        if (kind == 'I') ins.push_back(b);
        else if (kind == 'O') outs.push_back(b);
        else end = b.clock;
    }
    fclose(f);

    // as board_harness.cpp: the same reset (RESET_CLOCKS clocks), then one eval per edge
    Verilated::commandArgs(argc, argv);
    Vtop* top = new Vtop;
    board_power_up(top);

    unsigned long long cycles = 0;
    size_t in_i = 0, out_i = 0;
    long differ = 0;
    UartDrive rx_pin;
    UartSample tx_pin;
    double t0 = now();
    while (cycles < end) {
        if (rx_pin.idle() && in_i < ins.size() && ins[in_i].clock == cycles) rx_pin.start(ins[in_i++].value);
        top->rx = rx_pin.next(divisor);
        board_clock(top);
        ++cycles;
        int got = tx_pin.next(top->tx, divisor);
        if (got >= 0) {
            if (out_i >= outs.size() || outs[out_i].clock != cycles || outs[out_i].value != (unsigned)got) ++differ;
            ++out_i;
        }
    }
    double secs = now() - t0;
    top->final();
    delete top;
    differ += (long)(outs.size() > out_i ? outs.size() - out_i : 0) + (long)(ins.size() - in_i);
    printf("replay: %llu cycles in %.3f s (%.0f cycles/s), %zu bytes in, %zu bytes out, %ld differ\n",
           cycles, secs, secs > 0 ? cycles / secs : 0.0, in_i, out_i, differ);
    return differ ? 1 : 0;
}
