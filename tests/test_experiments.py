"""glm_mini.experiments: one-switch experiments through glm_mini.train; divergence events; reproducible; resumable."""

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from glm_mini.experiments import EXPERIMENTS, divergence_steps, load_results, main, outcome_line, run_experiment

ROOT = Path(__file__).resolve().parents[1]


def test_divergence_events_are_non_finite_losses_or_losses_over_factor_times_the_running_minimum():
    steps = [1, 2, 3, 4, 5, 6, 7]
    losses = [7.0, 5.0, 4.0, 6.1, 5.9, math.nan, math.inf]
    assert divergence_steps(steps, losses, factor=1.5) == [4, 6, 7]  # 6.1 > 1.5*4; 5.9 < 6
    assert divergence_steps(steps, losses, factor=2.0) == [6, 7]
    assert divergence_steps([], []) == []


def _arms(results):
    return {k: {f: v for f, v in arm.items() if f != "train_seconds"} for k, arm in results["arms"].items()}


@pytest.mark.slow
def test_same_seed_same_results_other_seed_differs_and_records_everything(tmp_path, capsys):
    a = run_experiment("egs", max_steps=3, out_root=tmp_path / "a", seed=5)
    assert main(["egs", "--max-steps", "3", "--out", str(tmp_path / "b"), "--seed", "5"]) == 0  # the CLI, same seed
    assert capsys.readouterr().out.startswith("egs (fast, 4 layers, lr 0.02, 3 steps, seed 5)")
    b = load_results("egs", "fast", tmp_path / "b")
    assert _arms(a) == _arms(b)
    assert load_results("egs", "fast", tmp_path / "a")["arms"].keys() == {"1.0", "0.1"}
    arm = a["arms"]["0.1"]
    assert arm["steps"] == [1, 2, 3] and arm["complete"] and not arm["recovered"]
    assert len(arm["grad_norm_layers"][0]) == EXPERIMENTS["egs"].model["num_layers"]
    assert all(u > 0 for u in arm["update_norm"]) and all(r > 0 for r in arm["update_ratio"])
    # α only scales the embedding's gradient: step 1 is the same model, so the embedding norm is exactly ×0.1
    assert a["arms"]["0.1"]["loss"][0] == a["arms"]["1.0"]["loss"][0]
    assert a["arms"]["0.1"]["grad_norm_embedding"][0] == pytest.approx(
        0.1 * a["arms"]["1.0"]["grad_norm_embedding"][0], rel=1e-4)
    c = run_experiment("egs", max_steps=3, out_root=tmp_path / "c", seed=6)
    assert c["arms"]["1.0"]["loss"] != a["arms"]["1.0"]["loss"]
    line = outcome_line(a)
    assert line.startswith("egs (fast, 4 layers, lr 0.02, 3 steps, seed 5): 1.0 ") and "; 0.1 " in line


@pytest.mark.slow
def test_stopped_then_resumed_equals_uninterrupted(tmp_path):
    whole = run_experiment("egs", max_steps=4, out_root=tmp_path / "whole")
    part = run_experiment("egs", max_steps=4, stop_after_step=2, out_root=tmp_path / "part")
    assert [arm["steps"] for arm in part["arms"].values()] == [[1, 2], [1, 2]]
    assert not any(arm["complete"] for arm in part["arms"].values())
    with pytest.raises(FileExistsError, match="out"):  # without --resume nothing is overwritten
        run_experiment("egs", max_steps=4, out_root=tmp_path / "part")
    resumed = run_experiment("egs", max_steps=4, resume=True, out_root=tmp_path / "part")
    assert _arms(resumed) == _arms(whole)
    other = run_experiment("egs", max_steps=1, resume=True, lr=0.5, out_root=tmp_path / "part")
    assert other["run_dir"] != resumed["run_dir"]  # other settings train beside, never into, the first runs
    assert _arms(run_experiment("egs", max_steps=4, resume=True, out_root=tmp_path / "part")) == _arms(whole)


def test_help_lists_every_flag():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "glm_mini.experiments", "--help"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0
    for flag in ("--mode", "--out", "--seed", "--resume", "--lr", "--max-steps", "--stop-after-step",
                 "--divergence-factor", "--threads", "--progress", "deepnorm", "egs"):
        assert flag in out.stdout


@pytest.mark.parametrize("kwargs, name", [
    ({"name": "nope"}, "name"), ({"mode": "medium"}, "mode"), ({"seed": "0"}, "seed"), ({"lr": -1.0}, "lr"),
    ({"max_steps": 0}, "max_steps"), ({"stop_after_step": 0}, "stop_after_step"),
    ({"stop_after_step": 10_000}, "stop_after_step"), ({"divergence_factor": 1.0}, "divergence_factor"),
    ({"threads": 0}, "threads"),
])
def test_bad_input_names_the_argument(kwargs, name, tmp_path):
    args = {"name": "egs", "out_root": tmp_path, **kwargs}
    with pytest.raises((ValueError, TypeError), match=name):
        run_experiment(**args)
    assert not any(tmp_path.iterdir())  # nothing was written


def test_bad_input_of_the_readers(tmp_path):
    with pytest.raises(FileNotFoundError, match="egs-full.json"):
        load_results("egs", "full", tmp_path)
    with pytest.raises(ValueError, match="steps/losses"):
        divergence_steps([1, 2], [3.0])
    with pytest.raises(ValueError, match="factor"):
        divergence_steps([1], [3.0], factor=0.5)
    assert main(["egs", "--mode", "fast", "--threads", "0", "--out", str(tmp_path)]) == 2
    with pytest.raises(SystemExit):
        main(["nope"])


def test_outcome_line_tells_diverged_from_recovered_from_trained():
    def arm(losses):
        return {"loss": losses, "steps": list(range(1, len(losses) + 1)), "spike_steps": [],
                "final_loss": losses[-1], **_events(losses)}

    def _events(losses):
        events = divergence_steps(list(range(1, len(losses) + 1)), losses)
        return {"divergence_steps": events, "diverged_at": events[0] if events else None,
                "recovered": bool(events) and events[-1] != len(losses)}

    results = {"experiment": "deepnorm", "mode": "fast", "seed": 0, "divergence_factor": 1.5,
               "settings": {"model": {"num_layers": 24}, "train": {"lr": 0.03, "max_steps": 4}},
               "arms": {"post-ln": arm([6.0, 4.0, 7.0, math.nan]), "sandwich": arm([6.0, 4.0, 7.0, 4.1]),
                        "deepnorm": arm([6.0, 4.0, 3.9, 3.5])}}
    assert outcome_line(results) == (
        "deepnorm (fast, 24 layers, lr 0.03, 4 steps, seed 0): post-ln diverged at step 3 (2 steps over 1.5x its "
        "best loss or non-finite), 0 spikes; sandwich jumped at step 3 (1 step over 1.5x its best loss or "
        "non-finite) and recovered to loss 4.100, 0 spikes; deepnorm trained to loss 3.500, 0 spikes")
