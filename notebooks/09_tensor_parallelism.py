# %% [markdown]
# # 09 · Tensor parallelism: one layer, several processes, the same numbers
#
# Budget: 90 s (FAST, 2-core CPU).
#
# **Why.** GLM-130B's weights take 257 GB in FP16 (notebook 03); one A100 holds 40 or 80 GB. The paper trained with
# 4-way tensor parallelism (inside a node) × 8-way pipeline × 24-way data parallelism, and serves with 4 or 8 GPUs
# each holding a **slice of every layer** (paper §2.3, App. B.4). This notebook splits GLM's layers the way the
# official checkpoints are split, derives the two communication operators that make the split exact, runs the kit's
# tensor-parallel model on CPU processes, and counts the bytes it sends.
#
# | piece | package file | test |
# |---|---|---|
# | the f / g operators | `scale_up/tensor_parallel/mappings.py` | `tests/test_tensor_parallel.py` |
# | column-, row-, vocab-parallel layers | `scale_up/tensor_parallel/layers.py` | `tests/test_tensor_parallel.py` |
# | vocab-parallel cross-entropy | `scale_up/tensor_parallel/cross_entropy.py` | `tests/test_tensor_parallel.py` |
# | the official shard layout, resharding | `scale_up/tp_layout.py` | `tests/test_tp_layout.py` |
# | `apply_tensor_parallel` (plan keyed by module name) | `scale_up/tensor_parallel/apply.py` | `tests/test_tensor_parallel.py` |
# | DDP + ZeRO-1, DP×TP | (PyTorch's own) | `tests/test_data_parallel.py` |
# | sharded checkpoints, fail-fast | `scale_up/sharded_checkpoint.py`, `scale_up/fault_tolerance.py` | `tests/test_sharded_checkpoint.py`, `tests/test_fault_tolerance.py` |
# | collective bytes vs the formula | `scale_up/tensor_parallel/check.py` | `tests/benchmarks/bench_tensor_parallel.py` |

# %%
import os
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Patch
import torch.nn.functional as F

from glm_mini import GLM, PRESETS
from glm_mini.exercises import use
from scale_up.exercises.nb09_tensor_parallel import (check_column_parallel, check_geglu_shard,
                                                     check_interleaved_qkv_shard, check_row_parallel)
from scale_up.tensor_parallel.check import launch_check
from scale_up.tp_layout import merge_state_dicts, reshard_state_dicts, shard_state_dict, shard_tensor

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
NOTEBOOK_START = time.perf_counter()
torch.manual_seed(0)
config = PRESETS["nano"]
model = GLM(config)
layer = model.transformer.layers["0"]
print(config)

# %% [markdown]
# ## 1. Splitting a linear layer by hand
#
# A linear layer computes $Y = XW^\top$ with $W \in \mathbb{R}^{n_\text{out}\times n_\text{in}}$. There are two ways
# to give each of $t$ ranks a slice of $W$ so that together they compute exactly $Y$:
#
# **Column-parallel** (split the output rows of $W$): every rank needs all of $X$ and computes its own columns of $Y$:
# $$W = \begin{bmatrix} W_0 \\ \vdots \\ W_{t-1} \end{bmatrix} \;\Rightarrow\;
#   Y = \big[\, XW_0^\top \;\big|\; \cdots \;\big|\; XW_{t-1}^\top \,\big]
#   \qquad\texttt{ColumnParallelLinear: F.linear(f(x), W\_r, b\_r)}$$
#
# **Row-parallel** (split the input columns of $W$): every rank holds a slice $X_r$ of the input and computes a
# partial sum; the bias is added **once**, after the sum:
# $$W = \big[\, W_0 \;\big|\; \cdots \;\big|\; W_{t-1} \,\big] \;\Rightarrow\;
#   Y = \sum_{r} X_r W_r^\top + b \qquad\texttt{RowParallelLinear: g(F.linear(x\_r, W\_r)) + b}$$
#
# Megatron-LM puts them back to back: the column-parallel output slice is exactly the row-parallel input slice, so a
# whole MLP or attention block needs **one** sum at its end. Here is GLM's attention output projection
# (`attention.dense`, row-parallel) split over 2 ranks by hand:

