# %% [markdown]
# # 04 · DeepNorm and the other normalizations
#
# Budget: 180 s (FAST, 2-core CPU).
#
# **Why this notebook.** A 70-layer transformer trained in fp16 on 400 B tokens has many ways to blow up. GLM-130B
# chose **Post-LN with DeepNorm** over Pre-LN (the GPT default) and Sandwich-LN (CogView's fix), after Sandwich-LN
# diverged in a trial run (paper §2.1 and §3; `docs/glm130b_facts.md` §1.3, §1.6, §2.6). Here we put the four schemes
# side by side: their equations, DeepNorm's constants and initialization, the gradient each layer receives at
# initialization, and then the experiment that shows the difference at a scale a laptop can train: **final loss
# against learning rate** (Wortsman et al. 2023, "Small-scale proxies for large-scale Transformer training
# instabilities"): small models show a large model's instabilities once the learning rate is high enough, and a
# better recipe keeps a low loss over a wider range of learning rates. Three pieces are **yours to write**
# (Exercises 4.1–4.3).
#
# | piece | package file | test |
# |---|---|---|
# | the four schemes in one layer, DeepNorm's two halves | `glm_mini/layer.py`, `glm_mini/config.py`, `glm_mini/init.py` | `tests/test_layer.py`, `tests/test_init.py` |
# | DeepNorm's init table, expected vs measured | `glm_mini/stability/init_stds.py` | `tests/test_stability.py` |
# | per-layer gradient scale at init | `glm_mini/stability/grad_scale.py` | `tests/test_stability.py` |
# | the largest attention logit, read with hooks | `glm_mini/stability/attention_logits.py` | `tests/test_attention_logits.py` |
# | learning-rate sweeps and their reading | `glm_mini/stability/lr_sweep.py`, `lr_sensitivity.py`, `glm_mini/experiments.py` | `tests/test_lr_sweep.py` |
#
# Every curve below is measured in this notebook or read from the sweep the kit committed under
# `data/reference/sweeps/` (made by `python -m glm_mini.experiments deepnorm --mode full`; its command, seeds and git
# commit are recorded inside); the paper's numbers are labelled as the paper's.

# %%
import math
import os
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from glm_mini import GLM, NORMALIZATIONS, PRESETS, GLMConfig
from glm_mini.exercises import exercise_record, use
from glm_mini.exercises.nb04_deepnorm import check_deepnorm_constants, check_init_stds, check_usable_range
from glm_mini.experiments import load_committed, run_beside_committed
from glm_mini.init import beta_rows_of_qkv
from glm_mini.stability import expected_init_stds, layer_grad_norms_at_init, measured_init_stds
from glm_mini.stability import lr_sensitivity as sens
from glm_mini.stability.diagrams import draw_norm_placements
from glm_mini.stability.sweep_plots import SCHEME_COLORS as COLORS
from glm_mini.stability.sweep_plots import plot_cell_curves, plot_collapse_line, plot_lr_curves
from glm_mini.training.data import load_train_data, window

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
MODE = "fast" if FAST else "full"
OUT = "../build/experiments"  # the sweep's cells and results (relative to notebooks/)
torch.manual_seed(0)
torch.set_num_threads(1)  # tiny models: one thread is much faster than two fighting over a busy CPU
started = time.perf_counter()
passed = {}

# %% [markdown]
# ## 1. Four places to put a LayerNorm
#
# **Why.** A residual block adds a branch $f$ (attention or the feed-forward) to its input. Where the LayerNorm sits
# decides what the gradient must pass through on its way down a deep stack. With $h$ a layer's input, the four
# schemes of `glm_mini/layer.py` (`GLMLayer.forward`, one line each) are:
#
# $$\text{Post-LN:}\quad h' = \mathrm{LN}(h + f(h)) \qquad\qquad
#   \text{Pre-LN:}\quad h' = h + f(\mathrm{LN}(h))$$
#
# $$\text{Sandwich-LN:}\quad h' = h + \mathrm{LN}(f(\mathrm{LN}(h))) \qquad\qquad
#   \text{DeepNorm:}\quad h' = \mathrm{LN}(\alpha\, h + f(h))$$
#
# - **Post-LN** (the original Transformer) normalizes after every sum, so the gradient to layer 0 crosses $2N$
#   LayerNorms; **Pre-LN** keeps an identity path from the loss to every layer (`h1 = h + attn`), which trains
#   stably but lets the hidden state grow with depth; **Sandwich-LN** adds a second LN on each branch output
#   (`self.third_layernorm(attn)`); **DeepNorm** is Post-LN with the residual up-weighted by $\alpha$
#   (`self.alpha * x + attn`) and the branch initialization down-scaled by $\beta$ (`glm_mini/init.py`).
# - In GLM-130B's code the residual is the *normalized* input, so a layer is `y = LN_post(α·x + Attn(x))`,
#   `out = α·y + GeGLU(y)` with `x = LN_in(h)` (`docs/glm130b_facts.md` §1.3); notebook 03 built it by hand.

