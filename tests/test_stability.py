"""glm_mini.stability: DeepNorm init table, EGS identity, fp16 score overflow, per-layer gradient scale at init."""

import math

import pytest
import torch

from glm_mini import GLM, NORMALIZATIONS, PRESETS, GLMConfig, shrink_gradient
from glm_mini.stability import (FP16_MAX, attention_overflow, expected_init_stds, layer_grad_norms_at_init,
                                measured_init_stds, overflow_sweep)

TEST_MODEL = GLMConfig(num_layers=4, hidden_size=256, num_attention_heads=8, inner_hidden_size=512, vocab_size=2048)
DEEP_THIN = PRESETS["nano"].replace(num_layers=24, hidden_size=32, num_attention_heads=2, inner_hidden_size=64)


def test_expected_stds_reproduce_the_facts_table_for_glm_130b():
    """docs/glm130b_facts.md §1.6 (worked out there): 0.00902, 0.000762, 0.000563, 0.00350."""
    stds = expected_init_stds(PRESETS["glm-130b"])
    assert round(stds["qk"], 5) == 0.00902 and round(stds["embedding"], 5) == 0.00350
    assert round(stds["v"], 6) == round(stds["dense"], 6) == 0.000762
    assert round(stds["ffn_x1"], 6) == round(stds["ffn_x2"], 6) == round(stds["ffn_down"], 6) == 0.000563


@pytest.mark.parametrize("overrides", [{}, {"official_qkv_init_tp": 2}, {"normalization": "pre-ln"},
                                       {"normalization": "sandwich", "init_method_std": 0.03}])
def test_measured_init_std_of_every_matrix_within_2_percent_of_the_table(overrides):
    cfg = TEST_MODEL.replace(**overrides)
    torch.manual_seed(0)
    measured, expected = measured_init_stds(GLM(cfg)), expected_init_stds(cfg)
    assert measured.keys() == expected.keys()
    for group, std in expected.items():
        assert abs(measured[group] - std) <= 0.02 * std, f"{group}: measured {measured[group]:.6f} vs {std:.6f}"


def test_measured_std_notices_a_wrong_init():
    torch.manual_seed(0)
    model = GLM(TEST_MODEL)
    with torch.no_grad():
        model.transformer.layers["0"].mlp.dense_4h_to_h.weight.mul_(3.0)  # one layer of four, gain 3 instead of β
    measured = measured_init_stds(model)
    assert measured["ffn_down"] > 1.2 * expected_init_stds(TEST_MODEL)["ffn_down"]


@pytest.mark.parametrize("alpha", [1.0, 0.1, 0.37])
def test_egs_identity_forward_unchanged_gradient_times_alpha(alpha):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 5, 8, generator=gen, requires_grad=True)
    upstream = torch.randn(3, 5, 8, generator=gen)
    y = x * alpha + x.detach() * (1 - alpha)  # the identity as written in the paper
    torch.testing.assert_close(y, x, rtol=0, atol=1e-6)
    torch.testing.assert_close(shrink_gradient(x, alpha), y, rtol=0, atol=0)
    (shrink_gradient(x, alpha) * upstream).sum().backward()
    torch.testing.assert_close(x.grad, alpha * upstream, rtol=1e-6, atol=0)


def test_fp16_scores_overflow_without_layer_scaling_and_stay_finite_with_it():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 16, 128, generator=gen) for _ in range(3))  # [b, nh, s, d]
    out = attention_overflow(q * 200, k * 200, v, layer_number=69)
    assert out["max_abs_score"] > FP16_MAX  # the true scores do not fit in fp16
    assert not out["plain_finite"] and out["scaled_finite"]
    assert out["scaled_max_error"] < 1e-2  # and the scaled fp16 result is the fp32 one
    small = attention_overflow(q, k, v, layer_number=69)
    assert small["plain_finite"] and small["scaled_finite"]


def test_overflow_sweep_crosses_over_once_scores_pass_fp16_max():
    rows = overflow_sweep([1.0, 50.0, 300.0], layer_number=10, shape=(1, 2, 8, 64))
    assert [r["scale"] for r in rows] == [1.0, 50.0, 300.0]
    assert [r["plain_finite"] for r in rows] == [True, True, False]
    assert all(r["scaled_finite"] for r in rows)
    assert rows[2]["max_abs_score"] > FP16_MAX > rows[1]["max_abs_score"]


def test_layer_grad_norms_at_init_one_per_layer_for_every_scheme_and_reproducible():
    tokens = torch.randint(0, 1024, (2, 17), generator=torch.Generator().manual_seed(0))
    for scheme in NORMALIZATIONS:
        cfg = DEEP_THIN.replace(normalization=scheme)
        norms = layer_grad_norms_at_init(cfg, tokens, seed=3)
        assert len(norms) == 24 and all(math.isfinite(g) and g > 0 for g in norms)
        if scheme == "deepnorm":
            assert norms == layer_grad_norms_at_init(cfg, tokens, seed=3)
            assert norms != layer_grad_norms_at_init(cfg, tokens, seed=4)


def test_layer_grad_norms_equal_the_trainers_grad_norms_by_hand():
    tokens = torch.randint(0, 1024, (2, 9), generator=torch.Generator().manual_seed(1))
    cfg = PRESETS["nano"]
    norms = layer_grad_norms_at_init(cfg, tokens, seed=0)
    torch.manual_seed(0)
    model = GLM(cfg)
    logits = model(tokens[:, :-1]).logits
    torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab_size), tokens[:, 1:].reshape(-1)).backward()
    by_hand = [math.sqrt(sum(float(p.grad.pow(2).sum()) for p in layer.parameters()))
               for layer in model.transformer.layers.values()]
    assert norms == pytest.approx(by_hand, rel=1e-5)


@pytest.mark.parametrize("call, name", [
    (lambda: expected_init_stds({"num_layers": 2}), "config"),
    (lambda: measured_init_stds(torch.nn.Linear(2, 2)), "model"),
    (lambda: layer_grad_norms_at_init("nano", torch.zeros(1, 4, dtype=torch.long)), "config"),
    (lambda: layer_grad_norms_at_init(PRESETS["nano"], torch.zeros(4, dtype=torch.long)), "tokens"),
    (lambda: layer_grad_norms_at_init(PRESETS["nano"], torch.full((1, 4), 5000)), "tokens"),
    (lambda: attention_overflow(torch.zeros(2, 3), torch.zeros(1, 1, 2, 4), torch.zeros(1, 1, 2, 4), 0), "q"),
    (lambda: attention_overflow(*(torch.zeros(1, 1, 2, 4),) * 3, layer_number=-1), "layer_number"),
    (lambda: overflow_sweep([], 3), "scales"),
    (lambda: overflow_sweep([1.0, -2.0], 3), "scales"),
])
def test_bad_input_names_the_argument(call, name):
    with pytest.raises((ValueError, TypeError), match=name):
        call()
