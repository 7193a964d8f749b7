"""Shared pieces of the parallel parity tests: the nano model, a GLM-masked batch, relative error, grads by name."""

import torch
import torch.nn.functional as F

from glm_mini import GLM, PRESETS
from scale_up.pipeline.example_batch import example_batch
from scale_up.tensor_parallel.check import relative_error as rel_err  # noqa: F401  (used by the tests)

CFG = PRESETS["nano"]  # 4 heads, GeGLU width 176, vocab 1024: divisible by TP 1, 2 and 4
TOL = 1e-5  # fp32, relative to the largest reference value


def reference_model(seed: int = 0) -> GLM:
    torch.manual_seed(seed)
    return GLM(CFG)


def batch(b: int = 4, s: int = 12, seed: int = 1) -> dict:
    """input_ids, targets, position_ids, a bidirectional-prefix attention_mask (True = may attend)."""
    return example_batch(CFG, b, s, seed)


def forward(model, data: dict, rows=slice(None)):
    return model(data["input_ids"][rows], position_ids=data["position_ids"][rows],
                 attention_mask=data["attention_mask"][rows]).logits


def loss_of(logits, targets):
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def grads(model) -> dict:
    return {name: p.grad for name, p in model.named_parameters()}


def params(model) -> dict:
    return {name: p.detach() for name, p in model.named_parameters()}


def assert_close_dicts(got: dict, expected: dict, what: str, tol: float = TOL) -> float:
    assert list(got) == list(expected), f"{what}: keys differ"
    worst = 0.0
    for key in expected:
        assert got[key].shape == expected[key].shape, f"{what} {key}: {got[key].shape} vs {expected[key].shape}"
        err = rel_err(got[key], expected[key])
        assert err <= tol, f"{what} {key}: relative error {err:.2e} > {tol}"
        worst = max(worst, err)
    return worst