# %%
draw_norm_placements()
plt.show()

# %%
hidden = torch.randn(2, 6, 64)
layers = {}
for scheme in NORMALIZATIONS:
    torch.manual_seed(0)
    layers[scheme] = GLM(PRESETS["nano"].replace(normalization=scheme)).transformer.layers["0"]
rope = GLM(PRESETS["nano"]).transformer.rotary(torch.arange(6).expand(2, 6), torch.float32)
allowed = torch.ones(1, 1, 6, 6, dtype=torch.bool)
fig, ax = plt.subplots(figsize=(7, 2.6))
for i, (scheme, layer) in enumerate(layers.items()):
    out, _ = layer(hidden, rope, allowed)
    ax.bar(i, out.std().item(), color=COLORS[scheme])
    print(f"{scheme:9s} output std {out.std().item():7.3f}  (input std {hidden.std().item():.3f})")
ax.set_xticks(range(4), list(layers))
ax.set_ylabel("std of the layer output")
ax.set_title("One nano layer, same input: Post-LN and DeepNorm end on a norm, the others on a sum")
plt.show()

# %% [markdown]
# ## 2. DeepNorm's constants: GLM-130B's ½ powers, not DeepNet's decoder values
#
# **Why.** DeepNet (Wang et al., 2022) showed that the trouble with deep Post-LN is the *size of the model update*
# early in training, and bounded it by scaling the residual up ($\alpha$) and the branch initialization down
# ($\beta$). GLM-130B's training code derives the constants for Adam (`LS:megatron/model/utils.py`,
# `docs/glm130b_facts.md` §1.6), for $N$ layers:
#
# $$\alpha_{\text{GLM-130B}} = (2N)^{1/2}, \qquad \beta_{\text{GLM-130B}} = (2N)^{-1/2}$$
#
# (`GLMConfig.residual_alpha` and `GLMConfig.deepnorm_beta` in `glm_mini/config.py`), while the DeepNet paper's
# decoder-only values are
#
# $$\alpha_{\text{DeepNet}} = (2N)^{1/4}, \qquad \beta_{\text{DeepNet}} = (8N)^{-1/4}.$$
#
# GLM-130B has $N = 70$ layers (the paper's number); the cell after the exercise evaluates both pairs of formulas
# there.
#
# ### Your turn — Exercise 4.1: DeepNorm's constants
# Write `my_deepnorm_constants(num_layers)` returning `(alpha, beta)` as GLM-130B uses them. *Predict first:* at
# $N = 70$, how many times larger is GLM-130B's $\alpha$ than DeepNet's, roughly: 1.4, 3.4 or 12?

# %%
def my_deepnorm_constants(num_layers):
    ### BEGIN SOLUTION
    ### HINT: both are powers of one quantity; the DeepNet paper's decoder exponents are the usual mix-up
    return math.sqrt(2 * num_layers), (2 * num_layers) ** -0.5
    ### END SOLUTION


# %%
passed["4.1"] = check_deepnorm_constants(my_deepnorm_constants)
from glm_mini.exercises.nb04_deepnorm import deepnorm_constants  # noqa: E402

constants = use(my_deepnorm_constants, passed["4.1"], deepnorm_constants)
depths = list(range(1, 101))
fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(10, 3.2))
ax_a.plot(depths, [constants(n)[0] for n in depths], color="tab:green", label="GLM-130B $(2N)^{1/2}$")
ax_a.plot(depths, [(2 * n) ** 0.25 for n in depths], "--", color="gray", label="DeepNet decoder $(2N)^{1/4}$")
ax_b.plot(depths, [constants(n)[1] for n in depths], color="tab:green", label="GLM-130B $(2N)^{-1/2}$")
ax_b.plot(depths, [(8 * n) ** -0.25 for n in depths], "--", color="gray", label="DeepNet decoder $(8N)^{-1/4}$")
for ax, name in ((ax_a, "α (residual weight)"), (ax_b, "β (init gain)")):
    ax.axvline(70, color="k", lw=0.6)
    ax.text(71, ax.get_ylim()[1] * 0.9, "N = 70 (GLM-130B)", fontsize=8)
    ax.set_xlabel("number of layers N")
    ax.set_ylabel(name)
    ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
alpha_70, beta_70 = constants(70)
print(f"N = 70 (the paper's depth), computed from the paper's formulas: alpha = {alpha_70:.3f}, "
      f"beta = {beta_70:.4f}; DeepNet's decoder formulas at the same N: alpha = {140 ** 0.25:.3f}, "
      f"beta = {560 ** -0.25:.4f}; ratio of the alphas {alpha_70 / 140 ** 0.25:.2f}")

# %% [markdown] tags=["prediction"]
# About 3.4, the ratio printed above. Both are powers of the same $2N = 140$, so the ratio is a power of it too:
# $(2N)^{1/2} / (2N)^{1/4} = (2N)^{1/4}$, which grows with depth (it is the DeepNet $\alpha$ itself). GLM-130B's
# residual is weighted much more heavily than the DeepNet paper's decoder recipe would weight it, and its branch
# initialization is shrunk harder ($\beta$ is smaller), because the constants were re-derived for Adam (facts §1.6).

