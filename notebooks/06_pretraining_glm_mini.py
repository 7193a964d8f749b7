# %% [markdown]
# # 06 · Pre-training glm-mini with GLM-130B's recipe
#
# Budget: 180 s (FAST, 2-core CPU).
#
# Notebook 02 built the blank-infilling objective; notebook 03 the model. Here we put them in a training loop with
# the recipe that kept a 130B-parameter model stable for two months, train the notebook model on the kit's EN/ZH
# corpus with multi-task instruction data mixed in, and look at what it learned.
#
# | piece | package file | test |
# |---|---|---|
# | warm-up + cosine learning rate, batch-size ramp-up, EGS α ramp | `glm_mini/training/schedule.py` | `tests/test_train_recipe.py` |
# | AdamW and which weights decay | `glm_mini/training/optimizer.py` | `tests/test_train_recipe.py` |
# | gradient norms per module, clipping | `glm_mini/training/grad_norms.py` | `tests/test_train_recipe.py` |
# | loss spikes and skipped data ranges | `glm_mini/training/spikes.py` | `tests/test_train.py` |
# | atomic checkpoints, exact resume | `glm_mini/training/checkpoint.py` | `tests/test_train.py` |
# | the loop and its command line | `glm_mini/train.py` | `tests/test_train.py`, `tests/test_train_golden.py` |
#
# The facts (with their sources: the paper's §2.3 and Tab.11, the released training code and the training log) are
# in `docs/glm130b_facts.md` §2.5–§2.6.
#
# Three pieces are **yours to write**: the loss-mask-weighted loss (Exercise 6.1), clipping by the total gradient norm
# (6.2) and, from those, one full training step (6.3), which then trains a small model in a loop of your own. Each
# check says PASS or shows the first mismatch; later cells use your function once it passes (the package's until
# then). Before some experiments you are asked to *predict* the result; the answer is folded after the experiment.

# %%
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from glm_mini import GLM, PRESETS
from glm_mini.exercises import exercise_record, use
from glm_mini.exercises.nb06_training import (check_clip_gradients, check_masked_loss, check_train_step,
                                              clip_reference, reference_train_step)
from glm_mini.generate import fill_blanks_ids
from glm_mini.objective import ObjectiveConfig
from glm_mini.train import TrainConfig, load_model, masked_cross_entropy, read_metrics, train
from glm_mini.training.data import load_train_data, target_counts, validation_batches, window
from glm_mini.training.grad_norms import grad_norms
from glm_mini.training.metrics import unigram_cross_entropy
from glm_mini.training.optimizer import build_adamw, weight_decay_groups
from glm_mini.training.plots import plot_training
from glm_mini.training.schedule import lr_at

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
NOTEBOOK_START = time.perf_counter()
REPO = Path.cwd().parent  # the notebook runs in notebooks/
config = PRESETS["mini"]
run = TrainConfig(preset="mini", out=str(REPO / "build" / "tour" / "06_mini"), corpus="default", precision="fp32",
                  max_steps=400 if FAST else 4000, batch_size=8, seq_len=256, lr=3e-3,
                  eval_every=50 if FAST else 200, save_every=100 if FAST else 500, val_batches=8, seed=0)
passed = {}  # exercise -> did its check pass
print(config)
print(run)

# %% [markdown]
# ## 1. The recipe, and why each piece is there
#
# A 130B model trained in fp16 on 768 GPUs diverged again and again (paper §3, App. F); each piece of the recipe
# removes one way to fail:
#
# | piece | GLM-130B (paper §2.3, Tab.11) | here |
# |---|---|---|
# | optimizer | AdamW β=(0.9, 0.95), ε=1e-8, weight decay 0.1 | the same |
# | learning rate | warm-up from ~0 over 0.5% of samples to 8e-5, cosine to 8e-6 | warm-up 5% of steps to `run.lr`, cosine to 10% |
# | batch | 192 → 4224 sequences over the first 2.5% of samples | `batch_size·192/4224` → `batch_size` over 2.5% of steps |
# | gradient clipping | total norm 1.0 | the same |
# | embedding gradient shrink | α = 0.1 | the preset's α |
# | precision | fp16 with dynamic loss scaling | fp32 (bf16 autocast on CPU; fp16 + scaling on a GPU) |
# | objective | 95% blank infilling (30% [MASK], 70% [gMASK] sequences) + 5% MIP tokens | the same mixture |
#
# A tiny model needs a far larger learning rate than a 130B one, and a short run a longer share of warm-up: those
# two numbers are ours, the rest is the paper's.

