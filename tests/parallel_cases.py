"""Shared pieces of the parallel parity tests: the nano model, a GLM-masked batch, relative error, grads by name."""

import torch
import torch.nn.functional as F

from glm_mini import GLM, PRESETS, prefix_causal_mask

CFG = PRESETS["nano"]  # 4 heads, GeGLU width 176, vocab 1024: divisible by TP 1, 2 and 4
TOL = 1e-5  # fp32, relative to the largest reference value


def reference_model(seed: int = 0) -> GLM:
    torch.manual_seed(seed)
    return GLM(CFG)


def batch(b: int = 4, s: int = 12, seed: int = 1) -> dict:
    """input_ids, targets, position_ids, a bidirectional-prefix attention_mask (True = may attend)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, CFG.vocab_size, (b, s + 1), generator=g)
    prefix = torch.randint(1, s, (b,), generator=g)
    return {"input_ids": ids[:, :-1], "targets": ids[:, 1:], "position_ids": torch.arange(s).expand(b, s),
            "attention_mask": prefix_causal_mask(prefix, s)}


def forward(model, data: dict, rows=slice(None)):
    return model(data["input_ids"][rows], position_ids=data["position_ids"][rows],
                 attention_mask=data["attention_mask"][rows]).logits


def loss_of(logits, targets):
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def rel_err(got, expected) -> float:
    return ((got - expected).abs().max() / expected.abs().max().clamp_min(1e-30)).item()


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