# %% [markdown]
# ## 3. DeepNorm's initialization, expected vs measured
#
# **Why.** $\beta$ is half of DeepNorm: every matrix is Xavier normal, and the ones that write into the residual
# stream through the value path or the feed-forward get gain $\beta$:
#
# $$\sigma = \text{gain}\cdot\sqrt{\frac{2}{\text{fan}_\text{in} + \text{fan}_\text{out}}}, \qquad
#   \text{gain} = \begin{cases}\beta & v,\ \text{attention dense},\ \text{both GeGLU halves},\ 4h\to h\\
#   1 & q,\ k,\ \text{word embedding}\end{cases}$$
#
# (`glm_mini/init.py`, `_xavier_normal_`). The other schemes use Megatron's normal init, $\sigma = 0.02$ and
# $\sigma/\sqrt{2N}$ on the two output projections.
#
# ### Your turn — Exercise 4.2: the init table
# Write `my_init_stds(config)` for a DeepNorm config: a dict with keys `qk`, `v`, `dense`, `ffn_x1`, `ffn_x2`,
# `ffn_down`, `embedding` (the stds). `config.hidden_size`, `config.ffn_hidden_size` (each GeGLU half is
# `[f, h]`), `config.vocab_size` and `config.num_layers` are all you need.

# %%
def my_init_stds(config):
    ### BEGIN SOLUTION
    ### HINT: the fans are those of each half's own matrix, not of the fused dense_h_to_4h; not every row gets beta
    h, f, v = config.hidden_size, config.ffn_hidden_size, config.vocab_size
    beta = (2 * config.num_layers) ** -0.5
    xavier = lambda a, b: math.sqrt(2 / (a + b))  # noqa: E731
    return {"qk": xavier(h, h), "v": beta * xavier(h, h), "dense": beta * xavier(h, h),
            "ffn_x1": beta * xavier(h, f), "ffn_x2": beta * xavier(h, f), "ffn_down": beta * xavier(f, h),
            "embedding": xavier(h, v)}
    ### END SOLUTION


# %%
passed["4.2"] = check_init_stds(my_init_stds)
init_stds = use(my_init_stds, passed["4.2"], expected_init_stds)
table_130b = init_stds(PRESETS["glm-130b"])
facts_130b = {"qk": 0.00902, "v": 0.000762, "dense": 0.000762, "ffn_x1": 0.000563, "ffn_x2": 0.000563,
              "ffn_down": 0.000563, "embedding": 0.00350}  # docs/glm130b_facts.md §1.6 (worked out there)
init_model = GLMConfig(num_layers=4, hidden_size=256, num_attention_heads=8, inner_hidden_size=512, vocab_size=2048)
torch.manual_seed(0)
measured = measured_init_stds(GLM(init_model))
expected = init_stds(init_model)
print(f"{'matrix':10s} {'GLM-130B':>10s} {'facts §1.6':>10s} | {'4x256 expected':>14s} {'measured':>9s} "
      f"{'rel err':>8s}")
for group in expected:
    err = measured[group] / expected[group] - 1
    print(f"{group:10s} {table_130b[group]:10.6f} {facts_130b[group]:10.6f} | {expected[group]:14.6f} "
          f"{measured[group]:9.6f} {err:+8.2%}")
worst_init_error = max(abs(measured[g] / expected[g] - 1) for g in expected)
assert worst_init_error < 0.02, "every matrix within 2% of the table (tests/test_stability.py checks the same)"

# %% [markdown]
# ### A quirk of the official code: which QKV rows get β
#
# The paper says β goes on the value projection. GLM-130B's training code instead scaled "the last third" of each
# tensor-parallel rank's fused `query_key_value` rows. Those rows are interleaved per head (`[q_j; k_j; v_j]` for
# head j, `glm_mini/attention.py`), so the last third of a rank's rows is *every* q, k and v row of the last third of
# its heads, not the value rows (README "DeepNorm init", `docs/glm130b_facts.md` §1.6). The `glm-130b` preset
# reproduces this as trained (`official_qkv_init_tp=4`: GLM-130B trained at TP = 4); the small presets scale the
# true value rows (`official_qkv_init_tp=0`). The picture shows both on a small layer (8 heads, TP = 4), from
# `glm_mini.init.beta_rows_of_qkv`, the function the initialization itself uses.

# %%
quirk_demo = GLMConfig(num_layers=2, hidden_size=64, num_attention_heads=8, vocab_size=64)
rows = {"paper (official_qkv_init_tp=0)": beta_rows_of_qkv(quirk_demo),
        "official code at TP=4 (official_qkv_init_tp=4)": beta_rows_of_qkv(quirk_demo.replace(official_qkv_init_tp=4))}
