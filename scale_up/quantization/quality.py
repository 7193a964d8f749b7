"""What quantization costs a trained model: validation loss, perplexity and next-token accuracy per weight format.

How it works
------------
Each format is the same trained GLM, changed from outside: ``fp32`` as trained, ``bf16`` the whole model cast,
``int8``/``int4`` the four block linears quantized in the official format by ``quantize_`` (the rest stays fp32).
The quantized layers run the ``reference`` path (dequantize, then an fp32 matmul), so the only change from ``fp32``
is the weights' format: the ``aten`` kernels would also round the activations to bf16. Each format is measured on
the same fixed validation batches of the training objective (``glm_mini.training.data.validation_batches``):

- validation loss: the trainer's masked cross-entropy, token mean over the loss mask (as ``glm_mini.train.evaluate``)
      loss = Σ_i m_i · CE(logits_i, y_i) / Σ_i m_i
  and perplexity = exp(loss);
- token accuracy: the share of the loss tokens whose most likely next token is the target,
      acc = Σ_i m_i · [argmax logits_i = y_i] / Σ_i m_i.

``chance_levels`` gives what the same two numbers are without a model: the most frequent training target's share of
the validation targets (accuracy) and the unigram cross-entropy (loss, add-one smoothed; ``unigram_cross_entropy``).

The INT4 gap of the paper's Tab. 2 is the same comparison at 130B scale (docs/glm130b_facts.md §4.5).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
from torch import nn

from .apply import quantize_

FORMATS = ("fp32", "bf16", "int8", "int4")


@dataclass(frozen=True)
class Quality:
    fmt: str
    val_loss: float
    perplexity: float
    token_accuracy: float
    tokens: int  # loss tokens both numbers are over


def as_format(model: nn.Module, fmt: str, backend: str = "auto") -> nn.Module:
    """A copy of the fp32 ``model`` in weight format ``fmt`` (one of ``FORMATS``)."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt: expected one of {FORMATS}, got {fmt!r}")
    twin = copy.deepcopy(model).eval()
    if fmt == "bf16":
        return twin.to(torch.bfloat16)
    if fmt in ("int8", "int4"):
        return quantize_(twin, int(fmt[3:]), backend)
    return twin


@torch.no_grad()
def loss_and_accuracy(model: nn.Module, batches: list[dict]) -> tuple[float, float, int]:
    """``(loss, token accuracy, loss tokens)`` of ``model`` over ``batches`` (module docstring), in eval mode."""
    from glm_mini.training.step import masked_cross_entropy

    if not batches or sum(int(b["loss_mask"].sum()) for b in batches) == 0:
        raise ValueError(f"batches: expected validation batches with at least one loss token, got {len(batches)} "
                         "batches and none")
    was_training = model.training
    model.eval()
    total, hits, count = 0.0, 0, 0
    for batch in batches:
        logits = model(batch["input_ids"], position_ids=batch["position_ids"],
                       attention_mask=batch["attention_mask"]).logits  # [b, s, V]
        mask, n = batch["loss_mask"], int(batch["loss_mask"].sum())
        total += float(masked_cross_entropy(logits, batch["targets"], mask)) * n
        hits += int((logits.argmax(dim=-1) == batch["targets"])[mask].sum())
        count += n
    model.train(was_training)
    return total / count, hits / count, count


def measure_quality(model: nn.Module, val_batches: list[dict], formats=FORMATS,
                    backend: str = "reference") -> list[Quality]:
    """One ``Quality`` row per format of the fp32 ``model`` on ``val_batches``."""
    rows = []
    for fmt in formats:
        loss, accuracy, tokens = loss_and_accuracy(as_format(model, fmt, backend), val_batches)
        rows.append(Quality(fmt, loss, math.exp(loss), accuracy, tokens))
    return rows


def chance_levels(target_counts: torch.Tensor, val_batches: list[dict]) -> dict[str, float]:
    """Accuracy and loss without a model: ``{"accuracy": share of the validation targets equal to the most frequent
    training target, "loss": unigram cross-entropy of the validation targets}`` (``target_counts`` ``[V]``)."""
    from glm_mini.training.metrics import unigram_cross_entropy

    targets = torch.cat([b["targets"][b["loss_mask"]] for b in val_batches])  # [loss tokens]
    if targets.numel() == 0:
        raise ValueError("val_batches: expected at least one loss token, got none")
    majority = int(target_counts.argmax())
    return {"accuracy": float((targets == majority).double().mean()),
            "loss": unigram_cross_entropy(target_counts, targets)}
