"""The notebook runner behind `make tour` and the notebook tests: budgets, summaries, and failures that fail."""

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

import runner


def _notebook(path, *cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t\n\nBudget: 12 s (FAST)")]
    for source, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


def test_runner_reports_budget_summary_and_skips_tagged_cells(tmp_path):
    path = _notebook(tmp_path / "98_ok.ipynb",
                     ("import os\nfast = os.environ['GLM_KIT_FAST']", []),
                     ("raise RuntimeError('needs 8 GPUs')", ["skip-execution"]),
                     ("print(f'reproduced 42, FAST={fast}')", ["summary"]))
    run = runner.execute(path, out_dir=tmp_path / "out")
    assert run.budget_s == 12.0
    assert run.summary == "reproduced 42, FAST=1"
    assert (tmp_path / "out" / "98_ok.ipynb").exists()
    assert not nbformat.read(path, as_version=4).cells[-1].get("outputs"), "the source notebook is never modified"


def test_a_failing_cell_fails_the_run_and_still_writes_the_executed_copy(tmp_path):
    path = _notebook(tmp_path / "99_bad.ipynb", ("assert 1 + 1 == 3, 'arithmetic'", []))
    with pytest.raises(CellExecutionError, match="arithmetic"):
        runner.execute(path, out_dir=tmp_path / "out")
    assert (tmp_path / "out" / "99_bad.ipynb").exists()
