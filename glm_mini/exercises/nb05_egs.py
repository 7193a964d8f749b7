"""Checks for notebook 05's exercises: the embedding-gradient-shrink identity, Adam's update, counting loss spikes.

How it works
------------
Exercise 5.1 compares the forward value *and* the gradient of the student's shrink with ``shrink_gradient``
(α·x + (1 − α)·stopgrad(x): value x, gradient ×α; paper §3, docs/glm130b_facts.md §2.6): both functions are run
on the same ``x`` with the same upstream gradient u, and the pair (y, ∂(Σ y·u)/∂x) is compared. Exercise 5.2
compares the student's Adam update for a sequence of gradients with
``glm_mini.stability.adam_invariance.adam_update`` (``torch.optim.Adam`` itself); a mismatch prints the first step on
the first element, term by term (``adam_first_step``: m₁, v₁, their bias corrections, the step, and θ₁ from
``torch.optim.Adam`` beside it). Exercise 5.3 compares the steps
the student flags as spikes with the trainer's ``SpikeDetector`` (ℓ_t > ρ · median of the last w losses kept, or not
finite) run over the same losses.
"""

from __future__ import annotations

import math
import random

import torch

from glm_mini.exercises.harness import Case, run_check
from glm_mini.grad_shrink import shrink_gradient
from glm_mini.stability.adam_invariance import adam_update
from glm_mini.training.spikes import SpikeDetector


def _value_and_grad(shrink):
    def run(x: torch.Tensor, alpha: float, upstream: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.clone().requires_grad_(True)
        y = shrink(x, alpha)
        (y * upstream).sum().backward()
        return y.detach(), x.grad
    return run


def check_shrink(student_fn) -> bool:
    """Exercise 5.1: ``student_fn(x, alpha) -> y`` with y = x in value and ∂y/∂x = α."""
    gen = torch.Generator().manual_seed(51)
    cases = [Case(f"{tuple(shape)}, alpha {alpha}", (torch.randn(shape, generator=gen), alpha,
                                                     torch.randn(shape, generator=gen)))
             for shape, alpha in [((4, 8), 0.1), ((2, 3, 16), 0.5)]]
    cases.append(Case("edge: alpha = 1 (no shrink)", (torch.randn(3, 5, generator=gen), 1.0,
                                                      torch.randn(3, 5, generator=gen))))
    return run_check("Exercise 5.1", _value_and_grad(student_fn), _value_and_grad(shrink_gradient), cases,
                     rtol=1e-5, atol=1e-6)


def spike_steps(losses: list[float], factor: float = 1.5, window: int = 20) -> list[int]:
    """The 1-based steps the trainer's ``SpikeDetector`` flags over ``losses``."""
    detector = SpikeDetector(factor, window)
    return [t for t, loss in enumerate(losses, start=1) if detector.update(loss)]


def check_spike_steps(student_fn) -> bool:
    """Exercise 5.3: ``student_fn(losses, factor, window) -> [1-based steps flagged as spikes]``."""
    rng = random.Random(52)
    cases = []
    for label, n, factor, window in [("80 steps, two spikes", 80, 1.5, 20), ("40 steps, window 5", 40, 1.3, 5)]:
        losses = [5.0 * math.exp(-t / 30) + 3.0 + rng.uniform(-0.2, 0.2) for t in range(n)]
        for t in (n // 2, n // 2 + 1, n - 5):
            losses[t] *= 1.8
        cases.append(Case(label, (losses, factor, window)))
    cases.append(Case("edge: no spike before the window is full; NaN is a spike",
                      ([9.0, 1.0, 20.0, float("nan"), 1.1, 5.0], 1.5, 2)))
    return run_check("Exercise 5.3", student_fn, spike_steps, cases)


def adam_first_step(grads: torch.Tensor, lr: float, betas: tuple[float, float], eps: float) -> list[tuple[str, float]]:
    """Adam's first step on the first element of θ, written out: with g = grads[0] there,
    m₁ = (1 − β₁)·g, v₁ = (1 − β₂)·g², m̂₁ = m₁ / (1 − β₁), v̂₁ = v₁ / (1 − β₂), θ₁ = −lr·m̂₁ / (√v̂₁ + ε);
    the last line is θ₁ as ``torch.optim.Adam`` computes it, which agrees."""
    (b1, b2), g = betas, grads[0].flatten()[0].item()
    m, v = (1 - b1) * g, (1 - b2) * g * g
    m_hat, v_hat = m / (1 - b1), v / (1 - b2)
    return [("g (step 1, element 0)", g), ("m_1 = (1 - beta1) g", m), ("v_1 = (1 - beta2) g^2", v),
            ("m_hat = m_1 / (1 - beta1^1)", m_hat), ("v_hat = v_1 / (1 - beta2^1)", v_hat),
            ("theta_1 = -lr m_hat / (sqrt(v_hat) + eps)", -lr * m_hat / (math.sqrt(v_hat) + eps)),
            ("theta_1 by torch.optim.Adam", adam_update(grads[:1], lr, betas, eps).flatten()[0].item())]


def check_adam_update(student_fn) -> bool:
    """Exercise 5.2: ``student_fn(grads [T, ...], lr, betas, eps) -> θ_T − θ_0`` for Adam without weight decay; a
    mismatch prints ``adam_first_step`` of the case."""
    gen = torch.Generator().manual_seed(53)
    cases = [Case("5 steps of [4, 3], lr 1e-3", (torch.randn(5, 4, 3, generator=gen), 1e-3, (0.9, 0.95), 1e-8)),
             Case("20 steps of [6], GLM-130B's betas, lr 0.01",
                  (torch.randn(20, 6, generator=gen), 1e-2, (0.9, 0.95), 1e-8)),
             Case("edge: tiny gradients, where eps matters", (1e-9 * torch.randn(3, 5, generator=gen), 1e-3,
                                                               (0.9, 0.999), 1e-8))]
    return run_check("Exercise 5.2", student_fn, adam_update, cases, rtol=1e-4, atol=1e-9, breakdown=adam_first_step)
