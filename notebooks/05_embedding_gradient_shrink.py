# %% [markdown]
# # 05 · Embedding gradient shrink, the global clip, and the FP16 softmax
#
# Budget: 180 s (FAST, 2-core CPU).
#
# **Why this notebook.** GLM-130B's early trial runs kept hitting loss spikes. The team traced them to the word
# embedding: early in training its gradient norm is far larger than the rest of the model's, and the spikes followed
# its swings. Their fix, **embedding gradient shrink** (EGS, paper §3), multiplies the gradient reaching the embedding
# by α = 0.1 and changes nothing in the forward pass. The second fix in the same section is numerical: fp16 attention
# scores overflow, so the softmax runs in FP32 with query-key **layer scaling**. We test the EGS identity, then ask
# the question a careful reader asks next: *Adam divides every update by the gradient's own running size, so how can
# a constant factor on one parameter's gradient matter at all?* We measure the answer (it cannot, except through what
# sees the raw gradient scale: the global gradient clip, fp16 loss scaling, or shrinking one path only), search the
# learning rates where the clip is active, and make fp16 scores overflow on real tensors. Three pieces are **yours to
# write** (Exercises 5.1–5.3).
#
# | piece | package file | test |
# |---|---|---|
# | the EGS identity | `glm_mini/grad_shrink.py` | `tests/test_grad_shrink.py`, `tests/test_stability.py` |
# | Adam and a constant gradient scale | `glm_mini/stability/adam_invariance.py` | `tests/test_adam_invariance.py` |
# | the global clip and the embedding's share | `glm_mini/stability/clipping.py`, `glm_mini/training/grad_norms.py` | `tests/test_clipping.py` |
# | the α search and its reading | `glm_mini/experiments.py`, `glm_mini/stability/egs_reading.py` | `tests/test_lr_sweep.py`, `tests/test_egs_reading.py` |
# | fp16 overflow vs layer scaling | `glm_mini/stability/fp16_overflow.py` | `tests/test_stability.py` |
#
# Facts: paper §3 and `docs/glm130b_facts.md` §1.4 (attention numerics) and §2.6 (EGS, spikes). The search's full
# grid is committed under `data/reference/sweeps/` (`python -m glm_mini.experiments egs --mode full`, its command,
# seeds and git commit recorded inside); FAST mode trains the cells the verdict needs.

# %%
import os
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from glm_mini import GLM, PRESETS, shrink_gradient
from glm_mini.exercises import exercise_record, use
from glm_mini.exercises.nb05_egs import check_adam_update, check_shrink, check_spike_steps, spike_steps
from glm_mini.experiments import load_committed, run_beside_committed
from glm_mini.stability import FP16_MAX, attention_overflow, overflow_sweep
from glm_mini.stability import egs_reading
from glm_mini.stability.adam_invariance import adam_update, egs_path_difference
from glm_mini.stability.clipping import embedding_share, rest_kept
from glm_mini.stability.diagrams import draw_egs_graph
from glm_mini.stability.sweep_plots import SCHEME_COLORS
from glm_mini.training.precision import autocast

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
MODE = "fast" if FAST else "full"
OUT = "../build/experiments"  # the sweep's cells and results (relative to notebooks/)
torch.manual_seed(0)
torch.set_num_threads(1)  # tiny models: one thread is much faster than two fighting over a busy CPU
started = time.perf_counter()
passed = {}
LABELS = egs_reading.ARM_LABELS

# %% [markdown]
# ## 1. The identity: forward unchanged, gradient × α
#
# **Why.** We want smaller updates to the embedding without touching what the model computes. Mix the embedding
# output $e$ with a copy that autograd cannot see:
#
# $$\tilde e = \alpha\, e + (1 - \alpha)\,\mathrm{stopgrad}(e)$$
#
# In value, $\tilde e = e$; in the backward pass only the first term has a gradient, so
# $\partial \ell/\partial e = \alpha\,\partial \ell/\partial \tilde e$ (`glm_mini/grad_shrink.py`,
# `shrink_gradient`). GLM-130B's config applies it on **both** paths into the tied embedding $E$: the input lookup
# and the output head $x E^\top$ (`--shrink-logit-embedding-gradient`, the kit's `shrink_logit_embedding_gradient`):