# %%
tp = 2
x = torch.randn(2, 5, config.hidden_size)  # [b, s, h]: the attention context
weight = layer.attention.dense.weight.detach()  # [h, h]
bias = torch.randn(config.hidden_size)  # DeepNorm initializes biases to 0; a random one shows the bias rule
unsplit = F.linear(x, weight, bias)
partial = [F.linear(xr, wr) for xr, wr in zip(x.chunk(tp, dim=-1), weight.chunk(tp, dim=1))]  # per rank
by_hand = partial[0] + partial[1] + bias  # the all-reduce, then the bias once
assert torch.allclose(by_hand, unsplit, atol=1e-6)
bias_twice = (partial[0] + bias) + (partial[1] + bias)  # a classic bug: every rank adds the bias
print(f"row-parallel by hand vs the unsplit layer: max |Δ| = {(by_hand - unsplit).abs().max():.1e}; "
      f"with the bias added on every rank: {(bias_twice - unsplit).abs().max():.2f}")

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
# ## 2. The f and g operators: why the split is exact in backward too
#
# Every rank runs the **same program**: same input $x$, same LayerNorms, same loss $L$; only the weight slices differ.
# Two operators sit at the borders of a split region (`scale_up/tensor_parallel/mappings.py`):
#
# | operator | forward | backward | where |
# |---|---|---|---|
# | $f$ | $y = x$ (identity) | $\partial L/\partial x = \sum_r \partial L/\partial y_r$ (all-reduce) | before a column-parallel layer |
# | $g$ | $y = \sum_r x_r$ (all-reduce) | $\partial L/\partial x_r = \partial L/\partial y$ (identity) | after a row-parallel layer |
#
# **f's backward.** The replicated $x$ feeds every rank's slice: $L = L(y_0,\dots,y_{t-1})$ with every $y_r = x$.
# The chain rule sums over all uses of $x$:
# $$\frac{\partial L}{\partial x} = \sum_{r=0}^{t-1} \frac{\partial L}{\partial y_r}
#   \qquad\texttt{CopyToTensorParallel.backward: all\_reduce\_sum(grad)}$$
# Rank $r$'s autograd sees only its own term, so the sum over ranks is an all-reduce.
#
# **g's backward.** $y = \sum_r x_r$, so $\partial y/\partial x_r = I$ and
# $$\frac{\partial L}{\partial x_r} = \frac{\partial L}{\partial y}
#   \qquad\texttt{ReduceFromTensorParallel.backward: return grad}$$
# and after $g$ everything is replicated, so every rank already holds $\partial L/\partial y$: no communication.
#
# Each one's backward is the other's forward. Per transformer layer: forward two $g$'s (after attention, after the
# MLP), backward two $f$'s (before QKV, before `dense_h_to_4h`): **four all-reduces of $b\cdot s\cdot h$ values per
# layer per step**. Let us check f's rule with autograd in one process, the two "ranks" being two column slices:

# %%
w = layer.attention.query_key_value.weight.detach()  # [3h, h]
x = torch.randn(3, config.hidden_size, requires_grad=True)
F.linear(x, w).square().sum().backward()  # the unsplit layer
full_grad = x.grad.clone()
rank_grads = []
for w_r in w.chunk(tp, dim=0):  # each rank: its own copy y_r = f(x), its own slice W_r
    x_r = x.detach().clone().requires_grad_(True)
    F.linear(x_r, w_r).square().sum().backward()
    rank_grads.append(x_r.grad)
f_backward = sum(rank_grads)  # f's backward: the all-reduce
assert torch.allclose(f_backward, full_grad, atol=1e-5)
print(f"one rank's gradient alone is off by {(rank_grads[0] - full_grad).abs().max():.2f}; "
      f"the all-reduced sum by {(f_backward - full_grad).abs().max():.1e}")