# %% [markdown]
# ## 2. The learning-rate schedule
#
# Warm-up lets Adam's second-moment estimate settle before full-size steps; cosine decay anneals at the end. With
# peak $\eta$, $W$ warm-up steps, $T$ steps in all and floor ratio $r = 0.1$
# (`glm_mini/training/schedule.py`, `lr_at`):
#
# $$\mathrm{lr}(t) = \begin{cases} \eta\,\dfrac{t}{W} & t \le W \\[6pt]
#   \eta\left(r + (1-r)\,\tfrac12\left(1 + \cos\dfrac{\pi (t-W)}{T-W}\right)\right) & W < t \le T \end{cases}$$

# *Predict:* with the floor $r = 0.1$, what is the learning rate at the very last step $t = T$?

# %%
import math  # noqa: E402
import ipywidgets as widgets  # noqa: E402

steps = range(1, run.max_steps + 1)


def show_schedule(warmup=run.warmup, floor=0.1):
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(steps, [lr_at(t, run.lr, warmup, run.max_steps, floor) for t in steps])
    ax.axhline(floor * run.lr, ls=":", color="gray", label=f"floor: {floor:.0%} of the peak")
    ax.set(xlabel="optimizer step t", ylabel="learning rate", ylim=(0, 1.05 * run.lr),
           title=f"W = {warmup}, T = {run.max_steps}")
    ax.legend()
    plt.show()


show_schedule()
last_lr = lr_at(run.max_steps, run.lr, run.warmup, run.max_steps)
print(f"lr(T = {run.max_steps}) = {last_lr:.2e}, the peak {run.lr:.0e} times {last_lr / run.lr:.3f}")

# %% [markdown] tags=["prediction"]
# The floor, $r\eta$: at $t = T$ the cosine term is $\cos\pi = -1$, so $\tfrac12(1 + \cos\pi) = 0$ and only
# $r\eta$ is left (the cell printed it: 10% of the peak). GLM-130B's schedule ends the same way, at a tenth of its
# peak (`docs/glm130b_facts.md` §2.5).

# %% [markdown]
# Move the knobs: a longer warm-up delays the peak, a lower floor ends the run with smaller steps.

# %% tags=["widget"]
widgets.interact(show_schedule, warmup=widgets.IntSlider(run.warmup, 0, run.max_steps // 2, continuous_update=False),
                 floor=widgets.FloatSlider(0.1, min=0.0, max=1.0, step=0.05, continuous_update=False));

# %% [markdown]
# ## 3. AdamW, and which weights decay
#
# With gradient $g_t$, AdamW keeps running moments and takes a step whose size does not depend on the gradient's
# scale; the weight decay $\lambda$ is *decoupled*: it shrinks $\theta$ directly instead of being added to $g$
# (`torch.optim.AdamW`, built by `glm_mini/training/optimizer.py`, `build_adamw`):
#
# $$m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\qquad v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2$$
# $$\theta_t = \theta_{t-1} - \mathrm{lr}(t)\left(\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon} + \lambda\,\theta_{t-1}
#   \right),\qquad \hat m_t = \frac{m_t}{1-\beta_1^t},\ \hat v_t = \frac{v_t}{1-\beta_2^t}$$
#
# with $\beta_1 = 0.9$, $\beta_2 = 0.95$ (a shorter memory of $g^2$ than the usual 0.999: it reacts faster to a
# sudden large gradient), $\epsilon = 10^{-8}$, $\lambda = 0.1$. As in the official Megatron-based training code,
# LayerNorm parameters and biases get no decay: pulling a LayerNorm gain towards 0 would fight the normalization.

# %%
model_for_groups = GLM(config)
decay, no_decay = weight_decay_groups(model_for_groups)
count = dict(model_for_groups.named_parameters())
print(f"decayed: {len(decay)} tensors, {sum(count[n].numel() for n in decay):,} weights "
      f"(matrices and the tied word embedding)")
print(f"not decayed: {len(no_decay)} tensors, {sum(count[n].numel() for n in no_decay):,} weights "
      "(LayerNorm gains/biases, linear biases)")
del model_for_groups

# %% [markdown]
# ## 4. The loss: only where the objective asks for a prediction
#
# A GLM sample has a bidirectional part (Part A, the [gMASK] prefix, the MIP prompt) and a part to generate
# (Part B, the suffix, the answer). The loss is the token mean of the cross-entropy over the loss mask $m$
# (`glm_mini/train.py`, `masked_cross_entropy`; official `pretrain_glm.py`):
#
# $$\mathcal{L} = \frac{\sum_i m_i\,\bigl(-\log p_\theta(y_i \mid x)\bigr)}{\sum_i m_i}$$
#
# ### Your turn — Exercise 6.1: the loss-mask-weighted loss
# Write `my_masked_loss(logits, targets, loss_mask)` (shapes `[b, s, V]`, `[b, s]`, `[b, s]` bool).

# %%
def my_masked_loss(logits, targets, loss_mask):
    ### BEGIN SOLUTION
    ### HINT: a mean per row, then over rows, weighs a row with 3 loss tokens like one with 300: the official loss does not
    per_token = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), reduction="none")
    weights = loss_mask.reshape(-1).float()
    return (per_token * weights).sum() / weights.sum()
    ### END SOLUTION


