"""Notebook 03's exercise checks pass on the package's functions and fail, naming the mismatch, on wrong ones."""

import pytest
import torch
import torch.nn.functional as F

from glm_mini.exercises.nb03_transformer import check_deepnorm_layer, check_geglu, check_glm_mask, check_rotary
from glm_mini.layer import GLMLayer
from glm_mini.masks import prefix_causal_mask
from glm_mini.mlp import GeGLU
from glm_mini.rope import apply_rotary

def _printed(capsys):
    return capsys.readouterr().out.strip()

def test_mask_check(capsys):
    assert check_glm_mask(prefix_causal_mask)
    assert _printed(capsys) == "Exercise 3.1: PASS (3 cases)"

    def strictly_causal(prefix_lengths, seq_len):  # forgets that a query sees itself
        i = torch.arange(seq_len)
        return ((i.view(-1, 1) > i.view(1, -1)) | (i.view(1, -1) < prefix_lengths.view(-1, 1, 1))).unsqueeze(1)

    assert not check_glm_mask(strictly_causal)
    assert "Exercise 3.1: FAIL on case 'one prefix of 5 in 12': result[0, 0, 5, 5]: got False, expected True" \
        in _printed(capsys)

def test_rotary_check(capsys):
    assert check_rotary(apply_rotary)
    assert _printed(capsys) == "Exercise 3.2: PASS (3 cases)"

    def interleaved(x, cos, sin):  # pairs channels (2i, 2i+1): GPT-J's convention, not GLM's rotate-half
        pairs = torch.stack((-x[..., 1::2], x[..., ::2]), dim=-1).flatten(-2)
        return x * cos.unsqueeze(2) + pairs * sin.unsqueeze(2)

    assert not check_rotary(interleaved)
    assert "Exercise 3.2: FAIL on case 'b=1, s=6, 2 heads of 8': result[" in _printed(capsys)

def test_geglu_check(capsys):
    assert check_geglu(GeGLU.forward)
    assert _printed(capsys) == "Exercise 3.3: PASS (3 cases)"

    def gate_on_first_half(mlp, y):  # the paper's naming read literally: GELU on the wrong half
        x1, x2 = mlp.dense_h_to_4h(y).chunk(2, dim=-1)
        return mlp.dense_4h_to_h(F.gelu(x1) * x2)

    assert not check_geglu(gate_on_first_half)
    assert "Exercise 3.3: FAIL on case 'h=16, f=40'" in _printed(capsys)

def test_deepnorm_check(capsys):
    assert check_deepnorm_layer(lambda layer, h, rope, allowed: GLMLayer.forward(layer, h, rope, allowed)[0])
    assert _printed(capsys) == "Exercise 3.4: PASS (3 cases)"

    def raw_residual(layer, h, rope, allowed):  # residual from the un-normalized input: not DeepNorm
        x = layer.input_layernorm(h)
        y = layer.post_attention_layernorm(layer.alpha * h + layer.attention(x, rope, allowed)[0])
        return layer.alpha * y + layer.mlp(y)

    assert not check_deepnorm_layer(raw_residual)
    assert "Exercise 3.4: FAIL on case 'nano, layer 0': result[0, 0, 0]" in _printed(capsys)

    def alpha_one(layer, h, rope, allowed):  # Post-LN without DeepNorm's α
        x = layer.input_layernorm(h)
        y = layer.post_attention_layernorm(x + layer.attention(x, rope, allowed)[0])
        return y + layer.mlp(y)

    assert not check_deepnorm_layer(alpha_one)
    assert "FAIL" in _printed(capsys)

def test_not_yet_implemented_and_a_crash_are_reported(capsys):
    def todo(*args):
        raise NotImplementedError("Exercise 3.2: pair channel i with i + d/2")

    assert not check_rotary(todo)
    assert _printed(capsys) == ("Exercise 3.2: not yet implemented "
                                "(NotImplementedError: Exercise 3.2: pair channel i with i + d/2)")
    assert not check_geglu(lambda mlp, y: y @ y)
    assert "Exercise 3.3: FAIL on case 'h=16, f=40': raised RuntimeError" in _printed(capsys)

def test_a_non_function_is_a_type_error():
    with pytest.raises(TypeError, match="student_fn"):
        check_glm_mask("prefix_causal_mask")
