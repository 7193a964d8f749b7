# %% [markdown]
# # 10 · Pipeline parallelism: stages, schedules and the bubble
#
# Budget: 90 s (FAST, 2-core CPU).
#
# GLM-130B's weights, gradients and Adam states need far more memory than one GPU holds, and the paper found that
# tensor parallelism stops paying off beyond 4 GPUs inside a DGX-A100 node. So it also cut the 70 layers into
# **8 pipeline stages** on 8 groups of GPUs (DP 24 × TP 4 × PP 8 = 768 GPUs) and ran them with the **1F1B**
# schedule (paper §2.3, App. B.4). A pipeline has one cost: while the first micro-batch flows down and the last one
# flows back, some stages wait. That idle time is the **bubble**.
#
# This notebook builds each piece and runs it for real on CPU processes. Three pieces are **yours to write**
# (Exercises 10.1–10.3); each check says PASS or shows the first mismatch, and later cells use your function once
# it passes (the package's until then).
#
# | piece | package file | test |
# |---|---|---|
# | the partition rule (embedding and head count as layers) | `scale_up/pipeline/partition.py` | `tests/test_pipeline_stages.py` |
# | a stage = the model with other layers deleted | `scale_up/pipeline/stage_module.py` | `tests/test_pipeline_stages.py` |
# | micro-batch loss, tied embedding | `scale_up/pipeline/loss.py`, `tied_embedding.py` | `tests/test_pipeline_stages.py` |
# | GPipe / 1F1B / interleaved schedules on `torch.distributed.pipelining` | `scale_up/pipeline/schedule.py` | `tests/test_pipeline_parallel.py` |
# | recorded events, measured bubble, replay | `scale_up/pipeline/recording.py` | both, and `tests/benchmarks/bench_pipeline.py` |
#
# Facts come from the GLM-130B paper (Zeng et al., 2022, §2.3, App. B.4) and its training configuration;
# `docs/glm130b_facts.md` §3 collects them with sources.

# %%
import os
import shutil
import statistics
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from glm_mini import GLM, PRESETS
from glm_mini.exercises import exercise_record, use
from scale_up.exercises.nb10_pipeline import check_bubble_fraction, check_layers_per_stage, check_one_f_one_b_order
from glm_mini.training.step import masked_cross_entropy as glm_loss
from scale_up.pipeline import (Event, bubble_formula, build_stage_module, load_events, measured_bubble,
                               partition_layers, stage_costs, sum_tied_embedding_grads)
from scale_up.pipeline.example_batch import example_batch
from scale_up.pipeline.launch import REPO_ROOT, read_rank_tensors, run_pipeline
from scale_up.pipeline.orders import gpipe_order, one_f_one_b_order
from scale_up.pipeline.partition import end_units, layers_per_stage
from scale_up.pipeline.plot import plot_timeline
from scale_up.pipeline.recording import replay
from scale_up.pipeline.reference import single_process_run

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
torch.manual_seed(0)
notebook_start = time.time()
passed = {}  # exercise -> did its check pass

# %% [markdown]
# ## 1. Cutting the model: the paper's partition rule
#
# Which layers go to which stage? If every stage got the same number of transformer layers, the first and the last
# stage would be slower: the first also looks tokens up in the 150k × 12288 embedding, the last multiplies by it
# again for the logits. GLM-130B's launch script says `--pp-partition-method 'type:transformer|embedding'`: count
# each transformer layer **and each use of the embedding** as one unit, then balance the units. With
# $N$ layers, $S$ stages and $n_i \ge 1$ layers on stage $i$:
#
# $$\text{cost}_i = n_i + e_i,\qquad e_i = [\,i = 0\,] + [\,i = S-1\,],\qquad \sum_i n_i = N,$$
#
# and the rule makes the largest $\text{cost}_i$ as small as possible (`partition_layers` in
# `scale_up/pipeline/partition.py`). For GLM-130B, 70 + 2 = 72 units over 8 stages is 9 each: the end stages hold
# 8 layers and an embedding, the six middle ones 9 layers.

