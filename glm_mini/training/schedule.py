"""The step-indexed schedules of GLM-130B's recipe: learning rate, batch-size ramp-up and the EGS α ramp.

How it works
------------
Every schedule is a pure function of the optimizer step ``t`` (1, 2, ..., T), so a resumed run recomputes it from
the step alone and nothing but the step needs saving (docs/glm130b_facts.md §2.5, §2.6).

Learning rate: linear warm-up over ``W`` steps, then cosine decay to ``r = 10%`` of the peak at step ``T``
(paper §2.3, Tab.11: warm-up from ~0 over the first 0.5% of samples, cosine to lr/10):

    lr(t) = η · t / W                                                  t ≤ W
    lr(t) = η · (r + (1 − r) · ½ · (1 + cos(π · (t − W) / (T − W))))   W < t ≤ T

Batch size: GLM-130B grows the global batch from 192 to 4224 in increments of 24 over the first 2.5% of samples
(Megatron ``--rampup-batch-size 192 24 5493164``). ``batch_size_at`` grows linearly from ``start`` to ``full`` in
whole ``increment`` steps over ``R`` optimizer steps:

    B(t) = min(full, start + increment · ⌊(t − 1) · n / R⌋),   n = (full − start) / increment

Embedding gradient shrink: the official code can ramp α linearly to 1 between two steps
(``--shrink-embedding-gradient-steps x1 x2``, LargeScale ``megatron/model/language_model.py``); the log shows
GLM-130B used α = 0.1 first, then ramps to 1 and back (docs/glm130b_facts.md §2.6):

    α(t) = α₀                                   t ≤ x1
    α(t) = α₀ + (1 − α₀) · (t − x1) / (x2 − x1)  x1 < t < x2
    α(t) = 1                                    t ≥ x2
"""

from __future__ import annotations

import math


def lr_at(step: int, peak_lr: float, warmup_steps: int, max_steps: int, min_ratio: float = 0.1) -> float:
    """Learning rate at optimizer step ``step`` (1-based): linear warm-up, then cosine to ``min_ratio · peak_lr``."""
    if not 1 <= step <= max_steps:
        raise ValueError(f"step must be in [1, max_steps={max_steps}], got {step}")
    if not 0 <= warmup_steps <= max_steps:
        raise ValueError(f"warmup_steps must be in [0, max_steps={max_steps}], got {warmup_steps}")
    if step <= warmup_steps:
        return peak_lr * step / warmup_steps
    if max_steps == warmup_steps:
        return peak_lr
    progress = (step - warmup_steps) / (max_steps - warmup_steps)  # (0, 1]
    return peak_lr * (min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress)))


def batch_size_at(step: int, full: int, start: int, rampup_steps: int, increment: int = 1) -> int:
    """Global batch size at step ``step`` (1-based) under a linear ramp from ``start`` to ``full``."""
    if not 1 <= start <= full:
        raise ValueError(f"start must be in [1, full={full}], got {start}")
    if increment < 1 or (full - start) % increment:
        raise ValueError(f"increment must be >= 1 and divide full - start = {full - start}, got {increment}")
    if rampup_steps <= 0 or start == full:
        return full
    increments = (full - start) // increment
    done = (step - 1) * increments // rampup_steps
    return min(full, start + increment * done)


def egs_alpha_at(step: int, alpha: float, ramp: tuple[int, int] | None) -> float:
    """EGS α at step ``step``: ``alpha`` until ``ramp[0]``, linear to 1 at ``ramp[1]``; constant without a ramp."""
    if ramp is None:
        return alpha
    x1, x2 = ramp
    if not 0 <= x1 < x2:
        raise ValueError(f"egs ramp must be two steps 0 <= x1 < x2, got {ramp}")
    if step <= x1:
        return alpha
    if step >= x2:
        return 1.0
    return alpha + (1.0 - alpha) * (step - x1) / (x2 - x1)
