"""What every test of a shipped model family checks the same way: the recipe in the code is the recorded one, and
retraining its first steps gives the recorded curve (tests/test_reference.py, tests/test_int4_scale.py)."""

import dataclasses

import pytest
import torch

from glm_mini.train import TrainConfig, train


def assert_recipe_retrains_the_curve(manifest: dict, cfg: TrainConfig) -> None:
    """``cfg`` (the code's recipe, any ``out``) equals ``manifest["recipe"]`` and its first
    ``manifest["curve_steps_checked"]`` steps reproduce ``manifest["curve"]`` within ``manifest["curve_rtol"]``."""
    steps = manifest["curve_steps_checked"]
    cfg = dataclasses.replace(cfg, stop_after_step=steps)
    recorded = {k: v for k, v in manifest["recipe"].items() if k != "stop_after_step"}
    code = {k: v for k, v in cfg.to_json().items() if k not in ("out", "resume", "stop_after_step")}
    # a TrainConfig field added after the models were trained must sit at its default (it changes nothing they did)
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    added = {k: v for k, v in code.items() if k not in recorded}
    assert all(k in defaults and v == defaults[k] for k, v in added.items()), f"fields added since: {added}"
    assert {k: v for k, v in code.items() if k in recorded} == recorded, "the recipe in the code is the shipped one"
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train(cfg, progress=False)
    finally:
        torch.set_num_threads(previous)
    assert result.losses == pytest.approx(manifest["curve"]["loss"][:steps], rel=manifest["curve_rtol"])