# %%
ranges = partition_layers(70, 8)
layers = [len(r) for r in ranges]
extras = [end_units(i, 8) for i in range(8)]
assert stage_costs(70, 8) == [9] * 8

fig, ax = plt.subplots(figsize=(6.5, 2.6))
ax.bar(range(8), layers, color="#4C72B0", label="transformer layers")
ax.bar(range(8), extras, bottom=layers, color="#55A868", label="embedding / tied head")
ax.set(xlabel="pipeline stage", ylabel="units of work", title="GLM-130B: 70 layers + 2 embedding units over 8 stages",
       xticks=range(8))
ax.legend(loc="lower center", fontsize=8)
plt.show()
print("layers per stage:", layers, "| layer ranges:", [(r.start, r.stop - 1) for r in ranges])

# %% [markdown]
# ### Your turn — Exercise 10.1: the partition rule
# Write `my_layers_per_stage(num_layers, num_stages)` returning the number of transformer layers of each stage.
# Start from the smallest possible maximum cost $M = \max(\lceil (N+2)/S \rceil,\ 1 + \max_i e_i)$, give each stage
# $M - e_i$ layers, then take the surplus back one layer at a time from the most expensive stage (the later one on
# a tie), never going below one layer. *Predict first:* how many layers does each of 2 stages get for a 6-layer
# model? And for 5 layers?

