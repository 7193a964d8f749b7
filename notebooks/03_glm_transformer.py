# %% [markdown]
# # 03 · The GLM-130B transformer, piece by piece
#
# Budget: 60 s (FAST, 2-core CPU).
#
# We rebuild each piece of GLM-130B's architecture by hand, then check that it equals the package version in
# `glm_mini/`. Three of the pieces are **yours to write**: the RoPE rotation (Exercise 3.1), the attention forward
# with its fused per-head QKV and layer scaling (3.2) and the DeepNorm layer (3.3). Each check says PASS or shows the
# first mismatch, and later cells use your function once it passes (the package's until then). Before some
# experiments you are asked to *predict* the result; the answer is folded after the experiment.
#
# | piece | package file | test |
# |---|---|---|
# | the GLM attention mask (bidirectional prefix + causal rest) | `glm_mini/masks.py` | `tests/test_model.py` |
# | rotary position embedding, 1-D and 2-D | `glm_mini/rope.py` | `tests/test_rope.py` |
# | attention: per-head interleaved QKV, layer scaling, FP32 softmax | `glm_mini/attention.py` | `tests/test_attention.py` |
# | GeGLU feed-forward | `glm_mini/mlp.py` | `tests/test_layer.py` |
# | the DeepNorm Post-LN layer | `glm_mini/layer.py` | `tests/test_layer.py` |
# | tied output head, the whole model, KV cache | `glm_mini/model.py` | `tests/test_parity.py`, `tests/test_model.py` |
# | the 130B configuration on the `meta` device | `glm_mini/config.py` | `tests/test_parity.py` |
#
# Facts come from the GLM-130B paper (Zeng et al., 2022, §2.1, App. B) and the official code it was served with
# (THUDM/GLM-130B and SwissArmyTransformer's `glm130B_model.py`); `docs/glm130b_facts.md` §1 collects them with
# sources.

# %%
import math
import os
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Patch

from glm_mini import GLM, PRESETS, prefix_causal_mask
from glm_mini.architecture import draw_block, draw_qkv_layout, parameter_groups
from glm_mini.attention import SelfAttention, official_attention
from glm_mini.exercises import exercise_record, use
from glm_mini.exercises.nb03_transformer import check_attention, check_deepnorm_layer, check_rotary
from glm_mini.layer import GLMLayer
from glm_mini.mlp import GeGLU
from glm_mini.rope import RotaryEmbedding, apply_rope, apply_rotary
from scale_up.memory import weight_bytes

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
torch.manual_seed(0)
config = PRESETS["nano"] if FAST else PRESETS["mini"]
print(config)
passed = {}  # exercise -> did its check pass

# %% [markdown]
# ## 1. The mask: a bidirectional prefix, then causal
#
# **Why.** A GPT reads left to right, so even the context it is *given* is read causally: the first word of a question
# never sees the last. GLM reads the given context **bidirectionally** and generates the rest **left to right**, in one
# model. Query $i$ may attend key $j$ when $j$ lies in the prefix of length $P$ or $j$ is not after $i$:
#
# $$M_{ij} = [\,j < P\,] \;\lor\; [\,j \le i\,]$$
#
# (`glm_mini/masks.py`, `prefix_causal_mask`: `causal | in_prefix`; notebook 02 built the same mask for a
# [MASK] sample; here it is given). The kit's masks are boolean with **True = may attend**, the convention of
# PyTorch's `scaled_dot_product_attention`; `nn.MultiheadAttention` and the official GLM-130B code use the opposite,
# True = blocked. With $P = 0$ it is plain causal; with $P$ = `seq_len` every query sees every key.
#
# The mask as a picture: each row is a query, each column a key; the dashed line is the end of the prefix.

# %%
glm_mask = prefix_causal_mask