# %%
draw_egs_graph()
plt.show()

# %% [markdown]
# ### Your turn — Exercise 5.1: write the shrink
# Write `my_shrink(x, alpha)`. *Predict first:* what does `x * alpha` alone get right, and what does it get wrong?

# %%
def my_shrink(x, alpha):
    ### BEGIN SOLUTION
    ### HINT: the value returned and the gradient let through are two separate requirements: check both
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
e.grad = None
(e * 0.1 * upstream).sum().backward()  # the tempting shortcut: scale the embedding output
naive = {"forward": (e * 0.1 - e).abs().max().item(), "grad_ratio": (e.grad / upstream).mean().item(),
         "value_ratio": (e * 0.1 / e).mean().item()}
print(f"x * alpha alone: max |x*alpha - e| = {naive['forward']:.2f} (the value is x {naive['value_ratio']:.2f}); "
      f"gradient / upstream = {naive['grad_ratio']:.4f}")

# %% [markdown] tags=["prediction"]
# `x * alpha` gets the gradient right and the forward wrong: the last line printed shows the gradient multiplied by
# α, as wanted, but the value multiplied by α too, so the model computes something else. On the output path, where
# GLM-130B also shrinks, the logits would come out ten times smaller. The stop-gradient copy
# $(1-\alpha)\,\mathrm{stopgrad}(e)$ puts the missing part of the value back without letting any gradient through it.

# %% [markdown]
# ## 2. Why Adam undoes it
#
# **Why.** With both paths shrunk, the *whole* gradient of the one tensor $E$ is multiplied by α. AdamW's update
# (`glm_mini/training/optimizer.py`) for gradients $g_1, \dots, g_t$ is
#
# $$m_t = \beta_1 m_{t-1} + (1-\beta_1)\, g_t, \qquad v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g_t^2, \qquad
#   \Delta\theta_t = -\,\text{lr}\cdot\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}$$
#
# with $\hat m_t = m_t/(1-\beta_1^t)$, $\hat v_t = v_t/(1-\beta_2^t)$. Feed it $\alpha g$: $\hat m$ scales by α,
# $\sqrt{\hat v}$ by α, and the step is unchanged, up to ε.
#
# ### Your turn — Exercise 5.2: Adam's update
# Write `my_adam_update(grads, lr, betas, eps)`: starting from θ = 0 and m = v = 0, apply one Adam step per row of
# `grads` (no weight decay) and return the final θ. The check compares it with `torch.optim.Adam`. Then it measures
# the invariance. *Predict first:* which of the three cases below will α = 0.1 change: typical gradients, gradients
# near ε, a factor that changes from step to step?

# %%
def my_adam_update(grads, lr, betas, eps):
    ### BEGIN SOLUTION
    ### HINT: t counts from 1 in the bias corrections; ε is added after the square root
    b1, b2 = betas
    m = torch.zeros_like(grads[0])
    v = torch.zeros_like(grads[0])
    theta = torch.zeros_like(grads[0])
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta = theta - lr * (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + eps)
    return theta
    ### END SOLUTION


# %%
passed["5.2"] = check_adam_update(my_adam_update)
adam = use(my_adam_update, passed["5.2"], adam_update)
gen = torch.Generator().manual_seed(53)
grads = torch.randn(50, 1000, generator=gen) * torch.logspace(-2, 0, 50)[:, None]  # a growing gradient scale
cases = {"typical gradients": grads, "gradients near eps (1e-9 x)": 1e-9 * grads}
invariance = {}
for name, g in cases.items():
    base = adam(g, 1e-3, (0.9, 0.95), 1e-8)
    invariance[name] = float((adam(0.1 * g, 1e-3, (0.9, 0.95), 1e-8) - base).norm() / base.norm())