d = quirk_demo.head_dim
fig, axes = plt.subplots(2, 1, figsize=(12, 2.4), sharex=True)
for ax, (name, beta_rows) in zip(axes, rows.items()):
    ax.imshow(beta_rows.view(1, -1).float(), aspect="auto", cmap="Oranges", vmin=0, vmax=1.3)
    for head in range(8):
        ax.axvline(head * 3 * d - 0.5, color="black", lw=1)
        for j, letter in enumerate("qkv"):
            ax.text(head * 3 * d + j * d + d / 2 - 0.5, 0, letter, ha="center", va="center", fontsize=8)
    for rank in range(1, 4):
        ax.axvline(rank * 3 * 64 / 4 - 0.5, color="tab:blue", lw=3)
    ax.set_yticks([])
    ax.set_title(f"{name}: orange rows get gain β", fontsize=9)
axes[1].set_xlabel("row of the fused query_key_value weight (black: head boundaries, blue: TP=4 rank boundaries)")
plt.tight_layout()
plt.show()
official = beta_rows_of_qkv(PRESETS["glm-130b"]).view(96, 3, -1)  # [heads, (q, k, v), d]
share_v = float(official[:, 2].float().mean())
share_qk = float(official[:, :2].float().mean())
print(f"glm-130b preset: beta on {share_v:.0%} of the value rows and {share_qk:.0%} of the query/key rows "
      f"(the paper's rule: 100% and 0%)")

# %% [markdown]
# ## 4. The gradient each layer gets at initialization
#
# **Why.** If the gradient reaching the first layers is much smaller (or larger) than the one reaching the last,
# one learning rate cannot suit them all: some layers barely move while others overshoot. We build each scheme
# fresh (same seed), push one batch of corpus tokens through, and measure each layer's parameter-gradient norm
# (`glm_mini/stability/grad_scale.py`):
#
# $$g_l = \Big(\sum_{p \in \text{layer } l} \lVert \partial \ell / \partial p \rVert^2\Big)^{1/2}$$
#
# in deep thin models (hidden size 32) of 24 and 48 layers.

# %%
data = load_train_data("default", PRESETS["nano"].vocab_size, 64, True)
tokens = torch.stack([window(data.train, i) for i in range(4)])  # [4, 64] corpus tokens
deep_thin = PRESETS["nano"].replace(hidden_size=32, num_attention_heads=2, inner_hidden_size=64)
grad_scale = {depth: {s: layer_grad_norms_at_init(deep_thin.replace(num_layers=depth, normalization=s), tokens)
                      for s in NORMALIZATIONS} for depth in (24, 48)}


def show_grad_scale(depth=48):
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for scheme, norms in grad_scale[depth].items():
        ax.semilogy(range(depth), norms, "o-", ms=3, color=COLORS[scheme], label=scheme)
    ax.set_xlabel("layer l (0 = next to the embedding)")
    ax.set_ylabel("gradient norm $g_l$ at init")
    ax.set_title(f"{depth} layers of width 32, one batch of 4 x 64 corpus tokens")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=8)
    plt.show()


show_grad_scale(48)
spread = {d: {s: v[0] / v[-1] for s, v in by.items()} for d, by in grad_scale.items()}
fig, ax = plt.subplots(figsize=(7, 2.8))
for k, (depth, by) in enumerate(spread.items()):
    xs = [i + 0.4 * k - 0.2 for i in range(len(by))]
    ax.bar(xs, list(by.values()), width=0.38, color=[COLORS[s] for s in by], alpha=0.55 + 0.45 * k,
           label=f"{depth} layers ({'light' if k == 0 else 'dark'})")
ax.set_yscale("log")
ax.axhline(1.0, color="black", lw=0.6)
ax.set_xticks(range(len(NORMALIZATIONS)), list(spread[24]))
ax.set_ylabel("$g_0 / g_{N-1}$ (first / last layer)")
ax.set_title("Gradient of the first layer over the last, at initialization (1 = every layer alike)")
ax.legend(fontsize=8)
plt.show()

# %% tags=["widget"]
widgets.interact(show_grad_scale, depth=widgets.ToggleButtons(options=[24, 48], value=48));

# %% [markdown]
# **What we see (the bars above).** At initialization Post-LN and DeepNorm give every layer nearly the same gradient
# here, Pre-LN's changes little from the bottom layer to the top, and Sandwich-LN's first layers get larger gradients
# than its last. The textbook picture of Post-LN's vanishing lower-layer gradients (Xiong et al., 2020) does not show
# at initialization with Megatron's small init ($\sigma = 0.02$ at width 32 makes every branch tiny next to the
# residual, so each LayerNorm is nearly an identity). Sandwich-LN's extra norms do the opposite: they rescale a tiny
# branch output to unit size, and the LayerNorm's Jacobian scales the branch's gradient up by the same factor.
# DeepNorm's problem to solve is not at step 0 but in the **updates** that follow (DeepNet §3). The way to see it is
# to train.

