"""The official GLM-130B weight-only format: per-row symmetric absmax INT8/INT4, two INT4 values per byte.

How it works
------------
For a linear weight W ``[out, in]`` and ``bits`` ∈ {8, 4}, with q_max = 2^(bits−1) − 1 (127 or 7):

    scale_r = fp16( max_c |W_rc| / q_max )                         # one FP16 scale per output row
    q_rc    = round( fp16(W_rc / scale_r) )                        # round half to even, stored as int8
    Ŵ_rc    = q_rc · scale_r                                       # what every compute path multiplies with

computed in FP16 op for op as THUDM/GLM-130B ``quantization/layers.py`` does, so the bytes equal what its converter
writes (docs/glm130b_facts.md §4.2). Weights in fp32/bf16 are rounded to FP16 first: the official path only ever sees
FP16 checkpoints. Because q = round(W/scale), each weight moves by at most half a step: |W − Ŵ| ≤ scale/2
(plus the FP16 rounding of W/scale).

Two places where the official code has no meaningful answer, and what the kit does there (clamp, zero), identical to
it everywhere else:
- a row of zeros gives scale 0 and 0/0 = NaN: the kit stores q = 0 (Ŵ = 0, exact);
- a row so small that its FP16 scale is subnormal or 0 (max |W| ≲ 1e-3 for INT8, ≲ 3e-6 for INT4) can round W/scale
  past q_max (e.g. to 128, which int8 wraps to −128, a sign flip): the kit clamps q to [−q_max, q_max].

INT4 packing (``cuda/quantization.cu`` of the official repo): byte i of a row holds columns 2i and 2i+1,

    byte = (q[2i] << 4) | (q[2i+1] & 0x0F)          # even column in the HIGH nibble
    q[2i] = byte >> 4 (arithmetic),  q[2i+1] = (byte << 4) >> 4 (arithmetic): both sign-extended

so ``[out, in]`` int8 values in [−8, 7] become ``[out, in/2]`` int8 bytes.
"""

from __future__ import annotations

import torch
from torch import Tensor

SUPPORTED_BITS = (4, 8)


def q_max(bits: int) -> int:
    """Largest quantized magnitude: 2^(bits−1) − 1, i.e. 127 for INT8 and 7 for INT4 (−8 is never produced)."""
    check_bits(bits)
    return 2 ** (bits - 1) - 1


def check_bits(bits) -> None:
    if bits not in SUPPORTED_BITS or isinstance(bits, bool):
        raise ValueError(f"bits: expected 4 or 8, got {bits!r}")


def quantize_weight(weight: Tensor, bits: int) -> tuple[Tensor, Tensor]:
    """Per-row absmax quantization in the official format: ``(q int8 [out, in], scale fp16 [out])``.

    ``q`` holds one value per weight (not yet packed; see ``pack_int4`` for the INT4 bytes).
    """
    qm = q_max(bits)
    if not isinstance(weight, Tensor) or weight.dim() != 2 or not weight.is_floating_point():
        got = f"{weight.dtype} tensor of shape {list(weight.shape)}" if isinstance(weight, Tensor) else type(weight)
        raise ValueError(f"weight: expected a 2-D floating-point tensor [out, in], got {got}")
    w = weight.detach().to(torch.float16)  # the official path only ever sees FP16 checkpoints
    if not torch.isfinite(w).all():
        raise ValueError("weight: expected finite values within the FP16 range (|w| <= 65504), got inf/NaN "
                         "after rounding to FP16")
    scale = w.abs().amax(dim=-1) / qm  # [out], FP16 arithmetic as in the official code
    q = torch.round(w / scale[:, None])  # [out, in], FP16; NaN/inf only where scale == 0 or underflows
    q = torch.where(scale[:, None] == 0, 0.0, q.clamp(-qm, qm))
    return q.to(torch.int8), scale


def dequantize_weight(q: Tensor, scale: Tensor) -> Tensor:
    """Ŵ = q · scale in FP32, where every product is exact (≤ 8 bits times 11 bits), ``[out, in]``."""
    return q.to(torch.float32) * scale.to(torch.float32)[:, None]


def pack_int4(q: Tensor) -> Tensor:
    """Two INT4 values per byte, even column in the high nibble: int8 ``[out, in]`` → int8 ``[out, in/2]``."""
    if not isinstance(q, Tensor) or q.dim() != 2 or q.dtype != torch.int8:
        got = f"{q.dtype} tensor of shape {list(q.shape)}" if isinstance(q, Tensor) else type(q)
        raise ValueError(f"q: expected a 2-D int8 tensor [out, in], got {got}")
    if q.shape[1] % 2:
        raise ValueError(f"q: INT4 packing needs an even number of columns, got {q.shape[1]}")
    if q.numel() and (q.min() < -8 or q.max() > 7):
        raise ValueError(f"q: INT4 values must lie in [-8, 7], got range [{int(q.min())}, {int(q.max())}]")
    pairs = q.view(q.shape[0], -1, 2)  # [out, in/2, 2]: (even, odd) columns
    return (pairs[..., 0] << 4) | (pairs[..., 1] & 0x0F)  # int8: the shift wraps exactly as the CUDA kernel's


def unpack_int4(packed: Tensor) -> Tensor:
    """Inverse of ``pack_int4``, sign-extending each nibble: int8 ``[out, in/2]`` → int8 ``[out, in]``."""
    if not isinstance(packed, Tensor) or packed.dim() != 2 or packed.dtype != torch.int8:
        got = f"{packed.dtype} tensor of shape {list(packed.shape)}" if isinstance(packed, Tensor) else type(packed)
        raise ValueError(f"packed: expected a 2-D int8 tensor [out, in/2], got {got}")
    high = packed >> 4  # arithmetic shift: sign-extends the high nibble
    low = (packed << 4) >> 4  # move the low nibble up, then sign-extend it back down
    return torch.stack((high, low), dim=-1).view(packed.shape[0], -1)  # [out, in/2, 2] -> [out, in]