# %%
passed["6.1"] = check_masked_loss(my_masked_loss)
masked_loss = use(my_masked_loss, passed["6.1"], masked_cross_entropy)

# %% [markdown]
# ## 5. Gradient clipping
#
# One bad batch can produce a gradient many times larger than usual; clipping caps the *total* norm over all
# parameters at $c = 1.0$ while keeping the direction (`glm_mini/training/grad_norms.py`, `clip_gradients`):
#
# $$g \leftarrow g \cdot \min\!\left(1,\ \frac{c}{\lVert g\rVert_2 + 10^{-6}}\right),\qquad
#   \lVert g\rVert_2 = \sqrt{\textstyle\sum_p \sum_i g_{p,i}^2}$$
#
# ### Your turn — Exercise 6.2: clip by the total norm
# Write `my_clip(grads, max_norm)` returning the clipped copies of a list of gradient tensors.
# *Predict first:* if you clipped each tensor by its own norm instead, what would change about the update's
# direction?

# %%
def my_clip(grads, max_norm):
    ### BEGIN SOLUTION
    ### HINT: the limit is on the whole gradient's norm, all tensors together; a gradient below it comes back as it was
    total = math.sqrt(sum(float(g.pow(2).sum()) for g in grads))
    factor = min(1.0, max_norm / (total + 1e-6))
    return [g * factor for g in grads]
    ### END SOLUTION


# %%
passed["6.2"] = check_clip_gradients(my_clip)
clip = use(my_clip, passed["6.2"], clip_reference)
big, small = torch.tensor([3.0, 4.0]), torch.tensor([0.3, 0.0])  # norms 5 and 0.3: total 5.01
together = clip([big, small], 1.0)
each_alone = [g * min(1.0, 1.0 / float(g.norm())) for g in (big, small)]
ratio = lambda grads: float(grads[1].norm() / grads[0].norm())  # noqa: E731
print(f"|small| / |big|: before {ratio([big, small]):.3f}, clipped together {ratio(together):.3f}, "
      f"each alone {ratio(each_alone):.3f}")

# %% [markdown] tags=["prediction"]
# The direction. Clipping the total norm multiplies every tensor by the same factor, so the update points where the
# gradient pointed, only shorter (the ratio printed stays as it was). Clipping each tensor alone shrinks the big
# ones and leaves the small ones, so their ratio changes (printed above): a different direction, which is why the
# check fails it.

# %% [markdown]
# ## 6. One training step
#
# One optimizer step of `glm_mini/train.py` is these pieces in order: set the learning rate of every parameter group
# to $\mathrm{lr}(t)$; forward the batch (with its positions and attention mask); the masked loss; clear the previous
# step's gradients; backward; clip the total gradient norm at $c$; the AdamW update. (The full loop adds the
# batch-size ramp, the spike detector, mixed precision, metrics and checkpoints around it.)
#
# ### Your turn — Exercise 6.3: one training step
# Write `my_train_step(model, optimizer, batch, lr, max_norm)` returning the loss (a float, before the update).
# `batch` is a dict with `input_ids`, `position_ids`, `attention_mask`, `targets` and `loss_mask` (as notebook 02's
# `sample_batch` makes it). The check runs your step three times in a row from a seeded nano model, and compares
# every loss and every weight afterwards with the loop's own step. *Predict first:* if clipping halves the gradient
# of the very first step, how much smaller does AdamW's first update get?