# %% [markdown]
# ## 5. The experiment: final loss against learning rate
#
# **Why.** "DeepNorm is more stable" is a claim about *which learning rates still train*. Wortsman et al. (2023)
# showed that small models reproduce a large model's instabilities once the learning rate is raised, and compared
# fixes by their **learning-rate sensitivity**: train the same model at learning rates spread over orders of
# magnitude, plot the final loss against the learning rate, and see which recipe keeps a low loss over the widest
# range. We do exactly that with the kit's own model and trainer (`glm_mini.train.train`: the GLM objective as the
# course trains it, AdamW, 10 warm-up steps then cosine, clipping at 1.0), 150 steps of 8 × 64 tokens, at two
# depths, two seeds per point. One sweep point is one run (`glm_mini/stability/lr_sweep.py`).
#
# **What "breaks" means here.** These small models do not blow up to NaN: past some learning rate they
# **collapse**: the model stops using the context and predicts every target from its frequency, and stays there. A
# model that does this has a known loss, the cross-entropy of the validation targets under their training
# frequencies (the *unigram loss*, `glm_mini/training/metrics.py`):
#
# $$H_\text{uni} = -\frac{1}{|T|}\sum_{t \in T} \log \frac{c_t + 1}{\sum_v c_v + V}$$
#
# with $c_v$ the count of token $v$ among the objective's training targets. It is drawn as a dashed line.
#
# FAST mode trains the cells the verdict needs (Post-LN and DeepNorm at the shallower depth, at learning rates around
# where Post-LN collapses, two seeds, in two worker processes); the whole grid (all four schemes, both depths, two
# decades of learning rates) is the committed sweep, drawn as lines with shaded bands; live points are drawn as
# circles with error bars. The settings are printed below. A rerun reuses the cells already trained in
# `build/experiments/`.

# %%
live, committed, provenance = run_beside_committed("deepnorm", MODE, OUT, workers=2)
print(provenance)
settings = live["settings"]
print(f"settings: {settings['train']['max_steps']} steps of {settings['train']['batch_size']} x "
      f"{settings['train']['seq_len']} tokens, {settings['train']['warmup_steps']} warm-up steps, hidden "
      f"{settings['model']['hidden_size']}, seeds {settings['seeds']}, depths {settings['depths']}, "
      f"lr {settings['lrs']}")
full = live if not FAST else committed  # the whole grid: trained here in FULL mode, else the committed one

