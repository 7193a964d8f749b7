"""DeepNorm's initialization table: the std each weight matrix should have, and the std it has.

How it works
------------
docs/glm130b_facts.md §1.6: under DeepNorm every matrix is Xavier normal on its full ``[out, in]`` shape,

    std = gain · √(2 / (fan_in + fan_out)),     gain = β = (2N)^-½ on v, attention dense, both GeGLU halves, 4h→h
                                                  gain = 1 on q, k and the word embedding,

which for GLM-130B (h = 12288, f = 32768, V = 150528, N = 70) is the table 0.00902 (q, k), 0.000762 (v, dense),
0.000563 (FFN), 0.00350 (embedding). The other schemes use Megatron's normal(0, σ), σ/√(2N) on the two output
projections (dense, 4h→h). ``expected_init_stds`` evaluates these formulas for any ``GLMConfig``;
``measured_init_stds`` reads the same groups off a built model (all layers pooled). "v" means the rows that get β
(``glm_mini.init.beta_rows_of_qkv``: the value rows, or the official TP quirk's rows), "qk" the others.
"""

from __future__ import annotations

import math

import torch

from glm_mini.config import GLMConfig
from glm_mini.init import beta_rows_of_qkv

GROUPS = ("qk", "v", "dense", "ffn_x1", "ffn_x2", "ffn_down", "embedding")


def expected_init_stds(config: GLMConfig) -> dict[str, float]:
    """``{group: std}`` for the groups in ``GROUPS``, from the formulas in the module docstring."""
    if not isinstance(config, GLMConfig):
        raise TypeError(f"config: expected a GLMConfig, got {type(config).__name__}")
    h, f, v = config.hidden_size, config.ffn_hidden_size, config.vocab_size
    if not config.deepnorm_init:
        std = config.init_method_std
        out = std / math.sqrt(2 * config.num_layers)
        return {"qk": std, "v": std, "dense": out, "ffn_x1": std, "ffn_x2": std, "ffn_down": out, "embedding": std}
    xavier = lambda fan_in, fan_out: math.sqrt(2.0 / (fan_in + fan_out))  # noqa: E731
    beta = config.deepnorm_beta
    return {"qk": xavier(h, h), "v": beta * xavier(h, h), "dense": beta * xavier(h, h),
            "ffn_x1": beta * xavier(h, f), "ffn_x2": beta * xavier(h, f), "ffn_down": beta * xavier(f, h),
            "embedding": xavier(h, v)}


@torch.no_grad()
def measured_init_stds(model) -> dict[str, float]:
    """``{group: std}`` of a ``GLM``'s weights, every layer pooled per group."""
    config = getattr(model, "config", None)
    if not isinstance(config, GLMConfig):
        raise TypeError(f"model: expected a glm_mini.GLM (with a GLMConfig .config), got {type(model).__name__}")
    beta_rows = beta_rows_of_qkv(config)
    pools: dict[str, list[torch.Tensor]] = {g: [] for g in GROUPS}
    for layer in model.transformer.layers.values():
        qkv = layer.attention.query_key_value.weight  # [3h, h]
        pools["qk"].append(qkv[~beta_rows].flatten())
        pools["v"].append(qkv[beta_rows].flatten())
        pools["dense"].append(layer.attention.dense.weight.flatten())
        x1, x2 = layer.mlp.dense_h_to_4h.weight.chunk(2, dim=0)  # [2f, h] -> two [f, h]
        pools["ffn_x1"].append(x1.flatten())
        pools["ffn_x2"].append(x2.flatten())
        pools["ffn_down"].append(layer.mlp.dense_4h_to_h.weight.flatten())
    pools["embedding"].append(model.transformer.word_embeddings.weight.flatten())
    return {g: float(torch.cat(p).float().std()) for g, p in pools.items()}
