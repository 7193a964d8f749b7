# %% [markdown]
# # 05 · Embedding gradient shrink, loss spikes and the FP16 softmax
#
# Budget: 120 s (FAST, 2-core CPU).
#
# **Why this notebook.** GLM-130B's early trial runs kept hitting loss spikes. The team traced them to the word
# embedding: early in training its gradient norm is far larger than the rest of the model's, and the spikes
# followed its swings. Their fix, **embedding gradient shrink** (EGS, paper §3), multiplies the gradient reaching the
# embedding by α = 0.1 and changes nothing in the forward pass. The second fix in the same section is numerical:
# fp16 attention scores overflow, so the softmax runs in FP32 with query-key **layer scaling**. We test the EGS
# identity, measure the embedding's gradient share, train α ∈ {1, 0.1} in a spike-prone setting and count spikes,
# then make fp16 scores overflow on real tensors. Two pieces are **yours to write** (Exercises 5.1 and 5.2).
#
# | piece | package file | test |
# |---|---|---|
# | the EGS identity | `glm_mini/grad_shrink.py` | `tests/test_grad_shrink.py`, `tests/test_stability.py` |
# | gradient norms per module, spikes | `glm_mini/training/grad_norms.py`, `spikes.py` | `tests/test_train_recipe.py` |
# | α ∈ {1, 0.1} experiment | `glm_mini/experiments.py` | `tests/test_experiments.py` |
# | fp16 overflow vs layer scaling | `glm_mini/stability/fp16_overflow.py` | `tests/test_stability.py` |
#
# Facts: paper §3 and `docs/glm130b_facts.md` §1.4 (attention numerics) and §2.6 (EGS, spikes).

# %%
import os
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from glm_mini import shrink_gradient
from glm_mini.exercises import use
from glm_mini.exercises.nb05_egs import check_shrink, check_spike_steps, spike_steps
from glm_mini.experiments import EXPERIMENTS, load_results, outcome_line, run_experiment
from glm_mini.stability import FP16_MAX, attention_overflow, overflow_sweep

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
MODE = "fast" if FAST else "full"
OUT = "../build/experiments"  # results JSON and runs (relative to notebooks/)
torch.manual_seed(0)
torch.set_num_threads(1)  # tiny models: one thread is much faster than two fighting over a busy CPU
started = time.perf_counter()
passed = {}
ARM_COLORS = {"1.0": "tab:red", "0.1": "tab:green"}

# %% [markdown]
# ## 1. The identity: forward unchanged, gradient × α
#
# **Why.** We want smaller updates to the embedding without touching what the model computes. Mix the embedding
# output $e$ with a copy that autograd cannot see:
#
# $$\tilde e = \alpha\, e + (1 - \alpha)\,\mathrm{stopgrad}(e)$$
#
# (`glm_mini/grad_shrink.py`: `x * alpha + x.detach() * (1.0 - alpha)`). In value, $\tilde e = e$; in the backward
# pass only the first term has a gradient, so $\partial \ell/\partial e = \alpha\,\partial \ell/\partial \tilde e$.
#
# ### Your turn — Exercise 5.1: write the shrink
# Write `my_shrink(x, alpha)`. *Predict first:* what does `x * alpha` alone get right, and what does it get wrong?

# %%
def my_shrink(x, alpha):
    ### BEGIN SOLUTION
    ### HINT: x.detach() is the same values with no gradient; mix the two so the values add up to x
    return x * alpha + x.detach() * (1 - alpha)
    ### END SOLUTION


# %%
passed["5.1"] = check_shrink(my_shrink)
shrink = use(my_shrink, passed["5.1"], shrink_gradient)
gen = torch.Generator().manual_seed(5)
e = torch.randn(4, 16, generator=gen, requires_grad=True)
upstream = torch.randn(4, 16, generator=gen)
(shrink(e, 0.1) * upstream).sum().backward()
forward_error = (shrink(e, 0.1) - e).abs().max().item()
grad_ratio = (e.grad / upstream).mean().item()
print(f"alpha 0.1: max |shrink(e) - e| = {forward_error:.1e} (forward unchanged); "
      f"gradient / upstream = {grad_ratio:.4f} (x alpha)")
assert forward_error < 1e-6 and abs(grad_ratio - 0.1) < 1e-6

# %% [markdown]
# ## 2. The spike-prone experiment: α = 1 vs α = 0.1
#
# **Why.** The paper's observation is that early in training the embedding's gradient norm dwarfs the rest. Two
# runs differing only in `embedding_gradient_shrink_alpha` (same data, seeds, objective samples; the kit's trainer,
# which records the embedding's and the rest's gradient norms every step) at a high learning rate with **no
# warm-up**, the setting most likely to spike. A **spike** is the trainer's flag
# (`glm_mini/training/spikes.py`): $\ell_t > 1.5 \cdot \mathrm{median}(\ell_{t-20}, \dots, \ell_{t-1})$, or a
# non-finite loss. FULL (`python -m glm_mini.experiments egs --mode full`) trains longer; a rerun reuses finished
# runs from `build/experiments/`.