# %%
panels = sorted({c["depth"] for c in (full or live)["cells"]})
fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), sharey=True, squeeze=False)
for ax, depth in zip(axes[0], panels):
    if full is not None:
        plot_lr_curves(ax, full, ("pre-ln", "post-ln", "sandwich", "deepnorm"), depth,
                       label_suffix=" (committed sweep)" if FAST else "")
    if FAST and depth in {c["depth"] for c in live["cells"]}:
        plot_lr_curves(ax, live, ("post-ln", "deepnorm"), depth, live=True, label_suffix=" (trained now)")
    unigram = plot_collapse_line(ax, full or live)
    grid_settings = (full or live)["settings"]
    ax.set_title(f"{depth} layers x {grid_settings['model']['hidden_size']} hidden, "
                 f"{grid_settings['train']['max_steps']} steps; band / bars: lowest to highest of "
                 f"{len(grid_settings['seeds'])} seeds", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
plt.tight_layout()
plt.show()

# %% [markdown]
# ### The collapse, step by step
# The training loss of Post-LN and DeepNorm at the learning rate where their mean final losses differ most (read off
# the runs above), beside the unigram loss. The lines printed under the plot say, for each run, where its loss was
# lowest and where it ended: a run that reached its lowest point early and ended at the unigram loss collapsed.

# %%
decisive = sens.best_margin(live, 6)
lr_star = decisive["lr"]
fig, ax = plt.subplots(figsize=(8, 3.6))
plot_cell_curves(ax, live, "loss", lambda c: c["lr"] == lr_star and c["depth"] == 6)
ax.axhline(sens.collapse_loss(live), color="black", ls="--", lw=1, label="unigram loss")
ax.set_ylabel("training loss (nats/token)")
ax.set_title(f"6 layers, lr {lr_star:g}: solid seed 0, dotted seed 1")
ax.legend(fontsize=7)
plt.show()
for cell in live["cells"]:
    if cell["lr"] == lr_star and cell["depth"] == 6:
        print(f"{cell['scheme']:9s} seed {cell['seed']}: lowest training loss {min(cell['loss']):.2f} at step "
              f"{cell['loss'].index(min(cell['loss'])) + 1}, final validation loss {cell['val_loss']:.2f} "
              f"(unigram loss {sens.collapse_loss(live):.2f})")

# %% [markdown]
# ### Your turn — Exercise 4.3: the usable learning rates
# A scheme *trains* at a learning rate when every seed's final loss is at least `trained_below` nats under the
# unigram loss: a recipe you can rely on there, whatever the seed. Write `my_usable_range(losses_by_lr, unigram,
# trained_below)`: `losses_by_lr` maps each learning rate to the list of its seeds' final losses; return the usable
# learning rates in ascending order. It then reads the usable range of every scheme off the sweep.
# *Predict first:* at 12 layers, will Post-LN's usable range be wider or narrower than at 6? And DeepNorm's?

# %%
def my_usable_range(losses_by_lr, unigram, trained_below):
    ### BEGIN SOLUTION
    ### HINT: a good mean can hide a collapsed seed; NaN compares False; a dict's order is not the rates' order
    return [lr for lr in sorted(losses_by_lr) if all(v <= unigram - trained_below for v in losses_by_lr[lr])]
    ### END SOLUTION


# %%
passed["4.3"] = check_usable_range(my_usable_range)
usable_range = use(my_usable_range, passed["4.3"], sens.usable_range)
grid = full or live
grid_lrs = sorted({c["lr"] for c in grid["cells"]})
unigram = sens.collapse_loss(grid)
ranges = {}
print(f"usable = every seed's final loss at least {sens.TRAINED_BELOW} nat under the unigram loss {unigram:.2f}"
      + (" (committed sweep)" if grid is committed else ""))
for depth in sorted({c["depth"] for c in grid["cells"]}):
    for scheme in ("pre-ln", "post-ln", "sandwich", "deepnorm"):
        if not any(c["scheme"] == scheme and c["depth"] == depth for c in grid["cells"]):
            continue
        ranges[depth, scheme] = usable_range(sens.losses_by_lr(grid, scheme, depth), unigram, sens.TRAINED_BELOW)
        best = min(sens.curve(grid, scheme, depth), key=lambda r: r["mean"])
        collapsed = sens.collapsed_cells(grid, scheme, depth)
        n_runs = sum(1 for c in grid["cells"] if c["scheme"] == scheme and c["depth"] == depth)
        usable = sens.format_range(ranges[depth, scheme], grid_lrs)
        print(f"{depth:2d} layers {scheme:9s} usable lr {usable:>15s}; best mean loss {best['mean']:.2f} at lr "
              f"{best['lr']:g}; LR sensitivity "
              f"{sens.lr_sensitivity(grid, scheme, depth):.2f}; collapsed runs {len(collapsed)} of {n_runs}")
depths_swept = sorted({depth for depth, _ in ranges})
for scheme in ("post-ln", "deepnorm"):
    if len(depths_swept) > 1:
        counts = [len(ranges[depth, scheme]) for depth in depths_swept]
        trend = "narrower" if counts[-1] < counts[0] else "wider" if counts[-1] > counts[0] else "as wide"
        print(f"{scheme}: {counts[0]} usable learning rates at {depths_swept[0]} layers, {counts[-1]} at "
              f"{depths_swept[-1]}: {trend} when deeper")

# %% [markdown] tags=["prediction"]
# Narrower is the expectation, and most of all for Post-LN; the two lines printed under the table count the usable
# learning rates at each depth and say which it was. Depth is what makes Post-LN fragile: each of its $2N$ LayerNorms
# re-scales what an update did to the residual stream, and there are twice as many at 12 layers, so the learning rate
# at which it collapses comes down as layers are added. DeepNorm's $\alpha = (2N)^{1/2}$ grows with $N$ precisely to
# hold each layer's update back, so it should keep more of its range. The paper's case for DeepNorm is this trend
# carried to 70 layers.

# %% [markdown]
# **Reading the table.** The *usable range* is the question a practitioner asks: how high can I push the learning
# rate before this recipe stops training? The *LR sensitivity* is Wortsman et al.'s number, the mean over the swept
# learning rates of how far each final loss sits above the scheme's best (capped at the loss at initialization): a
# scheme that trains poorly everywhere can look "insensitive" on it, which is why the usable range and the loss where
# schemes separate come first.

# %% [markdown]
# ## 6. Why Post-LN breaks first: gradients per layer and attention logits
#
# **Why.** Two measurements on the same runs. (a) Each layer's gradient norm averaged over the first steps (how many
# is in the plot's label), the early phase DeepNet's analysis is about: with α = 1, Post-LN's LayerNorm after every
# sum re-scales whatever the update did to the residual stream, and the layers' gradients are what the optimizer
# acts on. (b) The largest
# attention logit over training, Wortsman et al.'s *attention-logit growth*:
#
# $$z_\text{max} = \max_{\text{layer, head},\, i,\, j \text{ allowed}} \frac{|q_i\cdot k_j|}{\sqrt{d}}$$
#
# read with forward hooks on each attention's `query_key_value` output
# (`glm_mini/stability/attention_logits.py`, `AttentionLogitProbe`), without changing the model. Logits in the
# hundreds make the softmax one-hot and its gradient vanish.

# %%
lowest = min(c["lr"] for c in live["cells"])
pick = [(s, lr) for lr in (lowest, lr_star) for s in ("post-ln", "deepnorm")]
fig, (ax_g, ax_z) = plt.subplots(1, 2, figsize=(13, 3.8))
for scheme, lr in pick:
    cell = next(c for c in live["cells"] if (c["scheme"], c["lr"], c["seed"], c["depth"]) == (scheme, lr, 0, 6))
    style = "-" if lr == lr_star else ":"
    ax_g.semilogy(range(len(cell["grad_norm_layers_early"])), cell["grad_norm_layers_early"], "o" + style,
                  color=COLORS[scheme], label=f"{scheme}, lr {lr:g}")
    ax_z.semilogy(live["series_steps"], cell["attn_logit_max"], style, color=COLORS[scheme],
                  label=f"{scheme}, lr {lr:g}")
ax_g.set_xlabel("layer l")
ax_g.set_ylabel(f"gradient norm, mean of steps 1-{settings['early_steps']}")
ax_g.xaxis.get_major_locator().set_params(integer=True)
ax_z.set_xlabel("optimizer step")
ax_z.set_ylabel("largest attention logit $z_{max}$")
for ax in (ax_g, ax_z):
    ax.legend(fontsize=7)
ax_g.set_title("(a) per-layer gradient early in training (seed 0)", fontsize=9)
ax_z.set_title("(b) attention-logit growth (seed 0, max over layers)", fontsize=9)
plt.tight_layout()
plt.show()
mechanism = {}
for scheme, lr in pick:
    cells = [c for c in live["cells"] if (c["scheme"], c["lr"], c["depth"]) == (scheme, lr, 6)]
    mechanism[scheme, lr] = {
        "first_over_last": sum(c["grad_norm_layers_early"][0] / c["grad_norm_layers_early"][-1] for c in cells)
        / len(cells), "z_max": max(c["attn_logit_peak"] for c in cells)}
    print(f"{scheme:9s} lr {lr:g}: early gradient of the first layer over the last (mean of seeds) "
          f"{mechanism[scheme, lr]['first_over_last']:.2f}; largest attention logit over training "
          f"{mechanism[scheme, lr]['z_max']:.1f}")
post_z, deep_z = mechanism["post-ln", lr_star]["z_max"], mechanism["deepnorm", lr_star]["z_max"]
print(f"at lr {lr_star:g} the largest attention logit of Post-LN's runs is {post_z:.1f}, DeepNorm's {deep_z:.1f}: "
      + ("Post-LN's logits grew more" if post_z > deep_z else
         "the scheme that collapsed did not have the larger logits"))

# %% [markdown]
# Across the whole grid, the largest attention logit each run reached, against the learning rate:

# %%
fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 3.6), squeeze=False)
for ax, depth in zip(axes[0], panels):
    for scheme in ("pre-ln", "post-ln", "sandwich", "deepnorm"):
        cells = [c for c in grid["cells"] if c["scheme"] == scheme and c["depth"] == depth]
        if cells:
            ax.loglog([c["lr"] for c in cells], [c["attn_logit_peak"] for c in cells], "o", color=COLORS[scheme],
                      label=scheme, alpha=0.7)
    ax.set_xlabel("peak learning rate")
    ax.set_ylabel("largest attention logit in the run")
    ax.set_title(f"{depth} layers" + (" (committed sweep)" if grid is committed else ""), fontsize=9)
    ax.legend(fontsize=7)
