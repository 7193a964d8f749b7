"""Checks for notebook 00's exercise: GLM-130B's parameter count from its configuration.

How it works
------------
``check_parameter_count(fn)`` runs the student's ``fn(config) -> int`` against ``GLMConfig.num_parameters`` (the
analytic count with the tied head, docs/glm130b_facts.md §1.1, which ``tests/test_config.py`` pins to the module) on
the presets and on a one-layer edge case. The answer is one number, so a mismatch prints the expected count term by
term, read off the model built on the ``meta`` device (``glm_mini.architecture.parameter_groups``): the student sees
which term (the embedding, QKV's biases, the second GeGLU half, the final LayerNorm...) they left out.
"""

from __future__ import annotations

import torch

from glm_mini.architecture import parameter_groups
from glm_mini.config import PRESETS, GLMConfig
from glm_mini.exercises.harness import Case, run_check
from glm_mini.model import GLM


def _count(config: GLMConfig) -> int:
    return config.num_parameters()


def count_by_component(config: GLMConfig) -> dict[str, int]:
    """The reference count term by term, from the module built on ``meta`` (no memory)."""
    with torch.device("meta"):
        return parameter_groups(GLM(config))


def check_parameter_count(student_fn) -> bool:
    """Exercise 0.1: ``student_fn(config: GLMConfig) -> int``, the parameters of ``GLM(config)`` (tied head)."""
    cases = [Case(name, (PRESETS[name],)) for name in ("nano", "mini", "glm-130b")]
    cases.append(Case("edge: one layer, a 3-id vocabulary", (GLMConfig(
        num_layers=1, hidden_size=8, num_attention_heads=2, inner_hidden_size=24, vocab_size=3,
        max_sequence_length=16),)))
    return run_check("Exercise 0.1", student_fn, _count, cases, breakdown=count_by_component)
