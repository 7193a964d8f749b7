# %% [markdown]
# # 03 · The GLM-130B transformer, piece by piece
#
# Budget: 60 s (FAST, 2-core CPU).
#
# We rebuild each piece of GLM-130B's architecture by hand in a cell, then **assert that it equals the package
# version** in `glm_mini/`:
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
# (THUDM/GLM-130B and SwissArmyTransformer's `glm130B_model.py`); `docs/glm130b_facts.md` collects them with sources.

# %%
import math
import os
import time

import matplotlib.pyplot as plt
import torch

from glm_mini import GLM, PRESETS, prefix_causal_mask
from glm_mini.attention import SelfAttention
from glm_mini.layer import GLMLayer
from glm_mini.mlp import GeGLU
from glm_mini.rope import RotaryEmbedding, apply_rope
from scale_up.memory import weight_bytes

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
torch.manual_seed(0)
config = PRESETS["nano"] if FAST else PRESETS["mini"]
print(config)

# %% [markdown]
# ## 1. The mask: a bidirectional prefix, then causal
#
# GLM conditions on a context it reads **bidirectionally** and generates the rest **left to right**. Query *i* may
# attend key *j* if *j* lies in the prefix or *j ≤ i*. The kit's masks are boolean with **True = may attend**
# (the convention of PyTorch's `scaled_dot_product_attention`; `nn.MultiheadAttention` and the official GLM-130B code
# use the opposite, True = blocked).

# %%
seq_len, prefix_len = 12, 5
i = torch.arange(seq_len)
by_hand = (i.view(-1, 1) >= i.view(1, -1)) | (i.view(1, -1) < prefix_len)  # [s, s]
package = prefix_causal_mask(torch.tensor([prefix_len]), seq_len)[0, 0]
assert torch.equal(by_hand, package)

fig, ax = plt.subplots(figsize=(3.2, 3.2))
ax.imshow(by_hand, cmap="Blues")
ax.set(title=f"GLM mask, prefix {prefix_len}", xlabel="key j", ylabel="query i")
plt.show()

# %% [markdown]
# ## 2. Rotary position embedding (RoPE)
#
# GLM-130B has no position-embedding table. Instead, q and k are rotated: channel *i* pairs with channel *i + d/2*
# (the "rotate-half" convention) and turns by the angle `position · 10000^(-2i/d)`. Then q·k depends only on the
# **relative** position. GLM-130B uses 1-D RoPE over the whole 128-wide head. The original GLM and ChatGLM use a
# 2-D variant: each half of the head is rotated by its own position (see `position_encoding_2d`).

# %%
d = config.head_dim
positions = torch.arange(16).view(1, 16)  # [b=1, s]
x = torch.randn(1, 16, 2, d)  # [b, s, heads, d]

