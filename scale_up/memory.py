"""Weight memory of a GLM in the official serving formats: FP16, and weight-only INT8/INT4.

How it works
------------
Only the four linear weights of each layer are quantized (``query_key_value``, ``attention.dense``,
``dense_h_to_4h``, ``dense_4h_to_h``), with one FP16 scale per output row; the embedding (tied head), every
LayerNorm and every bias stay FP16 (THUDM/GLM-130B ``quantization/``; docs/glm130b_facts.md §4.1-4.4):

    bytes(bits) = 2·(P − L) + L·bits/8 + 2·R·[bits < 16]

with P all parameters, L the quantized weights and R their output rows: each quantized ``[out, in]`` weight is
``quantization.measure.stored_bytes`` (the one per-weight formula the planner uses too), the rest FP16.
"""

from torch import nn

from .quantization.measure import FORMAT_OF_BITS, stored_bytes

QUANTIZED_WEIGHTS = ("query_key_value.weight", "attention.dense.weight", "dense_h_to_4h.weight",
                     "dense_4h_to_h.weight")


def weight_bytes(model: nn.Module, bits: int = 16) -> int:
    """Bytes of ``model``'s weights with its linear weights at ``bits`` (16, 8 or 4); works on ``meta`` models."""
    if bits not in FORMAT_OF_BITS:
        raise ValueError(f"bits: expected 16, 8 or 4, got {bits}")
    total = 0
    for name, p in model.named_parameters():
        if name.endswith(QUANTIZED_WEIGHTS):
            total += stored_bytes(p.shape[0], p.shape[1], FORMAT_OF_BITS[bits])
        else:
            total += 2 * p.numel()
    return total
