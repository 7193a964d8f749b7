# %% [markdown]
# # 04 · DeepNorm and the other normalizations
#
# Budget: 120 s (FAST, 2-core CPU).
#
# **Why this notebook.** A 70-layer transformer trained in fp16 on 400 B tokens has many ways to blow up. GLM-130B
# chose **Post-LN with DeepNorm** over Pre-LN (the GPT default) and Sandwich-LN (CogView's fix), after Sandwich-LN
# diverged in a trial run (paper §2.1 and §3; `docs/glm130b_facts.md` §1.3, §1.6, §2.6). Here we put the four schemes
# side by side: their equations, DeepNorm's constants and initialization, the gradient each layer receives at
# initialization in deep thin models (24 and 48 layers), and a measured training run at a high learning rate.
# Three pieces are **yours to write** (Exercises 4.1–4.3).
#
# | piece | package file | test |
# |---|---|---|
# | the four schemes in one layer | `glm_mini/layer.py` | `tests/test_layer.py` |
# | DeepNorm's init table, expected vs measured | `glm_mini/stability/init_stds.py` | `tests/test_stability.py` |
# | per-layer gradient scale at init | `glm_mini/stability/grad_scale.py` | `tests/test_stability.py` |
# | one-switch training experiments | `glm_mini/experiments.py` | `tests/test_experiments.py` |
#
# Every curve below is measured in this notebook or read from the results file that
# `python -m glm_mini.experiments deepnorm` wrote; the paper's numbers are labelled as the paper's.

# %%
import math
import os
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from glm_mini import GLM, NORMALIZATIONS, PRESETS, GLMConfig
from glm_mini.exercises import use
from glm_mini.exercises.nb04_deepnorm import check_deepnorm_constants, check_divergence_steps, check_init_stds
from glm_mini.experiments import (DIVERGENCE_FACTOR, EXPERIMENTS, divergence_steps, load_results, outcome_line,
                                  run_experiment)
from glm_mini.stability import expected_init_stds, layer_grad_norms_at_init, measured_init_stds
from glm_mini.training.data import load_train_data, window

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
MODE = "fast" if FAST else "full"
OUT = "../build/experiments"  # results JSON and runs (relative to notebooks/)
torch.manual_seed(0)
torch.set_num_threads(1)  # tiny models: one thread is much faster than two fighting over a busy CPU
started = time.perf_counter()
passed = {}
COLORS = {"pre-ln": "tab:blue", "post-ln": "tab:red", "sandwich": "tab:orange", "deepnorm": "tab:green"}

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
# (`GLMConfig.residual_alpha`: `math.sqrt(2 * self.num_layers)`, and `GLMConfig.deepnorm_beta`:
# `(2 * self.num_layers) ** -0.5`), while the DeepNet paper's decoder-only values are
#
# $$\alpha_{\text{DeepNet}} = (2N)^{1/4}, \qquad \beta_{\text{DeepNet}} = (8N)^{-1/4}.$$
#
# For GLM-130B, $N = 70$: the paper's $\alpha = \sqrt{140} \approx 11.83$ and $\beta \approx 0.0845$.
#
# ### Your turn — Exercise 4.1: DeepNorm's constants
# Write `my_deepnorm_constants(num_layers)` returning `(alpha, beta)` as GLM-130B uses them. *Predict first:* at
# $N = 70$, how many times larger is GLM-130B's $\alpha$ than DeepNet's?

# %%
def my_deepnorm_constants(num_layers):
    ### BEGIN SOLUTION
    ### HINT: both are powers of 2N: +1/2 for alpha, -1/2 for beta
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
print(f"N = 70: alpha = {alpha_70:.3f} (paper: 11.832), beta = {beta_70:.4f} (paper: 0.0845); "
      f"DeepNet decoder: alpha = {140 ** 0.25:.3f}, beta = {560 ** -0.25:.4f}")

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
# (`glm_mini/init.py`, `_xavier_normal_`: `gain * math.sqrt(2.0 / (fan_in + fan_out))`). The other schemes use
# Megatron's normal init, $\sigma = 0.02$ and $\sigma/\sqrt{2N}$ on the two output projections.
#
# ### Your turn — Exercise 4.2: the init table
# Write `my_init_stds(config)` for a DeepNorm config: a dict with keys `qk`, `v`, `dense`, `ffn_x1`, `ffn_x2`,
# `ffn_down`, `embedding` (the stds). `config.hidden_size`, `config.ffn_hidden_size` (each GeGLU half is
# `[f, h]`), `config.vocab_size` and `config.num_layers` are all you need.

