"""Every numbered notebook: paired with its py:percent source, stripped of outputs, executed top to bottom (FAST)."""

import jupytext
import nbformat
import pytest

import editions
import runner

NOTEBOOKS = runner.notebook_paths()
SOURCES = sorted(runner.NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))


def _ids(paths):
    return [p.stem for p in paths]


def _code_and_markdown(nb):
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in nb.cells]


def test_every_source_has_its_pair():
    assert SOURCES, "no notebooks/NN_*.py sources found"
    assert _ids(SOURCES) == _ids(NOTEBOOKS), "each notebooks/NN_x.py needs NN_x.ipynb beside it (run `make sync`)"


@pytest.mark.parametrize("source", SOURCES, ids=_ids(SOURCES))
def test_ipynb_matches_its_source(source):
    from_py = jupytext.read(source)
    ipynb = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    assert _code_and_markdown(ipynb) == _code_and_markdown(from_py), (
        f"{source.with_suffix('.ipynb').name} differs from {source.name}: run `make sync`"
    )
    with_outputs = [i for i, c in enumerate(ipynb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not with_outputs, \
        f"{source.with_suffix('.ipynb').name}: cells {with_outputs} carry outputs; commit it stripped"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_states_budget_and_summary(path):
    nb = nbformat.read(path, as_version=4)
    assert runner.stated_budget(nb), f"{path.name}: first markdown cell must state 'Budget: N s'"
    tagged = [c for c in nb.cells if "summary" in c.metadata.get("tags", [])]
    assert tagged, f"{path.name}: needs a code cell tagged 'summary' that prints what it reproduced"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_executes(path, tmp_path):
    run = runner.execute(path, out_dir=tmp_path, fast=True)
    assert run.summary, f"{path.name}: the summary cell printed nothing"
    # the instructor edition runs this same code (tests/test_editions.py), so every exercise check must pass here
    source = jupytext.read(path.with_suffix(".py"))
    printed = "".join(o.get("text", "") for c in nbformat.read(tmp_path / path.name, as_version=4).cells
                      if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "stream")
    number = editions.notebook_number(path)
    for k in range(1, editions.exercise_count(source) + 1):
        assert f"Exercise {number}.{k}: PASS" in printed, f"{path.name}: Exercise {number}.{k} did not pass"
