"""The communication operators of Megatron tensor parallelism, each a tiny autograd function.

How it works
------------
Every rank of a tensor-parallel group runs the same program on the same (replicated) activations and computes the
same loss L; only the weights are split. Three operators move between "replicated" and "split" regions
(docs/glm130b_facts.md §3.1; SAT ``mpu/mappings.py``):

- f, ``copy_to_tensor_parallel``:   forward identity,  backward all-reduce (sum)
- g, ``reduce_from_tensor_parallel``: forward all-reduce (sum), backward identity
- ``gather_from_tensor_parallel``:  forward all-gather along the last dim, backward keep this rank's slice

f and g are conjugate: one sits where a replicated tensor enters a split computation, the other where the split
results leave it, and each one's backward is the other one's forward. The docstrings derive why.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor
from torch.autograd import Function


def group_size(group) -> int:
    return dist.get_world_size(group) if dist.is_initialized() else 1


def group_rank(group) -> int:
    return dist.get_rank(group) if dist.is_initialized() else 0


def all_reduce_sum(x: Tensor, group) -> Tensor:
    """Σ_r x_r over the group, as a new tensor (the input is left untouched for autograd)."""
    if group_size(group) == 1:
        return x
    out = x.clone()
    dist.all_reduce(out, group=group)
    return out


class CopyToTensorParallel(Function):
    """f: forward ``y = x`` on every rank; backward ``∂L/∂x = Σ_r ∂L/∂y_r`` (all-reduce).

    Derivation: the replicated x is used by every rank r as its own copy y_r = x feeding rank r's weight shard W_r,
    so L = L(y_0, ..., y_{tp-1}) with every y_r = x. The chain rule sums over all uses of x:
    ∂L/∂x = Σ_r ∂L/∂y_r. Rank r's autograd only sees ∂L/∂y_r (its own shard's path), so the sum over ranks is an
    all-reduce, after which every rank holds the full gradient of the replicated x.
    """

    @staticmethod
    def forward(ctx, x: Tensor, group) -> Tensor:
        ctx.group = group
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return all_reduce_sum(grad, ctx.group), None


class ReduceFromTensorParallel(Function):
    """g: forward ``y = Σ_r x_r`` (all-reduce); backward ``∂L/∂x_r = ∂L/∂y`` (identity).

    Derivation: y = Σ_r x_r, so ∂y/∂x_r = I for every r and ∂L/∂x_r = ∂L/∂y. After g, y and everything downstream
    (LayerNorm, residual, the loss) are replicated: every rank computes the same ∂L/∂y, which is therefore already
    the right gradient for its own partial sum x_r. No communication is needed.
    """

    @staticmethod
    def forward(ctx, x: Tensor, group) -> Tensor:
        return all_reduce_sum(x, group)

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad, None


class GatherFromTensorParallel(Function):
    """Forward ``y = [x_0 | x_1 | ... ]`` along the last dim; backward ``∂L/∂x_r`` = rank r's slice of ``∂L/∂y``.

    Derivation: x_r is the block of columns ``[r·n, (r+1)·n)`` of y, so ∂L/∂x_r is that block of ∂L/∂y; every
    rank holds the same ∂L/∂y (L is replicated), so slicing locally is exact and needs no communication.
    """

    @staticmethod
    def forward(ctx, x: Tensor, group) -> Tensor:
        ctx.group = group
        tp = group_size(group)
        if tp == 1:
            return x
        parts = [torch.empty_like(x) for _ in range(tp)]
        dist.all_gather(parts, x.contiguous(), group=group)
        return torch.cat(parts, dim=-1)  # [..., tp·n]

    @staticmethod
    def backward(ctx, grad: Tensor):
        tp, rank = group_size(ctx.group), group_rank(ctx.group)
        return grad.chunk(tp, dim=-1)[rank].contiguous(), None  # [..., n]


def copy_to_tensor_parallel(x: Tensor, group=None) -> Tensor:
    return CopyToTensorParallel.apply(x, group)


def reduce_from_tensor_parallel(x: Tensor, group=None) -> Tensor:
    return ReduceFromTensorParallel.apply(x, group)


def gather_from_tensor_parallel(x: Tensor, group=None) -> Tensor:
    return GatherFromTensorParallel.apply(x, group)
