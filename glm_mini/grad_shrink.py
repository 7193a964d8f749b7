"""Embedding gradient shrink (EGS), GLM-130B's fix for early loss spikes (paper §3, "Embedding Layer Gradient Shrink").

How it works
------------
    shrink(x, α) = α·x + (1 − α)·stopgrad(x)

The forward value is x (up to one float rounding); the gradient flowing back into x is multiplied by α (0.1 in
GLM-130B). The official training code (LargeScale ``megatron/model/language_model.py``) applies it to the
word-embedding output and, with ``--shrink-logit-embedding-gradient``, to the tied output projection as well.
Where no gradient is recorded (inference, evaluation under ``torch.no_grad``) it returns ``x`` itself: there is no
gradient to shrink, and the tied head would otherwise pay two passes over the whole ``[V, h]`` embedding per forward
(as the official inference code, which has no EGS, never does).
"""

import torch
from torch import Tensor


def shrink_gradient(x: Tensor, alpha: float) -> Tensor:
    """Identity in the forward pass; scales the gradient into ``x`` by ``alpha``."""
    if alpha == 1.0 or not (torch.is_grad_enabled() and x.requires_grad):
        return x
    return x * alpha + x.detach() * (1.0 - alpha)
