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


def test_an_unknown_notebook_name_is_an_error_naming_it(capsys):
    with pytest.raises(ValueError, match=r"names: .*'zz_nope'.*00_tour"):
        runner.notebook_paths(["00", "zz_nope"])
    with pytest.raises(SystemExit) as stop:
        runner.main(["zz_nope"])
    assert stop.value.code == 2
    assert "zz_nope" in capsys.readouterr().err


def test_budget_rule_and_notes():
    run = runner.NotebookRun("07_x", seconds=130.0, budget_s=60.0, summary="")
    assert runner.over_budget(run, 2.0) and not runner.over_budget(run, 3.0)
    assert not runner.over_budget(run, 0), "factor 0 turns the rule off"
    assert not runner.over_budget(runner.NotebookRun("x", 1e9, None, ""), 2.0), "no stated budget, nothing to enforce"
    assert runner.budget_note(run, fast=True) == " (budget 60 s)"
    assert "FAST mode's" in runner.budget_note(run, fast=False)


def test_a_notebook_far_over_budget_fails_the_run_and_timings_are_recorded(tmp_path, monkeypatch, capfd):
    folder = tmp_path / "nbs"
    folder.mkdir()
    _notebook(folder / "97_slow.ipynb", ("import time; time.sleep(1.2)", []), ("print('slept')", ["summary"]))
    nb = nbformat.read(folder / "97_slow.ipynb", as_version=4)
    nb.cells[0].source = "# slow\n\nBudget: 0.5 s"
    nbformat.write(nb, folder / "97_slow.ipynb")
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", folder)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "fresh" / "ipython"))
    out = tmp_path / "out"
    (out).mkdir()
    (out / runner.TIMINGS_FILE).write_text('{"00_tour": {"FAST": {"seconds": 9.0}}}')
    assert runner.main(["97", "--out", str(out)]) == 1
    printed, errors = capfd.readouterr()
    assert "WARNING" not in errors and "does not exist" not in errors, f"a first run should be quiet: {errors}"
    assert "FAILED: 97_slow took" in printed and "2 × its 0.5 s budget" in printed
    timings = runner.read_timings(out)
    assert timings["97_slow"]["FAST"]["seconds"] >= 1.2 and timings["97_slow"]["FAST"]["budget_s"] == 0.5
    assert timings["00_tour"]["FAST"]["seconds"] == 9.0, "other notebooks' timings are kept"
    assert (tmp_path / "fresh" / "ipython").is_dir(), "the runner creates the cache folders it is pointed at"


def test_bad_budget_factor_and_unreadable_timings(tmp_path, capsys):
    with pytest.raises(SystemExit):
        runner.main(["00", "--budget-factor", "-1"])
    assert "--budget-factor" in capsys.readouterr().err
    (tmp_path / runner.TIMINGS_FILE).write_text("[1, 2")
    assert runner.read_timings(tmp_path) == {}
    assert "ignored and rewritten" in capsys.readouterr().out
