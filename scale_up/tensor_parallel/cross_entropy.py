"""Cross-entropy over vocab-sharded logits that never gathers the full ``[b, s, V]`` tensor.

How it works
------------
Rank r holds logits z_r for vocabulary ids ``[r·V/tp, (r+1)·V/tp)``. For a target t, with m = max over all V:

    loss = log Σ_v exp(z_v − m) − (z_t − m)

is assembled from three all-reduces of ``[b, s]`` tensors, not of ``[b, s, V]``: the max m (MAX), the sum of
exponentials (SUM) and the target logit z_t − m (SUM; only the rank owning t contributes a non-zero value).
Backward, for the replicated loss: ``∂loss/∂z_r = softmax(z)_r − onehot(t)_r``, local to each rank
(Megatron-LM ``vocab_parallel_cross_entropy``; SAT ``mpu/cross_entropy.py``; docs/glm130b_facts.md §3.1).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor
from torch.autograd import Function

from .mappings import group_rank, group_size


def _all_reduce(x: Tensor, group, op=dist.ReduceOp.SUM) -> Tensor:
    if group_size(group) > 1:
        dist.all_reduce(x, op=op, group=group)
    return x


class VocabParallelCrossEntropy(Function):
    @staticmethod
    def forward(ctx, logits: Tensor, targets: Tensor, group) -> Tensor:
        z = logits.float()  # [b, s, V/tp]
        n = z.shape[-1]
        start = group_rank(group) * n
        m = _all_reduce(z.max(dim=-1).values, group, dist.ReduceOp.MAX)  # [b, s], the global max
        shifted = z - m.unsqueeze(-1)  # [b, s, V/tp]
        mine = (targets >= start) & (targets < start + n)  # [b, s]: is the target id on this rank?
        local_t = torch.where(mine, targets - start, 0)  # [b, s]
        target_logit = shifted.gather(-1, local_t.unsqueeze(-1)).squeeze(-1) * mine  # [b, s]
        target_logit = _all_reduce(target_logit, group)
        exp = shifted.exp()  # [b, s, V/tp]
        sum_exp = _all_reduce(exp.sum(dim=-1), group)  # [b, s]
        ctx.save_for_backward(exp / sum_exp.unsqueeze(-1), local_t, mine)
        ctx.dtype = logits.dtype
        return sum_exp.log() - target_logit  # [b, s]

    @staticmethod
    def backward(ctx, grad: Tensor):
        softmax, local_t, mine = ctx.saved_tensors
        g = softmax.scatter_add(-1, local_t.unsqueeze(-1), -mine.unsqueeze(-1).to(softmax.dtype))  # softmax − onehot
        return (g * grad.unsqueeze(-1)).to(ctx.dtype), None, None


def vocab_parallel_cross_entropy(logits: Tensor, targets: Tensor, group=None) -> Tensor:
    """Per-token loss ``[b, s]`` from this rank's vocab-sharded ``logits [b, s, V/tp]`` and global ``targets``."""
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"targets: expected shape {tuple(logits.shape[:-1])} (the logits without the vocab dim), "
                         f"got {tuple(targets.shape)}")
    return VocabParallelCrossEntropy.apply(logits, targets, group)
