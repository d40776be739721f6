"""The user's documentation: a short README and docs/ pages that agree with the code."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_is_short_and_keeps_the_setup_commands():
    readme = REPO / "README.md"
    size = readme.stat().st_size
    assert size <= 10_240, f"README.md is {size} bytes, expected at most 10240"
    text = readme.read_text()
    assert "./dev.sh demo" in text and "./dev.sh test" in text


def test_readme_links_point_at_files():
    text = (REPO / "README.md").read_text()
    links = re.findall(r"\]\(([^)#]+)\)", text)
    assert links, "README.md links into docs/"
    missing = [link for link in links if not (REPO / link).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_code_cites_the_model_page_in_the_repository():
    stale = [str(p.relative_to(REPO)) for d in ("gammacore", "golden", "rtl", "sim", "boards", "host")
             for p in (REPO / d).rglob("*.py") if "MODEL.md" in p.read_text()]
    assert not stale, f"these files cite MODEL.md, which is not in the repository; cite docs/model.md: {stale}"
    model = (REPO / "docs" / "model.md").read_text()
    for section in ("## 2. The neuron", "## 3. The encoder", "## 4. Online learning", "## 5. Fixed point",
                    "## 6. Execution modes"):
        assert section in model, f"docs/model.md lacks the section {section!r}"


def test_model_page_fixed_point_table_matches_formats():
    from gammacore.golden import formats as F
    model = (REPO / "docs" / "model.md").read_text()
    for fmt in (F.Q, F.W, F.MASTER, F.ACC, F.Z, F.COEF, F.ERR):
        assert f"| {fmt} |" in model, f"docs/model.md's fixed-point table lacks {fmt} ({fmt.name})"


def test_architecture_page_map_is_the_generated_map():
    from gammacore.regmap_doc import map_markdown, page_section
    page = (REPO / "docs" / "architecture.md").read_text()
    section = page_section(page)
    assert section is not None, "docs/architecture.md has no generated register map section"
    assert section == map_markdown(), (
        "docs/architecture.md's register map differs from gammacore/regmap.py; "
        "run `python -m gammacore.regmap_doc docs/architecture.md`")


def test_generated_map_lists_every_register_and_region():
    from gammacore import regmap as R
    from gammacore.regmap_doc import map_markdown, member_comments
    text = map_markdown()
    for member in list(R.Reg) + list(R.Region):
        assert f"`{member.name}`" in text
    assert f"`{int(R.Reg.EVENT):#06x}` | `EVENT`" in text
    assert f"`{R.mem_addr(R.Region.ERR, 0):#08x}`" in text
    notes = member_comments(R.Reg)
    assert notes["CTRL"].startswith("w: one Cmd bit") and "n_out == 0" in notes["CTRL"]
    assert notes["STEPS"] == "counters (r)" and notes["CAP_NEURONS"] == "as above"


def test_board_tables_give_the_default_sizes():
    from gammacore.boards.table import BOARDS
    for page in ("README.md", "docs/boards.md"):
        rows = [line for line in (REPO / page).read_text().splitlines() if line.startswith("| `")]
        for name, board in BOARDS.items():
            row = next((r for r in rows if f"`{name}`" in r), None)
            assert row is not None, f"{page} has no row for board {name}"
            n = board.size.neurons
            assert f"{n} x {n}" in row, f"{page}: {name}'s default is {n} x {n}, the row says {row!r}"
            assert f"({board.core_clock / 1e6:g})" in row, f"{page}: {name}'s core clock is {board.core_clock / 1e6:g} MHz"


def test_readme_board_table_gives_lanes_synapses_and_the_peak_against_the_device():
    """Issue 14's columns, from the board table: synapses, lanes, and the peak synaptic
    events per second (lanes x core clock) with its share of the device's (multipliers x core
    clock)."""
    from gammacore.boards.table import BOARDS
    rows = [line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| `")]
    for name, board in BOARDS.items():
        row = next(r for r in rows if f"`{name}`" in r)
        cells = [c.strip() for c in row.strip("|").split("|")]
        lanes = board.options.get("lanes", 1)
        peak = lanes * board.core_clock / 1e6
        share = 100 * lanes / board.multipliers
        assert cells[2] == f"{board.size.synapses:,}", f"{name}: {board.size.synapses:,} synapses, the row says {row!r}"
        assert cells[3] == str(lanes), f"{name}: {lanes} lanes, the row says {row!r}"
        assert cells[-1] == f"{peak:g} M/s, {share:.1f} %", f"{name}: peak {peak:g} M/s, {share:.1f} %, the row says {row!r}"
