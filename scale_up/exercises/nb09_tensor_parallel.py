"""Checks for notebook 09's exercises: split layers by hand, as tensor parallelism does, and write the f and g
operators as autograd Functions that run on real ranks.

How it works
------------
Exercises 9.1, 9.2, 9.4 and 9.5 need no process group: each reference is the tensor math of one rank (or of all ranks
in a loop) with the shards cut by the official layout itself (``scale_up.tp_layout.shard_tensor``;
docs/glm130b_facts.md §3.1, §5); ``tensor_parallel/layers.py`` does the same with real processes, and the tests check
the two agree.

Exercise 9.3 ``check_f_and_g(f_cls, g_cls)`` runs the student's two ``torch.autograd.Function``s on gloo ranks forked
from the notebook's process (``forked_ranks.run_on_forked_ranks``: a forked rank has the student's classes), each
called as ``cls.apply(tensor, group)`` with the default group, and compares every rank's forward output and
gradients in three kinds of case:

- ``f`` alone: x replicated, each rank's upstream gradient u_r its own; f(x) must be x and ∂L/∂x = Σ_r u_r. The
  reference is the package's ``CopyToTensorParallel`` on the same ranks.
- ``g`` alone: each rank's partial x_r, the upstream gradient u replicated; g(x_r) must be Σ_r x_r and ∂L/∂x_r = u.
  The reference is the package's ``ReduceFromTensorParallel`` on the same ranks.
- a Megatron MLP ``z = g(gelu(f(x) W1_rᵀ) W2_rᵀ)`` (W1 split by rows, W2 by columns): the gradient test. The
  reference is one process computing the unsplit ``gelu(x W1ᵀ) W2ᵀ`` with autograd, its gradients cut per rank.

A mismatch names the rank and the quantity (``result[1]['dL/dx']...``). The package's own pair passes this check
(``tests/test_exercises_nb09.py``), so the two references agree.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from glm_mini.exercises.harness import Case, run_check

from ..tensor_parallel.mappings import CopyToTensorParallel, ReduceFromTensorParallel
from ..tp_layout import shard_tensor
from .forked_ranks import run_on_forked_ranks

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
    """Exercise 9.4: ``student_fn(weight_qkv_stacked, num_heads, tp, rank)`` returns the rank's interleaved rows."""
    g = torch.Generator().manual_seed(93)
    cases = [Case(f"nh={nh} d={d} tp={tp} rank={r}", (_randn(g, 3 * nh * d, nh * d), nh, tp, r))
             for nh, d, tp, r in ((4, 2, 2, 1), (4, 3, 4, 2), (6, 2, 3, 0), (2, 4, 1, 0))]
    return run_check("Exercise 9.4", student_fn, interleaved_qkv_shard, cases)


def check_geglu_shard(student_fn) -> bool:
    """Exercise 9.5: ``student_fn(weight, tp, rank)`` returns the rank's ``[x1_r; x2_r]`` rows of dense_h_to_4h."""
    g = torch.Generator().manual_seed(94)
    cases = [Case(f"f={f} tp={tp} rank={r}", (_randn(g, 2 * f, 3), tp, r))
             for f, tp, r in ((8, 2, 1), (12, 4, 3), (6, 3, 0), (4, 1, 0))]
    return run_check("Exercise 9.5", student_fn, geglu_shard, cases)


def _tensors(tp: int, seed: int, dims: tuple[int, int, int, int]) -> dict[str, Tensor]:
    """The case's tensors, drawn the same on every rank (and in the one-process reference) from ``seed``."""
    b, s, h, ffn = dims
    g = torch.Generator().manual_seed(seed)
    return {"x": _randn(g, b, s, h), "parts": _randn(g, tp, b, s, h), "upstream_per_rank": _randn(g, tp, b, s, h),
            "upstream": _randn(g, b, s, h), "w1": _randn(g, ffn, h) / math.sqrt(h),
            "w2": _randn(g, h, ffn) / math.sqrt(ffn)}


def _mlp(x: Tensor, w1: Tensor, w2: Tensor, f_cls, g_cls) -> Tensor:
    """Megatron's MLP on one rank: f, the column-parallel W1 shard, GELU, the row-parallel W2 shard, g."""
    return g_cls.apply(F.linear(F.gelu(F.linear(f_cls.apply(x, None), w1)), w2), None)


