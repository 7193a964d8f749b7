"""Checks for notebook 06's exercises: the learning-rate schedule, the loss-mask-weighted loss, gradient clipping.

Each ``check_*`` builds seeded cases (several sizes and one edge case) and compares the student's function with the
package's (``glm_mini.training.schedule.lr_at``, ``glm_mini.train.masked_cross_entropy``,
``glm_mini.training.grad_norms.clip_gradients``) through ``run_check``.
"""

from __future__ import annotations

import math
import random

import torch
from torch import nn

from glm_mini.exercises.harness import Case, run_check
from glm_mini.train import masked_cross_entropy
from glm_mini.training.grad_norms import clip_gradients
from glm_mini.training.schedule import lr_at


def check_lr_schedule(student_fn) -> bool:
    """Exercise 6.1: ``student_fn(step, peak_lr, warmup_steps, max_steps, min_ratio)`` → the learning rate."""
    rng = random.Random(61)
    cases = [Case("first warm-up step", (1, 1e-3, 10, 100, 0.1)),
             Case("end of warm-up", (10, 1e-3, 10, 100, 0.1)),
             Case("last step: the floor", (100, 1e-3, 10, 100, 0.1)),
             Case("no warm-up", (1, 3e-4, 0, 50, 0.1))]
    for k in range(4):
        total = rng.randint(20, 400)
        warmup = rng.randint(1, total // 4)
        cases.append(Case(f"random step {k}", (rng.randint(1, total), rng.choice([1e-3, 8e-5]), warmup, total,
                                               rng.choice([0.1, 0.0]))))
    return run_check("Exercise 6.1", student_fn, lr_at, cases, rtol=1e-9, atol=1e-15)


def check_masked_loss(student_fn) -> bool:
    """Exercise 6.2: ``student_fn(logits [b, s, V], targets [b, s], loss_mask [b, s] bool)`` → scalar loss."""
    g = torch.Generator().manual_seed(62)
    cases = []
    for label, (b, s, v) in (("one row", (1, 6, 11)), ("batch of 3", (3, 9, 17)), ("wide vocab", (2, 5, 100))):
        mask = torch.rand(b, s, generator=g) < 0.4
        mask[0, -1] = True  # at least one position with a loss
        cases.append(Case(label, (torch.randn(b, s, v, generator=g), torch.randint(0, v, (b, s), generator=g), mask)))
    one = torch.zeros(2, 4, dtype=torch.bool)
    one[1, 2] = True
    cases.append(Case("a single loss position", (torch.randn(2, 4, 7, generator=g),
                                                 torch.randint(0, 7, (2, 4), generator=g), one)))
    return run_check("Exercise 6.2", student_fn, masked_cross_entropy, cases, rtol=1e-5, atol=1e-6)


def _clip_reference(grads: list[torch.Tensor], max_norm: float) -> list[torch.Tensor]:
    """The package's clipping, applied to parameters whose gradients are ``grads``; returns the clipped copies."""
    params = nn.ParameterList(nn.Parameter(torch.zeros_like(grad)) for grad in grads)
    for p, grad in zip(params, grads):
        p.grad = grad.clone()
    total = math.sqrt(sum(float(grad.pow(2).sum()) for grad in grads))
    clip_gradients(params, max_norm, total)
    return [p.grad for p in params]


def check_clip_gradients(student_fn) -> bool:
    """Exercise 6.3: ``student_fn(grads: list[Tensor], max_norm)`` → the gradients scaled to total norm ≤ max_norm."""
    g = torch.Generator().manual_seed(63)
    cases = [Case("norm above the limit", ([torch.randn(4, 3, generator=g) * 5, torch.randn(7, generator=g)], 1.0)),
             Case("norm below the limit: unchanged", ([torch.randn(3, generator=g) * 0.01], 1.0)),
             Case("many tensors", ([torch.randn(5, 5, generator=g) for _ in range(4)], 0.5)),
             Case("all zero", ([torch.zeros(3, 2)], 1.0))]
    return run_check("Exercise 6.3", student_fn, _clip_reference, cases, rtol=1e-5, atol=1e-7)
