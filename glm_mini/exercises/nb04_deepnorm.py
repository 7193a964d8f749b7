"""Checks for notebook 04's exercises: DeepNorm's constants, its initialization table, the usable learning rates.

How it works
------------
Each ``check_*`` calls the student's function and the package's on the same seeded inputs through ``run_check``
and prints PASS or the first mismatch; a mismatch of the constants also prints the numbers behind them (2N, α, β)
beside DeepNet's decoder values, the usual mix-up. References: ``GLMConfig.residual_alpha`` / ``deepnorm_beta``
(α = (2N)^½, β = (2N)^-½, docs/glm130b_facts.md §1.6), ``glm_mini.stability.expected_init_stds`` (Xavier std
gain·√(2/(fan_in+fan_out)) with gain β on v, dense and the FFN) and ``glm_mini.stability.lr_sensitivity.usable_range``
(the learning rates where every seed's final loss is at least δ under the unigram loss).
"""

from __future__ import annotations

import math
import random

from glm_mini.config import PRESETS, GLMConfig
from glm_mini.exercises.harness import Case, run_check
from glm_mini.stability import expected_init_stds
from glm_mini.stability.lr_sensitivity import usable_range


def deepnorm_constants(num_layers: int) -> tuple[float, float]:
    """(α, β) of a ``num_layers``-layer GLM-130B-style model, read from ``GLMConfig``."""
    config = GLMConfig(num_layers=num_layers)
    return config.residual_alpha, config.deepnorm_beta


def constants_steps(num_layers: int) -> list[tuple[str, float]]:
    """The numbers behind (α, β) at ``num_layers``, and DeepNet's decoder values beside them (the usual mix-up)."""
    alpha, beta = deepnorm_constants(num_layers)
    return [("N (layers)", num_layers), ("2N", 2 * num_layers), ("alpha, GLM-130B", alpha), ("beta, GLM-130B", beta),
            ("alpha, DeepNet decoder (not asked)", (2 * num_layers) ** 0.25),
            ("beta, DeepNet decoder (not asked)", (8 * num_layers) ** -0.25)]


def check_deepnorm_constants(student_fn) -> bool:
    """Exercise 4.1: ``student_fn(num_layers) -> (alpha, beta)``; a mismatch prints ``constants_steps``."""
    cases = [Case(f"N = {n}", (n,)) for n in (2, 24, 70)] + [Case("edge: N = 1", (1,))]
    return run_check("Exercise 4.1", student_fn, deepnorm_constants, cases, rtol=1e-9, breakdown=constants_steps)


def check_init_stds(student_fn) -> bool:
    """Exercise 4.2: ``student_fn(config) -> {"qk", "v", "dense", "ffn_x1", "ffn_x2", "ffn_down", "embedding": std}``
    for a DeepNorm config."""
    cases = [Case("nano (2 layers, h=64)", (PRESETS["nano"],)),
             Case("48 thin layers", (GLMConfig(num_layers=48, hidden_size=32, num_attention_heads=2,
                                                inner_hidden_size=64),)),
             Case("GLM-130B", (PRESETS["glm-130b"],)),
             Case("edge: one layer, vocabulary 2", (GLMConfig(num_layers=1, vocab_size=2),))]
    return run_check("Exercise 4.2", student_fn, expected_init_stds, cases, rtol=1e-9)


def check_usable_range(student_fn) -> bool:
    """Exercise 4.3: ``student_fn(losses_by_lr, unigram, trained_below) -> [usable learning rates, ascending]``."""
    rng = random.Random(43)
    cases = []
    for label, seeds, unigram in [("7 rates, 2 seeds", 2, 4.7), ("5 rates, 3 seeds, unigram 5.0", 3, 5.0)]:
        lrs = [3e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 3e-2][:7 if seeds == 2 else 5]
        losses = {}
        for lr in reversed(lrs):  # dict in descending order: the answer must still be ascending
            best = 3.2 + 0.3 * abs(math.log10(lr / 2e-3))
            losses[lr] = [unigram if lr >= 5e-3 and rng.random() < 0.6 else best + rng.uniform(-0.3, 0.3)
                          for _ in range(seeds)]
        cases.append(Case(label, (losses, unigram, 0.3)))
    cases.append(Case("edge: a NaN seed makes its rate unusable; one good seed is not enough",
                      ({1e-3: [4.0, float("nan")], 3e-3: [4.1, 4.25], 1e-2: [3.1, 4.6]}, 4.7, 0.3)))
    return run_check("Exercise 4.3", student_fn, usable_range, cases)
