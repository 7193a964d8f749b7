"""Update sizes: how far one optimizer step moved the weights, per module group.

How it works
------------
A divergence shows first in the size of the steps the optimizer takes, before the loss moves. With θ the weights
before a step and θ' after it, the trainer records

    ‖Δθ‖_group = √( Σ_{p ∈ group} Σ_i (θ'_{p,i} − θ_{p,i})² )      ratio = ‖Δθ‖ / ‖θ‖

for the same groups as the gradient norms (``grad_norms.group_of``: ``embedding``, ``layer_N``,
``final_layernorm``) and in total; the ratio is the total relative update (AdamW makes it roughly lr·√(#params)/‖θ‖
early on; a jump means the optimizer state saw something unusual).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from glm_mini.training.grad_norms import group_of


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of every trainable parameter, by name (the weights before a step)."""
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def update_squares(named_parameters, before: dict[str, torch.Tensor]) -> tuple[dict[str, float], float]:
    """(Σ (θ' − θ)² per group, Σ θ²) over the ``(name, parameter)`` pairs found in ``before``: the part of the update
    norms one process holds (a model split over processes sums these over its parts)."""
    squares: dict[str, float] = {}
    weight_square = 0.0
    for name, p in named_parameters:
        if name in before:
            old = before[name].float()
            group = group_of(name)
            squares[group] = squares.get(group, 0.0) + float((p.detach().float() - old).pow(2).sum())
            weight_square += float(old.pow(2).sum())
    return squares, weight_square


def norms_from_update_squares(squares: dict[str, float], weight_square: float) -> dict[str, float]:
    """``{"total", "ratio", <group>...}`` from the per-group Σ (θ' − θ)² and Σ θ²."""
    total = math.sqrt(sum(squares.values()))
    return {"total": total, "ratio": total / math.sqrt(weight_square) if weight_square else 0.0,
            **{k: math.sqrt(v) for k, v in squares.items()}}


def update_norms(model: nn.Module, before: dict[str, torch.Tensor]) -> dict[str, float]:
    """``{"total", "ratio", "embedding", "layer_0", ...}``: L2 norms of (weights now − ``before``) per group."""
    return norms_from_update_squares(*update_squares(model.named_parameters(), before))
