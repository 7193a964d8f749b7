"""The stability lab's measurements (notebooks 04 and 05), one concept per file.

``init_stds`` (DeepNorm's initialization table, expected vs measured) · ``grad_scale`` (per-layer gradient norms at
initialization under the four normalization schemes) · ``attention_logits`` (the largest attention logit per layer,
read with hooks while training) · ``lr_sweep`` (grids of training runs: scheme × depth × learning rate × seed) ·
``lr_sensitivity`` (reading a sweep: curves, usable ranges, margins, the lesson line) · ``clipping`` (how often the
global clip fires and whom it shrinks) · ``adam_invariance`` (why Adam undoes a constant gradient scale) ·
``fp16_overflow`` (attention scores in fp16 with and without query-key layer scaling) · ``diagrams``. The course's
sweeps are named in ``glm_mini.experiments``.
"""

from .attention_logits import AttentionLogitProbe, max_attention_logit, read_attention_logits
from .fp16_overflow import FP16_MAX, attention_overflow, overflow_sweep
from .grad_scale import layer_grad_norms_at_init
from .init_stds import expected_init_stds, measured_init_stds

__all__ = ["FP16_MAX", "AttentionLogitProbe", "attention_overflow", "expected_init_stds", "layer_grad_norms_at_init",
           "max_attention_logit", "measured_init_stds", "overflow_sweep", "read_attention_logits"]
