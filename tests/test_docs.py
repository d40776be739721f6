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
