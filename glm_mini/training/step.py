"""One optimizer step of GLM-130B's recipe: the step ``glm_mini.train`` and ``scale_up.train`` both run.

How it works
------------
``next_batch`` draws step t's batch: B(t) windows of ``seq_len`` corpus tokens (the batch-size ramp-up,
``schedule.batch_size_at``) turned into GLM samples (``glm_mini.objective.sample_batch``: [MASK]/[gMASK] sequences,
MIP); it is drawn even for a step the run skips, so the data position moves on as in the official code. Then step t
(docs/glm130b_facts.md §2.1-§2.6):

1. set lr(t) on every parameter group and the EGS α(t) on the model (``schedule.py``);
2. forward and backward of the token mean of the cross-entropy over the loss mask (Part B, the [gMASK] suffix, the
   MIP answer), ×S under fp16 loss scaling, the gradients then divided by S:
       loss = Σ_i m_i · CE(logits_i, y_i) / Σ_i m_i                                    (masked_cross_entropy)
   a loss that is not finite makes the update a no-op (its gradients are not finite either), and the trainer stops
   the run after writing the step's row (``NonFiniteLoss`` names the step and the metrics file): training on would
   only write NaN rows;
3. gradient norms per module group before clipping (``grad_norms.py``) and the spike check (``spikes.py``);
4. unless the update is dropped (a spike under ``spike_action="skip"``, or non-finite gradients without a loss
   scaler), clip the total norm at ``clip_grad`` and take the optimizer step (under fp16 the scaler skips a step
   whose gradients overflowed); then the update norms (``update_norms.py``);
5. the step's ``metrics.jsonl`` row (``metrics.py``).

Where the model runs is the only difference between the trainers, so it is an argument: a ``StepModel`` does the
forward/backward, the norms, the clipping and the snapshot. ``LocalModel`` is one ``glm_mini.GLM`` in this process;
``scale_up.train`` passes its pipeline of tensor-parallel stages over data-parallel replicas, whose norms are summed
over the ranks. The order of the operations (and so of the random draws, dropout included) is the single-process
trainer's, so its golden loss curve is unchanged.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from glm_mini.training.grad_norms import clip_gradients, grad_norms
from glm_mini.training.precision import autocast
from glm_mini.training.schedule import batch_size_at, egs_alpha_at, lr_at
from glm_mini.training.spikes import SpikeDetector
from glm_mini.training.update_norms import snapshot, update_norms

if TYPE_CHECKING:
    from glm_mini.model import GLM
    from glm_mini.train import TrainConfig


class NonFiniteLoss(ValueError):
    """The loss of a training step is NaN or infinite: the run stops at that step (the message names it)."""

    def __init__(self, step: int, loss: float, metrics_path=None):
        self.step, self.loss = step, loss
        written = f" after writing its row to {metrics_path}" if metrics_path is not None else ""
        super().__init__(f"step {step}: the training loss is {loss} (not finite), so the run stopped here{written} "
                         "and saved no checkpoint of it; lower --lr, check the data, or resume from an earlier "
                         "checkpoint with --skip-steps covering this step")


def masked_cross_entropy(logits: Tensor, targets: Tensor, loss_mask: Tensor, total_tokens: int | None = None) -> Tensor:
    """Token mean of the cross-entropy over positions where ``loss_mask`` is True (in fp32).

    With ``total_tokens`` the sum is divided by that count instead of this batch's: a micro-batch's share of the loss
    of a whole batch holding ``total_tokens`` loss tokens, so the micro-batch losses sum to the batch's.
    """
    selected = loss_mask.reshape(-1)  # [b*s]
    flat = logits.reshape(-1, logits.shape[-1])[selected]  # [b, s, V] -> [n_loss_tokens, V]
    if total_tokens is None:
        return F.cross_entropy(flat.float(), targets.reshape(-1)[selected])
    return F.cross_entropy(flat.float(), targets.reshape(-1)[selected], reduction="sum") / total_tokens


def forward_loss(model: GLM, batch: dict[str, Tensor], precision: str, device: torch.device) -> Tensor:
    with autocast(precision, device):
        logits = model(batch["input_ids"], position_ids=batch["position_ids"],
                       attention_mask=batch["attention_mask"]).logits  # [b, s, V]
    return masked_cross_entropy(logits, batch["targets"], batch["loss_mask"])


def next_batch(step: int, cfg: TrainConfig, data, cursor, objective_rng, objective) -> dict[str, Tensor]:
    """Step ``step``'s batch of B(step) GLM samples drawn from ``data.train`` at ``cursor`` with ``objective_rng``."""
    from glm_mini.objective import sample_batch
    from glm_mini.training.data import window

    b = batch_size_at(step, cfg.batch_size, cfg.batch_start, cfg.rampup)
    windows = [window(data.train, i) for i in cursor.next_indices(b)]
    return sample_batch(windows, cfg.seq_len, data.tokenizer.special, objective_rng, objective, data.mip_pairs)


