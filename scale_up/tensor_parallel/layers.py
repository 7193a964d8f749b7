"""Column-parallel, row-parallel and vocab-parallel layers (Megatron-LM; SAT ``mpu/layers.py``).

How it works
------------
With ``tp`` ranks and rank r holding the weight shard W_r (mappings.py has f and g):

- ``ColumnParallelLinear``: W = [W_0; ...; W_{tp-1}] split on output rows, bias split alike.
  ``y_r = f(x) W_rᵀ + b_r`` is rank r's slice of the output columns of ``y = x Wᵀ + b``; no forward traffic.
- ``RowParallelLinear``: W = [W_0 | ... | W_{tp-1}] split on input columns, bias replicated.
  ``y = g(x_r W_rᵀ) + b`` since ``x Wᵀ = Σ_r x_r W_rᵀ``; the bias is added once, after the reduce, not tp times.
- ``VocabParallelEmbedding``: rank r holds vocabulary rows ``[r·V/tp, (r+1)·V/tp)``; ids outside give zero vectors,
  and g sums the ranks' lookups, of which exactly one is non-zero.
- ``VocabParallelHead``: the tied output head ``logits_r = f(LN(h)) E_rᵀ``, a column-parallel linear over the
  vocab-sharded embedding E_r, giving rank r's ``V/tp`` logit columns; with ``gather_logits`` an all-gather along
  the vocabulary then gives every rank the full ``[b, s, V]``.

Each is the module it replaces (a subclass), so parameter names and ``state_dict`` keys stay official.
Column + row back to back (QKV -> dense, h_to_4h -> 4h_to_h) costs one all-reduce per block forward (g) and
one backward (f): two per transformer layer each way.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from glm_mini.output_head import TiedOutputHead

from .mappings import (copy_to_tensor_parallel, gather_from_tensor_parallel, group_rank, group_size,
                       reduce_from_tensor_parallel)


def _local_size(size: int, group, what: str) -> int:
    tp = group_size(group)
    if size % tp:
        raise ValueError(f"{what}={size} is not divisible by the tensor-parallel size {tp}")
    return size // tp


class ColumnParallelLinear(nn.Linear):
    """``y_r = f(x) W_rᵀ + b_r``: rank r's ``out_features/tp`` output columns."""

    def __init__(self, in_features: int, out_features: int, group=None, bias: bool = True, device=None, dtype=None):
        super().__init__(in_features, _local_size(out_features, group, "out_features"), bias, device, dtype)
        self.group = group

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(copy_to_tensor_parallel(x, self.group), self.weight, self.bias)


class RowParallelLinear(nn.Linear):
    """``y = g(x_r W_rᵀ) + b``: rank r's input columns, the bias added once after the all-reduce."""

    def __init__(self, in_features: int, out_features: int, group=None, bias: bool = True, device=None, dtype=None):
        super().__init__(_local_size(in_features, group, "in_features"), out_features, bias, device, dtype)
        self.group = group

    def forward(self, x: Tensor) -> Tensor:
        y = reduce_from_tensor_parallel(F.linear(x, self.weight), self.group)
        return y + self.bias if self.bias is not None else y


class VocabParallelEmbedding(nn.Embedding):
    """Rank r looks up ids in ``[start, start + V/tp)``; others give 0; g sums the ranks' vectors."""

    def __init__(self, num_embeddings: int, embedding_dim: int, group=None, device=None, dtype=None):
        local = _local_size(num_embeddings, group, "num_embeddings (vocab)")
        super().__init__(local, embedding_dim, device=device, dtype=dtype)
        self.group = group
        self.vocab_start = group_rank(group) * local

    def forward(self, ids: Tensor) -> Tensor:
        outside = (ids < self.vocab_start) | (ids >= self.vocab_start + self.num_embeddings)  # [b, s]
        local_ids = torch.where(outside, 0, ids - self.vocab_start)  # [b, s], in [0, V/tp)
        vectors = F.embedding(local_ids, self.weight).masked_fill(outside.unsqueeze(-1), 0.0)  # [b, s, h]
        return reduce_from_tensor_parallel(vectors, self.group)


class VocabParallelHead(TiedOutputHead):
    """``logits_r = f(h) · shrink(E_r, α)ᵀ``: rank r's ``V/tp`` vocabulary columns (all-gathered if asked)."""

    def __init__(self, group=None, gather_logits: bool = True):
        super().__init__()
        self.group, self.gather_logits = group, gather_logits

    def forward(self, h: Tensor, embedding_weight: Tensor, alpha: float = 1.0) -> Tensor:
        logits = super().forward(copy_to_tensor_parallel(h, self.group), embedding_weight, alpha)  # [b, s, V/tp]
        return gather_from_tensor_parallel(logits, self.group) if self.gather_logits else logits  # [b, s, V]
