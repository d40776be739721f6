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
