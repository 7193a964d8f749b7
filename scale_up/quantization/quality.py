"""What quantization costs a trained model: validation loss/perplexity and cloze accuracy per weight format.

How it works
------------
Each format is the same trained GLM, changed from outside: ``fp32`` as trained, ``bf16`` the whole model cast,
``int8``/``int4`` the four block linears quantized in the official format by ``quantize_`` (the rest stays fp32).
Each is measured the way the rest of the kit measures a model:

- validation loss: the trainer's masked cross-entropy over fixed validation batches of the GLM objective
  (``glm_mini.train.evaluate``), and perplexity = exp(loss);
- cloze accuracy: LAMBADA-style generation after ``[gMASK]``, first word exact match (``glm_mini.evaluate``).

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
CLOZE_NEW_TOKENS = 5  # glm_mini.evaluate.cloze_accuracy's default generation length


@dataclass(frozen=True)
class Quality:
    fmt: str
    val_loss: float
    perplexity: float
    cloze_accuracy: float  # NaN when no cloze items were given
    cloze_items: int


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


def cloze_items_that_fit(tokenizer, records: list[dict], max_sequence_length: int, limit: int,
                         new_tokens: int = CLOZE_NEW_TOKENS) -> list[tuple[str, str]]:
    """The first ``limit`` ``(context, target)`` pairs of ``records`` (the corpus's ``cloze_test`` split) whose
    context, ``[gMASK]``, ``[sop]`` and ``new_tokens`` generated tokens fit in ``max_sequence_length``."""
    items = []
    for r in records:
        if len(items) == limit:
            break
        if len(tokenizer.encode(r["context"], parse_special=False)) + 2 + new_tokens <= max_sequence_length:
            items.append((r["context"], r["target"]))
    return items


@torch.no_grad()
def measure_quality(model: nn.Module, val_batches: list[dict], cloze_items: list[tuple[str, str]] | None, tokenizer,
                    formats=FORMATS) -> list[Quality]:
    """One ``Quality`` row per format of the fp32 ``model``; ``cloze_items`` are ``(context, answer)`` pairs."""
    from glm_mini.evaluate import cloze_accuracy
    from glm_mini.train import evaluate

    rows = []
    for fmt in formats:
        twin = as_format(model, fmt)
        loss = evaluate(twin, val_batches, "fp32", torch.device("cpu"))
        accuracy = cloze_accuracy(twin, tokenizer, cloze_items) if cloze_items else math.nan
        rows.append(Quality(fmt, loss, math.exp(loss), accuracy, len(cloze_items or ())))
    return rows