plt.tight_layout()
plt.show()
z_by_scheme = {s: max(c["attn_logit_peak"] for c in grid["cells"] if c["scheme"] == s)
               for s in ("pre-ln", "post-ln", "sandwich", "deepnorm")}
print("largest attention logit of any run: " + ", ".join(f"{s} {z:.0f}" for s, z in z_by_scheme.items()))
never = [s for s in z_by_scheme if not any(sens.collapsed_cells(grid, s, d) for d in panels)]
print(f"schemes with no collapsed run in the grid: {never or 'none'}"
      + (f"; their largest logit {max(z_by_scheme[s] for s in never):.0f} vs Post-LN's {z_by_scheme['post-ln']:.0f}"
         if never else ""))

# %% [markdown]
# **Reading the mechanism (the numbers printed above).** Compare, at the decisive learning rate, how the early
# gradient is shared between Post-LN's first and last layers and DeepNorm's (starved lower layers are Post-LN's
# textbook failure, Xiong et al. 2020; section 4 found none at initialization, the ratio printed says whether it
# appears once training starts), and the logits each reached. The logits grow with the learning rate in every scheme; whether they are what tips Post-LN over is
# answered by the grid: if schemes that never collapse reach logits as large as Post-LN's, logit growth alone does not
# explain the collapse at this scale.

# %% [markdown]
# ## 7. Which half of DeepNorm does the work? α alone, β alone
#
# **Why.** The kit's `post-ln` differs from `deepnorm` in three things at once: α (residual weight), β (the branch
# init gain) and the init style (Megatron normal vs Xavier). Two switches in `GLMConfig` take DeepNorm apart
# (`deepnorm_scale_residual`, `deepnorm_scale_init`; with both off the model is Post-LN draw for draw,
# `tests/test_init.py`):
#
# | arm | residual weight | init |
# |---|---|---|
# | `post-ln` | 1 | Megatron normal, σ = 0.02 |
# | `alpha-only` | $(2N)^{1/2}$ | Megatron normal, σ = 0.02 |
# | `beta-only` | 1 | Xavier with gain β |
# | `deepnorm` | $(2N)^{1/2}$ | Xavier with gain β |
#
# FAST mode reads the two halves from the committed sweep, to stay within the budget; set `TRAIN_ABLATION = True`
# to train them here too, at the decisive learning rate (4 more runs, about a minute on two free cores).

