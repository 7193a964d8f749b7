"""Checks for notebook 09's exercises: split layers by hand, as tensor parallelism does, with no process group.

Each reference is the tensor math of one rank (or of all ranks in a loop) with the shards cut by the official layout
itself (``scale_up.tp_layout.shard_tensor``; docs/glm130b_facts.md §3.1, §5); ``tensor_parallel/layers.py`` does the
same with real processes, and the tests check the two agree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from glm_mini.exercises.harness import Case, run_check

from ..tp_layout import shard_tensor

TOL = {"rtol": 1e-5, "atol": 1e-6}


def column_parallel_outputs(x: Tensor, weight: Tensor, bias: Tensor, tp: int) -> list[Tensor]:
    """Every rank's output of a column-parallel linear: ``y_r = x W_rᵀ + b_r`` with W, b split on output rows."""
    return [F.linear(x, shard_tensor(weight, "rows", tp, r), shard_tensor(bias, "rows", tp, r)) for r in range(tp)]


def row_parallel_output(x: Tensor, weight: Tensor, bias: Tensor, tp: int) -> Tensor:
    """A row-parallel linear: ``Σ_r x_r W_rᵀ`` (the all-reduce) plus the bias once; x split on its last dim."""
    partial = [F.linear(x.chunk(tp, dim=-1)[r], shard_tensor(weight, "cols", tp, r)) for r in range(tp)]
    return torch.stack(partial).sum(dim=0) + bias


def interleaved_qkv_shard(weight: Tensor, num_heads: int, tp: int, rank: int) -> Tensor:
    """Rank ``rank``'s fused-QKV rows in GLM's per-head layout ``[q_j; k_j; v_j]`` for its heads, from a weight
    stacked GPT-style as ``[Q; K; V]`` (each ``[h, h]``)."""
    three_h, h = weight.shape
    d = three_h // (3 * num_heads)
    per_head = weight.view(3, num_heads, d, h).transpose(0, 1).reshape(three_h, h)  # [nh, 3, d, h] -> [3h, h]
    return shard_tensor(per_head, "rows", tp, rank)  # [3h/tp, h]: a contiguous block of whole heads


def geglu_shard(weight: Tensor, tp: int, rank: int) -> Tensor:
    """Rank ``rank``'s rows of ``dense_h_to_4h`` = ``[x1_r; x2_r]``: its own slice of each GeGLU half."""
    return shard_tensor(weight, "glu", tp, rank)


def _randn(g: torch.Generator, *shape: int) -> Tensor:
    return torch.randn(*shape, generator=g)


def check_column_parallel(student_fn) -> bool:
    """Exercise 9.1: ``student_fn(x, weight, bias, tp)`` returns the list of every rank's output."""
    g = torch.Generator().manual_seed(91)
    cases = [Case(f"b={b} in={i} out={o} tp={tp}", (_randn(g, b, 3, i), _randn(g, o, i), _randn(g, o), tp))
             for b, i, o, tp in ((2, 8, 8, 2), (1, 6, 12, 4), (3, 4, 6, 3), (2, 5, 4, 1))]
    return run_check("Exercise 9.1", student_fn, column_parallel_outputs, cases, **TOL)


def check_row_parallel(student_fn) -> bool:
    """Exercise 9.2: ``student_fn(x, weight, bias, tp)`` returns the full output (bias added once)."""
    g = torch.Generator().manual_seed(92)
    cases = [Case(f"b={b} in={i} out={o} tp={tp}", (_randn(g, b, 3, i), _randn(g, o, i), _randn(g, o), tp))
             for b, i, o, tp in ((2, 8, 8, 2), (1, 12, 6, 4), (3, 6, 4, 3), (2, 4, 5, 1))]
    return run_check("Exercise 9.2", student_fn, row_parallel_output, cases, **TOL)


def check_interleaved_qkv_shard(student_fn) -> bool:
    """Exercise 9.3: ``student_fn(weight_qkv_stacked, num_heads, tp, rank)`` returns the rank's interleaved rows."""
    g = torch.Generator().manual_seed(93)
    cases = [Case(f"nh={nh} d={d} tp={tp} rank={r}", (_randn(g, 3 * nh * d, nh * d), nh, tp, r))
             for nh, d, tp, r in ((4, 2, 2, 1), (4, 3, 4, 2), (6, 2, 3, 0), (2, 4, 1, 0))]
    return run_check("Exercise 9.3", student_fn, interleaved_qkv_shard, cases)


def check_geglu_shard(student_fn) -> bool:
    """Exercise 9.4: ``student_fn(weight, tp, rank)`` returns the rank's ``[x1_r; x2_r]`` rows of dense_h_to_4h."""
    g = torch.Generator().manual_seed(94)
    cases = [Case(f"f={f} tp={tp} rank={r}", (_randn(g, 2 * f, 3), tp, r))
             for f, tp, r in ((8, 2, 1), (12, 4, 3), (6, 3, 0), (4, 1, 0))]
    return run_check("Exercise 9.4", student_fn, geglu_shard, cases)
