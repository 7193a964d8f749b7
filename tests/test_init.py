"""DeepNorm initialization: Xavier-normal stds with gain β on FFN, value and output weights; the official QKV quirk."""

import math

import pytest
import torch

from glm_mini import GLM, GLMConfig
from glm_mini.init import beta_rows_of_qkv

CFG = GLMConfig(num_layers=4, hidden_size=256, num_attention_heads=8, inner_hidden_size=512, vocab_size=2048)


def _std_close(t, expected, tol=0.03):
    got = t.float().std().item()
    assert abs(got - expected) <= tol * expected, f"std {got:.6f} vs expected {expected:.6f}"


def test_130b_stds_from_the_spec_table():
    """docs/glm130b_facts.md §1.6: 0.00902 (q/k), 0.000762 (v, dense), 0.000563 (FFN), 0.00350 (embedding)."""
    h, f, v, beta = 12288, 32768, 150528, 140 ** -0.5
    assert round(math.sqrt(2 / (2 * h)), 5) == 0.00902
    assert round(beta * math.sqrt(2 / (2 * h)), 6) == 0.000762
    assert round(beta * math.sqrt(2 / (f + h)), 6) == 0.000563
    assert round(math.sqrt(2 / (v + h)), 5) == 0.00350


def test_deepnorm_init_stds_match_xavier_with_beta_gains():
    torch.manual_seed(0)
    model = GLM(CFG)
    h, f, beta = 256, 512, CFG.deepnorm_beta
    layer = model.transformer.layers["2"]
    qkv = layer.attention.query_key_value.weight.view(8, 3, 32, h)  # [heads, (q, k, v), d, h]
    _std_close(qkv[:, :2], math.sqrt(2 / (2 * h)))
    _std_close(qkv[:, 2], beta * math.sqrt(2 / (2 * h)))
    _std_close(layer.attention.dense.weight, beta * math.sqrt(2 / (2 * h)))
    x1, x2 = layer.mlp.dense_h_to_4h.weight.chunk(2)
    _std_close(x1, beta * math.sqrt(2 / (f + h)))
    _std_close(x2, beta * math.sqrt(2 / (f + h)))
    _std_close(layer.mlp.dense_4h_to_h.weight, beta * math.sqrt(2 / (f + h)))
    _std_close(model.transformer.word_embeddings.weight, math.sqrt(2 / (2048 + h)))
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    assert all(torch.count_nonzero(b) == 0 for b in biases)
    assert torch.all(layer.input_layernorm.weight == 1)


def test_official_quirk_scales_the_last_third_of_each_ranks_rows():
    cfg = CFG.replace(official_qkv_init_tp=2)
    rows = beta_rows_of_qkv(cfg).view(2, 3 * 256 // 2)  # [rank, rows of that rank]
    assert rows[:, 256:].all() and not rows[:, :256].any()
    # which is not the value projection: it covers q, k and v rows of the last third of each rank's heads
    by_head = beta_rows_of_qkv(cfg).view(8, 3, 32)
    assert by_head[:, 2].sum() < 8 * 32 and by_head[:, 0].any()
    torch.manual_seed(0)
    qkv = GLM(cfg).transformer.layers["0"].attention.query_key_value.weight
    mask = beta_rows_of_qkv(cfg)
    _std_close(qkv[mask], cfg.deepnorm_beta * math.sqrt(2 / (2 * 256)))
    _std_close(qkv[~mask], math.sqrt(2 / (2 * 256)))


@pytest.mark.parametrize("scheme", ["pre-ln", "post-ln", "sandwich"])
def test_megatron_init_for_other_schemes(scheme):
    torch.manual_seed(0)
    cfg = CFG.replace(normalization=scheme, init_method_std=0.02)
    layer = GLM(cfg).transformer.layers["1"]
    _std_close(layer.attention.query_key_value.weight, 0.02)
    _std_close(layer.mlp.dense_4h_to_h.weight, 0.02 / math.sqrt(8))


def test_deepnorm_halves_alpha_only_and_beta_only_and_both_off_is_post_ln():
    """Notebook 04's ablation: deepnorm_scale_residual switches α = (2N)^½, deepnorm_scale_init the Xavier/β init."""
    alpha_only = CFG.replace(deepnorm_scale_init=False)
    beta_only = CFG.replace(deepnorm_scale_residual=False)
    assert alpha_only.residual_alpha == math.sqrt(8) and beta_only.residual_alpha == 1.0
    assert not alpha_only.deepnorm_init and beta_only.deepnorm_init and CFG.deepnorm_init
    torch.manual_seed(0)
    layer = GLM(alpha_only).transformer.layers["1"]
    assert layer.alpha == math.sqrt(8)
    _std_close(layer.attention.query_key_value.weight, 0.02)  # post-ln's Megatron init
    _std_close(layer.mlp.dense_4h_to_h.weight, 0.02 / math.sqrt(8))
    torch.manual_seed(0)
    layer = GLM(beta_only).transformer.layers["1"]
    assert layer.alpha == 1.0
    _std_close(layer.mlp.dense_4h_to_h.weight, CFG.deepnorm_beta * math.sqrt(2 / (512 + 256)))  # DeepNorm's init
    # both halves off: the same parameters and the same logits as post-ln, draw for draw
    models = []
    for cfg in (CFG.replace(deepnorm_scale_init=False, deepnorm_scale_residual=False),
                CFG.replace(normalization="post-ln")):
        torch.manual_seed(3)
        models.append(GLM(cfg))
    ids = torch.randint(0, 2048, (2, 9))
    for (name, a), b in zip(models[0].state_dict().items(), models[1].state_dict().values()):
        assert torch.equal(a, b), name
    torch.testing.assert_close(models[0](ids).logits, models[1](ids).logits, rtol=0, atol=0)