def rank_result(kind: str, f_cls, g_cls, rank: int, tp: int, seed: int, dims) -> dict[str, Tensor]:
    """What rank ``rank`` of ``tp`` computes in a case of ``kind`` ("f", "g" or "mlp") with the pair (f, g)."""
    t = _tensors(tp, seed, dims)
    if kind == "f":
        x = t["x"].requires_grad_()
        y = f_cls.apply(x, None)
        (y * t["upstream_per_rank"][rank]).sum().backward()
        return {"f(x)": y.detach(), "dL/dx": x.grad}
    if kind == "g":
        x_r = t["parts"][rank].requires_grad_()
        y = g_cls.apply(x_r, None)
        (y * t["upstream"]).sum().backward()
        return {"g(x_r)": y.detach(), "dL/dx_r": x_r.grad}
    if kind != "mlp":
        raise ValueError(f"kind: expected 'f', 'g' or 'mlp', got {kind!r}")
    x = t["x"].requires_grad_()
    w1 = shard_tensor(t["w1"], "rows", tp, rank).clone().requires_grad_()  # [ffn/tp, h]
    w2 = shard_tensor(t["w2"], "cols", tp, rank).clone().requires_grad_()  # [h, ffn/tp]
    z = _mlp(x, w1, w2, f_cls, g_cls)
    (z * t["upstream"]).sum().backward()
    return {"output z": z.detach(), "dL/dx": x.grad, "dL/dW1 (this rank's rows)": w1.grad,
            "dL/dW2 (this rank's columns)": w2.grad}


class _Identity(torch.autograd.Function):
    """f and g of a single process: no split, so nothing to communicate in either direction."""

    @staticmethod
    def forward(ctx, x, group):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def one_process_mlp(tp: int, seed: int, dims) -> list[dict[str, Tensor]]:
    """The unsplit MLP ``gelu(x W1ᵀ) W2ᵀ`` in one process, its output and gradients laid out as ``tp`` ranks hold
    them (output and dL/dx replicated, each rank's rows of dL/dW1 and columns of dL/dW2)."""
    t = _tensors(tp, seed, dims)
    x, w1, w2 = (t[k].requires_grad_() for k in ("x", "w1", "w2"))
    z = _mlp(x, w1, w2, _Identity, _Identity)
    (z * t["upstream"]).sum().backward()
    return [{"output z": z.detach(), "dL/dx": x.grad, "dL/dW1 (this rank's rows)": shard_tensor(w1.grad, "rows", tp, r),
             "dL/dW2 (this rank's columns)": shard_tensor(w2.grad, "cols", tp, r)} for r in range(tp)]


def on_ranks(kind: str, f_cls, g_cls, tp: int, seed: int, dims) -> list[dict[str, Tensor]]:
    """Every rank's ``rank_result``, computed on ``tp`` forked gloo ranks."""
    return run_on_forked_ranks(lambda rank, world: rank_result(kind, f_cls, g_cls, rank, world, seed, dims), tp)


def _reference(kind: str, tp: int, seed: int, dims) -> list[dict[str, Tensor]]:
    if kind == "mlp":
        return one_process_mlp(tp, seed, dims)
    return on_ranks(kind, CopyToTensorParallel, ReduceFromTensorParallel, tp, seed, dims)


F_AND_G_CASES = [Case("f alone, 2 ranks", ("f", 2, 931, (2, 3, 8, 16))),
                 Case("g alone, 2 ranks", ("g", 2, 932, (2, 3, 8, 16))),
                 Case("MLP f-W1-gelu-W2-g, 2 ranks, vs one process", ("mlp", 2, 933, (2, 5, 8, 16))),
                 Case("edge: MLP on 3 ranks, one token", ("mlp", 3, 934, (1, 1, 6, 12)))]


def check_f_and_g(f_cls, g_cls) -> bool:
    """Exercise 9.3: ``f_cls`` and ``g_cls`` are ``torch.autograd.Function``s applied as ``cls.apply(x, group)``;
    run on forked gloo ranks beside the package's operators and the one-process MLP (module docstring)."""
    return run_check("Exercise 9.3", lambda kind, tp, seed, dims: on_ranks(kind, f_cls, g_cls, tp, seed, dims),
                     _reference, F_AND_G_CASES, **TOL)