# a time-varying factor, as the global clip applies: each step scaled by min(1, 1/||g_t||) of a norm that changes
clip = torch.clamp(1.0 / (grads.norm(dim=1, keepdim=True) / 3.0), max=1.0)  # [50, 1]
base = adam(grads, 1e-3, (0.9, 0.95), 1e-8)
invariance["a step-varying factor (like a clip)"] = float((adam(clip * grads, 1e-3, (0.9, 0.95), 1e-8) - base).norm()
                                                          / base.norm())
fig, ax = plt.subplots(figsize=(7, 2.6))
ax.barh(list(invariance), list(invariance.values()), color=["tab:green", "tab:orange", "tab:red"])
ax.set_xscale("log")
ax.set_xlabel("‖Δθ(scaled) − Δθ‖ / ‖Δθ‖ after 50 Adam steps")
ax.set_title("Adam and a gradient scale: a constant α is undone, a varying factor is not", fontsize=9)
plt.show()
for name, d in invariance.items():
    print(f"{name:38s} relative change of the update {d:.2e}")

# %% [markdown] tags=["prediction"]
# Only the last two. With typical gradients the relative change printed is small, orders of magnitude under the other
# two: α scales $\hat m$ and $\sqrt{\hat v}$ alike and cancels in $\hat m/\sqrt{\hat v}$, and what is left is ε's
# share of $\sqrt{\hat v} + \epsilon$ on the steps whose gradients are smallest. Near ε the cancellation fails, because
# $\sqrt{\hat v} + \epsilon$ is no longer $\sqrt{\hat v}$: shrinking a gradient that is already comparable to ε shrinks
# the step. And a factor that changes from step to step does not cancel either, because $\hat m$ and $\hat v$ average
# the gradients of many steps, each scaled differently. The global clip is such a factor; so is fp16 loss scaling
# when it changes. That is where EGS can act, and the next sections look for it.

# %% [markdown]
# **On the kit's model.** Two runs of the trainer that differ only in α (same seed, data and initialization), and
# the distance between where they end relative to how far each went (`egs_path_difference`):
#
# $$d = \frac{\lVert\theta_{\alpha} - \theta_{1}\rVert}{\lVert\theta_{1} - \theta_{0}\rVert}$$
#
# without the clip (`clip_grad` = 10⁹), with GLM-130B's clip at 1.0, and with α on the input path alone.

# %%
settings = {"max_steps": 30, "lr": 1e-3, "config_overrides": {"num_layers": 6}}
print(f"both runs of each pair: {settings['max_steps']} steps at lr {settings['lr']:g}, "
      f"{settings['config_overrides']['num_layers']} layers, no warm-up, seed 0")
paths = {
    "both paths, no clip": egs_path_difference(0.1, clip_grad=1e9, out_root=OUT, **settings),
    "both paths, clip at 1.0": egs_path_difference(0.1, clip_grad=1.0, out_root=OUT, **settings),
    "input path only, no clip": egs_path_difference(
        0.1, clip_grad=1e9, out_root=OUT, max_steps=30, lr=1e-3,
        config_overrides={"num_layers": 6, "shrink_logit_embedding_gradient": False}),
}
fig, ax = plt.subplots(figsize=(8, 2.8))
for i, group in enumerate(("embedding", "rest")):
    ax.barh([k + 0.4 * i for k in range(len(paths))], [d[group] for d in paths.values()], height=0.38,
            color=["tab:green", "tab:gray"][i], label=group)
ax.set_yticks([k + 0.2 for k in range(len(paths))], list(paths))
ax.set_xscale("log")
ax.set_xlabel("d = ‖θ_α − θ_1‖ / ‖θ_1 − θ_0‖ after 30 steps")
ax.legend(fontsize=8)
plt.show()
for name, d in paths.items():
    print(f"{name:26s} d: embedding {d['embedding']:.4f}, rest {d['rest']:.4f}, all {d['total']:.4f}")

