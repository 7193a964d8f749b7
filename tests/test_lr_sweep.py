"""Learning-rate sweeps: cells through the kit's trainer, reused on rerun, the same with 1 or 2 workers; the reading
(curves, usable ranges, margins, the lesson line)."""

import json

import pytest

from glm_mini.stability import lr_sensitivity as sens
from glm_mini.stability.lr_sweep import (CELL_FILE, Cell, Sweep, cell_dir, compact_results, load_sweep_results,
                                         run_cell, run_sweep, train_config)

TINY = {"max_steps": 4, "batch_size": 2, "seq_len": 32, "warmup_steps": 1, "val_batches": 1}


def _tiny(**changes):
    fields = dict(name="tiny", schemes=("post-ln", "alpha-only"), depths=(2,), lrs=(1e-3, 1e-2), seeds=(0,),
                  train=TINY, early_steps=2)
    return Sweep(**{**fields, **changes})


def _without_time(cells):
    return [{k: v for k, v in c.items() if k != "seconds"} for c in cells]


@pytest.mark.slow
def test_sweep_trains_every_cell_once_and_workers_do_not_change_a_number(tmp_path):
    sweep = _tiny()
    one = run_sweep(sweep, tmp_path / "one", workers=1, mode="test")
    two = run_sweep(sweep, tmp_path / "two", workers=2, mode="test")
    assert _without_time(one["cells"]) == _without_time(two["cells"])
    assert [(c["scheme"], c["lr"]) for c in one["cells"]] == [("post-ln", 1e-3), ("alpha-only", 1e-3),
                                                              ("post-ln", 1e-2), ("alpha-only", 1e-2)]
    cell = one["cells"][0]
    assert cell["steps"] == 4 and len(cell["loss"]) == 4 and len(cell["attn_logit_max"]) == 4
    assert len(cell["grad_norm_layers_early"]) == 2 and len(cell["attn_logit_max_by_layer"]) == 2
    assert cell["val_loss"] > 0 and cell["finite"]
    assert set(one["unigram_val_loss"]) == {"0"} and one["git_commit"]
    assert json.loads((tmp_path / "one" / "lr-sweep-tiny-test.json").read_text())["cells"] == one["cells"]
    folder = cell_dir(sweep, Cell("post-ln", 2, 1e-3, 0), tmp_path / "one")
    assert (folder / CELL_FILE).is_file() and (folder / "metrics.jsonl").is_file()
    assert not (folder / "checkpoints").exists()  # a sweep keeps numbers, not weights
    # a rerun reads every cell back; an interrupted cell (no cell.json) is trained again from the start
    stamp = (folder / CELL_FILE).stat().st_mtime_ns
    (cell_dir(sweep, Cell("alpha-only", 2, 1e-2, 0), tmp_path / "one") / CELL_FILE).unlink()
    again = run_sweep(sweep, tmp_path / "one", workers=1, mode="test")
    assert _without_time(again["cells"]) == _without_time(one["cells"])
    assert (folder / CELL_FILE).stat().st_mtime_ns == stamp
    # a summary written by an older version is made again from metrics.jsonl, without training
    old = json.loads((folder / CELL_FILE).read_text())
    (folder / CELL_FILE).write_text(json.dumps({k: v for k, v in old.items() if k != "summary_version"}))
    trained = (folder / "metrics.jsonl").stat().st_mtime_ns
    assert run_cell(sweep, Cell("post-ln", 2, 1e-3, 0), tmp_path / "one") == old
    assert (folder / "metrics.jsonl").stat().st_mtime_ns == trained
    assert set(cell["clipping"]) == {"clipped", "share", "kept", "clipped_early", "share_early", "kept_early"}
    assert cell["attn_logit_peak"] == pytest.approx(max(cell["attn_logit_max"]), rel=1e-4) and cell["spikes"] == 0
    # other settings never land in the same folder
    assert cell_dir(_tiny(train={**TINY, "max_steps": 5}), Cell("post-ln", 2, 1e-3, 0), tmp_path) != \
        cell_dir(sweep, Cell("post-ln", 2, 1e-3, 0), tmp_path)


