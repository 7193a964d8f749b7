"""Checks for notebook 06's exercises: the loss-mask-weighted loss, clipping by the total norm, one training step.

How it works
------------
Each ``check_*`` builds seeded cases (several sizes and one edge case) and compares the student's function with the
package's through ``run_check``:

- Exercise 6.1 ``check_masked_loss``: ``fn(logits, targets, loss_mask)`` against
  ``glm_mini.train.masked_cross_entropy``; a mismatch prints each row's share of the expected loss (its masked
  tokens' losses over *all* masked tokens), which shows a per-row mean or an unmasked mean for what it is.
- Exercise 6.2 ``check_clip_gradients``: ``fn(grads, max_norm)`` against ``glm_mini.training.grad_norms.clip_gradients``
  applied to parameters holding those gradients.
- Exercise 6.3 ``check_train_step``: ``fn(model, optimizer, batch, lr, max_norm) -> loss`` for one optimizer step of
  ``glm_mini.train``'s loop (fp32): set the learning rate, forward, masked loss, clear the old gradients, backward,
  clip the total norm, AdamW step. ``reference_train_step`` composes the loop's own functions (``forward_loss``,
  ``grad_norms``, ``clip_gradients``); ``tests/test_exercises_nb06.py`` checks it against a real ``train()`` step.
  Each case runs the step *several times in a row* on a seeded nano model, because one AdamW step hides two
  mistakes: Adam's first update is g/|g| per weight, the same with or without clipping, and a missing
  ``zero_grad`` only shows on the second step. The optimizer starts with lr 0, so a step that never sets the
  learning rate changes nothing and fails. The check compares every step's loss and every parameter afterwards.
"""

from __future__ import annotations

import math
import random

import torch
from torch import nn

from glm_mini.config import PRESETS
from glm_mini.exercises.harness import Case, run_check
from glm_mini.model import GLM
from glm_mini.objective import ObjectiveConfig, sample_batch
from glm_mini.special_tokens import SpecialTokens
from glm_mini.train import forward_loss, masked_cross_entropy
from glm_mini.training.grad_norms import clip_gradients, grad_norms
from glm_mini.training.optimizer import build_adamw

_SPECIAL = SpecialTokens(mask=1000, gmask=1001, smask=1002, eod=1003, sop=1004, eop=1005, eos=2, pad=0)


def loss_by_row(logits: torch.Tensor, targets: torch.Tensor, loss_mask: torch.Tensor) -> dict[str, float]:
    """The expected loss as a sum of each row's share: (Σ of the row's masked token losses) / (all masked tokens)."""
    per_token = torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), targets, reduction="none")  # [b, s]
    total = int(loss_mask.sum())
    return {f"row {r} ({int(m.sum())} loss tokens)": float((per_token[r] * m).sum()) / total
            for r, m in enumerate(loss_mask)}


def check_masked_loss(student_fn) -> bool:
    """Exercise 6.1: ``student_fn(logits [b, s, V], targets [b, s], loss_mask [b, s] bool)`` → scalar loss."""
    g = torch.Generator().manual_seed(62)
    cases = []
    for label, (b, s, v) in (("one row", (1, 6, 11)), ("batch of 3", (3, 9, 17)), ("wide vocab", (2, 5, 100))):
        mask = torch.rand(b, s, generator=g) < 0.4
        mask[0, -1] = True  # at least one position with a loss
        cases.append(Case(label, (torch.randn(b, s, v, generator=g), torch.randint(0, v, (b, s), generator=g), mask)))
    one = torch.zeros(2, 4, dtype=torch.bool)
    one[1, 2] = True
    cases.append(Case("edge: a single loss position", (torch.randn(2, 4, 7, generator=g),
                                                       torch.randint(0, 7, (2, 4), generator=g), one)))
    return run_check("Exercise 6.1", student_fn, masked_cross_entropy, cases, rtol=1e-5, atol=1e-6,
                     breakdown=loss_by_row)


def clip_reference(grads: list[torch.Tensor], max_norm: float) -> list[torch.Tensor]:
    """The package's clipping, applied to parameters whose gradients are ``grads``; returns the clipped copies."""
    params = nn.ParameterList(nn.Parameter(torch.zeros_like(grad)) for grad in grads)
    for p, grad in zip(params, grads):
        p.grad = grad.clone()
    total = math.sqrt(sum(float(grad.pow(2).sum()) for grad in grads))
    clip_gradients(params, max_norm, total)
    return [p.grad for p in params]


def check_clip_gradients(student_fn) -> bool:
    """Exercise 6.2: ``student_fn(grads: list[Tensor], max_norm)`` → the gradients scaled to total norm ≤ max."""
    g = torch.Generator().manual_seed(63)
    cases = [Case("norm above the limit", ([torch.randn(4, 3, generator=g) * 5, torch.randn(7, generator=g)], 1.0)),
             Case("norm below the limit: unchanged", ([torch.randn(3, generator=g) * 0.01], 1.0)),
             Case("many tensors", ([torch.randn(5, 5, generator=g) for _ in range(4)], 0.5)),
             Case("edge: all zero", ([torch.zeros(3, 2)], 1.0))]
    return run_check("Exercise 6.2", student_fn, clip_reference, cases, rtol=1e-5, atol=1e-7)


def reference_train_step(model: GLM, optimizer: torch.optim.Optimizer, batch: dict[str, torch.Tensor], lr: float,
                         max_norm: float) -> float:
    """One fp32 step of ``glm_mini.train``'s loop, from the loop's own functions; returns the loss before the step."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss = forward_loss(model, batch, "fp32", torch.device("cpu"))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    clip_gradients(model, max_norm, grad_norms(model)["total"])
    optimizer.step()
    return float(loss.detach())


def _batches(seed: int, n: int, batch_size: int, seq_len: int) -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    return [sample_batch([torch.randint(3, 1000, (seq_len,), generator=gen) for _ in range(batch_size)], seq_len,
                         _SPECIAL, rng, ObjectiveConfig()) for _ in range(n)]


def _after_steps(step_fn, seed: int, lrs: list[float], max_norm: float, egs_alpha: float) -> dict:
    """Build a seeded nano GLM and AdamW (lr 0), run ``step_fn`` once per learning rate, return losses and weights."""
    config = PRESETS["nano"].replace(embedding_gradient_shrink_alpha=egs_alpha)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GLM(config).train()
    optimizer = build_adamw(model, lr=0.0)
    losses = [step_fn(model, optimizer, batch, lr, max_norm) for lr, batch in
              zip(lrs, _batches(seed, len(lrs), batch_size=2, seq_len=32))]
    return {"losses": [float(x) for x in losses],
            "parameters": {name: p.detach().clone() for name, p in model.named_parameters()}}


def check_train_step(student_fn) -> bool:
    """Exercise 6.3: ``student_fn(model, optimizer, batch, lr, max_norm) -> float`` (the loss before the update)."""
    cases = [Case("three steps, warm-up learning rates", (1, [1e-3, 2e-3, 3e-3], 1.0, 0.1)),
             Case("three steps, gradients clipped hard", (2, [3e-3, 3e-3, 3e-3], 0.05, 0.1)),
             Case("edge: a learning rate of 0 changes nothing", (3, [0.0, 0.0], 1.0, 1.0))]
    if not callable(student_fn):
        raise TypeError(f"Exercise 6.3: student_fn must be a function, got {type(student_fn).__name__}")
    return run_check("Exercise 6.3", lambda *args: _after_steps(student_fn, *args),
                     lambda *args: _after_steps(reference_train_step, *args), cases, rtol=1e-4, atol=3e-5)