# %% [markdown]
# ## 3. Where EGS can act: the global clip
#
# **Why.** GLM-130B clips the *global* gradient norm at 1.0 (`glm_mini/training/grad_norms.py`): every gradient is
# multiplied by the same $s_t = \min(1, 1/\lVert g_t\rVert)$ with $\lVert g_t\rVert^2 = \lVert g_{E,t}\rVert^2 +
# \lVert g_{\text{rest},t}\rVert^2$. When the embedding's gradient dominates the norm, the clip shrinks every other
# layer's gradient with it, by a factor that changes from step to step, which Adam does not undo. Per step we
# measure (`glm_mini/stability/clipping.py`)
#
# $$\text{share}_t = \frac{\lVert g_{E,t}\rVert^2}{\lVert g_t\rVert^2}, \qquad
#   \text{kept}_t = \frac{\min(1, 1/\lVert g_t\rVert)}{\min(1, 1/\lVert g_{\text{rest},t}\rVert)}$$
#
# (kept = the part of its gradient the rest of the model keeps, relative to a clip that did not count the
# embedding). The search: DeepNorm at 6 layers, α = 1, α = 0.1 on both paths, α = 0.1 on the input path alone, over
# learning rates from where the clip fires on most steps to where it rarely does, 2 seeds (`glm_mini.experiments`,
# `egs`). FAST trains the learning rate where the clip is busiest; the committed sweep holds the whole search.

# %%
live, committed, provenance = run_beside_committed("egs", MODE, OUT, workers=2)
print(provenance)
search = live if not FAST or committed is None else committed

# %%
print("the search" + (" (committed sweep; FAST trained the first learning rate again above)" if search is committed
                      else "") + ":")
print(f"{'lr':>7s} {'arm':24s} {'clip fired':>10s} {'early':>6s} {'emb share':>9s} {'kept':>6s} {'spikes':>6s} "
      f"{'final loss [lowest, highest seed]':>34s}")
table = egs_reading.search_table(search)
for r in table:
    print(f"{r['lr']:7g} {LABELS[r['arm']]:24s} {r['clipped']:10.0%} {r['clipped_early']:6.0%} {r['share']:9.0%} "
          f"{r['kept']:6.2f} {r['spikes']:6d} {r['mean']:14.3f} [{r['lo']:.3f}, {r['hi']:.3f}]")

# %%
lr_busy = min(c["lr"] for c in live["cells"])
fig, (ax_s, ax_l) = plt.subplots(1, 2, figsize=(13, 3.8))
for cell in live["cells"]:
    if cell["lr"] != lr_busy or cell["seed"] != 0:
        continue
    color = SCHEME_COLORS[cell["scheme"]]
    steps = live["series_steps"]
    ax_s.plot(steps, embedding_share(cell["grad_norm"], cell["grad_norm_embedding"]), color=color,
              label=LABELS[cell["scheme"]])
    ax_s.plot(steps, rest_kept(cell["grad_norm"], cell["grad_norm_embedding"]), ":", color=color)
    ax_l.plot(steps, cell["loss"], color=color, label=LABELS[cell["scheme"]])
ax_s.set_ylabel("embedding share of ‖g‖² (solid); kept (dotted)")
ax_l.set_ylabel("training loss (nats/token)")
for ax in (ax_s, ax_l):
    ax.set_xlabel("optimizer step")
    ax.legend(fontsize=8)