# %%
TRAIN_ABLATION = not FAST
ablation_live = ablation_committed = None
if TRAIN_ABLATION:
    ablation_live, ablation_committed, provenance = run_beside_committed("deepnorm-ablation", MODE, OUT, workers=2)
    print(provenance)
else:
    ablation_committed = load_committed("deepnorm-ablation")
    print(f"committed sweep: {len(ablation_committed['cells'])} runs made by `{ablation_committed['command']}` at "
          f"commit {ablation_committed['git_commit']}")
ablation = ablation_live if not FAST else ablation_committed
arms = ("post-ln", "alpha-only", "beta-only", "deepnorm")
fig, ax = plt.subplots(figsize=(8, 4))
plot_lr_curves(ax, ablation, arms, 6, label_suffix=" (committed sweep)" if FAST else "")
if FAST and ablation_live is not None:
    plot_lr_curves(ax, ablation_live, ("alpha-only", "beta-only"), 6, live=True, label_suffix=" (trained now)")
plot_collapse_line(ax, ablation)
ax.set_title("DeepNorm taken apart, 6 layers, 2 seeds", fontsize=9)
ax.legend(fontsize=7, loc="lower left")
plt.show()
ablation_lrs = sorted({c["lr"] for c in ablation["cells"]})
ablation_ranges = {arm: sens.usable_lrs(ablation, arm, 6) for arm in arms}
at_star = {arm: next(r for r in sens.curve(ablation, arm, 6) if r["lr"] == lr_star) for arm in arms}
for arm in arms:
    row = at_star[arm]
    print(f"{arm:10s} usable lr {sens.format_range(ablation_ranges[arm], ablation_lrs):12s} final loss at lr "
          f"{lr_star:g}: {row['mean']:.2f} [{row['lo']:.2f}, {row['hi']:.2f}]")
if ablation_live is not None and FAST:
    for arm in ("alpha-only", "beta-only"):
        at = [c["val_loss"] for c in ablation_live["cells"] if c["scheme"] == arm and c["lr"] == lr_star]
        if at:
            print(f"trained now at lr {lr_star:g}: {arm} final loss mean {sum(at) / len(at):.2f} over {len(at)} seeds")
gap = at_star["post-ln"]["mean"] - at_star["deepnorm"]["mean"]
share = {arm: (at_star["post-ln"]["mean"] - at_star[arm]["mean"]) / gap for arm in ("alpha-only", "beta-only")}
print(f"at lr {lr_star:g}, of the {gap:.2f} nat between Post-LN and DeepNorm: alpha alone closes "
      f"{share['alpha-only']:.0%}, beta alone {share['beta-only']:.0%}")

# %% [markdown]
# ## 8. The verdict, computed from the sweep
#
# The lesson line below is computed by `glm_mini.stability.lr_sensitivity.lesson_line` from the runs of this
# notebook: *shown* when at some learning rate DeepNorm's mean final loss over the seeds is at least 1 nat below
# Post-LN's and every DeepNorm seed is below every Post-LN seed; otherwise *not shown*, with what was measured. The
# committed sweep's line is printed beside it. GLM-130B's own evidence is at another scale entirely: a 70-layer model
# whose Sandwich-LN trial diverged after about 2.5k steps (`docs/glm130b_facts.md` §2.6, the paper's account).

# %%
lesson = sens.lesson_line(live, [6] if FAST else None)
print(lesson)
if committed is not None:
    print("committed sweep: " + sens.lesson_line(committed).split(": ", 1)[1])

# %% tags=["summary"]
print(exercise_record(passed))
print(f"DeepNorm constants at N=70 from the paper's formulas: alpha {alpha_70:.3f}, beta {beta_70:.4f}; DeepNet "
      f"decoder {140 ** 0.25:.3f}, {560 ** -0.25:.4f}")
print(f"init stds of a 4x256 DeepNorm model: worst matrix {worst_init_error:.2%} from the table; glm-130b's beta rows "
      f"cover {share_v:.0%} of v and {share_qk:.0%} of q/k (official TP=4 quirk)")
print("gradient first/last layer at init, 48 layers: " + ", ".join(f"{s} {r:.2f}" for s, r in spread[48].items()))
where = " (committed sweep)" if grid is committed else ""
for (depth, scheme), lrs in sorted(ranges.items()):
    print(f"usable lr at {depth} layers, {scheme}: {sens.format_range(lrs, grid_lrs)}{where}")
print("ablation, usable lr at 6 layers: "
      + ", ".join(f"{a} {sens.format_range(v, ablation_lrs)}" for a, v in ablation_ranges.items())
      + f"; at lr {lr_star:g} alpha alone closes {share['alpha-only']:.0%} of the Post-LN/DeepNorm gap, beta alone "
        f"{share['beta-only']:.0%}")
print(lesson)
print(f"notebook time {time.perf_counter() - started:.0f} s")
