"""glm_mini.experiments: the course's sweeps, their CLI, FAST cells inside FULL, and the committed sweep, which
reproduces from the settings recorded in it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from glm_mini import experiments
from glm_mini.stability.lr_sweep import Cell, Sweep, load_sweep_results, run_cell

ROOT = Path(__file__).resolve().parents[1]
TINY = {"max_steps": 4, "batch_size": 2, "seq_len": 32, "warmup_steps": 1, "val_batches": 1}


def _tiny(**changes):
    fields = dict(name="tiny", schemes=("post-ln", "alpha-only"), depths=(2,), lrs=(1e-3, 1e-2), seeds=(0,),
                  train=TINY, early_steps=2)
    return Sweep(**{**fields, **changes})


def test_get_sweep_names_a_bad_name_or_mode():
    with pytest.raises(ValueError, match="name"):
        experiments.get_sweep("nope")
    with pytest.raises(ValueError, match="mode"):
        experiments.get_sweep("deepnorm", "medium")
    assert experiments.committed_results_path("egs").name == "lr-sweep-egs-full.json"


def test_fast_cells_are_full_cells():
    """A FULL run reuses what a notebook trained in FAST mode: every FAST cell has a FULL twin, same settings."""
    for name, modes in experiments.SWEEPS.items():
        fast, full = modes["fast"], modes["full"]
        assert fast.train == full.train and fast.model == full.model and fast.early_steps == full.early_steps, name
        assert set(fast.cells()) <= set(full.cells()), name


def test_cli_help_and_errors():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "glm_mini.experiments", "--help"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    for flag in ("--mode", "--out", "--workers", "--results", "deepnorm", "egs"):
        assert flag in out.stdout
    assert experiments.main(["deepnorm", "--workers", "0", "--out", "/nonexistent"]) == 2


@pytest.mark.slow
def test_committed_sweep_reproduces_from_its_recorded_settings(tmp_path):
    """Re-train one cell of the committed sweep from the settings recorded in the file; the numbers must match.

    Tolerance: 0.02 nat on the final validation loss and 1e-3 on each of the first 20 training losses. The same
    machine reproduces them bit for bit; another CPU may round a few float sums differently, which a smooth run
    (lr 1e-3, far from where any scheme collapses) keeps small."""
    path = experiments.committed_results_path("deepnorm")
    results = load_sweep_results(path)
    settings = results["settings"]
    sweep = Sweep(**{**settings, **{k: tuple(settings[k]) for k in ("schemes", "depths", "lrs", "seeds")}})
    recorded = next(c for c in results["cells"] if (c["scheme"], c["depth"], c["lr"], c["seed"]) ==
                    ("deepnorm", 6, 1e-3, 0))
    again = run_cell(sweep, Cell("deepnorm", 6, 1e-3, 0), tmp_path)
    assert again["val_loss"] == pytest.approx(recorded["val_loss"], abs=0.02)
    assert again["loss"][:20] == pytest.approx(recorded["loss"][:20], abs=1e-3)
    assert results["command"].startswith("python -m glm_mini.experiments deepnorm --mode full")
    assert results["git_commit"] and "+dirty" not in results["git_commit"]


@pytest.mark.slow
def test_run_beside_committed_reads_the_committed_file(tmp_path, monkeypatch):
    tiny = _tiny(lrs=(1e-3,), schemes=("post-ln",))
    monkeypatch.setitem(experiments.SWEEPS, "tiny", {"fast": tiny, "full": tiny})
    monkeypatch.setattr(experiments, "COMMITTED", tmp_path / "committed")
    live, committed, line = experiments.run_beside_committed("tiny", "fast", tmp_path / "out", workers=1)
    assert committed is None and "no committed sweep" in line and "lr-sweep-tiny-full.json" in line
    assert line.startswith("fast: 1 runs trained or re-read in ")
    experiments.run("tiny", "full", tmp_path / "out", workers=1,
                    results=tmp_path / "committed" / "lr-sweep-tiny-full.json")
    again, committed, line = experiments.run_beside_committed("tiny", "fast", tmp_path / "out", workers=1)
    assert committed["cells"] == again["cells"] == live["cells"]  # the cell was trained once, then re-read
    assert "committed sweep lr-sweep-tiny-full.json: 1 runs made by `python -m glm_mini.experiments tiny --mode " \
           "full --workers 1` at commit " in line
