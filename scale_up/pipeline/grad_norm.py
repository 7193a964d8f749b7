"""The total gradient norm of a model split over pipeline stages and tensor-parallel shards, each element once.

How it works
------------
Clipping needs ‖g‖ = √(Σ over every parameter element of g²) of the WHOLE model (docs/glm130b_facts.md §2.5:
clip at 1.0). Split over a DP × TP × PP layout, each rank sums the squares it holds and one all-reduce over its
pipeline and tensor groups adds them up, after removing what would be counted twice:

* the tied embedding lives on the first and the last stage with equal (summed) gradients: counted on the first;
* parameters that tensor parallelism replicates (LayerNorms, row-parallel biases; ``tp_layout.parameter_role``)
  are counted on tensor rank 0 only; split parameters are counted on every rank (each holds its own slice);
* data-parallel replicas hold equal gradients after their all-reduce, so the dp group is not summed over.

It returns the total and the embedding's norm, as the single-process trainer logs them
(``glm_mini.training.grad_norms``).
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from ..tp_layout import parameter_role
from .schedule import Pipeline
from .tied_embedding import EMBEDDING


def pipeline_grad_norms(pipe: Pipeline, tp_group=None) -> dict[str, float]:
    """``{"total", "embedding", "rest"}`` L2 norms of the whole model's current gradients, on every rank."""
    tp_rank = dist.get_rank(tp_group) if tp_group is not None else 0
    squares = torch.zeros(2, dtype=torch.float64)  # [embedding, rest]
    for module in pipe.modules:
        for name, p in module.named_parameters():
            if p.grad is None or (name == EMBEDDING and not module.is_first):
                continue
            if tp_rank != 0 and parameter_role(name) == "replicated":
                continue
            squares[0 if name == EMBEDDING else 1] += p.grad.detach().double().pow(2).sum()
    dist.all_reduce(squares, group=pipe.group)
    if tp_group is not None:
        dist.all_reduce(squares, group=tp_group)
    embedding, rest = squares.tolist()
    return {"total": math.sqrt(embedding + rest), "embedding": math.sqrt(embedding), "rest": math.sqrt(rest)}