class StepModel(Protocol):
    """What a training step needs from wherever the model runs."""

    def set_egs_alpha(self, alpha: float) -> None: ...
    def forward_backward(self, batch: dict[str, Tensor], optimizer, scaler) -> float: ...
    def grad_norms(self) -> dict[str, float]: ...
    def clip(self, max_norm: float, total_norm: float) -> None: ...
    def snapshot(self) -> dict[str, Tensor]: ...
    def update_norms(self, before: dict[str, Tensor]) -> dict[str, float]: ...


class LocalModel:
    """A ``StepModel`` for one ``glm_mini.GLM`` in this process, under ``precision`` on ``device``."""

    def __init__(self, model: GLM, precision: str, device: torch.device):
        self.model, self.precision, self.device = model, precision, device

    def set_egs_alpha(self, alpha: float) -> None:
        if alpha != self.model.config.embedding_gradient_shrink_alpha:
            self.model.config = self.model.config.replace(embedding_gradient_shrink_alpha=alpha)

    def forward_backward(self, batch, optimizer, scaler) -> float:
        loss = forward_loss(self.model, batch, self.precision, self.device)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        return float(loss.detach())

    def grad_norms(self) -> dict[str, float]:
        return grad_norms(self.model)

    def clip(self, max_norm: float, total_norm: float) -> None:
        clip_gradients(self.model, max_norm, total_norm)

    def snapshot(self) -> dict[str, Tensor]:
        return snapshot(self.model)

    def update_norms(self, before: dict[str, Tensor]) -> dict[str, float]:
        return update_norms(self.model, before)


def train_step(model: StepModel, optimizer, scaler: torch.amp.GradScaler, detector: SpikeDetector, cfg: TrainConfig,
               step: int, batch: dict[str, Tensor], base_alpha: float, started: float) -> dict:
    """Run optimizer step ``step`` on ``batch`` (steps 1-5 above) and return its metrics row.

    ``base_alpha``: the model config's EGS α before any ramp; ``started``: ``time.perf_counter()`` when the step
    began (its batch drawn), for the row's ``seconds``.
    """
    lr = lr_at(step, cfg.lr, cfg.warmup, cfg.max_steps, cfg.min_lr_ratio)
    for group in optimizer.param_groups:
        group["lr"] = lr
    alpha = egs_alpha_at(step, base_alpha, cfg.egs_ramp)
    model.set_egs_alpha(alpha)

    loss_value = model.forward_backward(batch, optimizer, scaler)
    scaler.unscale_(optimizer)  # gradients divided by S (a no-op unless fp16)
    norms = model.grad_norms()
    spike = detector.update(loss_value)
    finite = math.isfinite(norms["total"])
    skipped = (spike and cfg.spike_action == "skip") or (not finite and not scaler.is_enabled())
    before = model.snapshot()
    if not skipped:
        if finite:
            model.clip(cfg.clip_grad, norms["total"])
        scaler.step(optimizer)  # under fp16, skips the step if a gradient is inf/NaN
    scaler.update()
    updates = model.update_norms(before)
    b = len(batch["input_ids"])
    return {"step": step, "loss": loss_value, "lr": lr, "batch_size": b, "tokens": b * cfg.seq_len,
            "loss_tokens": int(batch["loss_mask"].sum()), "seconds": time.perf_counter() - started,
            "grad_norm": norms["total"], "grad_norm_embedding": norms["embedding"], "grad_norm_rest": norms["rest"],
            **{f"grad_norm_{k}": v for k, v in norms.items() if k not in ("total", "embedding", "rest")},
            "update_norm": updates["total"], "update_ratio": updates["ratio"],
            **{f"update_norm_{k}": v for k, v in updates.items() if k not in ("total", "ratio")},
            "egs_alpha": alpha, "spike": spike, "skipped": skipped, "loss_scale": float(scaler.get_scale())}
