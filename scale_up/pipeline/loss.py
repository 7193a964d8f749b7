"""The GLM loss split over micro-batches so that their sum is exactly the whole batch's loss.

How it works
------------
GLM's loss is the mean cross-entropy over the tokens it must predict (Part B of a [MASK] sample, the suffix of a
[gMASK] one; docs/glm130b_facts.md §2.2–2.3), marked by ``loss_mask``. Over a batch of T loss tokens,

    L = (1/T) Σ_{t ∈ loss tokens} CE_t = Σ_k (1/T) Σ_{t ∈ micro-batch k} CE_t

so each micro-batch's loss is its own CE sum divided by the WHOLE batch's T (not its own count, which differs between
micro-batches), and the schedule must not rescale gradients (``scale_grads=False``). Then the summed micro-batch
losses and the accumulated gradients equal the single-process ones for any loss mask. The formula is glm_mini's
``masked_cross_entropy`` (``glm_mini/training/step.py``) with the whole batch's count; under tensor parallelism the
logits are vocabulary shards and the cross-entropy is the vocab-parallel one.
"""

from __future__ import annotations

import torch
from torch import Tensor

from glm_mini.training.step import masked_cross_entropy

from ..tensor_parallel import vocab_parallel_cross_entropy

IGNORE_INDEX = -100


def masked_targets(targets: Tensor, loss_mask: Tensor) -> Tensor:
    """Targets with the tokens outside ``loss_mask`` set to ``IGNORE_INDEX`` (one tensor the schedule can split)."""
    if targets.shape != loss_mask.shape:
        raise ValueError(f"masked_targets: loss_mask shape {list(loss_mask.shape)} must equal targets shape "
                         f"{list(targets.shape)}")
    return targets.masked_fill(~loss_mask.bool(), IGNORE_INDEX)


class MicroBatchLoss:
    """loss_fn for a schedule: a micro-batch's CE sum over its loss tokens divided by the whole batch's count.

    With a tensor-parallel ``tp_group`` the logits are this rank's vocabulary shard ``[b, s, V/tp]`` and the
    cross-entropy is the vocab-parallel one (``scale_up.tensor_parallel``), which never gathers the full logits.
    """

    def __init__(self, total_tokens: int = 1, tp_group=None):
        self.total_tokens, self.tp_group = total_tokens, tp_group

    def __call__(self, logits: Tensor, targets: Tensor) -> Tensor:
        if self.total_tokens < 1:
            raise ValueError(f"MicroBatchLoss: total_tokens must be >= 1, got {self.total_tokens}")
        if self.tp_group is not None:
            keep = targets != IGNORE_INDEX
            per_token = vocab_parallel_cross_entropy(logits.float(), targets.clamp_min(0), self.tp_group)  # [b, s]
            return (per_token * keep).sum() / self.total_tokens
        return masked_cross_entropy(logits, targets.clamp_min(0), targets != IGNORE_INDEX, self.total_tokens)


def count_loss_tokens(loss_mask: Tensor) -> int:
    n = int(torch.as_tensor(loss_mask).sum())
    if n < 1:
        raise ValueError("loss_mask: the batch has no loss tokens (every entry is False)")
    return n
