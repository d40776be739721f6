"""``gammacore selftest``: on the simulated board every line passes; a memory with a stuck bit
or a link that has to retry makes its line fail."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gammacore import regmap as R
from gammacore.host.cmd_selftest import _memory
from gammacore.host.session import open_chip

GAMMACORE = Path(sys.executable).parent / "gammacore"


def test_selftest_passes_on_the_simulated_board(tmp_path):
    out = tmp_path / "selftest.json"
    r = subprocess.run([str(GAMMACORE), "selftest", "--port", "sim", "--seed", "3", "--json", str(out)],
                       capture_output=True, text=True, timeout=1200)
    print(r.stdout)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    rep = json.loads(out.read_text())
    checks = {c["check"]: c for c in rep["checks"]}
    assert rep["pass"] and all(c["verdict"] == "PASS" for c in rep["checks"])
    assert set(checks) == {"identity", "link counters", "idle", "memory W", "memory V", "memory B", "memory ROUTE",
                           "memory ERR", "events/spikes", "learning", "link errors"}
    assert "4096 words of 32 bits (signed)" in checks["memory W"]["detail"]
    assert "256 words of 2 bits (unsigned)" in checks["memory ROUTE"]["detail"]
    assert "equal to golden" in checks["events/spikes"]["detail"]
    assert "every output and final weight equal to golden" in checks["learning"]["detail"]
    assert "PASS  selftest" in r.stdout


class _StuckBit:
    """A link whose reads of one memory region have bit 5 stuck at 1 (a broken RAM)."""

    def __init__(self, link, region):
        self.link, self.lo = link, R.mem_addr(region, 0)
        self.hi = self.lo + (1 << R.MEM_REGION_SHIFT)

    def read(self, addr, count, fixed=False):
        words = self.link.read(addr, count, fixed)
        return [w | 32 for w in words] if self.lo <= addr < self.hi else words

    def write(self, addr, words, fixed=False):
        return self.link.write(addr, words, fixed)


def test_memory_check_finds_a_stuck_bit_and_restores_a_good_memory():
    with open_chip("sim") as (chip, info):
        pattern = [(7 * a + 1) & 0xFFFFFFFF for a in range(256)]
        chip.link.write(R.mem_addr(R.Region.B, 0), pattern[:64])
        chip.link.write(R.mem_addr(R.Region.B, 64), pattern[64:128])
        chip.link.write(R.mem_addr(R.Region.B, 128), pattern[128:192])
        chip.link.write(R.mem_addr(R.Region.B, 192), pattern[192:])
        ok, detail = _memory(chip, "B", R.Region.B, 256, seed=1)
        assert ok, detail
        # the memory's contents are back as they were before the test
        got = sum((chip.link.read(R.mem_addr(R.Region.B, a), 64) for a in range(0, 256, 64)), [])
        assert got == pattern
        real = chip.link
        chip.link = _StuckBit(real, R.Region.V)
        ok, detail = _memory(chip, "V", R.Region.V, 1024, seed=1)
        chip.link = real
        print(detail)
        assert not ok and "walking ones: word 0 bit 0 read 0x21, expected 0x1" in detail