# %% [markdown]
# ## 3. GLM's two layouts: whole heads, and each rank's own GeGLU halves
#
# **Attention.** `query_key_value` is column-parallel. GLM stores its rows **per head**, $[q_j; k_j; v_j]$ (notebook
# 03), so a contiguous block of $3h/t$ rows is exactly $n_h/t$ whole heads: each rank runs attention on its own heads
# and nothing else changes. GLM-130B at TP=8: 96 heads → 12 per rank.
#
# **GeGLU.** `dense_h_to_4h` outputs $[x_1; x_2]$ and the MLP computes $x_1 \cdot \mathrm{gelu}(x_2)$. A plain
# contiguous split would give rank 0 all of $x_1$ and rank 1 all of $x_2$, and `chunk(2)` *inside* each rank would then
# pair the wrong halves, silently. The official checkpoints give rank $r$ the rows $[x_{1,r}; x_{2,r}]$: cut the rows
# into $2t$ chunks $c_0..c_{2t-1}$ and take $[c_r; c_{t+r}]$ (`tp_layout.shard_tensor(..., "glu", ...)`;
# THUDM/GLM-130B `tools/convert_tp.py`). Both, by hand, against the package:

# %%
f_width, h = config.ffn_hidden_size, config.hidden_size
y = torch.randn(2, 5, h)  # [b, s, h]: the MLP input
mlp = layer.mlp


def rank_mlp_output(w_in, b_in, w_out):
    """One rank's partial MLP output, run exactly as glm_mini's GeGLU runs: chunk(2) inside the rank."""
    x1, x2 = F.linear(y, w_in, b_in).chunk(2, dim=-1)  # each [b, s, f/t]
    return F.linear(x1 * F.gelu(x2), w_out)  # [b, s, h], before the all-reduce


outputs = {}
for name, rows in [("plain split", lambda t, r: t.chunk(tp, dim=0)[r]),
                   ("official [x1_r; x2_r]", lambda t, r: shard_tensor(t, "glu", tp, r))]:
    total = sum(rank_mlp_output(rows(mlp.dense_h_to_4h.weight, r), rows(mlp.dense_h_to_4h.bias, r),
                                mlp.dense_4h_to_h.weight.chunk(tp, dim=1)[r]) for r in range(tp))
    outputs[name] = total + mlp.dense_4h_to_h.bias
    print(f"{name:>22}: max |Δ| vs the unsplit MLP = {(outputs[name] - mlp(y)).abs().max():.1e}")
assert torch.allclose(outputs["official [x1_r; x2_r]"], mlp(y), atol=1e-5)
assert not torch.allclose(outputs["plain split"], mlp(y), atol=1e-2)

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
import ipywidgets  # noqa: E402

ipywidgets.interact(draw_row_owners, tp=[1, 2, 4, 8], width=ipywidgets.fixed(32768));

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
# ### Your turn — Exercise 9.1: a column-parallel layer by hand
# Return the list of every rank's output `[x W_0ᵀ + b_0, ..., x W_{t-1}ᵀ + b_{t-1}]` for `tp` ranks. Predict first:
# concatenated along the last dim, what do they equal?

# %%
def my_column_parallel(x, weight, bias, tp):
    ### BEGIN SOLUTION
    ### HINT: split weight and bias on dim 0 (output rows), one F.linear per rank
    return [F.linear(x, w, b) for w, b in zip(weight.chunk(tp, dim=0), bias.chunk(tp, dim=0))]
    ### END SOLUTION


# %%
check_column_parallel(my_column_parallel);

# %% [markdown]
# ### Your turn — Exercise 9.2: a row-parallel layer by hand
# Split `x` on its last dim and `weight` on dim 1, sum the partial products (that is g's all-reduce), add the bias
# once. What would adding it on every rank cost?

