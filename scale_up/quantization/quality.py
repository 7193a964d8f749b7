"""What quantization costs a trained model: validation loss/perplexity and cloze accuracy per weight format.

How it works
------------
Each format is the same trained GLM, changed from outside: ``fp32`` as trained, ``bf16`` the whole model cast,
``int8``/``int4`` the four block linears quantized in the official format by ``quantize_`` (the rest stays fp32).

- Validation loss: the trainer's masked cross-entropy over fixed validation batches of the GLM objective
  (``glm_mini.train.evaluate``), and perplexity = exp(loss).
- Cloze accuracy (LAMBADA-style, paper §5.1): for each item of the corpus's ``cloze_test`` split the model reads the
  context bidirectionally after a ``[gMASK]`` sample is built (``glm_mini.objective.gmask_sample``) and must predict
  every token of the target, each as its argmax given the true previous ones; an item counts when all of them match.
  The share of target tokens right is reported too (a weak model gets few whole items right).

The INT4 gap of the paper's Tab. 2 is the same measurement at 130B scale (docs/glm130b_facts.md §4.5).
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
    cloze_accuracy: float  # fraction of items with every target token right
    cloze_token_accuracy: float  # fraction of target tokens right (teacher-forced): finer for weak models
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


def cloze_prompts(tokenizer, records: list[dict], limit: int) -> list[tuple[list[int], int]]:
    """``(ids of context + target, number of context tokens)`` for the first ``limit`` cloze records.

    The target's ids are the tokens of ``context + target`` after the longest prefix shared with the context's own
    tokenization, so the model is asked for exactly the tokens it would see in running text."""
    prompts = []
    for record in records[:limit]:
        full, ctx = tokenizer.encode(record["text"]), tokenizer.encode(record["context"])
        shared = next((i for i, (a, b) in enumerate(zip(full, ctx)) if a != b), min(len(full), len(ctx)))
        if shared < len(full):
            prompts.append((full, shared))
    return prompts


@torch.no_grad()
def cloze_accuracy(model: nn.Module, prompts: list[tuple[list[int], int]], special) -> tuple[float, float]:
    """``(item accuracy, token accuracy)`` over ``prompts``: an item counts when every target token is the model's
    argmax (teacher-forced); token accuracy counts the target tokens one by one."""
    from glm_mini.objective import gmask_sample

    if not prompts:
        raise ValueError("prompts: expected at least one cloze prompt, got none")
    items = tokens = total = 0
    for ids, prefix_len in prompts:
        s = gmask_sample(ids, prefix_len, special, two_d=model.config.position_encoding_2d)
        logits = model(s.input_ids[None], position_ids=s.position_ids[None],
                       attention_mask=s.attention_mask[None, None]).logits[0]  # [L, V]
        hits = logits.argmax(dim=-1)[s.loss_mask] == s.targets[s.loss_mask]  # [target tokens]
        items, tokens, total = items + bool(hits.all()), tokens + int(hits.sum()), total + hits.numel()
    return items / len(prompts), tokens / total


@torch.no_grad()
def measure_quality(model: nn.Module, val_batches: list[dict], cloze: list[tuple[list[int], int]] | None, special,
                    formats=FORMATS) -> list[Quality]:
    """One ``Quality`` row per format of the fp32 ``model`` (cloze accuracy NaN when ``cloze`` is None)."""
    from glm_mini.train import evaluate

    rows = []
    for fmt in formats:
        twin = as_format(model, fmt)
        loss = evaluate(twin, val_batches, "fp32", torch.device("cpu"))
        items, tokens = cloze_accuracy(twin, cloze, special) if cloze is not None else (math.nan, math.nan)
        rows.append(Quality(fmt, loss, math.exp(loss), items, tokens, len(cloze or ())))
    return rows
