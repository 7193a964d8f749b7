"""Checks for notebook 03's exercises: the RoPE rotation, the attention forward, the DeepNorm layer.

How it works
------------
Each ``check_*`` builds seeded inputs (several shapes and one edge case), calls the student's function and the
package's on the same inputs through ``run_check``, and prints PASS or the first mismatch. The references are the
package's own code: ``rope.apply_rotary`` (``x·cos + rotate_half(x)·sin``), ``SelfAttention.forward`` (the fused
per-head ``[q_j; k_j; v_j]`` rows, RoPE on q and k, ``q / (√d·(l+1))``, the −10000 fill, ``(l+1)·scores`` in an
FP32 softmax, the output projection) and ``GLMLayer.forward`` with DeepNorm (``y = LN_post(α·x + Attn(x)),
out = α·y + GeGLU(y)`` with ``x = LN_in(h)``); docs/glm130b_facts.md §1.3-1.5. The attention check has two edge
cases: a padding row that may attend nowhere (its output must be finite: the mean of v, as the −10000 fill gives),
and an FP16 layer whose scores pass FP16's largest value (65504) unless q is divided by (l+1) *before* the matmul:
without layer scaling that case turns into inf and NaN. Modules are built under a fixed seed, so every run sees the
same weights.
"""

from __future__ import annotations

import math

import torch

from glm_mini.attention import SelfAttention, split_qkv
from glm_mini.config import PRESETS, GLMConfig
from glm_mini.exercises.harness import Case, run_check
from glm_mini.layer import GLMLayer
from glm_mini.masks import prefix_causal_mask
from glm_mini.rope import RotaryEmbedding, apply_rotary


def _seeded(build, seed: int):
    """``build()`` with torch's global RNG fixed to ``seed`` (and restored afterwards): seeded module init."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def check_rotary(student_fn) -> bool:
    """Exercise 3.1: ``student_fn(x [b, s, nh, r], cos [b, s, r], sin [b, s, r]) -> [b, s, nh, r]``."""
    gen = torch.Generator().manual_seed(32)
    cases = []
    for label, (b, s, nh, r), positions in [("b=1, s=6, 2 heads of 8", (1, 6, 2, 8), None),
                                             ("b=2, s=5, 3 heads of 16", (2, 5, 3, 16), None),
                                             ("edge: position 0 is no rotation", (1, 3, 2, 8), torch.zeros(1, 3))]:
        pos = positions if positions is not None else torch.randint(0, 50, (b, s), generator=gen)
        cos, sin = RotaryEmbedding(r).tables(pos.long(), torch.float32)
        cases.append(Case(label, (torch.randn(b, s, nh, r, generator=gen), cos, sin)))
    return run_check("Exercise 3.1", student_fn, apply_rotary, cases, atol=1e-6)


def _attention_output(attention: SelfAttention, x, rope_tables, allowed):
    return attention(x, rope_tables, allowed)[0]


def _overflowing_fp16_case(gen: torch.Generator) -> tuple:
    """A one-token FP16 case whose score q·k/√d is about 2·10^5: past FP16's 65504 when computed as is, about 10^4
    once q is divided by (l+1) = 20 first. One token, so its softmax is 1 and every correct order of operations
    agrees; a score that overflowed to inf turns it into NaN."""
    h, heads, layer_number = 32, 2, 19
    attention = _seeded(lambda: SelfAttention(h, heads, layer_number), seed=51).eval()
    x = torch.randn(2, 1, h, generator=gen)
    positions = torch.zeros(2, 1, dtype=torch.long)
    rope_tables = RotaryEmbedding(h // heads)(positions, torch.float32)
    with torch.no_grad():
        attention.query_key_value.bias.zero_()
        q, k, _ = split_qkv(attention.query_key_value(x), h // heads)  # [b, 1, nh, d]
        score = (q * k).sum(-1).abs().max() / math.sqrt(h // heads)
        rows = attention.query_key_value.weight.view(heads, 3, h // heads, h)  # [3h, h] -> [nh, q|k|v, d, h]
        rows[:, :2].mul_(math.sqrt(2e5 / float(score)))  # scale the q and k rows: q·k grows with the square
    attention = attention.half()
    rope_tables = RotaryEmbedding(h // heads)(positions, torch.float16)
    allowed = torch.ones(2, 1, 1, 1, dtype=torch.bool)
    return attention, x.half(), rope_tables, allowed


def check_attention(student_fn) -> bool:
    """Exercise 3.2: ``student_fn(attention: SelfAttention, x [b, s, h], rope_tables, allowed) -> [b, s, h]``."""
    gen = torch.Generator().manual_seed(35)
    cases = []
    for label, (h, heads, layer_number, b, s) in [("h=32, 2 heads, layer 0", (32, 2, 0, 2, 6)),
                                                  ("h=48, 3 heads, layer 3", (48, 3, 3, 1, 9)),
                                                  ("edge: a padding row that may attend nowhere", (32, 4, 1, 2, 5))]:
        attention = _seeded(lambda: SelfAttention(h, heads, layer_number), seed=h + layer_number).eval()
        with torch.no_grad():
            torch.nn.init.normal_(attention.query_key_value.bias, std=0.5, generator=gen)
        positions = torch.randint(0, 40, (b, s), generator=gen)
        rope_tables = RotaryEmbedding(h // heads)(positions, torch.float32)
        allowed = prefix_causal_mask(torch.randint(1, s + 1, (b,), generator=gen), s)
        if label.startswith("edge"):
            allowed[1, :, 2, :] = False  # query 2 of the second sample may attend nowhere
        cases.append(Case(label, (attention, torch.randn(b, s, h, generator=gen), rope_tables, allowed)))
    cases.append(Case("edge: FP16, layer 19, a score past FP16's 65504 unless q is divided by (l+1) first",
                      _overflowing_fp16_case(gen)))
    return run_check("Exercise 3.2", student_fn, _attention_output, cases, rtol=1e-2, atol=1e-4)


def _deepnorm_layer_output(layer: GLMLayer, h, rope_tables, allowed):
    return layer(h, rope_tables, allowed)[0]


def check_deepnorm_layer(student_fn) -> bool:
    """Exercise 3.3: ``student_fn(layer: GLMLayer, h [b, s, hidden], rope_tables, allowed) -> [b, s, hidden]``."""
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
    return run_check("Exercise 3.3", student_fn, _deepnorm_layer_output, cases, atol=1e-5)