# %%
def my_row_parallel(x, weight, bias, tp):
    ### BEGIN SOLUTION
    ### HINT: x_r is the r-th slice of x's last dim, W_r the r-th slice of weight's dim 1; bias after the sum
    return sum(F.linear(xr, wr) for xr, wr in zip(x.chunk(tp, dim=-1), weight.chunk(tp, dim=1))) + bias
    ### END SOLUTION


# %%
check_row_parallel(my_row_parallel);

# %% [markdown]
# ### Your turn — Exercise 9.3: the interleaved QKV shard
# Many GPT codebases stack the fused QKV weight as `[Q; K; V]` (each `[h, h]`). Return rank `rank`'s rows in GLM's
# per-head layout: for each of its `nh/tp` heads `j`, the rows `[q_j; k_j; v_j]`.

# %%
def my_qkv_shard(weight, num_heads, tp, rank):
    ### BEGIN SOLUTION
    ### HINT: view as [3, nh, d, h], swap the first two dims, take this rank's heads, flatten back to rows
    three_h, h = weight.shape
    per_head = weight.view(3, num_heads, three_h // (3 * num_heads), h).transpose(0, 1)  # [nh, 3, d, h]
    return per_head.chunk(tp, dim=0)[rank].reshape(-1, h)  # [3h/tp, h]
    ### END SOLUTION


# %%
check_interleaved_qkv_shard(my_qkv_shard);

# %% [markdown]
# ### Your turn — Exercise 9.4: the GeGLU shard
# Return rank `rank`'s rows `[x1_r; x2_r]` of a `dense_h_to_4h` weight `[2f, h]`.

# %%
def my_geglu_shard(weight, tp, rank):
    ### BEGIN SOLUTION
    ### HINT: torch.chunk into 2·tp pieces; take pieces rank and tp + rank
    chunks = weight.chunk(2 * tp, dim=0)
    return torch.cat((chunks[rank], chunks[tp + rank]), dim=0)
    ### END SOLUTION


# %%
geglu_ok = check_geglu_shard(my_geglu_shard)
geglu_shard = use(my_geglu_shard, geglu_ok, lambda w, t, r: shard_tensor(w, "glu", t, r))
assert torch.equal(geglu_shard(mlp.dense_h_to_4h.weight, 2, 1), shard_tensor(mlp.dense_h_to_4h.weight, "glu", 2, 1))

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
    errors = ", ".join(f"{k} {v:.1e}" for k, v in r["max_rel_error"].items())
    print(f"TP={t} vs one process, max relative error: {errors}")
    assert max(r["max_rel_error"].values()) <= 1e-5

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
for t, r in results.items():
    e = r["max_rel_error"]
    print(f"TP={t} on {t} CPU processes vs one process: logits {e['logits']:.1e}, loss {e['loss']:.1e}, "
          f"grads {e['grads']:.1e} (max relative)")
print(f"collective bytes per layer (b={r['batch_size']}, s={r['seq_len']}, h={r['hidden_size']}): forward "
      f"{counted['forward']:,} B in {counted['forward_collectives']} all-reduces, backward {counted['backward']:,} B "
      f"in {counted['backward_collectives']}; Megatron formula 2·b·s·h·4 = {formula['forward']:,} B each way")
print(f"GeGLU: plain split off by {(outputs['plain split'] - mlp(y)).abs().max():.2f}, official [x1_r; x2_r] "
      f"by {(outputs['official [x1_r; x2_r]'] - mlp(y)).abs().max():.1e}")
print(f"GLM-130B TP=8 shard: query_key_value {shapes[8]['transformer.layers.0.attention.query_key_value.weight']}, "
      f"dense_h_to_4h {shapes[8]['transformer.layers.0.mlp.dense_h_to_4h.weight']}")
print(f"reshard TP=2 -> 4 -> 1: {len(full)} tensors bit-identical")
print(f"notebook wall time {time.perf_counter() - NOTEBOOK_START:.0f} s")
