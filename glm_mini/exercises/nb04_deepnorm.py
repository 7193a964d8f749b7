"""Checks for notebook 04's exercises: DeepNorm's constants, its initialization table, divergence events.

How it works
------------
Each ``check_*`` calls the student's function and the package's on the same seeded inputs through ``run_check``
and prints PASS or the first mismatch. References: ``GLMConfig.residual_alpha`` / ``deepnorm_beta``
(α = (2N)^½, β = (2N)^-½, docs/glm130b_facts.md §1.6), ``glm_mini.stability.expected_init_stds`` (Xavier std
gain·√(2/(fan_in+fan_out)) with gain β on v, dense and the FFN) and ``glm_mini.experiments.divergence_steps``
(ℓ_t not finite or ℓ_t > ρ·min_{t'≤t} ℓ_{t'}).
"""

from __future__ import annotations

import math
import random

from glm_mini.config import PRESETS, GLMConfig
from glm_mini.exercises.harness import Case, run_check
from glm_mini.experiments import divergence_steps
from glm_mini.stability import expected_init_stds


def deepnorm_constants(num_layers: int) -> tuple[float, float]:
    """(α, β) of a ``num_layers``-layer GLM-130B-style model, read from ``GLMConfig``."""
    config = GLMConfig(num_layers=num_layers)
    return config.residual_alpha, config.deepnorm_beta


def check_deepnorm_constants(student_fn) -> bool:
    """Exercise 4.1: ``student_fn(num_layers) -> (alpha, beta)``."""
    cases = [Case(f"N = {n}", (n,)) for n in (2, 24, 70)] + [Case("edge: N = 1", (1,))]
    return run_check("Exercise 4.1", student_fn, deepnorm_constants, cases, rtol=1e-9)


def check_init_stds(student_fn) -> bool:
    """Exercise 4.2: ``student_fn(config) -> {"qk", "v", "dense", "ffn_x1", "ffn_x2", "ffn_down", "embedding": std}``
    for a DeepNorm config."""
    cases = [Case("nano (2 layers, h=64)", (PRESETS["nano"],)),
             Case("48 thin layers", (GLMConfig(num_layers=48, hidden_size=32, num_attention_heads=2,
                                                inner_hidden_size=64),)),
             Case("GLM-130B", (PRESETS["glm-130b"],)),
             Case("edge: one layer, vocabulary 2", (GLMConfig(num_layers=1, vocab_size=2),))]
    return run_check("Exercise 4.2", student_fn, expected_init_stds, cases, rtol=1e-9)


def check_divergence_steps(student_fn) -> bool:
    """Exercise 4.3: ``student_fn(steps, losses, factor) -> [steps that are divergence events]``."""
    rng = random.Random(43)
    cases = []
    for label, n, factor in [("60 noisy steps, factor 1.5", 60, 1.5), ("30 steps, factor 1.2", 30, 1.2)]:
        losses = [7.0 * math.exp(-t / 15) + 2.0 + rng.uniform(-0.3, 0.3) for t in range(n)]
        losses[n // 2] *= 2.5  # one jump well above the running minimum
        cases.append(Case(label, (list(range(1, n + 1)), losses, factor)))
    cases.append(Case("edge: NaN and inf are events, the minimum ignores them",
                      ([1, 2, 3, 4, 5], [6.0, float("nan"), 3.0, float("inf"), 4.4], 1.5)))
    return run_check("Exercise 4.3", student_fn, divergence_steps, cases)
