"""notebooks/outline.py: the course outline is computed (planned notebooks, exercise counts, guarding tests,
measured times); the README follows it."""

import re

import jupytext
import pytest

import editions
import guarding_tests
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
    assert rows["01"]["status"] == rows["01"]["fast_time"] == rows["01"]["exercises"] == "planned"
    assert rows["03"]["exercises"] == editions.exercise_count(jupytext.read(tmp_path / "03_glm_transformer.py"))
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


def test_objectives_study_time_and_exercises_agree_with_the_notebooks():
    for lesson in outline.COURSE:
        assert lesson.objectives and lesson.study_minutes > 0, lesson.name
        assert all(len(goal.split()) >= 5 for goal in lesson.objectives), f"{lesson.name}: state what a student can do"
        if not lesson.exists:
            continue
        nb = jupytext.read(lesson.source)
        labels = set(editions.markdown_labels(nb))
        named = {f"Exercise {n}.{k}" for goal in lesson.objectives for n, k in
                 re.findall(r"Exercises? (\d+)\.(\d+)", goal)}
        named |= {f"Exercise {lesson.number.lstrip('0') or '0'}.{k}" for goal in lesson.objectives
                  for k in re.findall(r"Exercises? \d+\.\d+, (\d+)", goal)}
        assert named <= labels, f"{lesson.name}: objectives name {sorted(named - labels)}, not in the notebook"


def test_guarding_tests_are_read_from_the_tests_imports(tmp_path):
    (tmp_path / "test_rope.py").write_text("from glm_mini import GLM\n")  # named after rope, reaches only the model
    (tmp_path / "test_model.py").write_text("from glm_mini import GLM\n")  # named after model, reaches it
    (tmp_path / "test_spans.py").write_text("from glm_mini.objective import mask_sample\n")  # names the folder
    (tmp_path / "test_other.py").write_text("import glm_mini.rope as r\nfrom scale_up.plan import inference_plan\n")
    guarding_tests.guarding_tests.cache_clear()
    assert guarding_tests.guarding_tests(("glm_mini/rope.py",), tmp_path) == ("test_other.py",)
    assert guarding_tests.guarding_tests(("glm_mini/model.py",), tmp_path) == ("test_model.py",)
    assert guarding_tests.guarding_tests(("glm_mini/objective/",), tmp_path) == ("test_spans.py",)
    assert guarding_tests.resolve("glm_mini.objective", "mask_sample") == "glm_mini.objective.sample"
    assert guarding_tests.resolve("glm_mini", "GLM") == "glm_mini.model"
    rows = {r["number"]: r for r in outline.rows({})}
    assert "test_rope.py" in rows["03"]["tests"] and "test_exercises_nb03.py" in rows["03"]["tests"]


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
