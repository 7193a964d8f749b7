"""Attention: interleaved fused QKV, query-key layer scaling, FP32 softmax, the two equal paths, finite masked rows."""

import math

import pytest
import torch

from glm_mini.attention import SelfAttention, official_attention, sdpa_attention
from glm_mini.masks import causal_mask, prefix_causal_mask
from glm_mini.rope import RotaryEmbedding


def _qkv(b=2, nh=3, s=7, d=8, dtype=torch.float32):
    return [torch.randn(b, nh, s, d, dtype=dtype) for _ in range(3)]


def test_sdpa_path_equals_official_recipe_including_rows_that_attend_nowhere():
    q, k, v = _qkv()
    allowed = prefix_causal_mask(torch.tensor([2, 4]), 7)
    allowed[1, :, 5:] = False  # two padding rows
    for coeff in (1.0, 3.0):
        ref = official_attention(q, k, v, allowed, coeff=coeff)
        assert torch.allclose(sdpa_attention(q, k, v, allowed), ref, atol=1e-6)
    assert torch.allclose(ref[1, :, 5:], v[1].mean(dim=-2, keepdim=True).expand(-1, 2, -1), atol=1e-6), \
        "a row that attends nowhere gets uniform weights (official -10000 fill), i.e. mean(v)"


@pytest.mark.parametrize("path", ["sdpa", "official"])
def test_masked_rows_have_finite_outputs_and_gradients(path):
    q, k, v = (t.requires_grad_() for t in _qkv())
    allowed = torch.zeros(2, 1, 7, 7, dtype=torch.bool)
    allowed[0] = causal_mask(7, 7)[0]  # batch 1 is all padding
    out = sdpa_attention(q, k, v, allowed) if path == "sdpa" else official_attention(q, k, v, allowed)
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


def test_layer_scaling_is_exact_in_fp32_and_prevents_fp16_score_overflow():
    q, k, v = _qkv(d=64)
    allowed = causal_mask(7, 7)
    assert torch.allclose(official_attention(q, k, v, allowed, coeff=1.0),
                          official_attention(q, k, v, allowed, coeff=8.0), atol=1e-6)
    # |q.k|/sqrt(d) = 64*100*100/8 = 80000 > 65504: without the (l+1) factor the fp16 scores overflow
    big = torch.full((1, 1, 2, 64), 100.0, dtype=torch.float16)
    v16 = v[:1, :1, :2].half()
    assert not torch.isfinite(official_attention(big, big, v16, causal_mask(2, 2), coeff=1.0)).all()
    assert torch.isfinite(official_attention(big, big, v16, causal_mask(2, 2), coeff=8.0)).all()


def test_fused_qkv_rows_are_interleaved_per_head():
    h, nh, d, s = 12, 3, 4, 5
    attn = SelfAttention(h, nh, layer_number=0).eval()
    x = torch.randn(1, s, h)
    rope = RotaryEmbedding(d)(torch.arange(s).view(1, s), torch.float32)
    out, (k_cache, v_cache) = attn(x, rope, causal_mask(s, s))
    W, B = attn.query_key_value.weight, attn.query_key_value.bias
    for j in range(nh):  # rows [3dj, 3dj+d) are q_j, then k_j, then v_j
        v_j = x @ W[3 * d * j + 2 * d: 3 * d * (j + 1)].T + B[3 * d * j + 2 * d: 3 * d * (j + 1)]
        assert torch.allclose(v_cache[0, j], v_j[0], atol=1e-6)
    # and the contiguous (non-interleaved) reading would be wrong
    assert not torch.allclose(v_cache[0, 0], (x @ W[2 * h: 2 * h + d].T + B[2 * h: 2 * h + d])[0], atol=1e-3)


def test_attention_scale_is_one_over_sqrt_head_dim():
    q, k, v = _qkv(b=1, nh=1, s=2, d=16)
    allowed = torch.ones(1, 1, 2, 2, dtype=torch.bool)
    probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(16), dim=-1)
    assert torch.allclose(official_attention(q, k, v, allowed), probs @ v, atol=1e-6)
