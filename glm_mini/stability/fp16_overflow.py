"""Why GLM-130B runs softmax in FP32 with query-key layer scaling: fp16 attention scores overflow.

How it works
------------
fp16's largest finite value is 65504. The attention score of a query/key pair is s = q·k/√d; once hidden states
grow (deep layers, late in training, paper §3) |s| passes 65504, the fp16 matmul returns ±inf, and the softmax of a
row holding +inf is NaN. Megatron's trick, kept by GLM-130B (``glm_mini.attention.official_attention``), divides q by
√d·(l+1) *before* the fp16 matmul and multiplies by (l+1) again in fp32, right before the FP32 softmax:

    s = ((q / (√d·(l+1))) · kᵀ)_fp16 · (l+1)_fp32

so the fp16 intermediate is (l+1) times smaller and stays finite; in exact arithmetic the probabilities are the same.
``attention_overflow`` runs both versions on the same real tensors; ``overflow_sweep`` grows the inputs' scale.
"""

from __future__ import annotations

import math

import torch

from glm_mini.attention import official_attention

FP16_MAX = float(torch.finfo(torch.float16).max)  # 65504


def attention_overflow(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, layer_number: int) -> dict:
    """Run ``official_attention`` in fp16 without (coeff 1) and with (coeff l+1) layer scaling, and in fp32.

    q, k, v: ``[b, nh, s, d]``. Returns ``max_abs_score`` (fp32, |q·k|/√d), ``plain_finite`` / ``scaled_finite``
    (no inf/NaN in the fp16 outputs) and ``scaled_max_error`` (largest |fp16 scaled − fp32| output difference).
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.dim() != 4:
            raise ValueError(f"{name}: expected a 4-D tensor [b, nh, s, d], got "
                             f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
    if not (isinstance(layer_number, int) and layer_number >= 0):
        raise ValueError(f"layer_number: expected an int >= 0, got {layer_number!r}")
    b, _, s, _ = q.shape
    allowed = torch.ones(b, 1, s, k.shape[2], dtype=torch.bool)  # [b, 1, s, t]: full attention
    q32, k32, v32 = q.float(), k.float(), v.float()
    exact = official_attention(q32, k32, v32, allowed)
    plain = official_attention(q.half(), k.half(), v.half(), allowed, coeff=1.0)
    scaled = official_attention(q.half(), k.half(), v.half(), allowed, coeff=float(layer_number + 1))
    scores = q32 @ k32.transpose(-1, -2) / math.sqrt(q.shape[-1])  # [b, nh, s, t]
    return {"max_abs_score": float(scores.abs().max()),
            "plain_finite": bool(torch.isfinite(plain).all()), "scaled_finite": bool(torch.isfinite(scaled).all()),
            "scaled_max_error": float((scaled.float() - exact).abs().max())}


def overflow_sweep(scales: list[float], layer_number: int, shape: tuple[int, int, int, int] = (1, 2, 16, 64),
                   seed: int = 0) -> list[dict]:
    """``attention_overflow`` on q, k ~ N(0, σ²) for each σ in ``scales`` (v ~ N(0, 1)); one row per σ (``scale``)."""
    if not scales or any(not (isinstance(x, (int, float)) and x > 0) for x in scales):
        raise ValueError(f"scales: expected a non-empty list of positive numbers, got {scales!r}")
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for sigma in scales:
        q, k, v = (torch.randn(shape, generator=gen) for _ in range(3))  # each [b, nh, s, d]
        rows.append({"scale": float(sigma), **attention_overflow(q * sigma, k * sigma, v, layer_number)})
    return rows