def test_compact_results_keep_the_early_steps_and_every_fifth_after():
    cell = {"scheme": "x", "val_loss": 3.0, "loss": [7.123456 - 0.01 * i for i in range(40)],
            "grad_norm": [1.0] * 40, "grad_norm_embedding": [0.5] * 40, "attn_logit_max": [float(i) for i in range(40)]}
    results = {"settings": {"early_steps": 20}, "series_steps": list(range(1, 41)), "cells": [cell]}
    small = compact_results(results)
    assert small["series_steps"] == list(range(1, 21)) + [25, 30, 35, 40]
    assert small["cells"][0]["attn_logit_max"] == [float(s - 1) for s in small["series_steps"]]
    assert small["cells"][0]["loss"][0] == 7.123 and small["cells"][0]["val_loss"] == 3.0
    assert results["cells"][0]["loss"][0] == 7.123456  # the input is not changed


def test_cell_config_is_the_kit_trainer_with_the_schemes_switches():
    cfg = train_config(_tiny(), Cell("alpha-only", 2, 3e-3, 1))
    model = cfg.model_config()
    assert (cfg.lr, cfg.seed, cfg.max_steps, cfg.clip_grad) == (3e-3, 1, 4, 1.0)
    assert model.normalization == "deepnorm" and model.num_layers == 2 and model.hidden_size == 64
    assert model.residual_alpha == 2.0 and not model.deepnorm_init
    egs = train_config(_tiny(schemes=("egs-0.1-input",)), Cell("egs-0.1-input", 2, 3e-3, 0)).model_config()
    assert egs.embedding_gradient_shrink_alpha == 0.1 and not egs.shrink_logit_embedding_gradient


@pytest.mark.parametrize("changes, field", [({"schemes": ("rmsnorm",)}, "schemes"), ({"depths": ()}, "depths"),
                                            ({"depths": (0,)}, "depths"), ({"lrs": (-1e-3,)}, "lrs"),
                                            ({"seeds": ()}, "seeds"), ({"early_steps": 9}, "early_steps")])
def test_bad_sweeps_name_the_field(changes, field):
    with pytest.raises(ValueError, match=f"Sweep.{field}"):
        _tiny(**changes)