# %%
def my_init_stds(config):
    ### BEGIN SOLUTION
    ### HINT: xavier(a, b) = sqrt(2 / (a + b)); beta = (2N)^-1/2 multiplies v, dense and the three FFN matrices
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
paper_130b = {"qk": 0.00902, "v": 0.000762, "dense": 0.000762, "ffn_x1": 0.000563, "ffn_x2": 0.000563,
              "ffn_down": 0.000563, "embedding": 0.00350}  # docs/glm130b_facts.md §1.6 (worked out there)
init_model = GLMConfig(num_layers=4, hidden_size=256, num_attention_heads=8, inner_hidden_size=512, vocab_size=2048)
torch.manual_seed(0)
measured = measured_init_stds(GLM(init_model))
expected = init_stds(init_model)
print(f"{'matrix':10s} {'GLM-130B':>10s} {'facts §1.6':>10s} | {'4x256 expected':>14s} {'measured':>9s} "
      f"{'rel err':>8s}")
for group in expected:
    err = measured[group] / expected[group] - 1
    print(f"{group:10s} {table_130b[group]:10.6f} {paper_130b[group]:10.6f} | {expected[group]:14.6f} "
          f"{measured[group]:9.6f} {err:+8.2%}")
worst_init_error = max(abs(measured[g] / expected[g] - 1) for g in expected)
assert worst_init_error < 0.02, "every matrix within 2% of the table (tests/test_stability.py checks the same)"

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
for d, by in spread.items():
    print(f"{d} layers, first/last layer gradient: " + ", ".join(f"{s} {r:.2f}" for s, r in by.items()))

# %% tags=["widget"]
widgets.interact(show_grad_scale, depth=widgets.ToggleButtons(options=[24, 48], value=48));

# %% [markdown]
# **What we see (the ratios printed above).** At initialization Post-LN and DeepNorm give every layer nearly the
# same gradient here, Pre-LN's changes little from the bottom layer to the top, and Sandwich-LN's first layers get
# gradients an order of magnitude above its last. The textbook picture of Post-LN's vanishing lower-layer gradients
# (Xiong et al., 2020) does not show at initialization with Megatron's small init ($\sigma = 0.02$ at width 32
# makes every branch tiny next to the residual, so each LayerNorm is nearly an identity). Sandwich-LN's extra norms
# do the opposite: they rescale a tiny branch output to unit size, and the LayerNorm's Jacobian scales the
# branch's gradient up by the same factor. DeepNorm's problem to solve is not at step 0 but in the **updates** that follow (DeepNet §3);
# the next section measures those.

# %% [markdown]
# ## 5. A measured training run at a high learning rate
#
# **Why.** The claim to test: at a learning rate where some schemes get into trouble, DeepNorm still trains. One
# switch differs between the four runs (`normalization`); data order, objective samples and seeds are the same.
# Each run goes through the kit's trainer (`glm_mini.train.train`, GLM-130B's recipe: AdamW, warm-up then cosine,
# clipping at 1.0) and records loss, per-module gradient norms and the **update size** $\lVert\Delta\theta\rVert /
# \lVert\theta\rVert$ of every step. A step is a **divergence event** when
#
# $$\ell_t \notin \mathbb{R} \quad\text{or}\quad \ell_t > \rho \cdot \min_{t' \le t} \ell_{t'}, \qquad \rho = 1.5$$
#
# (`glm_mini/experiments.py`, `divergence_steps`). FAST trains the 24-layer model for a few dozen steps; FULL
# (`python -m glm_mini.experiments deepnorm --mode full`, resumable with `--resume`) trains 48 layers for longer.
# A rerun reuses finished runs from `build/experiments/`.

# %%
spec = EXPERIMENTS["deepnorm"]
print(f"settings ({MODE}):", spec.fast if FAST else spec.full)
t0 = time.perf_counter()
results = run_experiment("deepnorm", MODE, out_root=OUT, resume=True)
print(f"trained or re-read 4 runs in {time.perf_counter() - t0:.0f} s")
print(outcome_line(results))

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
for scheme, arm in results["arms"].items():
    kw = {"color": COLORS[scheme], "label": scheme}
    axes[0].plot(arm["steps"], arm["loss"], **kw)
    axes[1].semilogy(arm["steps"], arm["grad_norm"], **kw)
    axes[2].semilogy(arm["steps"], arm["update_ratio"], **kw)
    for step in arm["divergence_steps"]:
        axes[0].axvline(step, color=COLORS[scheme], ls=":", lw=0.8)
for ax, label in zip(axes, ("training loss (nats/token)", "gradient norm before clipping",
                            "update size ‖Δθ‖/‖θ‖")):
    ax.set_xlabel("optimizer step")
    ax.set_ylabel(label)
    ax.legend(fontsize=8)
