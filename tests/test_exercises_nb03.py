"""Notebook 03's exercise checks pass on the package's functions and fail, naming the mismatch, on wrong ones."""

import math

import pytest
import torch

from glm_mini.attention import SelfAttention
from glm_mini.exercises.nb03_transformer import check_attention, check_deepnorm_layer, check_rotary
from glm_mini.layer import GLMLayer
from glm_mini.rope import apply_rope, apply_rotary


def _printed(capsys):
    return capsys.readouterr().out.strip()


def test_rotary_check(capsys):
    assert check_rotary(apply_rotary)
    assert _printed(capsys) == "Exercise 3.1: PASS (3 cases)"

    def interleaved(x, cos, sin):  # pairs channels (2i, 2i+1): GPT-J's convention, not GLM's rotate-half
        pairs = torch.stack((-x[..., 1::2], x[..., ::2]), dim=-1).flatten(-2)
        return x * cos.unsqueeze(2) + pairs * sin.unsqueeze(2)

    assert not check_rotary(interleaved)
    assert "Exercise 3.1: FAIL on case 'b=1, s=6, 2 heads of 8': result[" in _printed(capsys)


def _attention(layout="per head", scaling=True, fill=-10000.0):
    """An attention forward with one mistake chosen by the arguments (the defaults are the official recipe)."""
    def forward(attention, x, rope_tables, allowed):
        b, s, h = x.shape
        d = attention.head_dim
        qkv = attention.query_key_value(x)  # [b, s, 3h]
        if layout == "per head":
            q, k, v = qkv.view(b, s, -1, 3 * d).split(d, dim=-1)  # [b, s, nh, 3d] -> 3 x [b, s, nh, d]
        else:  # three blocks of h rows: the Megatron-free reading of "query_key_value"
            q, k, v = (t.reshape(b, s, -1, d) for t in qkv.chunk(3, dim=-1))  # 3 x [b, s, h] -> [b, s, nh, d]
        q, k = apply_rope(q, rope_tables), apply_rope(k, rope_tables)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [b, nh, s, d]
        coeff = attention.coeff if scaling else 1.0
        scores = (q / (math.sqrt(d) * coeff)) @ k.transpose(-1, -2)  # [b, nh, s, s]
        scores = scores.masked_fill(~allowed, fill).float() * coeff
        context = torch.softmax(scores, dim=-1).to(v.dtype) @ v
        return attention.dense(context.transpose(1, 2).reshape(b, s, -1))  # [b, nh, s, d] -> [b, s, h]
    return forward


def test_attention_check(capsys):
    assert check_attention(lambda attention, *args: SelfAttention.forward(attention, *args)[0])
    assert _printed(capsys) == "Exercise 3.2: PASS (4 cases)"
    assert check_attention(_attention())
    assert _printed(capsys) == "Exercise 3.2: PASS (4 cases)"

    assert not check_attention(_attention(layout="blocks"))
    assert "Exercise 3.2: FAIL on case 'h=32, 2 heads, layer 0'" in _printed(capsys)
    assert not check_attention(_attention(fill=float("-inf")))
    assert "FAIL on case 'edge: a padding row that may attend nowhere': result[1, 2, 0]: got nan" in _printed(capsys)
    assert not check_attention(_attention(scaling=False))
    out = _printed(capsys)
    assert "FAIL on case \"edge: FP16, layer 19, a score past FP16's 65504 unless q is divided by (l+1) first\"" in out
    assert "got nan" in out


def test_deepnorm_check(capsys):
    assert check_deepnorm_layer(lambda layer, h, rope, allowed: GLMLayer.forward(layer, h, rope, allowed)[0])
    assert _printed(capsys) == "Exercise 3.3: PASS (3 cases)"

    def raw_residual(layer, h, rope, allowed):  # residual from the un-normalized input: not DeepNorm
        x = layer.input_layernorm(h)
        y = layer.post_attention_layernorm(layer.alpha * h + layer.attention(x, rope, allowed)[0])
        return layer.alpha * y + layer.mlp(y)

    assert not check_deepnorm_layer(raw_residual)
    assert "Exercise 3.3: FAIL on case 'nano, layer 0': result[0, 0, 0]" in _printed(capsys)

    def alpha_one(layer, h, rope, allowed):  # Post-LN without DeepNorm's α
        x = layer.input_layernorm(h)
        y = layer.post_attention_layernorm(x + layer.attention(x, rope, allowed)[0])
        return y + layer.mlp(y)

    assert not check_deepnorm_layer(alpha_one)
    assert "FAIL" in _printed(capsys)


def test_not_yet_implemented_and_a_crash_are_reported(capsys):
    def todo(*args):
        raise NotImplementedError("Exercise 3.1: pair channel i with i + d/2")

    assert not check_rotary(todo)
    assert _printed(capsys) == ("Exercise 3.1: not yet implemented "
                                "(NotImplementedError: Exercise 3.1: pair channel i with i + d/2)")
    assert not check_attention(lambda attention, x, rope, allowed: x @ x)
    assert "Exercise 3.2: FAIL on case 'h=32, 2 heads, layer 0': raised RuntimeError" in _printed(capsys)


def test_a_non_function_is_a_type_error():
    with pytest.raises(TypeError, match="student_fn"):
        check_rotary("apply_rotary")
