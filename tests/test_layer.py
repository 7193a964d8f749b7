"""The layer equations: DeepNorm Post-LN with α = (2N)^½ and the other schemes; GeGLU gate order."""

import math

import pytest
import torch
import torch.nn.functional as F

from glm_mini import GLMConfig
from glm_mini.layer import GLMLayer
from glm_mini.masks import causal_mask
from glm_mini.mlp import GeGLU
from glm_mini.rope import RotaryEmbedding

CFG = GLMConfig(num_layers=4, hidden_size=32, num_attention_heads=4, inner_hidden_size=48)


def _run(layer, h):
    s = h.shape[1]
    rope = RotaryEmbedding(CFG.head_dim)(torch.arange(s).view(1, s), torch.float32)
    allowed = causal_mask(s, s)
    out, _ = layer(h, rope, allowed)
    attn = lambda x: layer.attention(x, rope, allowed)[0]  # noqa: E731
    return out, attn


def _randomize_norms(layer):
    for m in layer.modules():
        if isinstance(m, torch.nn.LayerNorm):
            m.weight.data.normal_(1.0, 0.2)
            m.bias.data.normal_(0.0, 0.2)


@pytest.mark.parametrize("scheme", ["deepnorm", "post-ln", "pre-ln", "sandwich"])
def test_layer_equations(scheme):
    config = CFG.replace(normalization=scheme)
    layer = GLMLayer(config, layer_number=1).eval()
    _randomize_norms(layer)
    h = torch.randn(2, 5, 32)
    out, attn = _run(layer, h)
    ln_in, ln_post, mlp = layer.input_layernorm, layer.post_attention_layernorm, layer.mlp
    if scheme in ("deepnorm", "post-ln"):
        alpha = math.sqrt(2 * 4) if scheme == "deepnorm" else 1.0
        x = ln_in(h)
        y = ln_post(alpha * x + attn(x))
        expected = alpha * y + mlp(y)
    elif scheme == "pre-ln":
        h1 = h + attn(ln_in(h))
        expected = h1 + mlp(ln_post(h1))
    else:
        h1 = h + layer.third_layernorm(attn(ln_in(h)))
        expected = h1 + layer.fourth_layernorm(mlp(ln_post(h1)))
    assert torch.allclose(out, expected, atol=1e-5)


def test_deepnorm_with_zero_branches_is_alpha_times_layernorm():
    """With Attn = FFN = 0 the layer is α·LN(α·LN(h)): the residual is the normalized input scaled by α."""
    layer = GLMLayer(CFG, layer_number=0).eval()
    for lin in (layer.attention.dense, layer.mlp.dense_4h_to_h):
        lin.weight.data.zero_()
        lin.bias.data.zero_()
    h = torch.randn(2, 5, 32) * 7 + 3
    out, _ = _run(layer, h)
    ln = lambda t: F.layer_norm(t, (32,), eps=CFG.layernorm_epsilon)  # noqa: E731
    alpha = math.sqrt(8)
    assert torch.allclose(out, alpha * ln(alpha * ln(h)), atol=1e-5)
    assert torch.allclose(out.std(-1, unbiased=False), torch.full((2, 5), alpha), atol=1e-3)


def test_geglu_gates_the_second_half_with_exact_gelu():
    mlp = GeGLU(8, 6)
    y = torch.randn(3, 8)
    x1, x2 = (y @ mlp.dense_h_to_4h.weight.T + mlp.dense_h_to_4h.bias).split(6, dim=-1)
    erf_gelu = 0.5 * x2 * (1 + torch.erf(x2 / math.sqrt(2)))
    expected = (x1 * erf_gelu) @ mlp.dense_4h_to_h.weight.T + mlp.dense_4h_to_h.bias
    assert torch.allclose(mlp(y), expected, atol=1e-6)
    swapped = (F.gelu(x1) * x2) @ mlp.dense_4h_to_h.weight.T + mlp.dense_4h_to_h.bias
    assert not torch.allclose(mlp(y), swapped, atol=1e-3)
    tanh = (x1 * F.gelu(x2, approximate="tanh")) @ mlp.dense_4h_to_h.weight.T + mlp.dense_4h_to_h.bias
    assert not torch.equal(mlp(y), tanh)