def test_bad_input_of_the_runner_and_readers(tmp_path):
    with pytest.raises(ValueError, match="workers"):
        run_sweep(_tiny(), tmp_path, workers=0)
    with pytest.raises(TypeError, match="sweep"):
        run_sweep("deepnorm", tmp_path)
    assert not any(tmp_path.iterdir())  # nothing was written
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_sweep_results(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{\"cells\": []}")
    with pytest.raises(ValueError, match="bad.json.*sweep"):
        load_sweep_results(tmp_path / "bad.json")


# ------------------------------------------------------------------------------------------------------------------
# reading a sweep

def _results(table, unigram=(4.7, 4.6), first_loss=7.0):
    """A results dict from {(scheme, depth, lr): [loss of seed 0, loss of seed 1, ...]}."""
    cells = [{"scheme": s, "depth": d, "lr": lr, "seed": seed, "val_loss": loss, "loss": [first_loss, loss]}
             for (s, d, lr), losses in table.items() for seed, loss in enumerate(losses)]
    return {"cells": cells, "unigram_val_loss": {str(i): u for i, u in enumerate(unigram)},
            "settings": {"seeds": [0, 1]}}


SYNTHETIC = _results({("post-ln", 6, 1e-3): [4.0, 4.2], ("post-ln", 6, 5e-3): [4.64, 4.66],
                      ("post-ln", 6, 1e-2): [4.65, 4.66],
                      ("deepnorm", 6, 1e-3): [4.1, 4.1], ("deepnorm", 6, 5e-3): [3.5, 3.6],
                      ("deepnorm", 6, 1e-2): [4.6, 4.7]})


def test_curve_collapse_line_usable_range_and_collapsed_cells():
    assert sens.curve(SYNTHETIC, "post-ln", 6)[0] == {"lr": 1e-3, "mean": pytest.approx(4.1), "lo": 4.0, "hi": 4.2,
                                                      "n": 2}
    assert sens.collapse_loss(SYNTHETIC) == pytest.approx(4.65)
    assert sens.usable_lrs(SYNTHETIC, "deepnorm", 6) == [1e-3, 5e-3]  # every seed <= 4.65 - 0.3
    assert sens.usable_lrs(SYNTHETIC, "post-ln", 6) == [1e-3]
    assert sens.usable_range({1e-3: [4.0, 4.5]}, 4.65) == []  # the mean is 4.25, but one seed is over 4.35

    # unigram 4.7 (seed 0) and 4.6 (seed 1): within 0.1 of it is a collapse, far above it is not yet trained
    assert sens.collapsed_cells(SYNTHETIC, "post-ln", 6) == [(5e-3, 0), (5e-3, 1), (1e-2, 0), (1e-2, 1)]
    assert sens.collapsed_cells(_results({("x", 6, 1e-4): [5.3, 4.55], ("x", 6, 1e-3): [4.62, 4.4]}), "x", 6) == [
        (1e-4, 1), (1e-3, 0)]
    assert sens.format_range([1e-3, 5e-3]) == "0.001-0.005" and sens.format_range([]) == "none"
    assert sens.format_range([1e-3, 2e-3], [1e-3, 2e-3, 3e-3]) == "0.001-0.002"
    assert sens.format_range([1e-3, 3e-3], [1e-3, 2e-3, 3e-3]) == "0.001, 0.003"  # a gap is shown
    with pytest.raises(ValueError, match="sandwich"):
        sens.curve(SYNTHETIC, "sandwich", 6)
    with pytest.raises(ValueError, match="cells"):
        sens.curve({"arms": {}}, "post-ln", 6)


def test_margin_separation_and_lr_sensitivity_equation():
    best = sens.best_margin(SYNTHETIC, 6)
    assert best["lr"] == 5e-3 and best["margin"] == pytest.approx(4.65 - 3.55) and best["separated"]
    low = next(r for r in sens.margins(SYNTHETIC, 6) if r["lr"] == 1e-3)
    assert low["margin"] == pytest.approx(0.0) and not low["separated"]  # 4.1 vs [4.0, 4.2]
    # E_η[min(ℓ(η), ℓ_0) − min ℓ]: deepnorm means 4.1, 3.55, 4.65, best 3.55, ℓ_0 = 7.0
    assert sens.lr_sensitivity(SYNTHETIC, "deepnorm", 6) == pytest.approx((0.55 + 0.0 + 1.1) / 3)
    capped = _results({("x", 6, 1e-3): [3.0, 3.0], ("x", 6, 1e-2): [9.0, 9.0]}, first_loss=5.0)
    assert sens.lr_sensitivity(capped, "x", 6) == pytest.approx((0.0 + 2.0) / 2)  # 9 is capped at ℓ_0 = 5


def test_lesson_line_shown_and_not_shown():
    line = sens.lesson_line(SYNTHETIC)
    assert line.startswith("lesson deepnorm: shown (at 6 layers, lr 0.005: deepnorm 3.55 [3.50, 3.60] vs post-ln "
                           "4.65 [4.64, 4.66] nats, margin 1.10 nat on the mean of 2 seeds")
    assert "usable lr deepnorm 0.001-0.005, post-ln 0.001" in line
    close = _results({("post-ln", 6, 5e-3): [4.6, 4.7], ("deepnorm", 6, 5e-3): [3.8, 3.9]})
    assert sens.lesson_line(close).startswith("lesson deepnorm: not shown (the largest margin is under 1 nat: ")
    overlap = _results({("post-ln", 6, 5e-3): [3.5, 6.7], ("deepnorm", 6, 5e-3): [3.6, 3.6]})
    assert sens.lesson_line(overlap).startswith("lesson deepnorm: not shown (the seeds overlap: ")
