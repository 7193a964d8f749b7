"""GLM-130B self-attention: fused per-head-interleaved QKV, RoPE, FP32 softmax with query-key layer scaling.

How it works
------------
Shapes: b batch, s query length, t key length (past + s with a KV cache), nh heads, d head dim, h = nh*d.

1. ``query_key_value`` maps h -> 3h. Its output rows are grouped **per head**: head j owns rows
   ``[q_j (d); k_j (d); v_j (d)]`` (SAT ``glm130B_model.py``; LargeScale ``transformer.py``), so a tensor-parallel
   rank holds a contiguous block of whole heads. The einops pattern ``"b s (nh qkv d) -> qkv b s nh d"`` states
   this layout: the output axis is read as (head, which of q/k/v, channel), head outermost. (The transposes after
   it stay plain ``transpose``: in the one-token decoding loop the Python overhead of each einops call shows;
   ``tests/benchmarks/bench_einops.py`` measures it.)
2. RoPE rotates q and k (``rope.py``); with a KV cache, new k/v are appended to the cached ones.
3. Scores ``q·kᵀ/√d``, masked positions filled with -10000, softmax **in FP32**, then back to the working dtype.
   With query-key layer scaling (Megatron's ``apply_query_key_layer_scaling``, on in GLM-130B) layer l divides q by
   ``√d·(l+1)`` before the fp16 matmul and multiplies the fp32 scores by ``(l+1)`` again, so large fp16 scores
   cannot overflow; in exact arithmetic the result is unchanged (SAT ``glm130B_model.py`` attention_fn).
4. Because masked scores are -10000 rather than -inf, a row that may attend nowhere (padding) gets uniform
   weights, i.e. the mean of v: finite, never NaN.

Two implementations of step 3 give the same numbers: ``official_attention`` is the recipe above, op for op, used for
fp16/bf16 so low-precision logits match the official model; ``sdpa_attention`` calls PyTorch's fused
``scaled_dot_product_attention`` (faster, less memory) and is used in fp32, where the layer-scaling factors cancel
exactly and the softmax already runs in fp32. It reproduces step 4 by writing mean(v) into fully masked rows.
"""

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .rope import apply_rope

MASKED_SCORE = -10000.0  # the official fill value (SAT glm130B_model.py)


def official_attention(q: Tensor, k: Tensor, v: Tensor, allowed: Tensor, coeff: float = 1.0,
                       dropout_p: float = 0.0) -> Tensor:
    """SAT's recipe. q ``[b, nh, s, d]``, k/v ``[b, nh, t, d]``, allowed bool ``[b, 1, s, t]`` -> ``[b, nh, s, d]``."""
    q = q / (math.sqrt(q.shape[-1]) * coeff)
    scores = torch.matmul(q, k.transpose(-1, -2))  # [b, nh, s, t], in the working dtype
    scores = scores.masked_fill(~allowed, MASKED_SCORE)
    probs = torch.softmax(scores.float() * coeff, dim=-1).to(v.dtype)  # FP32 softmax
    probs = F.dropout(probs, p=dropout_p, training=dropout_p > 0)
    return torch.matmul(probs, v)  # [b, nh, s, d]


def sdpa_attention(q: Tensor, k: Tensor, v: Tensor, allowed: Tensor, dropout_p: float = 0.0) -> Tensor:
    """The same result through PyTorch's fused kernel; fully masked rows get mean(v) as in the official recipe."""
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=dropout_p)  # [b, nh, s, d]
    empty_rows = ~allowed.any(dim=-1, keepdim=True)  # [b, 1, s, 1]
    if empty_rows.any():
        out = torch.where(empty_rows, v.mean(dim=-2, keepdim=True), out)
    return out


def split_qkv(qkv: Tensor, head_dim: int) -> tuple[Tensor, Tensor, Tensor]:
    """The fused ``query_key_value`` output ``[b, s, 3h]`` cut per head: q, k, v, each ``[b, s, nh, d]``."""
    # [b, s, 3h] -> 3 x [b, s, nh, d]: the rows of head j are [q_j; k_j; v_j] (interleaved per head, not q|k|v)
    return rearrange(qkv, "b s (nh qkv d) -> qkv b s nh d", qkv=3, d=head_dim).unbind(0)


class SelfAttention(nn.Module):
    def __init__(self, hidden_size: int, num_heads: int, layer_number: int, attention_dropout: float = 0.0,
                 hidden_dropout: float = 0.0, layer_scaling: bool = True):
        super().__init__()
        self.head_dim = hidden_size // num_heads
        self.query_key_value = nn.Linear(hidden_size, 3 * hidden_size)
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.coeff = float(layer_number + 1) if layer_scaling else 1.0
        self.attention_dropout = attention_dropout
        self.output_dropout = nn.Dropout(hidden_dropout)

    def forward(self, x: Tensor, rope, allowed: Tensor,
                kv_cache: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        b, s, _ = x.shape
        d = self.head_dim
        q, k, v = split_qkv(self.query_key_value(x), d)  # each [b, s, nh, d]
        q, k = apply_rope(q, rope), apply_rope(k, rope)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # each [b, nh, s, d]
        if kv_cache is not None:
            if kv_cache[0].shape[:2] != k.shape[:2] or kv_cache[0].dtype != k.dtype:
                raise ValueError(f"past_key_values: this layer expects cached keys/values [{b}, {k.shape[1]}, cached, "
                                 f"{d}] of dtype {k.dtype}, got {list(kv_cache[0].shape)} of dtype "
                                 f"{kv_cache[0].dtype}")
            k = torch.cat((kv_cache[0], k), dim=2)  # [b, nh, t, d]
            v = torch.cat((kv_cache[1], v), dim=2)
        p = self.attention_dropout if self.training else 0.0
        if q.dtype == torch.float32:
            ctx = sdpa_attention(q, k, v, allowed, dropout_p=p)
        else:
            ctx = official_attention(q, k, v, allowed, coeff=self.coeff, dropout_p=p)
        ctx = ctx.transpose(1, 2).reshape(b, ctx.shape[2], -1)  # [b, nh, s, d] -> [b, s, h]
        return self.output_dropout(self.dense(ctx)), (k, v)
