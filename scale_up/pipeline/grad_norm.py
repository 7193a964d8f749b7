"""Gradient and update norms of a model split over pipeline stages and tensor-parallel shards, each element once.

How it works
------------
Clipping needs ‖g‖ = √(Σ over every parameter element of g²) of the WHOLE model (docs/glm130b_facts.md §2.5:
clip at 1.0), and the metrics row logs it per module group (``glm_mini.training.grad_norms``: ``embedding``,
``layer_N``, ``final_layernorm``). Split over a DP × TP × PP layout, each rank sums the squares it holds per group
(``group_squares``), one all-reduce over its pipeline group and one over its tensor group add them up, and the norms
follow from the sums exactly as in one process (``norms_from_squares``), after leaving out what would be counted
twice:

* the tied embedding lives on the first and the last stage with equal (summed) gradients: counted on the first;
* parameters that tensor parallelism replicates (LayerNorms, row-parallel biases; ``tp_layout.parameter_role``)
  are counted on tensor rank 0 only; split parameters are counted on every rank (each holds its own slice);
* data-parallel replicas hold equal gradients after their all-reduce, so the dp group is not summed over.

The update norms (how far a step moved the weights, ``glm_mini.training.update_norms``) are summed the same way.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from glm_mini.training.grad_norms import group_squares, norms_from_squares
from glm_mini.training.update_norms import norms_from_update_squares, update_squares

from ..tp_layout import parameter_role
from .schedule import Pipeline
from .tied_embedding import EMBEDDING


def counted_parameters(pipe: Pipeline, tp_group=None) -> list[tuple[str, torch.Tensor]]:
    """(full-model name, parameter) of this rank that the whole model's sums count once (see above)."""
    tp_rank = dist.get_rank(tp_group) if tp_group is not None else 0
    return [(name, p) for module in pipe.modules for name, p in module.named_parameters()
            if not (name == EMBEDDING and not module.is_first)
            and not (tp_rank != 0 and parameter_role(name) == "replicated")]


def _sum_over_model(pipe: Pipeline, tp_group, squares: dict[str, float], extra: float = 0.0) -> tuple[dict, float]:
    """Per-group sums (and one extra scalar) added up over the pipeline and tensor groups."""
    config = pipe.modules[0].config
    groups = ["embedding", *(f"layer_{i}" for i in range(config.num_layers)), "final_layernorm"]
    device = next(iter(pipe.parameters())).device
    vector = torch.tensor([squares.get(g, 0.0) for g in groups] + [extra], dtype=torch.float64, device=device)
    dist.all_reduce(vector, group=pipe.group)
    if tp_group is not None:
        dist.all_reduce(vector, group=tp_group)
    values = vector.tolist()
    return dict(zip(groups, values[:-1])), values[-1]


def pipeline_grad_norms(pipe: Pipeline, tp_group=None) -> dict[str, float]:
    """``{"total", "embedding", "rest", "layer_N", ..., "final_layernorm"}`` of the whole model, on every rank."""
    squares, _ = _sum_over_model(pipe, tp_group, group_squares((n, p.grad) for n, p in counted_parameters(pipe,
                                                                                                           tp_group)))
    return norms_from_squares(squares)


def pipeline_update_norms(pipe: Pipeline, tp_group, before: dict[str, torch.Tensor]) -> dict[str, float]:
    """``{"total", "ratio", <group>...}`` of (weights now − ``before``) over the whole model, on every rank."""
    local, weight_square = update_squares(counted_parameters(pipe, tp_group), before)
    squares, weight_square = _sum_over_model(pipe, tp_group, local, weight_square)
    return norms_from_update_squares(squares, weight_square)
