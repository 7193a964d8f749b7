"""Keep the input embedding (first stage) and the tied output head (last stage) one matrix: sum their gradients.

How it works
------------
GLM-130B ties the output projection to ``word_embeddings`` (docs/glm130b_facts.md §1.1). Split over a pipeline, the
first stage uses the matrix to look tokens up and the last stage uses it for the logits, so each holds a copy. The
single-process gradient of a tied weight is the sum of the gradients of its uses,

    ∂L/∂E = ∂L/∂E|lookup + ∂L/∂E|head

so after the backward pass the two copies' gradients are all-reduced (summed) over the group of the two ranks that
hold them; with equal starting values and equal gradients, every optimizer step keeps the copies equal. This is what
DeepSpeed's ``TiedLayerSpec`` does for GLM-130B. When one rank holds both ends (interleaved stages on one rank), the
local gradients are summed first.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

EMBEDDING = "transformer.word_embeddings.weight"


def tied_embedding_ranks(pp_ranks: list[int], num_stages: int) -> list[int]:
    """Global ranks holding the first and the last stage (stage s lives on pp rank s mod p), without repeats."""
    first, last = pp_ranks[0], pp_ranks[(num_stages - 1) % len(pp_ranks)]
    return sorted({first, last})


def sum_tied_embedding_grads(stages: list[nn.Module], group: dist.ProcessGroup | None) -> None:
    """Sum the ``word_embeddings`` gradients of this rank's stages and, when ``group`` is given, over its ranks."""
    weights = [p for s in stages for name, p in s.named_parameters() if name == EMBEDDING]
    if not weights:
        return
    total = sum(w.grad if w.grad is not None else torch.zeros_like(w) for w in weights)
    if group is not None:
        dist.all_reduce(total, group=group)
    for w in weights:
        w.grad = total.clone()
