"""An independent GLM-130B reference forward, written from docs/glm130b_facts.md with plain tensor ops (no glm_mini imports).

It follows the official inference code's semantics (docs/glm130b_facts.md §1.3-1.5; SAT ``glm130B_model.py``):
the mask is the official **True = blocked** one; fused QKV rows are ``[q_j; k_j; v_j]`` per head; RoPE tables are
built SAT's way (a table over ``arange(max_len)`` indexed by position); q is divided by ``sqrt(d)·(l+1)``, masked
scores are filled with -10000, multiplied by ``(l+1)`` and softmaxed in FP32; GeGLU gates the second half with the
erf GELU; DeepNorm Post-LN with α = sqrt(2N); final LayerNorm; logits against the word embedding (tied head).
"""

import math

import torch

BASE = 10000.0


def layer_norm(x, w, b, eps):
    """Computed in fp32 and rounded once, as the fused (apex) LayerNorm does for fp16 tensors."""
    x32 = x.float()
    mean = x32.mean(-1, keepdim=True)
    var = ((x32 - mean) ** 2).mean(-1, keepdim=True)
    return ((x32 - mean) / torch.sqrt(var + eps) * w.float() + b.float()).to(x.dtype)


def erf_gelu(x):
    x32 = x.float()
    return (0.5 * x32 * (1.0 + torch.erf(x32 / math.sqrt(2.0)))).to(x.dtype)


def rope_tables(rot_dim, max_len, positions, dtype=torch.float32):
    """SAT: in fp16 both inv_freq and the positions are fp16 before the outer product."""
    table_dtype = torch.float16 if dtype == torch.float16 else torch.float32
    inv_freq = (1.0 / (BASE ** (torch.arange(0, rot_dim, 2).float() / rot_dim))).to(table_dtype)
    t = torch.arange(max_len).to(table_dtype)
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos().to(dtype)[positions], emb.sin().to(dtype)[positions]  # [b, s, rot_dim]


def rotate(x, cos, sin):
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos[:, :, None, :] + rotated * sin[:, :, None, :]


