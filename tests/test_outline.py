"""notebooks/outline.py: the course outline is computed (planned notebooks, measured times); the README follows it."""

import re

import pytest

import outline
import runner


def test_every_notebook_in_the_tree_is_in_the_outline():
    names = [lesson.name for lesson in outline.COURSE]
    assert [p.stem for p in runner.notebook_paths()] == [n for n in names if (runner.NOTEBOOK_DIR / f"{n}.py").exists()]
    assert names == sorted(names) and len(set(n[:2] for n in names)) == len(names)


def test_planned_and_measured_are_computed_from_files(tmp_path, monkeypatch):
    for suffix in (".py", ".ipynb"):
        (tmp_path / f"03_glm_transformer{suffix}").write_text((runner.NOTEBOOK_DIR / f"03_glm_transformer{suffix}")
                                                              .read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", tmp_path)
    rows = {r["number"]: r for r in outline.rows({"03_glm_transformer": {"FAST": {"seconds": 27.66,
                                                                                   "measured": "2026-11-27 10:26"}}})}
    assert rows["03"]["status"] == "available" and rows["03"]["fast_time"] == "28 s (measured 2026-11-27 10:26)"
    assert rows["03"]["budget"] == "60 s", "read from the notebook's own 'Budget:' line"
    assert rows["01"]["status"] == rows["01"]["fast_time"] == "planned"
    assert outline.rows({})[3]["fast_time"] == "not yet measured"
    assert "`01_bilingual_tokenizer` *(planned)*" in outline.markdown({})


def _without_time_column(text):
    return [re.sub(r"\|[^|]*\|$", "| · |", line) for line in text.splitlines()]


def test_readme_outline_is_the_generated_one():
    readme = outline.README.read_text(encoding="utf-8")
    section = readme.split(outline.START)[1].split(outline.END)[0].strip()
    assert _without_time_column(section) == _without_time_column(outline.markdown({})), \
        "README.md's outline is out of date: run `python notebooks/outline.py --update-readme`"
    for term in ["Part A / Part B", "[gMASK]", "DeepNorm", "EGS", "TP / PP / DP", "bubble", "W4A16"]:
        assert term in section


def test_update_readme_rewrites_only_between_markers_and_needs_them(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# kit\nbefore\n{outline.START}\nstale table\n{outline.END}\nafter\n", encoding="utf-8")
    assert outline.update_readme(readme, timings={})
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# kit\nbefore\n") and text.endswith(f"{outline.END}\nafter\n") and "stale table" not in text
    assert not outline.update_readme(readme, timings={}), "a second run changes nothing"
    readme.write_text("# kit without markers\n", encoding="utf-8")
    with pytest.raises(ValueError, match="README.md: expected one"):
        outline.update_readme(readme, timings={})