# %%
def my_train_step(model, optimizer, batch, lr, max_norm):
    ### BEGIN SOLUTION
    ### HINT: PyTorch adds new gradients to the old ones unless told; the learning rate lives in param_groups
    for group in optimizer.param_groups:
        group["lr"] = lr
    logits = model(batch["input_ids"], position_ids=batch["position_ids"],
                   attention_mask=batch["attention_mask"]).logits  # [b, s, V]
    loss = masked_loss(logits, batch["targets"], batch["loss_mask"])
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return float(loss.detach())
    ### END SOLUTION


# %%
passed["6.3"] = check_train_step(my_train_step)
train_step = use(my_train_step, passed["6.3"], reference_train_step)

# %% [markdown]
# ## 7. The data, and the baseline to beat
#
# The trainer packs the corpus's `train` split into windows of `seq_len` tokens and turns each batch into GLM samples
# with `glm_mini.objective.sample_batch`: per sequence 30% [MASK] / 70% [gMASK], and instruction (MIP) samples from
# the `mip_train` split at 5% of tokens. Validation uses fixed batches of the `validation` split.
#
# A model that ignores the context and predicts each target token from its frequency alone reaches the **unigram**
# cross-entropy $H_1 = -\frac{1}{|T|}\sum_{t\in T}\log\frac{c_t+1}{\sum_v c_v + V}$ (counts $c$ of the target
# tokens in training batches; `glm_mini/training/metrics.py`, `unigram_cross_entropy`). Anything the model learns
# beyond word frequencies shows as a validation loss below it.

# %%
data = load_train_data(run.corpus, config.vocab_size, run.seq_len, run.use_mip)
tokenizer, special = data.tokenizer, data.tokenizer.special
objective = ObjectiveConfig()
val = validation_batches(data, run.val_batches, run.batch_size, run.seq_len, special, run.seed, objective)
counts = target_counts(data, 64, run.batch_size, run.seq_len, special, config.vocab_size, run.seed, objective)
val_targets = torch.cat([b["targets"][b["loss_mask"]] for b in val])
baselines = {"unigram": unigram_cross_entropy(counts, val_targets)}
print(f"{len(data.train):,} training windows of {run.seq_len} tokens, {len(data.mip_pairs):,} MIP pairs, "
      f"{len(val_targets):,} validation target tokens")
print(f"unigram baseline on the validation targets: {baselines['unigram']:.3f} nats/token")

# %% [markdown]
# ## 8. Your loop
#
# Your step from Exercise 6.3 (the package's until it passes), in a loop of its own: the notebook model, real
# batches of the corpus through the objective mixture, the warm-up and cosine schedule, clipping at 1.0. First the
# question you predicted: the first update with the gradient clipped to half its norm, against not clipped.

# %%
import random  # noqa: E402

from glm_mini.objective import sample_batch  # noqa: E402


def loop_batch(i):
    """Batch i of the loop: windows of the training split turned into GLM samples (30/70 mixture + MIP)."""
    windows = [window(data.train, (i * run.batch_size + j) % len(data.train)) for j in range(run.batch_size)]
    return sample_batch(windows, run.seq_len, special, random.Random(i), objective, data.mip_pairs)


def first_update(max_norm):
    """All weights' change in one step of `train_step` from the seeded initial model; and the gradient's norm."""
    torch.manual_seed(run.seed)
    probe = GLM(config).train()
    before_step = {n: p.detach().clone() for n, p in probe.named_parameters()}
    train_step(probe, build_adamw(probe, lr=0.0), loop_batch(0), run.lr, max_norm)
    norm = grad_norms(probe)["total"]  # the gradients stay in .grad after the step: their norm before clipping
    return torch.cat([(p.detach() - before_step[n]).flatten() for n, p in probe.named_parameters()]), norm


unclipped, first_norm = first_update(max_norm=1e6)
clipped, _ = first_update(max_norm=first_norm / 2)  # clipping halves this gradient
moved = unclipped != 0  # weights the step changed
change = ((clipped - unclipped).abs() / unclipped.abs())[moved]
print(f"first step: gradient norm {first_norm:.3f}; clipped to half of it, the weights' updates change by "
      f"{change.median():.2%} (median; a plain SGD step would change by 50%), and "
      f"{(change > 0.01).float().mean():.1%} of them by more than 1%")