def reference_logits(sd, *, num_layers, num_heads, max_len, eps, input_ids, position_ids, blocked,
                     two_d=False, layer_scaling=True, dtype=torch.float32, scores_out=None):
    """Logits ``[b, s, V]`` of an official-layout state dict ``sd``; ``blocked`` is bool ``[b, 1, s, s]``.
    ``dtype`` is the working precision (fp16 = the official serving precision; the softmax stays fp32).
    ``scores_out``, a list, receives each layer's attention logits q·kᵀ/√d ``[b, nh, s, s]`` (fp32, before masking)."""
    sd = {k: v.to(dtype) for k, v in sd.items()}
    emb = sd["transformer.word_embeddings.weight"]
    hidden = emb.shape[1]
    d = hidden // num_heads
    alpha = math.sqrt(2 * num_layers)
    b, s = input_ids.shape
    if two_d:
        tables = [rope_tables(d // 2, max_len, position_ids[:, 0], dtype),
                  rope_tables(d // 2, max_len, position_ids[:, 1], dtype)]
    else:
        tables = [rope_tables(d, max_len, position_ids, dtype)]

    def apply_rope(x):
        if not two_d:
            return rotate(x, *tables[0])
        return torch.cat([rotate(x[..., : d // 2], *tables[0]), rotate(x[..., d // 2:], *tables[1])], dim=-1)

    h = emb[input_ids]
    for layer in range(num_layers):
        pre = f"transformer.layers.{layer}."
        x = layer_norm(h, sd[pre + "input_layernorm.weight"], sd[pre + "input_layernorm.bias"], eps)
        qkv = x @ sd[pre + "attention.query_key_value.weight"].T + sd[pre + "attention.query_key_value.bias"]
        qkv = qkv.reshape(b, s, num_heads, 3 * d)
        q, k, v = qkv[..., :d], qkv[..., d:2 * d], qkv[..., 2 * d:]
        q, k = apply_rope(q), apply_rope(k)
        q, k, v = q.permute(0, 2, 1, 3), k.permute(0, 2, 1, 3), v.permute(0, 2, 1, 3)
        coeff = layer + 1 if layer_scaling else 1
        scores = (q / (math.sqrt(d) * coeff)) @ k.transpose(-1, -2)
        if scores_out is not None:
            scores_out.append(scores.float() * coeff)
        scores = scores.masked_fill(blocked, -10000.0).float() * coeff
        probs = torch.softmax(scores, dim=-1).to(dtype)
        ctx = (probs @ v).permute(0, 2, 1, 3).reshape(b, s, hidden)
        attn = ctx @ sd[pre + "attention.dense.weight"].T + sd[pre + "attention.dense.bias"]
        y = layer_norm(alpha * x + attn, sd[pre + "post_attention_layernorm.weight"],
                       sd[pre + "post_attention_layernorm.bias"], eps)
        up = y @ sd[pre + "mlp.dense_h_to_4h.weight"].T + sd[pre + "mlp.dense_h_to_4h.bias"]
        f = up.shape[-1] // 2
        gated = up[..., :f] * erf_gelu(up[..., f:])
        mlp = gated @ sd[pre + "mlp.dense_4h_to_h.weight"].T + sd[pre + "mlp.dense_4h_to_h.bias"]
        h = alpha * y + mlp
    h = layer_norm(h, sd["transformer.final_layernorm.weight"], sd["transformer.final_layernorm.bias"], eps)
    return h @ emb.T


def official_keys_and_shapes(num_layers, hidden, inner, vocab):
    """The official TP=1 key list and shapes (docs/glm130b_facts.md §5 table, TP=1 shapes), in the official order."""
    shapes = {"transformer.word_embeddings.weight": (vocab, hidden)}
    for n in range(num_layers):
        pre = f"transformer.layers.{n}."
        shapes.update({
            pre + "input_layernorm.weight": (hidden,), pre + "input_layernorm.bias": (hidden,),
            pre + "attention.query_key_value.weight": (3 * hidden, hidden),
            pre + "attention.query_key_value.bias": (3 * hidden,),
            pre + "attention.dense.weight": (hidden, hidden), pre + "attention.dense.bias": (hidden,),
            pre + "post_attention_layernorm.weight": (hidden,), pre + "post_attention_layernorm.bias": (hidden,),
            pre + "mlp.dense_h_to_4h.weight": (2 * inner, hidden), pre + "mlp.dense_h_to_4h.bias": (2 * inner,),
            pre + "mlp.dense_4h_to_h.weight": (hidden, inner), pre + "mlp.dense_4h_to_h.bias": (hidden,),
        })
    shapes["transformer.final_layernorm.weight"] = (hidden,)
    shapes["transformer.final_layernorm.bias"] = (hidden,)
    return shapes


def random_official_state_dict(num_layers, hidden, inner, vocab, head_dim, seed=0, with_inv_freq=True):
    """Random weights (non-trivial biases and LayerNorm affines) in the official layout, plus the official per-layer
    ``attention.rotary_emb.inv_freq`` buffers that real checkpoints carry."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in official_keys_and_shapes(num_layers, hidden, inner, vocab).items():
        fan_in = shape[-1] if len(shape) == 2 else 1
        t = torch.randn(shape, generator=g)
        t = t / math.sqrt(fan_in) if len(shape) == 2 else 0.1 * t
        if key.endswith("layernorm.weight"):
            t = 1.0 + t
        sd[key] = t
    if with_inv_freq:
        for n in range(num_layers):
            sd[f"transformer.layers.{n}.attention.rotary_emb.inv_freq"] = \
                1.0 / (BASE ** (torch.arange(0, head_dim, 2).float() / head_dim))
    return sd
