"""The kit stands on its own: nothing points outside it, and every `docs/glm130b_facts.md §X.Y` citation exists."""

import re
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FACTS = REPO_ROOT / "docs" / "glm130b_facts.md"
OUTSIDE = re.compile(r"\.\./shared|GLM130B_SPEC|CPU_FEASIBILITY")


def _tracked_text_files():
    names = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    for name in names.split():
        path = REPO_ROOT / name
        if path.suffix in {".py", ".md", ".ipynb", ".toml", ".yml", ".cfg", ".txt"} or path.name == "Makefile":
            if path.is_file():
                yield path


def _sections():
    return {m.group(1) for m in re.finditer(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", FACTS.read_text(encoding="utf-8"), re.M)}


def test_no_file_points_outside_the_kit():
    hits = [f"{p.relative_to(REPO_ROOT)}:{i}" for p in _tracked_text_files() if p.name != "test_docs.py"
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if OUTSIDE.search(line)]
    assert not hits, f"these lines point at files a clone of the kit does not have: {hits}"


def test_facts_file_has_the_numbered_sections():
    sections = _sections()
    for needed in ["0", "1", "1.1", "1.6", "2.1", "2.6", "3", "3.1", "4.1", "4.7", "5", "6", "7", "8", "9"]:
        assert needed in sections, f"docs/glm130b_facts.md lacks section §{needed}"


def test_every_citation_of_the_facts_file_names_an_existing_section():
    sections = _sections()
    cite = re.compile(r"glm130b_facts\.md`?\s*((?:§\d+(?:\.\d+)?(?:[-–]\d+(?:\.\d+)?)?(?:,\s*)?)+)")
    bad = []
    for path in _tracked_text_files():
        for match in cite.finditer(path.read_text(encoding="utf-8")):
            for ref in re.findall(r"§(\d+(?:\.\d+)?)", match.group(1)):
                if ref not in sections:
                    bad.append(f"{path.relative_to(REPO_ROOT)}: §{ref}")
    assert not bad, f"citations of missing sections: {bad}"