# %% [markdown] tags=["prediction"]
# Far less than the factor: the gradient was halved, and the median weight's first update changed by the small
# share the cell printed. Adam's first update is $\hat m_1/(\sqrt{\hat v_1} + \epsilon) = g/(|g| + \epsilon)$ per
# weight, so a factor on $g$ cancels, except for weights whose gradient is so small that $\epsilon = 10^{-8}$ is
# not negligible beside it (the share that moved by more than 1%). Clipping matters from the second step on, when
# it changes the balance between steps. That is why the check runs several steps: one step can hardly tell a step
# that clips from one that does not.

# %% [markdown]
# Now 40 steps of your loop, against the unigram baseline of section 7:

# %%
LOOP_STEPS = 40
torch.manual_seed(run.seed)
loop_model = GLM(config).train()
loop_optimizer = build_adamw(loop_model, lr=0.0, weight_decay=run.weight_decay)
loop_losses = [train_step(loop_model, loop_optimizer, loop_batch(i), lr_at(i, run.lr, 4, LOOP_STEPS), run.clip_grad)
               for i in range(1, LOOP_STEPS + 1)]
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(range(1, LOOP_STEPS + 1), loop_losses, marker=".", label="your loop (training batches)")
ax.axhline(baselines["unigram"], ls="--", color="gray", label="unigram baseline (validation)")
ax.set(xlabel="optimizer step", ylabel="loss (nats per target token)", title="your training step, in a loop")
ax.legend()
plt.show()
print(f"your loop: loss {loop_losses[0]:.3f} -> {loop_losses[-1]:.3f} in {LOOP_STEPS} steps "
      f"(unigram baseline {baselines['unigram']:.3f})")
del loop_model, loop_optimizer

# %% [markdown]
# ## 9. Infilling before training
#
# Three tokens in the middle of held-out validation sentences are replaced by one `[MASK]`. The model starts from
# the same initial weights `train()` uses (seed 0) and fills the blank greedily with the kit's generator
# (`glm_mini/generate.py`, GLM-130B's blank-filling rules: the context is read bidirectionally, the answer is
# generated after `[sop]` at the `[MASK]`'s position, as in training; notebook 07 builds it). Untrained, it can only
# emit noise.

# %%
from glm_mini.data import load_corpus  # noqa: E402

validation_texts = load_corpus()["validation"]
probes = []  # (context ids with one [MASK], the ids it hides): the middle of a validation sentence per language
for lang in ("en", "zh"):
    for record in [r for r in validation_texts if r["lang"] == lang][:2]:
        ids = tokenizer.encode(record["text"], parse_special=False)[:40]
        start = len(ids) // 2
        probes.append((ids[:start] + [special.mask] + ids[start + 3:], ids[start:start + 3]))


def fill(model, context):
    answers, _ = fill_blanks_ids(model, context, special, max_new_tokens=6)
    return tokenizer.decode(answers[0])


torch.manual_seed(run.seed)
untrained = GLM(config).eval()
with torch.no_grad():
    first = val[0]
    logits = untrained(first["input_ids"], position_ids=first["position_ids"],
                       attention_mask=first["attention_mask"]).logits  # [b, s, V]
    initial_loss = float(masked_loss(logits, first["targets"], first["loss_mask"]))
print(f"untrained validation loss {initial_loss:.3f} nats vs ln V = {math.log(config.vocab_size):.3f}: "
      "a uniform guess over the vocabulary")
before = [fill(untrained, context) for context, _ in probes]
for (context, hidden), answer in zip(probes, before):
    print(f"{tokenizer.decode(context)!r}\n    hidden: {tokenizer.decode(hidden)!r}   untrained model: {answer!r}")

# %% [markdown]
# ## 10. Training
#
# `train()` runs the loop of `glm_mini/train.py`: per step, draw a batch (with the ramp), build the GLM samples, set
# the learning rate, forward (fp32 here; `precision="bf16"` runs it under bf16 autocast), masked loss, backward,
# per-module gradient norms, spike check, clip, AdamW; a row of `metrics.jsonl` per step; atomic checkpoints. The same run from a terminal:
#
# `python -m glm_mini.train --preset mini --max-steps 400 --out build/tour/06_mini --seq-len 256 --lr 3e-3 --eval-every 50 --save-every 100 --val-batches 8`
#
# A run already in `build/tour/06_mini` is resumed (a finished one trains no further step; a different
# configuration there stops with an error naming the difference). Later notebooks load this model.

