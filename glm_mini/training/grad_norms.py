"""Gradient norms per module, and clipping of the total norm at 1.0.

How it works
------------
The paper plots the word embedding's gradient norm apart from the rest (Fig. 4 and §3 "Embedding Layer Gradient
Shrink": the embedding's norm is the one that spikes first). ``grad_norms`` returns the L2 norm of the gradients of
each module group, measured *before* clipping:

    ‖g‖_group = √( Σ_{p ∈ group} Σ_i g_{p,i}² )      ‖g‖ = √( Σ_groups ‖g‖_group² )

with groups ``embedding`` (``transformer.word_embeddings.weight``, which is also the tied output head),
``layer_N`` (each transformer layer), ``final_layernorm``, plus ``rest`` = everything but the embedding. Clipping
then scales every gradient by ``min(1, c / (‖g‖ + 1e-6))`` with c = 1.0 (paper Tab.11), which is
``torch.nn.utils.clip_grads_with_norm_``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

EMBEDDING = "transformer.word_embeddings.weight"


def group_of(name: str) -> str:
    """The module group a parameter name belongs to: ``embedding``, ``layer_N`` or the top-level module's name."""
    if name == EMBEDDING:
        return "embedding"
    parts = name.split(".")
    if parts[:2] == ["transformer", "layers"]:
        return f"layer_{parts[2]}"
    return parts[1] if parts[0] == "transformer" else parts[0]


def group_squares(named_tensors) -> dict[str, float]:
    """Σ g² per module group of ``(parameter name, tensor)`` pairs (``None`` tensors skipped): the part of the norms
    one process holds. A model split over processes sums these over its parts (``scale_up.pipeline.grad_norm``)."""
    squares: dict[str, float] = {}
    for name, t in named_tensors:
        if t is not None:
            group = group_of(name)
            squares[group] = squares.get(group, 0.0) + float(t.detach().float().pow(2).sum())
    return squares


def norms_from_squares(squares: dict[str, float]) -> dict[str, float]:
    """``{"total", "embedding", "rest", <group>...}`` L2 norms from the Σ g² of each group."""
    rest = sum(v for k, v in squares.items() if k != "embedding")
    norms = {"total": math.sqrt(sum(squares.values())), "embedding": math.sqrt(squares.get("embedding", 0.0)),
             "rest": math.sqrt(rest)}
    norms.update({k: math.sqrt(v) for k, v in squares.items() if k != "embedding"})
    return norms


def grad_norms(model: nn.Module) -> dict[str, float]:
    """``{"total", "embedding", "rest", "layer_0", ..., "final_layernorm"}`` L2 norms of the current gradients."""
    return norms_from_squares(group_squares((name, p.grad) for name, p in model.named_parameters()))


def clip_gradients(model: nn.Module, max_norm: float, total_norm: float) -> float:
    """Scale all gradients so their total norm is at most ``max_norm``; returns the factor applied (<= 1)."""
    if max_norm <= 0:
        raise ValueError(f"max_norm must be positive, got {max_norm}")
    params = [p for p in model.parameters() if p.grad is not None]
    torch.nn.utils.clip_grads_with_norm_(params, max_norm, torch.tensor(total_norm))
    return min(1.0, max_norm / (total_norm + 1e-6))