def show_mask(prefix_len=5, seq_len=12):
    allowed = glm_mask(torch.tensor([prefix_len]), seq_len)[0, 0]  # [s, s]
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    ax.imshow(allowed, cmap="Blues", vmin=0, vmax=1.25)
    ax.axvline(prefix_len - 0.5, color="tab:red", ls="--", lw=1.5)
    ax.set(title=f"GLM mask: prefix {prefix_len} of {seq_len}", xlabel="key position j",
           ylabel="query position i", xticks=range(seq_len), yticks=range(seq_len))
    ax.legend(handles=[Patch(color=plt.cm.Blues(0.8), label="may attend"), Patch(color="white", ec="gray",
              label="blocked"), plt.Line2D([], [], color="tab:red", ls="--", label="end of prefix")],
              loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    plt.show()


show_mask()

# %% tags=["widget"]
widgets.interact(show_mask, prefix_len=widgets.IntSlider(5, 0, 16, continuous_update=False),
                 seq_len=widgets.IntSlider(12, 2, 16, continuous_update=False));

# %% [markdown]
# ## 2. Rotary position embedding (RoPE)
#
# **Why.** Attention by itself is blind to order: permute the keys and the scores permute with them. GLM-130B has no
# position-embedding table; instead q and k are **rotated** by an angle proportional to their position, so that
# their dot product depends only on the **relative** position. Channel $i$ pairs with channel $i + d/2$ (the
# "rotate-half" convention) and turns with frequency $\theta_i$:
#
# $$\theta_i = 10000^{-2i/d}, \qquad
#   \mathrm{rope}(x, m) = x \odot \cos(m\theta) + \mathrm{rotate\_half}(x) \odot \sin(m\theta), \qquad
#   \mathrm{rotate\_half}([x_1; x_2]) = [-x_2; x_1]$$
#
# (`glm_mini/rope.py`: `inv_freq` in `RotaryEmbedding._inv_freq`, the formula in `apply_rotary`). Then
# $\langle \mathrm{rope}(q, m), \mathrm{rope}(k, n) \rangle$ is a function of $q$, $k$ and $m - n$ only. GLM-130B uses
# 1-D RoPE over the whole 128-wide head. ChatGLM-6B rotates each half of the head by its own position id (2-D RoPE,
# `position_encoding_2d`); the original GLM gave the same two ids learned absolute position tables instead (notebook
# 02, section 7; `docs/glm130b_facts.md` §1.5).
#
# ### Your turn — Exercise 3.1: rotate
# Write `my_apply_rotary(x, cos, sin)` for `x` of shape `[b, s, heads, d]` and tables `cos`, `sin` of shape
# `[b, s, d]` (shared by all heads). *Predict first:* what does position 0 do to `x`?

# %%
def my_apply_rotary(x, cos, sin):
    ### BEGIN SOLUTION
    ### HINT: channel i pairs with i + d/2, not with i + 1 (GPT-J's convention); the tables have no heads axis
    x1, x2 = x.chunk(2, dim=-1)  # each [b, s, nh, d/2]
    rotated_half = torch.cat([-x2, x1], dim=-1)  # [b, s, nh, d]
    return x * cos.unsqueeze(2) + rotated_half * sin.unsqueeze(2)  # tables [b, s, d] -> [b, s, 1, d]
    ### END SOLUTION


# %%
passed["3.1"] = check_rotary(my_apply_rotary)
rotary = use(my_apply_rotary, passed["3.1"], apply_rotary)

# %% [markdown]
# With the rotation in hand: the score of a query at position $m$ and a key at $n$ depends on $m - n$ only, and the
# 2-D variant is two 1-D rotations side by side.

# %%
d = config.head_dim
rope = RotaryEmbedding(d)
q, k = torch.randn(1, 1, 1, d), torch.randn(1, 1, 1, d)  # [b, s, heads, d]


def score(m, n, base=10000.0):
    table = RotaryEmbedding(d, base=base) if base != 10000.0 else rope
    (cos_m, sin_m), = table(torch.tensor([[m]]), torch.float32)
    (cos_n, sin_n), = table(torch.tensor([[n]]), torch.float32)
    return (rotary(q, cos_m, sin_m) * rotary(k, cos_n, sin_n)).sum().item()


print(f"score(7, 3) = {score(7, 3):.5f}   score(40, 36) = {score(40, 36):.5f}")
assert math.isclose(score(7, 3), score(40, 36), rel_tol=1e-4)
(cos_0, sin_0), = rope(torch.zeros(1, 1, dtype=torch.long), torch.float32)
position_0_change = (rotary(q, cos_0, sin_0) - q).abs().max().item()
print(f"position 0: max |rope(q, 0) - q| = {position_0_change:.1e}")

x = torch.randn(1, 16, 2, d)  # [b, s, heads, d]
positions = torch.arange(16).view(1, 16)  # [b=1, s]
block_positions = torch.randint(0, 5, (1, 16))
two_d = apply_rope(x, RotaryEmbedding(d, two_d=True)(torch.stack([positions, block_positions], 1), torch.float32))
half = RotaryEmbedding(d // 2)
two_d_by_hand = torch.cat([apply_rope(x[..., : d // 2], half(positions, torch.float32)),
                           apply_rope(x[..., d // 2:], half(block_positions, torch.float32))], dim=-1)
assert torch.allclose(two_d, two_d_by_hand, atol=1e-6)

fig, ax = plt.subplots(figsize=(6.5, 2.4))
image = ax.imshow(rope(torch.arange(64).view(1, 64), torch.float32)[0][0][0].T, aspect="auto", cmap="RdBu")
ax.set(title="cos(m·θ_i): channel i and i + d/2 share an angle", xlabel="position m (token index)",
       ylabel="channel")
fig.colorbar(image, ax=ax, label="cos")
plt.show()

# %% [markdown]
# %% [markdown] tags=["prediction"]
# Nothing: at $m = 0$ every angle is $0\cdot\theta_i = 0$, so $\cos = 1$ and $\sin = 0$ and
# $\mathrm{rope}(x, 0) = x$ (the cell printed the largest change, zero). Only differences of positions matter to the
# score, so the first token is simply the unrotated reference.

# %% [markdown]
# How fast does a query forget where a key is? The score of one fixed (q, k) pair as the distance $m - n$ grows;
# a smaller base turns every channel faster.

# %%
def show_relative_scores(base=10000.0, max_distance=48):
    distances = list(range(max_distance + 1))
    fig, ax = plt.subplots(figsize=(5.5, 2.6))
    ax.plot(distances, [score(dist, 0, base) for dist in distances], marker=".", label=f"base {base:g}")
    ax.axhline((q * k).sum().item(), color="gray", ls=":", label="no rotation (distance 0)")
    ax.set(xlabel="relative distance m − n (tokens)", ylabel="q·k after RoPE", title="RoPE: score vs distance")
    ax.legend(fontsize=8)
    plt.show()


show_relative_scores()

# %% tags=["widget"]
widgets.interact(show_relative_scores,
                 base=widgets.FloatLogSlider(value=1e4, base=10, min=1, max=6, continuous_update=False),
                 max_distance=widgets.IntSlider(48, 8, 256, 8, continuous_update=False));

# %% [markdown]
# ## 3. Attention
#
# * One fused matrix `query_key_value` produces q, k and v. Its rows are grouped **per head**, as
#   `[q_0; k_0; v_0; q_1; k_1; v_1; …]`, so a tensor-parallel rank owns whole heads. The picture below is computed
#   from a layer of the notebook's model: every row number is pushed through the very split the forward uses
#   (`glm_mini/attention.py`, `split_qkv`), and each row is coloured by where it lands. The bottom bar is a
#   curiosity of the official training code, which initialized "the last third of the rows" as if it were the value
#   projection (notebook 04; `docs/glm130b_facts.md` §1.6).
# * Masked places are filled with **−10000**, and the softmax runs in **FP32**.
# * **Query-key layer scaling**: layer $l$ divides q by $\sqrt{d}\,(l+1)$ *before* the FP16 matmul, and multiplies
#   the scores by $(l+1)$ again in FP32:
#
# $$\mathrm{Attn}(q, k, v) = \mathrm{softmax}\!\Big((l+1)\cdot\mathrm{fp32}\Big(\frac{q}{\sqrt{d}\,(l+1)}\,k^\top\Big)
#   + \text{mask}\Big)\, v$$
#
# (`glm_mini/attention.py`, `SelfAttention`; SwissArmyTransformer `glm130B_model.py`; `docs/glm130b_facts.md` §1.4).
# The heads' outputs are put side by side again, `[b, s, h]`, and projected by `dense`.

# %%
layer_number, b, s = 1, 2, 10
attn = SelfAttention(config.hidden_size, config.num_attention_heads, layer_number).eval()
hidden = torch.randn(b, s, config.hidden_size)
allowed = glm_mask(torch.tensor([4, 7]), s)  # [b, 1, s, s]
rope_tables = rope(torch.arange(s).expand(b, s), torch.float32)
draw_qkv_layout(attn, tp=2)
plt.show()

# %% [markdown]
# ### Your turn — Exercise 3.2: the attention forward
# Write `my_attention(attention, x, rope_tables, allowed)` for a `SelfAttention` module: `x` is `[b, s, h]`, the
# result `[b, s, h]`, equal to `attention(x, rope_tables, allowed)[0]`. Use its parts: `attention.query_key_value`,
# `attention.head_dim`, `attention.coeff` (that is $l + 1$), `attention.dense`, and `apply_rope(t, rope_tables)` for
# `t` of shape `[b, s, heads, d]`. The check runs two edge cases: a padding row that may attend nowhere (it must stay
# finite), and an FP16 layer whose scores pass FP16's largest value, 65504, unless the scaling is done in the right
# place. *Predict first:* in FP32, how much does the output change if you leave out both $(l+1)$ factors?

# %%
def my_attention(attention, x, rope_tables, allowed):
    ### BEGIN SOLUTION
    ### HINT: the fused output's three thirds are not q, k, v (see the picture); a -inf fill makes an empty row NaN
    b, s, _ = x.shape
    d = attention.head_dim
    qkv = attention.query_key_value(x).view(b, s, -1, 3 * d)  # [b, s, 3h] -> [b, s, nh, 3d]: per head q | k | v
    q, k, v = qkv[..., :d], qkv[..., d:2 * d], qkv[..., 2 * d:]  # each [b, s, nh, d]
    q, k = apply_rope(q, rope_tables), apply_rope(k, rope_tables)
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # each [b, nh, s, d]
    scores = (q / (math.sqrt(d) * attention.coeff)) @ k.transpose(-1, -2)  # [b, nh, s, s], in x's dtype
    scores = scores.masked_fill(~allowed, -10000.0).float() * attention.coeff  # back to the true scale, in FP32
    probs = torch.softmax(scores, dim=-1).to(v.dtype)
    context = (probs @ v).transpose(1, 2).reshape(b, s, -1)  # [b, nh, s, d] -> [b, s, nh, d] -> [b, s, h]
    return attention.dense(context)
    ### END SOLUTION


# %%
passed["3.2"] = check_attention(my_attention)
attention_fn = use(my_attention, passed["3.2"], lambda module, *args: module(*args)[0])
with torch.no_grad():
    attn.coeff = 7.0  # as in layer 6 (a power of two such as layer 1's 2 would cancel exactly even in floats)
    out_scaled = attention_fn(attn, hidden, rope_tables, allowed)
    attn.coeff = 1.0  # the same weights without query-key layer scaling
    out_unscaled = attention_fn(attn, hidden, rope_tables, allowed)
    attn.coeff = float(layer_number + 1)
fp32_change = (out_scaled - out_unscaled).abs().max().item()
print(f"FP32: output with (l+1) = 7 and without the factors differs by at most {fp32_change:.1e}")

# two scores in FP16 with big activations, as late in a long training run (official_attention is the recipe)
d16 = 64
q16 = torch.full((1, 1, 1, d16), 40.0, dtype=torch.float16)  # [b, nh, s=1, d]
k16 = torch.full((1, 1, 2, d16), 40.0, dtype=torch.float16)  # [b, nh, t=2, d]
k16[0, 0, 1] *= 6  # the second key 6 times larger
v16 = torch.tensor([1.0, 2.0], dtype=torch.float16).view(1, 1, 2, 1).expand(1, 1, 2, d16)  # values 1 and 2
true_scores = (q16.float() @ k16.float().transpose(-1, -2) / math.sqrt(d16))[0, 0, 0].tolist()
keys_allowed = torch.ones(1, 1, 1, 2, dtype=torch.bool)
fp16_outputs = {coeff: official_attention(q16, k16, v16, keys_allowed, coeff=coeff)[0, 0, 0, 0].item()
                for coeff in (1.0, 20.0)}
print(f"FP16, scores q·k/√d = {true_scores} (FP16's largest number: {torch.finfo(torch.float16).max:.0f}); "
      f"divided by (l+1) = 20 first: {[x / 20 for x in true_scores]}")
print(f"attention output without layer scaling: {fp16_outputs[1.0]}; with it: {fp16_outputs[20.0]} "
      "(the softmax picks the second key, whose value is 2)")

# %% [markdown] tags=["prediction"]
# In FP32, by nothing more than rounding: $(l+1)\cdot\frac{q}{\sqrt d\,(l+1)}k^\top = \frac{qk^\top}{\sqrt d}$ exactly in
# real numbers, and the cell above printed a difference at the level of float rounding. The factors exist for
# FP16: the second score printed is past FP16's largest number, so computed as is it becomes `inf` and the softmax
# returns NaN; divided by 20 first it fits, and the FP32 softmax multiplies the 20 back safely. That is the FP16
# edge case of the check.

# %% [markdown]
# ## 4. GeGLU
#
# **Why.** A gated feed-forward lets each hidden unit switch another one on or off, and at the same number of weights
# it trains to a lower loss than a plain GELU MLP (Shazeer, 2020); GLM-130B uses it (paper §2.1).
# `dense_h_to_4h` maps $h \to 2f$, its output is split into halves, and the **second** half is gated by the exact
# (erf) GELU:
#
# $$[x_1; x_2] = W_{h\to 4h}\, y + b_{h\to 4h}, \qquad
#   \mathrm{GeGLU}(y) = W_{4h\to h}\,\big(x_1 \odot \mathrm{GELU}(x_2)\big) + b_{4h\to h}$$
#
# (`glm_mini/mlp.py`, `GeGLU.forward`). The paper's eq. 4 names the halves the other way round; the released weights
# follow the code's order. With $f = 8h/3$ the FFN keeps the $8h^2$ weights of a $4h$ GELU MLP. By hand, then
# against the package. *Predict:* what comes out of a freshly built GeGLU for `y = 0`?

# %%
mlp = GeGLU(config.hidden_size, config.ffn_hidden_size)
x1, x2 = mlp.dense_h_to_4h(hidden).chunk(2, dim=-1)  # [b, s, 2f] -> two halves [b, s, f]
geglu_by_hand = mlp.dense_4h_to_h(x1 * torch.nn.functional.gelu(x2))  # exact (erf) GELU on the second half
assert torch.allclose(geglu_by_hand, mlp(hidden), atol=1e-6)
zero_out = mlp(torch.zeros(1, 1, config.hidden_size)).abs().max().item()
print(f"GeGLU by hand equals glm_mini.mlp.GeGLU, output {tuple(geglu_by_hand.shape)}; max |GeGLU(0)| = {zero_out}")

# %% [markdown] tags=["prediction"]
# Zero. With $y = 0$ both halves are just the biases, $x_1 = b_1$ and $x_2 = b_2$, and every bias starts at zero in
# GLM-130B (`docs/glm130b_facts.md` §1.1): $W(0 \odot \mathrm{GELU}(0)) + 0 = 0$. After training the biases are not
# zero and $\mathrm{GeGLU}(0) = W_{4h\to h}(b_1 \odot \mathrm{GELU}(b_2)) + b_{4h\to h}$.

# %% [markdown]
# ## 5. The DeepNorm layer
#
# **Why.** Post-LN (normalize after adding the residual) trains to better models than Pre-LN but is unstable when
# deep: early in training, updates add up across layers. DeepNorm scales the residual branch up by $\alpha$ (and the
# initialization of some weights down by $\beta$), so each layer's update stays small relative to what flows past:
#
# $$x_{l+1} = \mathrm{LayerNorm}\big(\alpha\, x_l + f(x_l)\big), \qquad \alpha = (2N)^{1/2}, \quad \beta = (2N)^{-1/2}$$
#
# with $N$ the number of layers. The GLM-130B paper (§2.1) states these ½ powers and the official training code uses
# them (it derives them for Adam); the DeepNet paper's decoder-only values are $(2N)^{1/4}$ and $(8N)^{-1/4}$. In
# GLM-130B's code the residual branch carries the **normalized** input (`glm_mini/layer.py`, `GLMLayer.forward`):
#
# $$x = \mathrm{LN_{in}}(h), \qquad y = \mathrm{LN_{post}}\big(\alpha x + \mathrm{Attn}(x)\big), \qquad
#   \mathrm{out} = \alpha y + \mathrm{GeGLU}(y)$$
#
# and the next layer's $\mathrm{LN_{in}}$ (or the final LayerNorm) completes
# $\mathrm{LN}(\alpha y + \mathrm{GeGLU}(y))$. The block's data flow, drawn for a layer of the notebook's model
# (its own α, its own module names):

# %%
draw_block(GLMLayer(config, layer_number=1))
plt.show()

# %% [markdown]
# ### Your turn — Exercise 3.3: the DeepNorm layer
# Write `my_deepnorm_layer(layer, h, rope_tables, allowed)` from the parts of `layer` (a `GLMLayer`):
# `layer.input_layernorm`, `layer.attention(x, rope_tables, allowed)` (it returns `(output, kv_cache)`),
# `layer.post_attention_layernorm`, `layer.mlp` and `layer.alpha`.

# %%
def my_deepnorm_layer(layer, h, rope_tables, allowed):
    ### BEGIN SOLUTION
    ### HINT: Post-LN habits put the raw input h on the residual branch; DeepNorm's branch starts after input_layernorm
    x = layer.input_layernorm(h)
    y = layer.post_attention_layernorm(layer.alpha * x + layer.attention(x, rope_tables, allowed)[0])
    return layer.alpha * y + layer.mlp(y)
    ### END SOLUTION


# %%
passed["3.3"] = check_deepnorm_layer(my_deepnorm_layer)
deepnorm_layer = use(my_deepnorm_layer, passed["3.3"], lambda lay, *args: lay(*args)[0])
layer = GLMLayer(config, layer_number=1).eval()
out = deepnorm_layer(layer, hidden, rope_tables, allowed)
print(f"alpha = sqrt(2 * {config.num_layers}) = {layer.alpha:.3f}; for GLM-130B: "
      f"{PRESETS['glm-130b'].residual_alpha:.3f}; layer output {tuple(out.shape)}")

# %% [markdown]
# The two choices of constants, as the depth grows (the dot is GLM-130B, N = 70):

# %%
depths = list(range(1, 101))
fig, ax = plt.subplots(figsize=(5.5, 2.8))
ax.plot(depths, [(2 * n) ** 0.5 for n in depths], label="α = (2N)^½ (GLM-130B)")
ax.plot(depths, [(2 * n) ** 0.25 for n in depths], label="α = (2N)^¼ (DeepNet, decoder)")
ax.plot([70], [PRESETS["glm-130b"].residual_alpha], "o", color="tab:blue")
ax.set(xlabel="number of layers N", ylabel="residual scale α", title="DeepNorm's α")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 6. The whole model, and the tied head
#
# The word embedding is the only vocabulary-sized matrix: the output head **reuses** it (a tied head), which saves
# 1.85 B parameters at 130B scale. There is no absolute position embedding: RoPE handles positions.
#
# $$\mathrm{logits} = \mathrm{LN_{final}}(h_N)\; W_{\mathrm{emb}}^\top$$
#
# (`glm_mini/model.py`, `GLM.forward`: `head(final_layernorm(h), word_embeddings.weight)`, the head in
# `glm_mini/output_head.py`). Below, the model is run layer by layer with your DeepNorm layer from Exercise 3.3 and
# compared with `GLM.forward`.

# %%
model = GLM(config).eval()
ids = torch.randint(0, config.vocab_size, (b, s))
hidden_states = model.transformer.word_embeddings(ids)
rope_tables = model.transformer.rotary(torch.arange(s).expand(b, s), torch.float32)
for block in model.transformer.layers.values():
    hidden_states = deepnorm_layer(block, hidden_states, rope_tables, allowed)
logits_by_hand = model.transformer.final_layernorm(hidden_states) @ model.transformer.word_embeddings.weight.T
logits = model(ids, attention_mask=allowed).logits
assert torch.allclose(logits_by_hand, logits, atol=1e-5)
print("logits", tuple(logits.shape))

# %% [markdown]
# Because the context is read bidirectionally, changing a **late** context token changes the outputs at
# **earlier** context positions. Changing a token after the context cannot affect anything before it.

# %%
changed = ids.clone()
changed[0, 3] = (ids[0, 3] + 1) % config.vocab_size  # last context token of sample 0 (prefix 4)
delta = (model(changed, attention_mask=allowed).logits - logits).abs().amax(-1)[0]  # [s]
assert delta[:3].max() > 0
changed = ids.clone()
changed[0, 7] = (ids[0, 7] + 1) % config.vocab_size  # a generated position
delta_late = (model(changed, attention_mask=allowed).logits - logits).abs().amax(-1)[0]
assert delta_late[:7].max() == 0

fig, axes = plt.subplots(1, 2, figsize=(9, 2.6), sharey=True)
for ax, d_pos, where, title in [(axes[0], delta, 3, "change token 3 (last of the prefix)"),
                                (axes[1], delta_late, 7, "change token 7 (generated part)")]:
    ax.bar(range(s), d_pos.tolist(), color=["tab:blue" if t < 4 else "tab:orange" for t in range(s)])
    ax.axvline(where, color="tab:red", ls="--", lw=1)
    ax.set(title=title, xlabel="position (token index)", xticks=range(s))
axes[0].set_ylabel("max |Δ logit|")
axes[0].legend(handles=[Patch(color="tab:blue", label="prefix (bidirectional)"),
                        Patch(color="tab:orange", label="causal part"),
                        plt.Line2D([], [], color="tab:red", ls="--", label="changed token")], fontsize=8)
plt.show()

# %% [markdown]
# ### KV cache
# During generation, each new token reuses the keys and values already computed. Decoding one token at a time must
# give exactly the logits of the full forward pass.

# %%
prefix_mask = prefix_causal_mask(torch.full((b,), 4), s)
full = model(ids, attention_mask=prefix_mask).logits
out = model(ids[:, :4], attention_mask=prefix_mask[:, :, :4, :4], use_cache=True)
pieces, cache = [out.logits], out.past_key_values
for t in range(4, s):
    out = model(ids[:, t:t + 1], position_ids=torch.full((b, 1), t), attention_mask=prefix_mask[:, :, t:t + 1, :t + 1],
                past_key_values=cache, use_cache=True)
    pieces.append(out.logits)
    cache = out.past_key_values
kv_error = (torch.cat(pieces, 1) - full).abs().max().item()
print(f"KV-cache decoding vs full forward: max |Δ| = {kv_error:.2e}")
assert kv_error < 1e-5

# %% [markdown]
# ## 7. GLM-130B on the `meta` device
#
# The same class builds the 130B model on the `meta` device: shapes without memory. We count its parameters by
# component and compare with the analytic count and the spec. The paper calls the model "130B". With the tied head it
# has 128.7 B parameters; an untied head would add another 1.85 B.

# %%
start = time.perf_counter()
with torch.device("meta"):
    glm130b = GLM(PRESETS["glm-130b"])
build_s = time.perf_counter() - start

groups = parameter_groups(glm130b)  # named_parameters() summed by component (glm_mini/architecture.py)
total = sum(groups.values())
for key, n in groups.items():
    print(f"{key:<28}{n:>18,}  {n / total:6.1%}")
print(f"{'total':<28}{total:>18,}   built on meta in {build_s:.2f} s")
assert total == PRESETS["glm-130b"].num_parameters() == 128_697_794_560

# Weight memory (scale_up/memory.py): only the four linear weights per layer are quantized, one FP16 scale per
# output row; the embedding, LayerNorms and biases stay FP16 (official `quantization/`;
# docs/glm130b_facts.md §4.1-4.4).
weight_gb = {fmt: weight_bytes(glm130b, bits) / 1e9 for fmt, bits in [("FP16", 16), ("INT8", 8), ("INT4", 4)]}
for fmt, gb in weight_gb.items():
    print(f"{fmt}: weights {gb:6.1f} GB")
print("paper §4 (quoted): INT4 serving needs about 70 GB of GPU memory, i.e. 4 × RTX 3090")

# %% tags=["summary"]
print(exercise_record(passed))
print("GLM mask, RoPE (1-D/2-D), interleaved-QKV attention, GeGLU, DeepNorm layer, tied head: all equal the package")
print(f"layer scaling: FP32 output changes by {fp32_change:.1e} without it; FP16 scores past 65504 give "
      f"{fp16_outputs[1.0]} without it, {fp16_outputs[20.0]} with it")
print(f"KV-cache decoding = full forward (max |Δ| {kv_error:.1e}); "
      f"alpha(130B) = {PRESETS['glm-130b'].residual_alpha:.3f}")
print(f"GLM-130B on meta: {total:,} parameters (tied head), built in {build_s:.2f} s")
print("weights: " + ", ".join(f"{k} {v:.1f} GB" for k, v in weight_gb.items()))
