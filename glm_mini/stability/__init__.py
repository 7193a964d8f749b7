"""The stability lab's measurements (notebooks 04 and 05), one concept per file.

``init_stds`` (DeepNorm's initialization table, expected vs measured) · ``grad_scale`` (per-layer gradient norms at
initialization under the four normalization schemes) · ``fp16_overflow`` (attention scores in fp16 with and without
query-key layer scaling). The training experiments live in ``glm_mini.experiments``.
"""

from .fp16_overflow import FP16_MAX, attention_overflow, overflow_sweep
from .grad_scale import layer_grad_norms_at_init
from .init_stds import expected_init_stds, measured_init_stds

__all__ = ["FP16_MAX", "attention_overflow", "expected_init_stds", "layer_grad_norms_at_init", "measured_init_stds",
           "overflow_sweep"]