# %%
t0 = time.perf_counter()
result = train(replace(run, resume=Path(run.out, "config.json").exists()))
train_seconds = time.perf_counter() - t0
rows = read_metrics(run.out)
tokens_per_second = sum(r["tokens"] for r in rows) / sum(r["seconds"] for r in rows)
print(f"{result.steps_done} steps, final train loss {result.final_loss:.3f}, val loss {result.final_val_loss:.3f}, "
      f"{tokens_per_second:,.0f} tokens/s ({run.precision}, {os.cpu_count()} CPU cores)")

# %% [markdown]
# ## 11. The curves
#
# Left: training loss per step and validation loss at eval steps, against the unigram baseline. Middle: the
# gradient norm of the word embedding against the rest of the model, before clipping: the paper (§3, Fig. 4) saw
# the embedding's norm spike first, which is why GLM-130B shrinks the embedding's gradient (α = 0.1 here too; the
# curve is the gradient the embedding receives, after the ×α shrink). Red crosses mark steps the spike detector
# flagged (`glm_mini/training/spikes.py`: a loss above 1.5× the median of the previous 20).
# Right: the learning rate the run actually used.

# %%
fig = plot_training(rows, baselines)
plt.show()
print(f"steps flagged as loss spikes: {sum(r['spike'] for r in rows)}")

# %% [markdown]
# ## 12. Stop and resume, exactly
#
# A long run is stopped (a crash, a pre-empted job, Ctrl-C) and must go on as if nothing happened. The checkpoint
# holds the model, AdamW's moments, every random state (torch's for dropout, the objective's `random.Random`) and
# the data position; the schedules are functions of the step. We check it on a small twin of the run: 30 steps
# straight, against 12 steps, stop, then `resume=True`.

# %%
with tempfile.TemporaryDirectory() as scratch:
    twin = TrainConfig(preset="nano", max_steps=30, seq_len=64, batch_size=4, val_batches=1, seed=0,
                       config_overrides={"hidden_dropout": 0.1, "attention_dropout": 0.1}, out=f"{scratch}/straight")
    straight = train(twin, progress=False)
    first_half = train(replace(twin, out=f"{scratch}/stopped", stop_after_step=12), progress=False)
    resumed = train(replace(twin, out=f"{scratch}/stopped", resume=True), progress=False)
print(f"stopped after step {first_half.steps_done}, resumed to step {resumed.steps_done}")
assert resumed.losses == straight.losses, "resumed run differs from the uninterrupted one"
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(range(1, 31), straight.losses, lw=3, alpha=0.4, label="uninterrupted")
ax.plot(range(1, 31), resumed.losses, "k.", label="stopped at 12, resumed")
ax.axvline(12.5, ls=":", color="gray")
ax.set(xlabel="optimizer step", ylabel="training loss (nats)", title="resume is exact")
ax.legend()
plt.show()
print(f"all {len(straight.losses)} losses identical after resuming at step 12")

# %% [markdown]
# ## 13. Infilling after training
#
# The same blanks, filled by the trained model (greedy, up to 6 tokens, stopping at `[eop]`).

# %%
trained = load_model(run.out)
after = [fill(trained, context) for context, _ in probes]
for (context, hidden), b, a in zip(probes, before, after):
    print(f"{tokenizer.decode(context)!r}\n    hidden: {tokenizer.decode(hidden)!r}   before: {b!r}   after: {a!r}")

# %% [markdown]
# ## What we saw
#
# - The recipe is a handful of small, testable functions; the loop composes them.
# - The validation loss falls below the unigram baseline: the model uses context, not only word frequencies.
# - The embedding's gradient norm is tracked apart from the rest, as the paper plots it.
# - A stopped run resumes bit for bit.
#
# Next: notebook 07 generates with this model (`load_model("../build/tour/06_mini")`).

# %% tags=["summary"]
print(exercise_record(passed))
print(f"model: PRESETS['mini'], {sum(p.numel() for p in trained.parameters()) / 1e6:.1f} M parameters; "
      f"{result.steps_done} steps of batch {run.batch_size} x {run.seq_len} tokens, {run.precision}")
print(f"validation loss {result.final_val_loss:.3f} nats vs unigram baseline {baselines['unigram']:.3f}")
print(f"training throughput {tokens_per_second:,.0f} tokens/s ({run.precision}, {os.cpu_count()} CPU cores)")
print(f"training wall time this run {train_seconds:.0f} s; notebook {time.perf_counter() - NOTEBOOK_START:.0f} s")
print(f"stop at 12 + resume reproduced all {len(straight.losses)} losses exactly")