# %%
def my_layers_per_stage(num_layers, num_stages):
    ### BEGIN SOLUTION
    ### HINT: one stage is both ends (e = 2); M rounds up; find the costliest stage again after each layer taken
    e = [int(i == 0) + int(i == num_stages - 1) for i in range(num_stages)]
    top = max(-(-(num_layers + 2) // num_stages), 1 + max(e))
    n = [top - ei for ei in e]
    for _ in range(sum(n) - num_layers):
        i = max((i for i in range(num_stages) if n[i] > 1), key=lambda i: (n[i] + e[i], i))
        n[i] -= 1
    return n
    ### END SOLUTION


# %%
passed["10.1"] = check_layers_per_stage(my_layers_per_stage)
layers_rule = use(my_layers_per_stage, passed["10.1"], layers_per_stage)
print("6 layers on 2 stages:", layers_rule(6, 2), "| 5 layers:", layers_rule(5, 2))

# %% [markdown] tags=["prediction"]
# 3 and 3, then 3 and 2, as printed. Six layers and two embedding units make 8 units, 4 per stage; with two stages
# each one is an end stage holding one embedding use, so each keeps 3 layers. With 5 layers the 7 units cannot be
# split evenly: both stages start at $M - e_i = 3$ layers, one layer too many, and the rule takes it from the
# costlier stage, the later one on a tie.

# %% [markdown]
# ## 2. A stage is the model with the other layers deleted
#
# The kit does not rewrite the model for the pipeline. A stage is a **copy of the unchanged `glm_mini.GLM` with the
# other stages' layers deleted** (and the final LayerNorm deleted except on the last stage, the embedding kept only on
# the first and the last). Nothing is renamed, so a stage's `state_dict()` keys are the full model's keys: stages
# load their slice of an ordinary checkpoint, and per-stage checkpoints merge back by name.
#
# The forward is GLM's own, cut at the stage boundaries. Non-last stages pass on `(h, position_ids,
# attention_mask)`, so the GLM mask (bidirectional over Part A, causal over Part B) reaches every stage:
#
# $$h_0 = \text{shrink}(E[\text{input\_ids}]),\quad h_{l+1} = \text{GLMLayer}_l(h_l),\quad
#   \text{logits} = \text{LN}(h_N)\,E^\top$$
#
# The first and the last stage both hold the embedding $E$. In one process $E$ gets the sum of both uses'
# gradients; split over two stages, each copy gets one part, so the pipeline **sums them** after the backward pass
# (`sum_tied_embedding_grads`, DeepSpeed's `TiedLayerSpec` as GLM-130B trained):
#
# $$\frac{\partial L}{\partial E} = \frac{\partial L}{\partial E}\Big|_\text{lookup, first stage}
#   + \frac{\partial L}{\partial E}\Big|_\text{head, last stage}$$

# %%
nano = GLM(PRESETS["nano"].replace(num_layers=4))
stages = [build_stage_module(nano, i, 2) for i in range(2)]
for stage in stages:
    names = list(stage.state_dict())
    print(f"stage {stage.stage_index}: layers {list(stage.layer_ids)}, {len(names)} tensors, e.g. {names[0]} … "
          f"{names[-1]}")

batch = example_batch(nano.config, batch_size=4, seq_len=24, seed=0)
loss_one = glm_loss(nano(batch["input_ids"], position_ids=batch["position_ids"],
                         attention_mask=batch["attention_mask"]).logits, batch["targets"], batch["loss_mask"])
loss_one.backward()

h, pos, mask = stages[0](batch["input_ids"], batch["position_ids"], batch["attention_mask"])  # [b, s, h] …
logits = stages[1](h, pos, mask)  # [b, s, V]
loss_two = glm_loss(logits, batch["targets"], batch["loss_mask"])
loss_two.backward()
embedding = "transformer.word_embeddings.weight"
copies = [dict(s.named_parameters())[embedding].grad.clone() for s in stages]
sum_tied_embedding_grads(stages, group=None)  # one process holds both stages here: a local sum
assert torch.equal(loss_two, loss_one)
torch.testing.assert_close(copies[0] + copies[1], dict(nano.named_parameters())[embedding].grad)
print(f"two stages chained: loss {loss_two.item():.6f} = one model {loss_one.item():.6f}; "
      "embedding grad = lookup part + head part")

fig, axes = plt.subplots(1, 2, figsize=(7, 2.6))
axes[0].imshow(batch["attention_mask"][0, 0], cmap="Blues")
axes[0].set(title="attention_mask of sample 0 (travels to every stage)", xlabel="key position",
            ylabel="query position")
axes[1].bar(["lookup (stage 0)", "head (stage 1)"], [c.norm().item() for c in copies], color=["#4C72B0", "#DD8452"])
axes[1].set(ylabel="‖∂L/∂E‖ (Frobenius)", title="the two parts of the tied gradient")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Schedules: GPipe and 1F1B
#
# A batch is split into $m$ micro-batches so that stages can work at the same time on different ones.
#
# * **GPipe** runs all $m$ forwards, then all $m$ backwards. Every stage keeps the activations of all $m$
#   micro-batches until their backward.
# * **1F1B** (PipeDream-Flush, what GLM-130B used) runs $p-s-1$ warm-up forwards on stage $s$, then alternates one
#   forward and one backward, then drains. A stage never holds more than $p-s$ micro-batches' activations.
#
# The order alone fixes the timeline once costs are fixed. `replay` takes an order per stage and times it with a
# forward = 1 slot, a backward = 2 slots and free communication, starting every box as soon as its stage is free
# and its input exists. *Predict first:* which schedule leaves more white space (idle time), GPipe or 1F1B?

# %%
p_demo, m_demo = 4, 8


def order_events(order_fn, p, m):
    """The per-stage orders as events whose timestamps only fix the order (replay re-times them)."""
    return [Event(item[0], s, int(item[1:]), t, t, rank=s)
            for s in range(p) for t, item in enumerate(order_fn(s, p, m))]


fig, axes = plt.subplots(2, 1, figsize=(9, 4.2), sharex=True)
for ax, (name, order_fn) in zip(axes, [("GPipe", gpipe_order), ("1F1B", one_f_one_b_order)]):
    timeline = replay(order_events(order_fn, p_demo, m_demo))
    ideal = statistics.mean(measured_bubble(timeline).values())
    plot_timeline(timeline, ax, f"{name}, p={p_demo}, m={m_demo}: bubble {ideal:.3f}", unit="slots")
plt.tight_layout()
plt.show()
print("stage 0 under 1F1B:", " ".join(one_f_one_b_order(0, p_demo, m_demo)))

# %% [markdown] tags=["prediction"]
# Neither: the two titles print the same bubble. Each stage still waits for the first micro-batch to reach it and for
# the last gradient to come back; 1F1B only reorders the work in between. What 1F1B saves is **memory**: a stage
# starts a backward as soon as it can, so it holds at most $p - s$ micro-batches' activations instead of all $m$.
# That is why GLM-130B used it with $m = 176$.

# %% [markdown]
# ### Your turn — Exercise 10.2: the 1F1B order of one stage
# Write `my_1f1b_order(stage, num_stages, m)` returning the list of steps, e.g. `["F0", "F1", "B0", "F2", ...]`:
# $w = \min(m, p - s - 1)$ warm-up forwards, then pairs "forward, backward" until all forwards are done, then the
# remaining backwards. *Predict first:* what does the last stage do?

# %%
def my_1f1b_order(stage, num_stages, m):
    ### BEGIN SOLUTION
    ### HINT: each micro-batch goes forward and back exactly once; a stage's backward is the oldest one it still owes
    w = min(m, num_stages - stage - 1)
    order = [f"F{i}" for i in range(w)]
    for i in range(m - w):
        order += [f"F{w + i}", f"B{i}"]
    return order + [f"B{i}" for i in range(m - w, m)]
    ### END SOLUTION


# %%
passed["10.2"] = check_one_f_one_b_order(my_1f1b_order)
order_1f1b = use(my_1f1b_order, passed["10.2"], one_f_one_b_order)
print("last of 4 stages:", " ".join(order_1f1b(3, 4, 4)))

# %% [markdown] tags=["prediction"]
# It alternates from the start, F0 B0 F1 B1 ..., as printed: $w = \min(m, p - s - 1) = 0$ warm-up forwards, because
# the loss is computed right there and the backward of a micro-batch can begin as soon as its forward ends. The first
# stage has the longest warm-up, $p - 1$ forwards, and holds the most activations.

# %% [markdown]
# ## 4. PP = 2 for real: two CPU processes, `torch.distributed.pipelining`, recorded events
#
# Now the pipeline runs on two processes talking over gloo: `python -m scale_up.pipeline` under `torchrun`
# (`scale_up/pipeline/__main__.py`). Every rank builds the same model, keeps its stage, and hands it to PyTorch's
# own `ScheduleGPipe` / `Schedule1F1B`. Two details make the result **exactly** the single-process one:
#
# * the loss of micro-batch $k$ is its cross-entropy **sum** divided by the loss tokens $T$ of the **whole** batch,
#   and the schedule does not rescale gradients, so $\sum_k L_k = L$ for any loss mask (`loss.py`);
# * the tied embedding's two gradient parts are all-reduced between the first and last stage.
#
# Each run records every forward and backward it executes (`RecordingStage`), writes them to files, and dumps its
# gradients; the notebook reads them back.

# %%
workdir = REPO_ROOT / "build" / "nb10_runs"  # the runs' files, inside the repo (git-ignored)
m_run = 4 if FAST else 8
shape_args = ["--num-layers", "4", "--hidden-size", "256", "--seq-len", "64", "--batch-size", str(2 * m_run),
              "--micro-batches", str(m_run)]
steps = 2  # step 1 warms up (first sends carry shapes); step 2 is the one drawn below
run_args = shape_args + ["--max-steps", str(steps), "--record", "--dump"]
runs, launch_seconds = {}, {}
for schedule in ("gpipe", "1f1b"):
    start = time.time()
    shutil.rmtree(workdir / schedule, ignore_errors=True)  # this notebook's own files from an earlier run
    runs[schedule] = run_pipeline(2, workdir / schedule, "--schedule", schedule, *run_args, timeout=300)
    launch_seconds[schedule] = time.time() - start
print({k: f"{v:.1f} s" for k, v in launch_seconds.items()}, "per torchrun launch (start-up included)")

# %% [markdown]
# The same model, batches and optimizer in this process (`single_process_run`, same flags), then the comparison:
# the loss, every gradient of the last step and every parameter after the AdamW steps.

# %%
ref_loss, ref_grads, ref_params = single_process_run(run_args)  # scale_up/pipeline/reference.py


def max_relative_error(got: dict, expected: dict) -> float:
    assert set(got) == set(expected)
    return max(((got[n] - t).norm() / t.norm().clamp_min(1e-30)).item() for n, t in expected.items())


parity = {}
for schedule, out in runs.items():
    pp_loss = torch.load(out / "rank_0_grads.pt", weights_only=True)["loss"]
    parity[schedule] = {
        "loss": abs(pp_loss - ref_loss) / ref_loss,
        "grads": max_relative_error(read_rank_tensors(out, "grads", 2), ref_grads),
        "params": max_relative_error(read_rank_tensors(out, "params", 2), ref_params),
    }
    assert parity[schedule]["loss"] <= 1e-5 and parity[schedule]["grads"] <= 1e-5, parity[schedule]
    assert parity[schedule]["params"] <= 1e-4, parity[schedule]  # see the note below
    print(f"{schedule:>6}: max relative error  loss {parity[schedule]['loss']:.1e}  "
          f"grads {parity[schedule]['grads']:.1e}  params after {steps} AdamW steps "
          f"{parity[schedule]['params']:.1e}")

# %% [markdown]
# Loss and gradients agree to about $10^{-6}$: only the order of the floating-point sums differs (micro-batches are
# summed one after another). The parameters after two AdamW steps agree less closely, and the tensor that differs
# most is a `query_key_value.bias`: its key rows get only a small true gradient. Without positions, adding $b_k$
# would add the same $q \cdot b_k$ to every score of a query, which the softmax cancels, so that gradient would be
# exactly zero; RoPE rotates $b_k$ by a different angle at every key position, so a position-dependent part survives,
# but it stays small (`docs/glm130b_facts.md` §1.4). A small gradient is mostly rounding noise in both runs, and Adam
# divides by its own size, turning the noise into updates of their own. The tests hold every tensor to $10^{-5}$
# after one step (`tests/test_pipeline_parallel.py`).

# %% [markdown]
# ## 5. The schedule that was actually executed
#
# The boxes below are the recorded events of the last step, at their real times: blue = forward, orange = backward,
# the number is the micro-batch. Communication and waiting for the other process are the gaps between boxes. Read
# the orders off the rows and compare them with section 3; the assertion checks them against `gpipe_order` and
# `one_f_one_b_order`.

# %%
executed = {s: load_events(*(out / "events").glob(f"step_{steps}_rank_*.json")) for s, out in runs.items()}
expected_orders = {"gpipe": gpipe_order, "1f1b": one_f_one_b_order}
for schedule, events in executed.items():
    for stage in range(2):
        ran = [f"{e.kind}{e.microbatch}" for e in events if e.stage == stage]
        assert ran == expected_orders[schedule](stage, 2, m_run), (schedule, stage, ran)

fig, axes = plt.subplots(2, 1, figsize=(9, 4.0))
for ax, (schedule, events) in zip(axes, executed.items()):
    plot_timeline(events, ax, f"{schedule}: executed on 2 CPU processes, m={m_run} (measured)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 6. The bubble: counted, then measured
#
# **Why.** The bubble is the price of a pipeline: GLM-130B's 768 GPUs wait for it at every step, so the paper sized
# its micro-batch count by it. Take $p$ stages, $m$ micro-batches and equal stage times $t_f$ (forward) and $t_b$
# (backward), and measure time in units of $t_f + t_b$. In section 3's replayed timelines, count how many units a step
# lasts, from the first forward of stage 0 to the last backward, and how many of them one stage spends working.
#
# ### Your turn — Exercise 10.3: the bubble from the timeline
# Write `my_bubble(p, m)`: the share of a step one stage spends idle. *Predict first:* how many micro-batches would
# GLM-130B's 8 stages need for a bubble under 1%?

# %%
def my_bubble(p, m):
    ### BEGIN SOLUTION
    ### HINT: a stage idles while the pipeline fills and again while it drains; count both, in units of t_f + t_b
    return (p - 1) / (m + p - 1)
    ### END SOLUTION


# %%
passed["10.3"] = check_bubble_fraction(my_bubble)
bubble_fn = use(my_bubble, passed["10.3"], bubble_formula)
need = next(m for m in range(1, 10_000) if bubble_fn(8, m) < 0.01)
print(f"p=8: m >= {need} micro-batches for a bubble under 1%; at GLM-130B's m = 176: {bubble_fn(8, 176):.2%}")

# %% [markdown] tags=["prediction"]
# 694, as printed. A step lasts $(m + p - 1)(t_f + t_b)$: the forward wave needs $m$ forward times to leave stage 0
# and $p - 1$ more to reach the last stage, and the backward wave the same in reverse. Each stage works
# $m\,(t_f + t_b)$ of it, so it idles $(p - 1)(t_f + t_b)$:
#
# $$\text{bubble} = \frac{p - 1}{m + p - 1}$$
#
# (paper App. B.4, eq. 5; `bubble_formula` in `scale_up/pipeline/recording.py`). Under 1% needs $m > 99\,(p - 1)$,
# i.e. $m \ge 694$ for $p = 8$. GLM-130B ran $m = 176$ and accepted the 3.8% printed beside it: more micro-batches
# per step means a larger global batch (176 × 24 replicas here), and the paper's batch was already 4224 sequences.
#
# **Measured.** We measure the bubble from the recorded events as each rank's idle share of the step window
# (`measured_bubble`: $1 - \sum \text{event lengths} / (t_\text{end} - t_\text{start})$, averaged over ranks), and
# also replay the executed order with ideal costs. The replay must give your formula's number exactly; the measurement
# adds what the formula leaves out: sending activations and gradients between processes, the last stage's loss and
# larger head, and a machine shared with other work.

# %%
bubble_rows = {}
for schedule, events in executed.items():
    bubble_rows[schedule] = {"measured": statistics.mean(measured_bubble(events).values()),
                             "replayed": statistics.mean(measured_bubble(replay(events)).values()),
                             "formula": bubble_fn(2, m_run)}
    assert abs(bubble_rows[schedule]["replayed"] - bubble_formula(2, m_run)) < 1e-9
    print(f"{schedule:>6} p=2 m={m_run}: measured {bubble_rows[schedule]['measured']:.3f}  "
          f"replayed order {bubble_rows[schedule]['replayed']:.3f}  formula {bubble_rows[schedule]['formula']:.3f}")
paper_bubble = bubble_fn(8, 176)
print(f"GLM-130B's setting p=8, m=176: formula {paper_bubble:.4f} = {100 * paper_bubble:.1f}% "
      "(the paper's figure: 3.8%)")

ms = list(range(1, 201))
fig, ax = plt.subplots(figsize=(6.5, 3.2))
for p in (2, 4, 8):
    ax.plot(ms, [bubble_fn(p, m) for m in ms], label=f"formula, p={p}")
ax.scatter([m_run] * 2, [r["measured"] for r in bubble_rows.values()], color="black", zorder=3,
           label="measured here (p=2; GPipe, 1F1B)")
ax.scatter([176], [paper_bubble], marker="*", s=120, color="#C44E52", zorder=3,
           label="GLM-130B: p=8, m=176 (paper: 3.8%)")
ax.set(xscale="log", xlabel="micro-batches per step m", ylabel="bubble fraction", ylim=(0, 1),
       title="the bubble against the number of micro-batches")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Feel it: the 1F1B timeline of $p$ stages and $m$ micro-batches, replayed with ideal costs. More micro-batches
# shrink the two white triangles relative to the work; more stages grow them.


# %%
def show_bubble(p=4, m=8):
    """The replayed 1F1B timeline of p stages and m micro-batches, its measured bubble beside the formula's."""
    timeline = replay(order_events(order_1f1b, p, m))  # your 1F1B order once 10.2 passes
    measured = statistics.mean(measured_bubble(timeline).values())
    fig, ax = plt.subplots(figsize=(9, 0.45 * p + 1.4))
    plot_timeline(timeline, ax, f"1F1B, p={p}, m={m}: idle share {measured:.3f} measured on the replay, "
                                f"{bubble_fn(p, m):.3f} from the formula", unit="slots")
    plt.show()


show_bubble()

# %% tags=["widget"]
widgets.interact(show_bubble, p=widgets.IntSlider(value=4, min=1, max=12, continuous_update=False),
                 m=widgets.IntSlider(value=8, min=1, max=48, continuous_update=False));

# %% [markdown]
# ## 7. Pipeline × tensor × data parallel: one mesh
#
# GLM-130B ran all three at once: 768 GPUs as a mesh of 8 pipeline stages × 24 data-parallel replicas × 4
# tensor-parallel ranks. The kit lays ranks out the same way (`scale_up/pipeline/mesh.py`, DeepSpeed's order: tensor
# parallel fastest, so the 4 TP ranks of a stage share a node's NVLink). Each rank keeps one stage (layers deleted),
# then becomes that stage's TP shard (`apply_tensor_parallel`); stages pass full hidden states along the `pp` axis,
# replicas split the batch along `dp`, and the first and last stage of the same `(dp, tp)` coordinate sum their
# embedding gradients. Below, which global rank does what in GLM-130B's layout:

# %%
pp_size, dp_size, tp_size = 8, 24, 4  # the paper's layout (Tab. 11)
ranks = torch.arange(pp_size * dp_size * tp_size).view(pp_size, dp_size, tp_size)  # [pp, dp, tp] global ranks
print(f"{ranks.numel()} ranks; stage 0 of replica 0 = ranks {ranks[0, 0].tolist()} (one TP group)")
print(f"pipeline group of (dp 0, tp 0): ranks {ranks[:, 0, 0].tolist()}")
print(f"tied-embedding pair of (dp 0, tp 0): ranks {[ranks[0, 0, 0].item(), ranks[-1, 0, 0].item()]}")

# %% [markdown]
# On CPU the same code runs TP2 × PP2 on 4 processes; `tests/test_pipeline_parallel.py` holds its loss and every
# gradient to the single-process model at $10^{-5}$, and `tests/test_scale_up_train.py` trains glm_mini's recipe
# with `python -m scale_up.train --tp 2 --pp 2` to the same losses as `python -m glm_mini.train`. With
# `GLM_KIT_FAST=0` this notebook runs it too (4 processes on 2 cores take a while):

# %%
if not FAST:
    shutil.rmtree(workdir / "tp2pp2", ignore_errors=True)
    out = run_pipeline(4, workdir / "tp2pp2", "--tp", "2", "--pp", "2", *shape_args, "--max-steps", "1", "--dump",
                       timeout=600)
    grads_tp_pp = read_rank_tensors(out, "grads", 4)
    _, grads_one, _ = single_process_run([*shape_args, "--max-steps", "1"])
    err = max_relative_error(grads_tp_pp, grads_one)
    assert err <= 1e-5
    print(f"TP2 x PP2 on 4 processes: max relative gradient error vs one process {err:.1e}")

# %% [markdown]
# ## Where this goes
#
# `tests/test_pipeline_parallel.py` proves the same parity for the interleaved 1F1B schedule (4 stages on 2
# processes), and that a sharded checkpoint saved by 2 stages resumes on 4 processes with the same result; the
# benchmark `tests/benchmarks/bench_pipeline.py` measures the bubble for more $(p, m)$.

# %% tags=["summary"]
print(exercise_record(passed))
for schedule, row in parity.items():
    print(f"PP=2 {schedule}: max relative error vs one process: loss {row['loss']:.1e}, grads {row['grads']:.1e}, "
          f"params {row['params']:.1e}")
for schedule, row in bubble_rows.items():
    print(f"bubble {schedule} p=2 m={m_run}: measured {row['measured']:.3f}, replayed {row['replayed']:.3f}, "
          f"formula {row['formula']:.3f}")
print(f"GLM-130B p=8 m=176: formula {100 * paper_bubble:.2f}% (paper: 3.8%)")
print(f"GLM-130B partition: layers per stage {layers}")
print(f"notebook wall time {time.time() - notebook_start:.0f} s")
