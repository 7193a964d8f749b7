"""AdamW with GLM-130B's settings and Megatron's weight-decay groups.

How it works
------------
Paper §2.3 / Tab.11: AdamW with β1 = 0.9, β2 = 0.95, ε = 1e-8, weight decay 0.1 (docs/glm130b_facts.md §2.5). Which
parameters decay follows the official training code, Megatron's ``_get_params_for_weight_decay_optimization``
(LargeScale ``megatron/optimizer/__init__.py``): every LayerNorm parameter and every bias gets no weight decay, all
other weights (the word embedding, tied to the output head, included) get 0.1. With g the gradient, one step is

    m ← β1·m + (1 − β1)·g          v ← β2·v + (1 − β2)·g²
    θ ← θ − lr·( m̂ / (√v̂ + ε) + λ·θ ),   m̂ = m/(1 − β1ᵗ),  v̂ = v/(1 − β2ᵗ)

(decoupled decay: λθ is not divided by √v̂), which is exactly ``torch.optim.AdamW``.
"""

from __future__ import annotations

import torch
from torch import nn


def weight_decay_groups(model: nn.Module) -> tuple[list[str], list[str]]:
    """Names of the parameters that get weight decay and of those that do not (LayerNorm params and biases)."""
    norm_params = {f"{mod_name}.{p}" if mod_name else p
                   for mod_name, mod in model.named_modules() if isinstance(mod, nn.LayerNorm)
                   for p, _ in mod.named_parameters(recurse=False)}
    decay, no_decay = [], []
    for name, _ in model.named_parameters():
        (no_decay if name in norm_params or name.endswith(".bias") else decay).append(name)
    return decay, no_decay


def build_adamw(model: nn.Module, lr: float, weight_decay: float = 0.1, betas: tuple[float, float] = (0.9, 0.95),
                eps: float = 1e-8) -> torch.optim.AdamW:
    """``torch.optim.AdamW`` over two groups: decayed weights, then LayerNorm params and biases with no decay."""
    params = dict(model.named_parameters())
    decay, no_decay = weight_decay_groups(model)
    groups = [{"params": [params[n] for n in decay], "weight_decay": weight_decay},
              {"params": [params[n] for n in no_decay], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)
