// Simulated board: the Verilated top level clocked natively, its UART pins behind a pty.
//
// The host opens the pty exactly like a USB serial port. Bytes the host writes are shifted
// into the design's `rx` pin as 8N1 frames at `divisor` clocks per bit; frames the design
// sends on `tx` are sampled mid-bit and written to the pty (uart_wire.h, shared with
// benchmarks/board_replay.cpp). When neither the link nor the design has anything to do
// (`leds[0]`, busy, low, both UART directions idle), the harness waits in poll() instead of
// spinning, so an idle board costs no CPU.
//
// The first POWER_UP clocks are the board coming out of reset: bytes the host writes meanwhile
// wait in the pty and are shifted in afterwards (the gate-level board's simulated PLL locks
// after 16 clocks and its reset synchroniser releases two later; a byte driven onto `rx`
// while the UART is still in reset would arrive truncated and spoil the host's first frame).
//
// Usage: board --divisor D [--link PATH]   (prints "PTY <path>" on stdout, then runs until
// SIGINT/SIGTERM; with --link, a symlink to the pty is made at PATH and removed on exit).
// Statistics go to stderr on exit: cycles, seconds, cycles per second, bytes each way.
// With $GAMMACORE_BOARD_RECORD set, the session's bytes are written to that file as lines
// "I <clock> <byte>" (a byte starts on rx), "O <clock> <byte>" (a byte received from tx) and
// "E <clock> 0" (the end): benchmarks/board_replay.cpp replays it without a host.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <deque>
#include <string>

#include "Vtop.h"
#include "uart_wire.h"
#include "verilated.h"

static volatile sig_atomic_t stop_requested = 0;
static const unsigned long long POWER_UP = 1024;
static void on_signal(int) { stop_requested = 1; }

static double now() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char** argv) {
    long divisor = 4;
    std::string link;
    for (int i = 1; i < argc; ++i) {
        if (!strcmp(argv[i], "--divisor") && i + 1 < argc) divisor = atol(argv[++i]);
        else if (!strcmp(argv[i], "--link") && i + 1 < argc) link = argv[++i];
        else if (!strncmp(argv[i], "+", 1)) continue;  // Verilator plusargs
        else { fprintf(stderr, "board: unknown argument %s\n", argv[i]); return 2; }
    }
    const char* record_path = getenv("GAMMACORE_BOARD_RECORD");
    FILE* record = record_path && *record_path ? fopen(record_path, "w") : NULL;
    if (divisor < 4) { fprintf(stderr, "board: divisor must be >= 4, not %ld\n", divisor); return 2; }

    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) || unlockpt(master)) { perror("board: pty"); return 1; }
    const char* slave = ptsname(master);
    // keep a slave fd open so the pty does not hang up between host connections
    int keep = open(slave, O_RDWR | O_NOCTTY);
    termios tio;
    tcgetattr(keep, &tio);
    cfmakeraw(&tio);
    tcsetattr(keep, TCSANOW, &tio);
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    if (!link.empty()) {
        unlink(link.c_str());
        if (symlink(slave, link.c_str())) { perror("board: symlink"); return 1; }
    }
    printf("PTY %s\n", slave);
    fflush(stdout);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    Verilated::commandArgs(argc, argv);
    Vtop* top = new Vtop;
    board_power_up(top);        // RESET_CLOCKS clocks of reset (sim/board.py's)

    std::deque<unsigned char> to_dut;
    unsigned long long cycles = 0, bytes_in = 0, bytes_out = 0;
    UartDrive rx_pin;           // host -> design
    UartSample tx_pin;          // design -> host
    unsigned char outbuf[4096];
    size_t outlen = 0;
    double t0 = now();
    unsigned long long last_activity = 0;

    while (!stop_requested) {
        // the pty is polled every 256 clocks (and blocks when everything is idle)
        if ((cycles & 255) == 0) {
            bool idle = rx_pin.idle() && tx_pin.idle() && to_dut.empty() && !(top->leds & 1) && top->tx
                        && cycles - last_activity > 100000;
            pollfd pfd = {master, POLLIN, 0};
            int timeout = idle ? 20 : 0;
            if (outlen) timeout = 0;
            if (poll(&pfd, 1, timeout) > 0 && (pfd.revents & POLLIN)) {
                unsigned char buf[4096];
                ssize_t n = read(master, buf, sizeof buf);
                for (ssize_t i = 0; i < n; ++i) to_dut.push_back(buf[i]);
                if (n > 0) { bytes_in += n; last_activity = cycles; }
            }
            if (outlen) {
                ssize_t n = write(master, outbuf, outlen);
                if (n > 0) { memmove(outbuf, outbuf + n, outlen - n); outlen -= n; }
            }
        }
        // drive rx
        if (rx_pin.idle() && !to_dut.empty() && cycles >= POWER_UP) {
            rx_pin.start(to_dut.front());
            to_dut.pop_front();
            last_activity = cycles;
            if (record) fprintf(record, "I %llu %u\n", cycles, rx_pin.byte);
        }
        top->rx = rx_pin.next(divisor);
        board_clock(top);
        ++cycles;
        // sample tx
        int got = tx_pin.next(top->tx, divisor);
        if (got == UartSample::START) {
            last_activity = cycles;
        } else if (got >= 0) {
            if (outlen < sizeof outbuf) outbuf[outlen++] = (unsigned char)got;
            ++bytes_out;
            if (record) fprintf(record, "O %llu %u\n", cycles, (unsigned)got);
        }
    }
    double secs = now() - t0;
    if (record) { fprintf(record, "E %llu 0\n", cycles); fclose(record); }
    top->final();
    delete top;
    if (!link.empty()) unlink(link.c_str());
    fprintf(stderr, "board: %llu cycles in %.2f s (%.0f cycles/s), %llu bytes in, %llu bytes out\n",
            cycles, secs, secs > 0 ? cycles / secs : 0.0, bytes_in, bytes_out);
    return 0;
}