# %%
spec = EXPERIMENTS["egs"]
print(f"settings ({MODE}):", spec.fast if FAST else spec.full, "model:", spec.model)
t0 = time.perf_counter()
results = run_experiment("egs", MODE, out_root=OUT, resume=True)
print(f"trained or re-read 2 runs in {time.perf_counter() - t0:.0f} s")
print(outcome_line(results))

# %% [markdown]
# ### The embedding's gradient next to the rest
# The ratio $\lVert g_\text{embedding}\rVert / \lVert g_\text{rest}\rVert$ per step, before clipping. With α = 1 it is
# the model's own gradient; with α = 0.1 the shrink has divided the embedding's share by ten (at step 1 both runs
# hold the same weights, so the ratio is exactly 10× smaller).

# %%
fig, (ax_r, ax_l) = plt.subplots(1, 2, figsize=(13, 3.6))
for alpha, arm in results["arms"].items():
    ratio = [a / b for a, b in zip(arm["grad_norm_embedding"], arm["grad_norm_rest"])]
    ax_r.semilogy(arm["steps"], ratio, color=ARM_COLORS[alpha], label=f"alpha = {alpha}")
    ax_l.plot(arm["steps"], arm["loss"], color=ARM_COLORS[alpha], label=f"alpha = {alpha}")
    spikes = arm["spike_steps"]
    ax_l.plot(spikes, [arm["loss"][s - 1] for s in spikes], "v", color=ARM_COLORS[alpha], ms=8)
ax_r.axhline(1.0, color="k", lw=0.6)
ax_r.set_ylabel("‖g_embedding‖ / ‖g_rest‖")
ax_l.set_ylabel("training loss (nats/token); ▼ = spike")
for ax in (ax_r, ax_l):
    ax.set_xlabel("optimizer step")
    ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
full_alpha = results["arms"]["1.0"]
early = min(10, len(full_alpha["steps"]))
early_ratio = sum(a / b for a, b in zip(full_alpha["grad_norm_embedding"][:early],
                                        full_alpha["grad_norm_rest"][:early])) / early
late_ratio = full_alpha["grad_norm_embedding"][-1] / full_alpha["grad_norm_rest"][-1]
print(f"alpha 1.0: embedding/rest gradient norm {early_ratio:.2f} on average over the first {early} steps, "
      f"{late_ratio:.2f} at the last step")

# %% [markdown]
# ### Your turn — Exercise 5.2: count the spikes
# Write `my_spike_steps(losses, factor, window)`: the 1-based steps whose loss is NaN/inf or above `factor` × the
# median of the previous `window` losses *kept*, where a flagged loss is not kept (so one spike does not hide the
# next), and nothing is flagged before `window` losses are kept. Then it recounts the two runs' spikes.

# %%
def my_spike_steps(losses, factor, window):
    ### BEGIN SOLUTION
    ### HINT: keep a list of accepted losses; compare with statistics.median of its last `window` entries
    import math
    import statistics
    kept, flagged = [], []
    for t, loss in enumerate(losses, start=1):
        if not math.isfinite(loss):
            flagged.append(t)
        elif len(kept) >= window and loss > factor * statistics.median(kept[-window:]):
            flagged.append(t)
        else:
            kept.append(loss)
    return flagged
    ### END SOLUTION


# %%
passed["5.2"] = check_spike_steps(my_spike_steps)
count_spikes = use(my_spike_steps, passed["5.2"], spike_steps)
spike_counts = {}
for alpha, arm in results["arms"].items():
    found = count_spikes(arm["loss"], 1.5, 20)
    assert found == arm["spike_steps"], "the recount must agree with the trainer's flags"
    spike_counts[alpha] = len(found)
    print(f"alpha = {alpha}: {len(found)} spikes {found}; best loss {arm['min_loss']:.3f}, "
          f"final {arm['final_loss']:.3f}")

# %% [markdown]
# **Reading the result.** The embedding-dominates-early observation is what the ratio plot measures. Whether
# α = 0.1 *prevents spikes* can only be judged if the α = 1 run spikes at all; the counts above say whether it did
# at this scale. GLM-130B's spikes came after thousands of steps of a 70-layer, 12288-wide model in fp16
# (`docs/glm130b_facts.md` §2.6: explosions near steps 33700, 35250 and 40800, handled by re-shrinking the embedding
# gradient and skipping data). A model of a few hundred thousand parameters trained for a few dozen steps in fp32,
# with clipping at 1.0, may not spike with either α: if both counts are 0, the paper's spike effect is **not**
# reproduced here, and seeing it would need a larger, longer run (the FULL setting, or `--lr` / `--max-steps` on
# the command line; on a GPU, `--precision fp16` in the trainer).

# %% [markdown]
# The FULL setting (600 steps, batch 16), if it was run, is read from its results file:

# %%
try:
    full = load_results("egs", "full", OUT)
    print(outcome_line(full))
except FileNotFoundError as err:
    full = None
    print(f"no FULL run yet ({err})")

