"""Checks for notebook 03's exercises: the GLM mask, the RoPE rotation, GeGLU and the DeepNorm layer.

How it works
------------
Each ``check_*`` builds seeded inputs (several shapes and one edge case), calls the student's function and the
package's on the same inputs through ``run_check``, and prints PASS or the first mismatch. The references are the
package's own code: ``prefix_causal_mask`` (``M[i, j] = j < P or j <= i``), ``rope.apply_rotary``
(``x·cos + rotate_half(x)·sin``), ``GeGLU.forward`` (``W2 (x1 · gelu(x2))``) and ``GLMLayer.forward`` with DeepNorm
(``y = LN_post(α·x + Attn(x)), out = α·y + GeGLU(y)`` with ``x = LN_in(h)``); docs/glm130b_facts.md §1.3-1.5.
Modules are built under a fixed seed, so every run sees the same weights.
"""

from __future__ import annotations

import torch

from glm_mini.config import PRESETS, GLMConfig
from glm_mini.exercises.harness import Case, run_check
from glm_mini.layer import GLMLayer
from glm_mini.masks import prefix_causal_mask
from glm_mini.mlp import GeGLU
from glm_mini.rope import RotaryEmbedding, apply_rotary


def _seeded(build, seed: int):
    """``build()`` with torch's global RNG fixed to ``seed`` (and restored afterwards): seeded module init."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def check_glm_mask(student_fn) -> bool:
    """Exercise 3.1: ``student_fn(prefix_lengths [b] long, seq_len) -> bool [b, 1, s, s]``, True = may attend."""
    cases = [Case("one prefix of 5 in 12", (torch.tensor([5]), 12)),
             Case("a batch of three prefixes", (torch.tensor([1, 3, 7]), 9)),
             Case("edge: prefix 0 (plain causal) and the whole sequence", (torch.tensor([0, 6]), 6))]
    return run_check("Exercise 3.1", student_fn, prefix_causal_mask, cases)


def check_rotary(student_fn) -> bool:
    """Exercise 3.2: ``student_fn(x [b, s, nh, r], cos [b, s, r], sin [b, s, r]) -> [b, s, nh, r]``."""
    gen = torch.Generator().manual_seed(32)
    cases = []
    for label, (b, s, nh, r), positions in [("b=1, s=6, 2 heads of 8", (1, 6, 2, 8), None),
                                             ("b=2, s=5, 3 heads of 16", (2, 5, 3, 16), None),
                                             ("edge: position 0 is no rotation", (1, 3, 2, 8), torch.zeros(1, 3))]:
        pos = positions if positions is not None else torch.randint(0, 50, (b, s), generator=gen)
        cos, sin = RotaryEmbedding(r).tables(pos.long(), torch.float32)
        cases.append(Case(label, (torch.randn(b, s, nh, r, generator=gen), cos, sin)))
    return run_check("Exercise 3.2", student_fn, apply_rotary, cases, atol=1e-6)


def check_geglu(student_fn) -> bool:
    """Exercise 3.3: ``student_fn(mlp: GeGLU, y [b, s, h]) -> [b, s, h]``."""
    gen = torch.Generator().manual_seed(33)
    cases = []
    for label, (h, f, shape) in [("h=16, f=40", (16, 40, (2, 3, 16))), ("h=24, f=64", (24, 64, (1, 7, 24))),
                                 ("edge: a zero input (only the biases)", (16, 40, (1, 2, 16)))]:
        mlp = _seeded(lambda: GeGLU(h, f), seed=h + f).eval()
        torch.nn.init.normal_(mlp.dense_h_to_4h.bias, generator=gen)  # non-zero biases: the halves must be in order
        y = torch.zeros(shape) if label.startswith("edge") else torch.randn(shape, generator=gen)
        cases.append(Case(label, (mlp, y)))
    return run_check("Exercise 3.3", student_fn, GeGLU.forward, cases, atol=1e-5)


def _deepnorm_layer_output(layer: GLMLayer, h, rope_tables, allowed):
    return layer(h, rope_tables, allowed)[0]


def check_deepnorm_layer(student_fn) -> bool:
    """Exercise 3.4: ``student_fn(layer: GLMLayer, h [b, s, hidden], rope_tables, allowed) -> [b, s, hidden]``."""
    gen = torch.Generator().manual_seed(34)
    cases = []
    for label, config, layer_number, (b, s), prefix in [
            ("nano, layer 0", PRESETS["nano"], 0, (2, 6), [2, 4]),
            ("nano, layer 1", PRESETS["nano"], 1, (1, 9), [5]),
            ("edge: 12 layers (alpha = sqrt(24)), prefix = whole sequence",
             GLMConfig(num_layers=12, hidden_size=32, num_attention_heads=2, inner_hidden_size=88,
                       vocab_size=64, max_sequence_length=64), 3, (1, 4), [4])]:
        layer = _seeded(lambda: GLMLayer(config, layer_number), seed=layer_number).eval()
        for norm in (layer.input_layernorm, layer.post_attention_layernorm):  # LN gains that are not all 1
            torch.nn.init.uniform_(norm.weight, 0.5, 1.5, generator=gen)
        rope_tables = RotaryEmbedding(config.head_dim)(torch.arange(s).expand(b, s), torch.float32)
        allowed = prefix_causal_mask(torch.tensor(prefix), s)
        cases.append(Case(label, (layer, torch.randn(b, s, config.hidden_size, generator=gen), rope_tables, allowed)))
    return run_check("Exercise 3.4", student_fn, _deepnorm_layer_output, cases, atol=1e-5)