inv_freq = 10000.0 ** (-torch.arange(0, d, 2).float() / d)  # [d/2]
angles = positions[..., None].float() * inv_freq  # [1, s, d/2]
cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()  # [1, s, d]
x1, x2 = x[..., : d // 2], x[..., d // 2:]
rotated_by_hand = x * cos[:, :, None] + torch.cat([-x2, x1], -1) * sin[:, :, None]

rope = RotaryEmbedding(d)
assert torch.allclose(rotated_by_hand, apply_rope(x, rope(positions, torch.float32)), atol=1e-6)

# relative position: <rope(q, m), rope(k, n)> depends on m - n only
q, k = torch.randn(1, 1, 1, d), torch.randn(1, 1, 1, d)
def score(m, n):
    return (apply_rope(q, rope(torch.tensor([[m]]), torch.float32))
            * apply_rope(k, rope(torch.tensor([[n]]), torch.float32))).sum().item()
print(f"score(7, 3) = {score(7, 3):.5f}   score(40, 36) = {score(40, 36):.5f}")
assert math.isclose(score(7, 3), score(40, 36), rel_tol=1e-4)

# 2-D RoPE (original GLM, ChatGLM): first half of each head by position, second half by block position
block_positions = torch.randint(0, 5, (1, 16))
two_d = apply_rope(x, RotaryEmbedding(d, two_d=True)(torch.stack([positions, block_positions], 1), torch.float32))
half = RotaryEmbedding(d // 2)
two_d_by_hand = torch.cat([apply_rope(x[..., : d // 2], half(positions, torch.float32)),
                           apply_rope(x[..., d // 2:], half(block_positions, torch.float32))], dim=-1)
assert torch.allclose(two_d, two_d_by_hand, atol=1e-6)

fig, ax = plt.subplots(figsize=(6, 2.2))
ax.imshow(rope(torch.arange(64).view(1, 64), torch.float32)[0][0][0].T, aspect="auto", cmap="RdBu")
ax.set(title="cos(position · inv_freq); channel i and i + d/2 share an angle", xlabel="position", ylabel="channel")
plt.show()

# %% [markdown]
# ## 3. Attention
#
# * One fused matrix `query_key_value` produces q, k and v. Its rows are grouped **per head**, as
#   `[q_0; k_0; v_0; q_1; k_1; v_1; …]`, so a tensor-parallel rank owns whole heads.
# * Scores are `q·kᵀ/√d`. Masked positions are filled with **−10000**, and the softmax runs in **FP32**.
# * **Query-key layer scaling**: layer *l* divides q by `√d·(l+1)` *before* the fp16 matmul and multiplies the scores
#   by `(l+1)` again in fp32. The fp16 products stay smaller, so an overflow is less likely (not impossible). In exact
#   arithmetic it changes nothing.

# %%
layer_number, b, s = 1, 2, 10
attn = SelfAttention(config.hidden_size, config.num_attention_heads, layer_number).eval()
hidden = torch.randn(b, s, config.hidden_size)
allowed = prefix_causal_mask(torch.tensor([4, 7]), s)  # [b, 1, s, s]
rope_tables = rope(torch.arange(s).expand(b, s), torch.float32)

qkv = hidden @ attn.query_key_value.weight.T + attn.query_key_value.bias  # [b, s, 3h]
qkv = qkv.view(b, s, config.num_attention_heads, 3 * d)  # [b, s, nh, 3d]: per head [q | k | v]
q, k, v = qkv[..., :d], qkv[..., d:2 * d], qkv[..., 2 * d:]  # each [b, s, nh, d]
q, k = apply_rope(q, rope_tables), apply_rope(k, rope_tables)
q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # each [b, nh, s, d]
coeff = layer_number + 1
scores = (q / (math.sqrt(d) * coeff)) @ k.transpose(-1, -2)  # [b, nh, s, s]
scores = scores.masked_fill(~allowed, -10000.0).float() * coeff
context = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, s, -1)  # [b, s, h]
attention_by_hand = context @ attn.dense.weight.T + attn.dense.bias

assert torch.allclose(attention_by_hand, attn(hidden, rope_tables, allowed)[0], atol=1e-5)
print("attention output", tuple(attention_by_hand.shape), "equals glm_mini.attention.SelfAttention")

# %% [markdown]
# ## 4. GeGLU
#
# `dense_h_to_4h` maps h → 2f. Its output is split into halves `[x1; x2]`, and the **second** half is gated by the
# exact (erf) GELU: `dense_4h_to_h(x1 * gelu(x2))`. With f = 8/3·h, the FFN has the same 8h² weights as a 4h GELU MLP.

# %%
mlp = GeGLU(config.hidden_size, config.ffn_hidden_size)
up = hidden @ mlp.dense_h_to_4h.weight.T + mlp.dense_h_to_4h.bias  # [b, s, 2f]
x1, x2 = up.chunk(2, dim=-1)  # each [b, s, f]
geglu_by_hand = (x1 * 0.5 * x2 * (1 + torch.erf(x2 / math.sqrt(2)))) @ mlp.dense_4h_to_h.weight.T \
    + mlp.dense_4h_to_h.bias
assert torch.allclose(geglu_by_hand, mlp(hidden), atol=1e-5)

# %% [markdown]
# ## 5. The DeepNorm layer
#
# GLM-130B is Post-LN with DeepNorm. The residual branch carries the **normalized** input scaled by α = (2N)^½
# (√140 ≈ 11.83 for 70 layers):
#
# `x = LN_in(h); y = LN_post(α·x + Attn(x)); out = α·y + GeGLU(y)`. The next layer's `LN_in`, or the final
# LayerNorm, completes `LN(α·y + GeGLU(y))`.
#
# The GLM-130B paper (§2.1) states these ½ powers, α = (2N)^½ and the init scale β = (2N)^-½, and the official training
# code uses them (it derives them for Adam); the DeepNet paper's decoder-only values are (2N)^¼ and (8N)^-¼. Notebook 04 compares the normalization schemes.

# %%
layer = GLMLayer(config, layer_number=1).eval()
alpha = math.sqrt(2 * config.num_layers)
x = layer.input_layernorm(hidden)
y = layer.post_attention_layernorm(alpha * x + layer.attention(x, rope_tables, allowed)[0])
layer_by_hand = alpha * y + layer.mlp(y)
assert torch.allclose(layer_by_hand, layer(hidden, rope_tables, allowed)[0], atol=1e-5)
print(f"alpha = sqrt(2 * {config.num_layers}) = {alpha:.3f}; for GLM-130B: {PRESETS['glm-130b'].residual_alpha:.3f}")

# %% [markdown]
# ## 6. The whole model, and the tied head
#
# The word embedding is the only vocabulary-sized matrix. The logits are `final_layernorm(h) · W_embᵀ`. There is no
# absolute position embedding: RoPE handles positions.

# %%
model = GLM(config).eval()
ids = torch.randint(0, config.vocab_size, (b, s))
hidden_states = model.transformer.word_embeddings(ids)
rope_tables = model.transformer.rotary(torch.arange(s).expand(b, s), torch.float32)
for block in model.transformer.layers.values():
    hidden_states, _ = block(hidden_states, rope_tables, allowed)
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
print("max |Δlogit| per position:", [f"{v:.2g}" for v in delta.tolist()])
assert delta[:3].max() > 0
changed = ids.clone()
changed[0, 7] = (ids[0, 7] + 1) % config.vocab_size  # a generated position
delta_late = (model(changed, attention_mask=allowed).logits - logits).abs().amax(-1)[0]
assert delta_late[:7].max() == 0

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

groups = {"word embedding (tied head)": 0, "attention QKV": 0, "attention dense": 0, "FFN h→4h (GeGLU)": 0,
          "FFN 4h→h": 0, "LayerNorms": 0}
for name, p in glm130b.named_parameters():
    key = ("word embedding (tied head)" if "word_embeddings" in name else "attention QKV" if "query_key_value" in name
           else "attention dense" if "attention.dense" in name else "FFN h→4h (GeGLU)" if "h_to_4h" in name
           else "FFN 4h→h" if "4h_to_h" in name else "LayerNorms")
    groups[key] += p.numel()
total = sum(groups.values())
for key, n in groups.items():
    print(f"{key:<28}{n:>18,}  {n / total:6.1%}")
print(f"{'total':<28}{total:>18,}   built on meta in {build_s:.2f} s")
assert total == PRESETS["glm-130b"].num_parameters() == 128_697_794_560

# Weight memory (scale_up/memory.py): only the four linear weights per layer are quantized, one FP16 scale per
# output row; the embedding, LayerNorms and biases stay FP16 (official `quantization/`; docs/glm130b_facts.md §4.1-4.4).
weight_gb = {fmt: weight_bytes(glm130b, bits) / 1e9 for fmt, bits in [("FP16", 16), ("INT8", 8), ("INT4", 4)]}
for fmt, gb in weight_gb.items():
    print(f"{fmt}: weights {gb:6.1f} GB")
print("paper §4 (quoted): INT4 serving needs about 70 GB of GPU memory, i.e. 4 × RTX 3090")

# %% tags=["summary"]
print("GLM mask, RoPE (1-D/2-D), interleaved-QKV attention, GeGLU, DeepNorm layer, tied head: all equal the package")
print(f"KV-cache decoding = full forward (max |Δ| {kv_error:.1e}); "
      f"alpha(130B) = {PRESETS['glm-130b'].residual_alpha:.3f}")
print(f"GLM-130B on meta: {total:,} parameters (tied head), built in {build_s:.2f} s")
print("weights: " + ", ".join(f"{k} {v:.1f} GB" for k, v in weight_gb.items()))