# %% [markdown]
# ## 3. Why the softmax runs in FP32 with layer scaling
#
# **Why.** fp16's largest finite number is 65504. An attention score is $s = q\cdot k / \sqrt d$; once hidden states
# grow (deep layers, later in training) $|s|$ passes 65504, the fp16 matmul returns $\pm\infty$, and a softmax row
# holding $+\infty$ is NaN. GLM-130B keeps Megatron's trick (`glm_mini/attention.py`, `official_attention`): divide
# $q$ by $\sqrt d\,(l+1)$ **before** the fp16 matmul, multiply the scores by $(l+1)$ again **in fp32**, then softmax
# in fp32:
#
# $$s = \Big(\big(\tfrac{q}{\sqrt d\,(l+1)}\big)\, k^\top\Big)_{\text{fp16}} \cdot (l+1)_{\text{fp32}}$$
#
# (`q = q / (math.sqrt(q.shape[-1]) * coeff)` … `torch.softmax(scores.float() * coeff, dim=-1)`). We run both on
# the same fp16 tensors with $q, k \sim \mathcal N(0, \sigma^2)$ for growing $\sigma$, head dim 128 and GLM-130B's
# last layer, $l = 69$.

# %%
scales = [1, 3, 10, 30, 60, 100, 150, 200, 300, 500, 1000, 2000]
sweep = overflow_sweep(scales, layer_number=69, shape=(1, 2, 16, 128))
fig, ax = plt.subplots(figsize=(7.5, 3.6))
ax.loglog([r["scale"] for r in sweep], [r["max_abs_score"] for r in sweep], "k.-", label="max |score| (fp32)")
ax.axhline(FP16_MAX, color="tab:red", ls="--", label="fp16 max 65504")
ax.axhline(FP16_MAX * 70, color="tab:green", ls="--", label="65504 x (l+1): limit with layer scaling")
for r in sweep:
    ax.plot(r["scale"], r["max_abs_score"], "x" if not r["plain_finite"] else "o", color="tab:red", ms=9, mfc="none")
    ax.plot(r["scale"], r["max_abs_score"] * 2.5, "x" if not r["scaled_finite"] else "s", color="tab:green", ms=6,
            mfc="none")
ax.set_xlabel("σ of q and k")
ax.set_ylabel("largest |q·k|/√d")
ax.set_title("fp16 attention output: x = inf/NaN, o/□ = finite\n(red: plain, green, drawn above: layer-scaled, l = 69)",
             fontsize=9)
ax.legend(fontsize=8)
plt.show()
first_plain_overflow = next((r for r in sweep if not r["plain_finite"]), None)
first_scaled_overflow = next((r for r in sweep if not r["scaled_finite"]), None)
for r in sweep:
    print(f"sigma {r['scale']:6g}: max |score| {r['max_abs_score']:12.1f}  plain fp16 "
          f"{'finite' if r['plain_finite'] else 'inf/NaN'}  layer-scaled "
          f"{'finite' if r['scaled_finite'] else 'inf/NaN'}"
          f"  (max error vs fp32 {r['scaled_max_error']:.1e})")


# %%
def show_overflow(sigma=200.0, layer_number=69):
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 16, 128, generator=gen) for _ in range(3))  # [b, nh, s, d]
    r = attention_overflow(q * sigma, k * sigma, v, layer_number)
    print(f"sigma {sigma:g}, layer {layer_number}: max |score| {r['max_abs_score']:.0f}; plain fp16 "
          f"{'finite' if r['plain_finite'] else 'inf/NaN'}; with layer scaling "
          f"{'finite' if r['scaled_finite'] else 'inf/NaN'}")


show_overflow()

# %% tags=["widget"]
widgets.interact(show_overflow, sigma=widgets.FloatLogSlider(value=200, base=10, min=0, max=4),
                 layer_number=(0, 69));

# %% tags=["summary"]
print("exercises: " + ", ".join(f"{k} {'PASS' if ok else 'not passed'}" for k, ok in passed.items()))
print(f"EGS identity at alpha 0.1: forward max error {forward_error:.1e}, gradient x {grad_ratio:.4f}")
print(f"embedding/rest gradient norm with alpha 1: {early_ratio:.2f} over the first {early} steps, "
      f"{late_ratio:.2f} at the last")
print(outcome_line(results))
print("spikes: " + ", ".join(f"alpha {a}: {n}" for a, n in spike_counts.items())
      + ("; the paper's spike effect is NOT reproduced at this scale (no run spiked)"
         if not any(spike_counts.values()) else ""))
if full is not None:
    print(outcome_line(full))
print(f"fp16 scores at layer 69: plain overflows from sigma {first_plain_overflow['scale']:g} "
      f"(max |score| {first_plain_overflow['max_abs_score']:.0f} > 65504); layer-scaled "
      + (f"overflows from sigma {first_scaled_overflow['scale']:g}" if first_scaled_overflow
         else f"finite up to sigma {scales[-1]:g}"))
print(f"notebook time {time.perf_counter() - started:.0f} s")