axes[0].set_title(f"lr {results['settings']['train']['lr']:g}, {results['settings']['model']['num_layers']} layers "
                  "(dotted: divergence events)")
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Your turn — Exercise 4.3: find the divergence events
# Write `my_divergence_steps(steps, losses, factor)`: the steps whose loss is NaN/inf or above `factor` times the
# lowest finite loss so far (including this step). Then it runs over the four curves above.

# %%
def my_divergence_steps(steps, losses, factor):
    ### BEGIN SOLUTION
    ### HINT: keep a running minimum of the finite losses; a non-finite loss is always an event
    events, best = [], math.inf
    for step, loss in zip(steps, losses):
        if not math.isfinite(loss):
            events.append(step)
            continue
        best = min(best, loss)
        if loss > factor * best:
            events.append(step)
    return events
    ### END SOLUTION


# %%
passed["4.3"] = check_divergence_steps(my_divergence_steps)
find_events = use(my_divergence_steps, passed["4.3"], divergence_steps)
for scheme, arm in results["arms"].items():
    events = find_events(arm["steps"], arm["loss"], DIVERGENCE_FACTOR)
    print(f"{scheme:9s} divergence events at steps {events or 'none'}; best loss {arm['min_loss']:.3f}, "
          f"final {arm['final_loss']:.3f}, largest update {max(arm['update_ratio']):.3f}")

# %% [markdown]
# ## 6. What this scale shows, and what it would take
#
# The cell below reads the outcome off the runs: did any scheme diverge, and did DeepNorm train? At this scale
# (a few hundred thousand parameters, tens of steps, AdamW with clipping at 1.0, fp32) the paper's effect need not
# appear, and if it does not, that is the result. The instability GLM-130B fought grows with depth *and* training
# time: DeepNet reports Post-LN failing from about 18+18 layers in translation and trains 1000 layers with DeepNorm;
# GLM-130B saw Sandwich-LN diverge after about 2.5k steps of a 70-layer run (`docs/glm130b_facts.md` §2.6). To look
# for it on your machine, raise the depth and the number of steps (the FULL setting: 48 layers, more steps;
# `--max-steps` and `--lr` override it), keep the seed fixed, and report what you see. A FULL run, if one was made,
# is read here too.

# %%
def verdict(res):
    arms = res["arms"]
    diverged = [s for s, a in arms.items() if a["diverged_at"] is not None and not a["recovered"]]
    jumped = [s for s, a in arms.items() if a["recovered"]]
    deepnorm_ok = arms["deepnorm"]["diverged_at"] is None
    shown = ("seen" if diverged and deepnorm_ok else f"only a transient jump ({', '.join(jumped)})"
             if jumped and deepnorm_ok else "NOT seen")
    best = min(arms, key=lambda s: arms[s]["final_loss"] if math.isfinite(arms[s]["final_loss"]) else math.inf)
    return (f"{res['mode']}: diverged {diverged or 'none'}, jumped and recovered {jumped or 'none'}; deepnorm "
            f"{'trained' if deepnorm_ok else 'had divergence events'}; paper's effect (another scheme diverges or "
            f"spikes while DeepNorm trains) {shown}; lowest final loss: {best} "
            f"({arms[best]['final_loss']:.3f} vs deepnorm {arms['deepnorm']['final_loss']:.3f}) "
            f"at {res['settings']['model']['num_layers']} layers, lr {res['settings']['train']['lr']:g}, "
            f"{res['settings']['train']['max_steps']} steps")


print(verdict(results))
try:
    full = load_results("deepnorm", "full", OUT)
    print(verdict(full))
except FileNotFoundError as err:
    full = None
    print(f"no FULL run yet ({err})")

# %% tags=["summary"]
print("exercises: " + ", ".join(f"{k} {'PASS' if ok else 'not passed'}" for k, ok in passed.items()))
print(f"DeepNorm constants at N=70: alpha {alpha_70:.3f}, beta {beta_70:.4f} (GLM-130B); DeepNet decoder "
      f"{140 ** 0.25:.3f}, {560 ** -0.25:.4f}")
print(f"init stds of a 4x256 DeepNorm model: worst matrix {worst_init_error:.2%} from the table")
print("gradient first/last layer at init, 48 layers: "
      + ", ".join(f"{s} {r:.2f}" for s, r in spread[48].items()))
print(outcome_line(results))
print(verdict(results))
if full is not None:
    print(outcome_line(full))
    print(verdict(full))
print(f"notebook time {time.perf_counter() - started:.0f} s")
