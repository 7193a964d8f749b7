# %% [markdown]
# # 09 · Tensor parallelism: one layer, several processes, the same numbers
#
# Budget: 90 s (FAST, 2-core CPU).
#
# **Why.** GLM-130B's weights take 257 GB in FP16 (notebook 03); one A100 holds 40 or 80 GB. The paper trained with
# 4-way tensor parallelism (inside a node) × 8-way pipeline × 24-way data parallelism, and serves with 4 or 8 GPUs
# each holding a **slice of every layer** (paper §2.3, App. B.4). This notebook splits GLM's layers the way the
# official checkpoints are split, derives the two communication operators that make the split exact and has you
# write them as autograd Functions that run on real processes, runs the kit's tensor-parallel model on CPU processes,
# and counts the bytes it sends. Five pieces are **yours to write** (Exercises 9.1–9.5); each check says PASS or
# shows the first mismatch, and later cells use your function once it passes (the package's until then).
#
# | piece | package file | test |
# |---|---|---|
# | the f / g operators | `scale_up/tensor_parallel/mappings.py` | `tests/test_tensor_parallel.py` |
# | where f and g sit in a block, traced | `scale_up/tensor_parallel/block_trace.py` | `tests/test_block_trace.py` |
# | column-, row-, vocab-parallel layers | `scale_up/tensor_parallel/layers.py` | `tests/test_tensor_parallel.py` |
# | vocab-parallel cross-entropy | `scale_up/tensor_parallel/cross_entropy.py` | `tests/test_tensor_parallel.py` |
# | the official shard layout, resharding | `scale_up/tp_layout.py` | `tests/test_tp_layout.py` |
# | `apply_tensor_parallel` (plan keyed by module name) | `scale_up/tensor_parallel/apply.py` | `tests/test_tensor_parallel.py` |
# | DDP + ZeRO-1, DP×TP | (PyTorch's own) | `tests/test_data_parallel.py` |
# | sharded checkpoints, fail-fast | `scale_up/sharded_checkpoint.py`, `scale_up/fault_tolerance.py` | `tests/test_sharded_checkpoint.py`, `tests/test_fault_tolerance.py` |
# | collective bytes vs the formula | `scale_up/tensor_parallel/check.py` | `tests/benchmarks/bench_tensor_parallel.py` |
# | ranks forked from this notebook, for the checks | `scale_up/exercises/forked_ranks.py` | `tests/test_exercises_nb09.py` |

# %%
import os
import tempfile
import time
from pathlib import Path

import ipywidgets
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.patches import Patch

from glm_mini import GLM, PRESETS
from glm_mini.exercises import exercise_record, use
from scale_up.exercises.forked_ranks import run_on_forked_ranks
from scale_up.exercises.nb09_tensor_parallel import (check_column_parallel, check_f_and_g, check_geglu_shard,
                                                     check_interleaved_qkv_shard, check_row_parallel,
                                                     column_parallel_outputs, row_parallel_output)
from scale_up.tensor_parallel.block_trace import draw_tp_block, trace_tp_layer
from scale_up.tensor_parallel.check import launch_check
from scale_up.tensor_parallel.mappings import CopyToTensorParallel, ReduceFromTensorParallel, all_reduce_sum
from scale_up.tp_layout import merge_state_dicts, reshard_state_dicts, shard_state_dict, shard_tensor

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
NOTEBOOK_START = time.perf_counter()
torch.manual_seed(0)
config = PRESETS["nano"]
model = GLM(config)
layer = model.transformer.layers["0"]
print(config)
passed = {}  # exercise -> did its check pass

# %% [markdown]
# ## 1. Splitting a linear layer by hand
#
# A linear layer computes $Y = XW^\top + b$ with $W \in \mathbb{R}^{n_\text{out}\times n_\text{in}}$. There are two
# ways to give each of $t$ ranks a slice of $W$ so that together they compute exactly $Y$:
#
# **Column-parallel** (split the output rows of $W$, `ColumnParallelLinear`): every rank needs all of $X$ and computes
# its own columns of $Y$:
# $$W = \begin{bmatrix} W_0 \\ \vdots \\ W_{t-1} \end{bmatrix},\quad
#   b = \begin{bmatrix} b_0 \\ \vdots \\ b_{t-1} \end{bmatrix} \;\Rightarrow\;
#   Y = \big[\, XW_0^\top + b_0 \;\big|\; \cdots \;\big|\; XW_{t-1}^\top + b_{t-1} \,\big]$$
#
# **Row-parallel** (split the input columns of $W$, `RowParallelLinear`): every rank holds a slice $X_r$ of the input
# and computes a partial sum; the bias is added **once**, after the sum:
# $$W = \big[\, W_0 \;\big|\; \cdots \;\big|\; W_{t-1} \,\big] \;\Rightarrow\;
#   Y = \sum_{r} X_r W_r^\top + b$$
#
# Megatron-LM puts them back to back: the column-parallel output slice is exactly the row-parallel input slice, so a
# whole MLP or attention block needs **one** sum at its end. Which rank owns which weights:

