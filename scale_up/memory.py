"""Weight memory of a GLM in the official serving formats: FP16, and weight-only INT8/INT4.

How it works
------------
Only the four linear weights of each layer are quantized (``query_key_value``, ``attention.dense``,
``dense_h_to_4h``, ``dense_4h_to_h``), with one FP16 scale per output row; the embedding (tied head), every
LayerNorm and every bias stay FP16 (THUDM/GLM-130B ``quantization/``; docs/glm130b_facts.md §4.1-4.4):

    bytes(bits) = 2·(P − L) + L·bits/8 + 2·R·[bits < 16]

with P all parameters, L the quantized weights and R their output rows.
"""

from torch import nn

QUANTIZED_WEIGHTS = ("query_key_value.weight", "attention.dense.weight", "dense_h_to_4h.weight",
                     "dense_4h_to_h.weight")


def weight_bytes(model: nn.Module, bits: int = 16) -> int:
    """Bytes of ``model``'s weights with its linear weights at ``bits`` (16, 8 or 4); works on ``meta`` models."""
    if bits not in (16, 8, 4):
        raise ValueError(f"bits: expected 16, 8 or 4, got {bits}")
    total = quantized = rows = 0
    for name, p in model.named_parameters():
        total += p.numel()
        if name.endswith(QUANTIZED_WEIGHTS):
            quantized += p.numel()
            rows += p.shape[0]
    scales = 2 * rows if bits < 16 else 0
    return 2 * (total - quantized) + quantized * bits // 8 + scales