ax_s.set_title(f"lr {lr_busy:g}, seed 0", fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Spikes
# The paper's symptom was loss spikes. A **spike** is the trainer's flag (`glm_mini/training/spikes.py`):
# $\ell_t > 1.5 \cdot \mathrm{median}$ of the last 20 losses kept, or a non-finite loss.
#
# ### Your turn — Exercise 5.3: count the spikes
# Write `my_spike_steps(losses, factor, window)`: the 1-based steps whose loss is NaN/inf or above `factor` × the
# median of the previous `window` losses *kept*, where a flagged loss is not kept (so one spike does not hide the
# next), and nothing is flagged before `window` losses are kept. Then it counts the spikes of the runs trained in this
# notebook, step by step, and checks the count against the trainer's own flags; the search table above has the
# trainer's counts for every run (`spikes`).

# %%
def my_spike_steps(losses, factor, window):
    ### BEGIN SOLUTION
    ### HINT: a flagged loss must not enter the window the next median is taken over
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
passed["5.3"] = check_spike_steps(my_spike_steps)
count_spikes = use(my_spike_steps, passed["5.3"], spike_steps)
spike_counts = {}
for cell in live["cells"]:  # the runs trained here: every step of their loss is at hand
    found = count_spikes(cell["loss"], 1.5, 20)
    assert len(found) == cell["spikes"], "the count must agree with the trainer's flags"
    key = LABELS[cell["scheme"]]
    spike_counts[key] = spike_counts.get(key, 0) + len(found)
runs = {LABELS[a]: sum(1 for c in live["cells"] if c["scheme"] == a) for a in egs_reading.ARMS}
for arm, n in spike_counts.items():
    print(f"{arm:24s} {n} spikes in {runs[arm]} runs of {live['settings']['train']['max_steps']} steps")
print("in the whole search: " + ", ".join(f"{LABELS[a]} {sum(r['spikes'] for r in table if r['arm'] == a)}"
                                         for a in egs_reading.ARMS) + " spikes")

# %% [markdown]
# ### The verdict on EGS, computed from the search
# *Shown* when at some learning rate every α = 0.1 seed (both paths, GLM-130B's setting) ends below every α = 1 seed;
# otherwise *not shown*, with what was measured (`glm_mini/stability/egs_reading.py`, `lesson_line`). GLM-130B's
# spikes came after thousands of steps of a 70-layer, 12288-wide model in fp16 (`docs/glm130b_facts.md` §2.6: the
# paper reports explosions near steps 33700, 35250 and 40800), a regime this lab does not reach.

# %%
egs_lesson = egs_reading.lesson_line(search)
print(egs_lesson)

# %% [markdown]
# ## 4. Why the softmax runs in FP32 with layer scaling
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
    """One draw of q, k at scale sigma: the largest score against the two limits, and what fp16 returned."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, 16, 128, generator=gen) for _ in range(3))  # [b, nh, s, d]
    r = attention_overflow(q * sigma, k * sigma, v, layer_number)
    fig, ax = plt.subplots(figsize=(7, 2.4))
    ax.barh([0], [r["max_abs_score"]], color="tab:gray")
    ax.axvline(FP16_MAX, color="tab:red", ls="--")
    ax.axvline(FP16_MAX * (layer_number + 1), color="tab:green", ls="--")
    ax.set_xscale("log")
    ax.set_xlim(1, 1e9)
    ax.set_yticks([])
    ax.set_xlabel("largest |q·k|/√d (red: fp16 limit; green: the limit with layer scaling at this layer)")
    ax.set_title(f"sigma {sigma:g}, layer {layer_number}: plain fp16 "
                 f"{'finite' if r['plain_finite'] else 'inf/NaN'}, layer-scaled "
                 f"{'finite' if r['scaled_finite'] else 'inf/NaN'}", fontsize=9)
    plt.show()


show_overflow()  # the static rendering; the widget below redraws it when a slider is released

# %% tags=["widget"]
widgets.interact(show_overflow,
                 sigma=widgets.FloatLogSlider(value=200, base=10, min=0, max=4, continuous_update=False),
                 layer_number=widgets.IntSlider(value=69, min=0, max=69, continuous_update=False));

# %% [markdown]
# ### And in training?
# Two questions decide whether the overflow can reach a training run here. *Does fp16 autocast work on this CPU, and
# what does it cost?* We time a training step of the 6-layer model in fp32 and under fp16 autocast. *Do the scores
# get anywhere near 65504?* The sweeps of notebook 04 recorded the largest attention logit of every run
# (`AttentionLogitProbe`); we compare the largest of them with the fp16 limit.

# %%
model = GLM(PRESETS["nano"].replace(num_layers=6))
ids = torch.randint(0, model.config.vocab_size, (8, 64))
step_seconds = {}
for precision in ("fp32", "fp16"):
    times = []
    for _ in range(4):
        t1 = time.perf_counter()
        with autocast(precision, torch.device("cpu")):  # the trainer's autocast (glm_mini/training/precision.py)
            logits = model(ids).logits  # [b, s, V]
        logits.float().logsumexp(-1).mean().backward()
        times.append(time.perf_counter() - t1)
    step_seconds[precision] = sorted(times)[1]
    print(f"{precision:5s} forward+backward {step_seconds[precision] * 1e3:7.1f} ms (logits dtype {logits.dtype})")
fp16_cost = step_seconds["fp16"] / step_seconds["fp32"]
try:
    grids = [load_committed("deepnorm"), search]
except FileNotFoundError:
    grids = [search]
largest = max((c["attn_logit_peak"], c["scheme"], c["lr"]) for g in grids for c in g["cells"])
print(f"fp16 autocast on this CPU: {fp16_cost:.1f}x the fp32 step time; largest attention logit of any sweep run "
      f"{largest[0]:.1f} ({largest[1]}, lr {largest[2]:g}), {FP16_MAX / largest[0]:.0f}x under the fp16 limit")

# %% [markdown]
# **Reading it.** If the largest logit of any run is far under 65504, no run of this lab overflows fp16 with or
# without layer scaling, and the overflow above is shown on tensors at the scale where it happens, not in a training
# run (the printed headroom says by how much). GLM-130B's hidden states are 12288 wide and 70 layers deep, trained
# for tens of thousands of steps; the lab's models are 64 wide and trained for 150.

# %%
rescued = [r for r in sweep if not r["plain_finite"] and r["scaled_finite"]]
fp32_lesson = (
    f"lesson fp32-softmax: {'shown' if rescued else 'not shown'} (fp16 scores of layer 69 overflow to inf/NaN "
    f"without layer scaling from sigma {first_plain_overflow['scale'] if first_plain_overflow else 'none'}"
    + (f" (max |score| {first_plain_overflow['max_abs_score']:.0f} > 65504)" if first_plain_overflow else "")
    + f"; with layer scaling {len(rescued)} of those scales stay finite"
    + (f", up to sigma {rescued[-1]['scale']:g} (max |score| {rescued[-1]['max_abs_score']:.0f})" if rescued else "")
    + f"; in training the largest logit of any sweep run was {largest[0]:.1f}, {FP16_MAX / largest[0]:.0f}x under "
    f"the fp16 limit, so no run here overflows; fp16 autocast costs {fp16_cost:.1f}x fp32 on this CPU)")
print(fp32_lesson)

# %% tags=["summary"]
print(exercise_record(passed))
print(f"EGS identity at alpha 0.1: forward max error {forward_error:.1e}, gradient x {grad_ratio:.4f}")
print("Adam, relative change of the update under x0.1: " + ", ".join(f"{k} {v:.1e}" for k, v in invariance.items()))
print("path difference after 30 steps (d, all weights): " + ", ".join(f"{k} {v['total']:.4f}"
                                                                     for k, v in paths.items()))
busy = max((r for r in table if r["arm"] == "deepnorm"), key=lambda r: r["clipped"])
print(f"alpha 1 at lr {busy['lr']:g}: clip fired on {busy['clipped']:.0%} of steps, embedding share of the squared "
      f"norm {busy['share']:.0%}, rest kept {busy['kept']:.2f} of its gradient on average")
print("spikes: " + ", ".join(f"{k}: {n}" for k, n in spike_counts.items()))
print(egs_lesson)
print(fp32_lesson)
print(f"notebook time {time.perf_counter() - started:.0f} s")