# %%
tp = 2
fig, axes = plt.subplots(1, 2, figsize=(8, 2.6))
for ax, (title, dim) in zip(axes, [("column-parallel: rows of W", 0), ("row-parallel: columns of W", 1)]):
    owner = torch.arange(tp).repeat_interleave(16 // tp)  # [16]: rank owning each slice
    grid = owner.view(-1, 1).expand(16, 16) if dim == 0 else owner.view(1, -1).expand(16, 16)  # [16, 16]
    ax.imshow(grid, cmap="Set2", vmin=0, vmax=7)
    ax.set(title=title, xlabel="input feature (columns of W)", ylabel="output feature (rows of W)",
           xticks=range(0, 16, 4), yticks=range(0, 16, 4))
RANK_PATCHES = [Patch(color=plt.cm.Set2(r / 7), label=f"rank {r}") for r in range(8)]
fig.legend(handles=RANK_PATCHES[:tp], loc="center right", title="owns the weight")
fig.subplots_adjust(right=0.82, wspace=0.35)
plt.show()

# %% [markdown]
# ### Your turn — Exercise 9.1: a column-parallel layer by hand
# Write `my_column_parallel(x, weight, bias, tp)` returning the list of every rank's output `[y_0, ..., y_{t-1}]`,
# rank $r$ using only its own slice of `weight` and `bias`.

# %%
def my_column_parallel(x, weight, bias, tp):
    ### BEGIN SOLUTION
    ### HINT: nn.Linear stores weight as [out, in], not [in, out]; the bias has one entry per column of Y
    return [F.linear(x, w, b) for w, b in zip(weight.chunk(tp, dim=0), bias.chunk(tp, dim=0))]
    ### END SOLUTION


# %%
passed["9.1"] = check_column_parallel(my_column_parallel)
column_parallel = use(my_column_parallel, passed["9.1"], column_parallel_outputs)
x = torch.randn(2, 5, config.hidden_size)  # [b, s, h]: a LayerNorm output
w_qkv, b_qkv = layer.attention.query_key_value.weight.detach(), torch.randn(3 * config.hidden_size)  # [3h, h], [3h]
pieces = column_parallel(x, w_qkv, b_qkv, tp)
print(f"query_key_value on {tp} ranks: each rank's output {tuple(pieces[0].shape)}; concatenated vs the unsplit "
      f"layer: max |Δ| = {(torch.cat(pieces, -1) - F.linear(x, w_qkv, b_qkv)).abs().max():.1e}")

# %% [markdown]
# ### Your turn — Exercise 9.2: a row-parallel layer by hand
# Write `my_row_parallel(x, weight, bias, tp)`: rank $r$ holds the $r$-th slice of `x`'s last dim and of `weight`'s
# input columns; return the full output $Y$. *Predict first:* a classic bug adds the bias on every rank before the
# sum. How far off is $Y$ then?

# %%
def my_row_parallel(x, weight, bias, tp):
    ### BEGIN SOLUTION
    ### HINT: the bias belongs to the whole output, not to any rank's partial sum
    return sum(F.linear(xr, wr) for xr, wr in zip(x.chunk(tp, dim=-1), weight.chunk(tp, dim=1))) + bias
    ### END SOLUTION


# %%
passed["9.2"] = check_row_parallel(my_row_parallel)
row_parallel = use(my_row_parallel, passed["9.2"], row_parallel_output)
weight = layer.attention.dense.weight.detach()  # [h, h]: attention.dense is row-parallel
bias = torch.randn(config.hidden_size)  # DeepNorm initializes biases to 0; a random one shows the bias rule
unsplit = F.linear(x, weight, bias)
once = (row_parallel(x, weight, bias, tp) - unsplit).abs().max().item()
on_every_rank = row_parallel(x, weight, tp * bias, tp)  # Σ_r (x_r W_rᵀ + b) = Σ_r x_r W_rᵀ + t·b
bias_error = (on_every_rank - unsplit).abs().max().item()
print(f"row-parallel vs the unsplit layer: max |Δ| = {once:.1e}; with the bias added on each of {tp} ranks: "
      f"{bias_error:.3f}, and (t − 1)·max|b| = {(tp - 1) * bias.abs().max():.3f}")

# %% [markdown] tags=["prediction"]
# Off by exactly $(t-1)\,b$: every rank's partial result carries a $b$, and the all-reduce adds them up, so $Y$ gets
# $t\,b$. The two numbers printed last are equal. With GLM's zero-initialized biases the bug hides at step 0 and
# appears as the biases train, which is why the check above uses random ones.

# %% [markdown]
# ## 2. The f and g operators: why the split is exact in backward too
#
# Every rank runs the **same program**: same input $x$, same LayerNorms, same loss $L$; only the weight slices
# differ. Two operators sit at the borders of a split region (`scale_up/tensor_parallel/mappings.py`):
#
# | operator | forward | where |
# |---|---|---|
# | $f$ | $y = x$ (identity: every rank keeps its copy) | before a column-parallel layer |
# | $g$ | $y = \sum_r x_r$ (all-reduce) | after a row-parallel layer |
#
# Their backwards follow from the chain rule. **f's backward.** The replicated $x$ feeds every rank's slice:
# $L = L(y_0,\dots,y_{t-1})$ with every $y_r = x$. The chain rule sums over all uses of $x$:
# $$\frac{\partial L}{\partial x} = \sum_{r=0}^{t-1} \frac{\partial L}{\partial y_r}$$
# Rank $r$'s autograd sees only its own term $\partial L/\partial y_r$ (its slice's path), so the sum over ranks
# is an all-reduce: f communicates in its **backward**. Let us check f's rule with autograd in one process, the two
# "ranks" being two slices of `query_key_value`.
#
# *Predict first:* what is g's backward: an all-reduce like f's, or something else?

# %%
x = torch.randn(3, config.hidden_size, requires_grad=True)
F.linear(x, w_qkv).square().sum().backward()  # the unsplit layer
full_grad = x.grad.clone()
rank_grads = []
for w_r in w_qkv.chunk(tp, dim=0):  # each rank: its own copy y_r = f(x), its own slice W_r
    x_r = x.detach().clone().requires_grad_(True)
    F.linear(x_r, w_r).square().sum().backward()
    rank_grads.append(x_r.grad)
f_backward = sum(rank_grads)  # f's backward: the all-reduce
assert torch.allclose(f_backward, full_grad, atol=1e-5)
print(f"one rank's gradient alone is off by {(rank_grads[0] - full_grad).abs().max():.2f}; "
      f"the all-reduced sum by {(f_backward - full_grad).abs().max():.1e}")

# %% [markdown]
# Where f and g sit in a GLM block: the picture below is traced from one forward pass of the kit's tensor-parallel
# layer (`block_trace.py`: hooks on its modules, a record of every f and g call, this rank's weight shapes), not
# drawn by hand.

# %%
draw_tp_block(trace_tp_layer(config, tp), config, tp)
plt.show()

# %% [markdown]
# ### Your turn — Exercise 9.3: f and g as autograd Functions
# Write f (`MyCopyToTP`) and g (`MyReduceFromTP`) as `torch.autograd.Function`s: `forward(ctx, x, group)` and
# `backward(ctx, grad)`. `all_reduce_sum(t, group)` (imported above from `mappings.py`) returns $\sum_r t_r$ over the
# group as a new tensor. The check runs your two classes on 2 and 3 gloo ranks **forked from this notebook's
# process**: f alone and g alone beside the package's operators on the same ranks, and Megatron's MLP
# $z = g(\mathrm{gelu}(f(x)\,W_{1,r}^\top)\,W_{2,r}^\top)$ against one process computing the unsplit MLP.

# %% tags=["solution"]
class MyCopyToTP(torch.autograd.Function):
    """f: forward y = x on every rank; backward ∂L/∂x = Σ_r ∂L/∂y_r."""

    @staticmethod
    def forward(ctx, x, group):
        ### HINT: backward returns one gradient per forward argument (None for the group); keep the group in ctx
        ctx.group = group
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return all_reduce_sum(grad, ctx.group), None


class MyReduceFromTP(torch.autograd.Function):
    """g: forward y = Σ_r x_r over the group."""

    @staticmethod
    def forward(ctx, x, group):
        return all_reduce_sum(x, group)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


# %%
passed["9.3"] = check_f_and_g(MyCopyToTP, MyReduceFromTP)
f_op, g_op = use((MyCopyToTP, MyReduceFromTP), passed["9.3"], (CopyToTensorParallel, ReduceFromTensorParallel))
print(f"later cells use {f_op.__name__} and {g_op.__name__}")

# %% [markdown] tags=["prediction"]
# The identity. $y = \sum_r x_r$, so $\partial y/\partial x_r = I$ and $\partial L/\partial x_r =
# \partial L/\partial y$. After g everything downstream (LayerNorm, residual, the loss) is replicated, so every rank
# already computes the same $\partial L/\partial y$: it is the right gradient for its own partial sum, with no
# communication. Each operator's backward is the other one's forward. Per transformer layer that makes two all-reduces
# forward (the two g's, after attention and after the MLP) and two backward (the two f's, before `query_key_value`
# and before `dense_h_to_4h`), each of $b\cdot s\cdot h$ values; section 4 counts them. An all-reduce in g's backward
# would multiply every gradient below it by $t$: the check's g case shows it.

# %% [markdown]
# ## 3. GLM's two layouts: whole heads, and each rank's own GeGLU halves
#
# **Attention.** `query_key_value` is column-parallel. GLM stores its rows **per head**, $[q_j; k_j; v_j]$ (notebook
# 03), so a contiguous block of $3h/t$ rows is exactly $n_h/t$ whole heads: each rank runs attention on its own heads
# and nothing else changes (the trace above: 2 of 4 heads per rank). GLM-130B at TP=8: 96 heads → 12 per rank.
#
# ### Your turn — Exercise 9.4: the interleaved QKV shard
# Many GPT codebases stack the fused QKV weight as `[Q; K; V]` (each `[h, h]`). Write `my_qkv_shard(weight,
# num_heads, tp, rank)` returning rank `rank`'s rows in GLM's per-head layout: for each of its `nh/tp` heads `j`,
# the rows `[q_j; k_j; v_j]`.

# %%
def my_qkv_shard(weight, num_heads, tp, rank):
    ### BEGIN SOLUTION
    ### HINT: a rank needs whole heads (q, k and v of each); cutting the stacked [Q; K; V] gives rank 0 only queries
    three_h, h = weight.shape
    per_head = weight.view(3, num_heads, three_h // (3 * num_heads), h).transpose(0, 1)  # [nh, 3, d, h]
    return per_head.chunk(tp, dim=0)[rank].reshape(-1, h)  # [3h/tp, h]
    ### END SOLUTION


# %%
passed["9.4"] = check_interleaved_qkv_shard(my_qkv_shard)

# %% [markdown]
# **GeGLU.** `dense_h_to_4h` outputs $[x_1; x_2]$ and the MLP computes $x_1 \cdot \mathrm{gelu}(x_2)$, each rank
# running `chunk(2)` on its own output (`glm_mini/mlp.py`, unchanged). A plain contiguous split would give rank 0
# all of $x_1$ and rank 1 all of $x_2$, and `chunk(2)` *inside* each rank would then pair the wrong halves.
#
# ### Your turn — Exercise 9.5: the GeGLU shard
# Write `my_geglu_shard(weight, tp, rank)` returning the rows of a `dense_h_to_4h` weight `[2f, h]` that rank `rank`
# must hold, so that its own `chunk(2)` gives it matching slices $x_{1,r}$ and $x_{2,r}$ of the two halves.
# *Predict first:* the cell after the check runs the MLP on 2 ranks forked from this notebook, summed by your g, once
# with a plain contiguous split and once with your shard. Will the plain split be slightly off, or wrong?

# %%
def my_geglu_shard(weight, tp, rank):
    ### BEGIN SOLUTION
    ### HINT: x1 and x2 are the two halves of the rows; a rank's slice of one must line up with its slice of the other
    chunks = weight.chunk(2 * tp, dim=0)
    return torch.cat((chunks[rank], chunks[tp + rank]), dim=0)
    ### END SOLUTION


# %%
passed["9.5"] = check_geglu_shard(my_geglu_shard)
geglu_shard = use(my_geglu_shard, passed["9.5"], lambda w, t, r: shard_tensor(w, "glu", t, r))
y = torch.randn(2, 5, config.hidden_size)  # [b, s, h]: the MLP input
mlp = layer.mlp


def rank_mlp(rank, world, rows):
    """One rank's MLP, run exactly as glm_mini's GeGLU runs (chunk(2) inside the rank), then g sums the ranks."""
    with torch.no_grad():
        w_in = rows(mlp.dense_h_to_4h.weight, world, rank)  # [2f/t, h]
        b_in = rows(mlp.dense_h_to_4h.bias.view(-1, 1), world, rank).view(-1)  # the bias as a one-column weight
        x1, x2 = F.linear(y, w_in, b_in).chunk(2, dim=-1)  # each [b, s, f/t]
        partial = F.linear(x1 * F.gelu(x2), shard_tensor(mlp.dense_4h_to_h.weight, "cols", world, rank))  # [b, s, h]
        return g_op.apply(partial, None) + mlp.dense_4h_to_h.bias  # the all-reduce, then the bias once


layouts = {"plain split": lambda t, world, r: shard_tensor(t, "rows", world, r), "your shard": geglu_shard}
outputs = {name: run_on_forked_ranks(lambda rank, world: rank_mlp(rank, world, rows), tp)[0]
           for name, rows in layouts.items()}  # rank 0's result; after g every rank holds the same
with torch.no_grad():
    one_process = mlp(y)  # [b, s, h]
    mlp_errors = {name: (out - one_process).abs().max().item() for name, out in outputs.items()}
for name, err in mlp_errors.items():
    print(f"{name:>12} on {tp} forked ranks, summed by {g_op.__name__}: max |Δ| vs the one-process MLP = {err:.1e}")
print(f"the one-process MLP's output itself: max |z| = {one_process.abs().max():.1e}")

# %% [markdown] tags=["prediction"]
# Wrong, not slightly off: the plain split's error printed above is as large as the output itself (the last line),
# because rank 0 multiplies $x_1$'s first half by gelu of $x_1$'s second half. The official checkpoints give rank $r$
# the rows $[x_{1,r}; x_{2,r}]$: cut the rows into $2t$ chunks $c_0..c_{2t-1}$ and take $[c_r; c_{t+r}]$
# (`tp_layout.shard_tensor(..., "glu", ...)`; THUDM/GLM-130B `tools/convert_tp.py`). The picture below shows it for
# GLM-130B's real width.

# %% [markdown]
# Which rows each rank owns, for GLM-130B's real widths at its serving degree, from `shard_tensor` on row indices
# (left: the official GeGLU-aware rule; right: a plain split, wrong for GeGLU):


# %%
def draw_row_owners(tp: int = 4, width: int = 32768):
    """Owner rank of every row of dense_h_to_4h (2·width rows) under the GeGLU-aware and the plain split."""
    rows = torch.arange(2 * width)
    fig, axes = plt.subplots(1, 2, figsize=(10, 1.9), sharey=True)
    for ax, (title, role) in zip(axes, [("official: [x1_r; x2_r]", "glu"), ("plain split (wrong for GeGLU)", "rows")]):
        owner = torch.empty(2 * width, dtype=torch.long)
        for r in range(tp):
            owner[shard_tensor(rows, role, tp, r)] = r
        ax.imshow(owner.view(1, -1), aspect="auto", cmap="Set2", vmin=0, vmax=7, interpolation="nearest")
        ax.axvline(width - 0.5, color="black", lw=2)
        ax.set(title=title, xlabel=f"row of dense_h_to_4h (x1 | x2 split at {width})", yticks=[])
    fig.legend(handles=RANK_PATCHES[:tp], loc="center right", title="owner")
    fig.subplots_adjust(right=0.88)
    plt.show()


draw_row_owners()

# %% tags=["widget"]
ipywidgets.interact(draw_row_owners, tp=ipywidgets.ToggleButtons(options=[1, 2, 4, 8], value=4),
                    width=ipywidgets.fixed(32768));

# %% [markdown]
# The official TP=8 shards of GLM-130B, from the 130B model built on `meta` (no memory) and sharded by
# `shard_state_dict`: the shapes each `mp_rank_XX_model_states.pt` holds.

# %%
with torch.device("meta"):
    glm130b = GLM(PRESETS["glm-130b"])
full_130b = glm130b.state_dict()
shapes = {t: {k: tuple(v.shape) for k, v in shard_state_dict(full_130b, t, 0, glm130b.config).items()}
          for t in (4, 8)}
layer_keys = ["transformer.word_embeddings.weight"] + [
    f"transformer.layers.0.{k}" for k in ("attention.query_key_value.weight", "attention.dense.weight",
                                          "attention.dense.bias", "mlp.dense_h_to_4h.weight",
                                          "mlp.dense_4h_to_h.weight")]
print(f"{'key':<55}{'TP=4':>16}{'TP=8':>16}")
for k in layer_keys:
    print(f"{k:<55}{str(shapes[4][k]):>16}{str(shapes[8][k]):>16}")
assert shapes[8]["transformer.layers.0.attention.query_key_value.weight"] == (4608, 12288)  # 12 heads · 3 · 128
assert shapes[8]["transformer.layers.0.mlp.dense_h_to_4h.weight"] == (8192, 12288)  # 2 · 32768 / 8

# %% [markdown]
# ## 4. The real thing: TP=2 on CPU processes
#
# `scale_up.apply_tensor_parallel(model, group)` swaps GLM's modules by name for their parallel twins (column:
# `query_key_value`, `dense_h_to_4h`; row: `attention.dense`, `dense_4h_to_h`; vocab-parallel: `word_embeddings`;
# the final LayerNorm followed by $f$ for the tied head) and loads rank $r$'s official shard, so its `state_dict()`
# **is** `mp_rank_0r_model_states.pt`. No line of `glm_mini` changes.
#
# `launch_check` runs `torchrun --nproc-per-node 2 -m scale_up.tensor_parallel.check` (gloo, one CPU process per
# rank). Every rank builds the same seeded model, keeps it as the single-process reference, shards a copy, runs one
# forward and backward of both, and counts every collective's bytes by wrapping `torch.distributed`'s functions.
# Rank 0 writes `tp2.json`; we read it back.

# %%
out_dir = Path(tempfile.mkdtemp(prefix="nb09_"))
degrees = [2] if FAST else [2, 4]
results = {}
for t in degrees:
    start = time.perf_counter()
    results[t] = launch_check(t, out_dir, batch_size=2, seq_len=16)
    print(f"TP={t}: {time.perf_counter() - start:.1f} s wall (process start-up included); wrote {out_dir}/tp{t}.json")
for t, r in results.items():
    assert max(r["max_rel_error"].values()) <= 1e-5, r["max_rel_error"]
quantities = list(results[degrees[0]]["max_rel_error"])
fig, ax = plt.subplots(figsize=(7, 2.8))
for i, (t, r) in enumerate(results.items()):
    xs = [k + 0.8 * i / len(results) for k in range(len(quantities))]
    ax.bar(xs, [max(r["max_rel_error"][q], 1e-12) for q in quantities], width=0.8 / len(results),
           color=RANK_PATCHES[i + 1].get_facecolor(), label=f"TP={t} on {t} CPU processes")
    for x_bar, q in zip(xs, quantities):  # a log axis has no 0: say so where the two agree to the last bit
        if r["max_rel_error"][q] == 0:
            ax.text(x_bar, 2e-12, "0: identical", ha="center", va="bottom", fontsize=8)
eps = torch.finfo(torch.float32).eps
ax.axhline(eps, color="black", ls="--", lw=1, label=f"float32 machine epsilon ({eps:.1e})")
ax.axhline(1e-5, color="tab:red", ls=":", lw=1, label="the tests' bound (1e-5)")
ax.set(yscale="log", ylabel="max |TP − one process| / max |one process|",
       xticks=[k + 0.4 * (len(results) - 1) / len(results) for k in range(len(quantities))],
       xticklabels=[{"grads": "every gradient", "logits": "logits", "loss": "loss"}.get(q, q) for q in quantities],
       title="tensor parallel vs one process, one forward and backward (relative error)")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
plt.show()

# %% [markdown]
# ### Collective bytes per layer, counted vs the formula
#
# Per transformer layer and step, Megatron's count is two all-reduces of $b\cdot s\cdot h$ values forward and two
# backward; in fp32 that is $2 \cdot b s h \cdot 4$ bytes each way. The count below is measured as a 2-layer minus a
# 1-layer model, so the embedding's all-reduce and the logits' all-gather fall out of it.

# %%
r = results[2]
counted, formula = r["per_layer_bytes"], r["megatron_per_layer_bytes"]
print(f"b={r['batch_size']}, s={r['seq_len']}, h={r['hidden_size']}, TP={r['tp']}")
print(f"{'per layer':<12}{'collectives':>12}{'counted bytes':>16}{'2·b·s·h·4':>12}")
for phase in ("forward", "backward"):
    print(f"{phase:<12}{counted[phase + '_collectives']:>12}{counted[phase]:>16,}{formula[phase]:>12,}")
assert counted["forward"] == formula["forward"] and counted["backward"] == formula["backward"]
whole = r["whole_model_bytes"]
print(f"whole model ({config.num_layers} layers): forward {whole['forward']:,} B in {whole['forward_calls']} calls "
      f"(incl. the embedding's all-reduce and the logits' all-gather), backward {whole['backward']:,} B")

# GLM-130B's training step at the paper's layout: micro-batch 1 (Tab. 11), s = 2048, h = 12288, FP16 (2 bytes)
h130, s130 = PRESETS["glm-130b"].hidden_size, 2048
per_layer_130b = 4 * 1 * s130 * h130 * 2  # four all-reduces of b·s·h values
print(f"GLM-130B, per layer per micro-batch: 4 all-reduces of {s130 * h130 * 2 / 2**20:.0f} MiB = "
      f"{per_layer_130b / 2**20:.0f} MiB; traffic this size is why TP stays inside a node (NVLink), and within the "
      "8-GPU DGX-A100 node the paper measured t = 4 as the better trade-off: t = 8 did not scale (App. B.4)")

# %% [markdown]
# ## 5. Checkpoints that change TP degree
#
# GLM-130B trained at TP=4 and was converted to TP=8 for serving (`tools/convert_tp.py`). Because every rule above
# is pure slicing and concatenation, resharding is exact: merge the shards, split again
# (`tp_layout.reshard_state_dicts`). `scale_up.sharded_checkpoint` writes one `mp_rank_XX_model_states.pt` per rank,
# atomically (the `latest` file moves last), and reshards weights *and* Adam moments on load, so training resumes at
# another TP degree (`tests/test_sharded_checkpoint.py`). `scale_up.fault_tolerance` makes the other ranks stop
# within seconds, naming the dead rank, when one dies mid-step (`tests/test_fault_tolerance.py`).

# %%
full = model.state_dict()
two = [shard_state_dict(full, 2, r, config) for r in range(2)]
four = reshard_state_dicts(two, 4, config)  # TP=2 -> 1 -> 4
back = merge_state_dicts(four, config)
assert all(torch.equal(back[k], full[k]) for k in full)
assert all(torch.equal(four[r][k], shard_state_dict(full, 4, r, config)[k]) for r in range(4) for k in full)
print(f"TP=2 -> TP=4 -> TP=1: all {len(full)} tensors bit-identical to the original")

# %% [markdown]
# On this shared CPU the TP step is *slower* than one process (`step_seconds` in the file: more processes, no extra
# cores, every all-reduce a round trip through the kernel). Tensor parallelism buys memory, and speed only where
# each rank has its own accelerator and a fast link.

# %% tags=["summary"]
print(exercise_record(passed))
for t, r in results.items():
    e = r["max_rel_error"]
    print(f"TP={t} on {t} CPU processes vs one process: logits {e['logits']:.1e}, loss {e['loss']:.1e}, "
          f"grads {e['grads']:.1e} (max relative)")
print(f"collective bytes per layer (b={r['batch_size']}, s={r['seq_len']}, h={r['hidden_size']}): forward "
      f"{counted['forward']:,} B in {counted['forward_collectives']} all-reduces, backward {counted['backward']:,} B "
      f"in {counted['backward_collectives']}; Megatron formula 2·b·s·h·4 = {formula['forward']:,} B each way")
print(f"GeGLU on {tp} forked ranks: plain split off by {mlp_errors['plain split']:.2f}, your shard (or the "
      f"package's) by {mlp_errors['your shard']:.1e}")
print(f"GLM-130B TP=8 shard: query_key_value {shapes[8]['transformer.layers.0.attention.query_key_value.weight']}, "
      f"dense_h_to_4h {shapes[8]['transformer.layers.0.mlp.dense_h_to_4h.weight']}")
print(f"reshard TP=2 -> 4 -> 1: {len(full)} tensors bit-identical")
print(f"notebook wall time {time.perf_counter() - NOTEBOOK_START:.0f} s")
