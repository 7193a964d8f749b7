"""Greedy infilling of one blank, to look at what a model has learned (before vs after training).

How it works
------------
The context holds one ``[MASK]`` (a short span) or ``[gMASK]`` (the rest of the text). As in training
(docs/glm130b_facts.md §1.5, §2.2-§2.3), the model reads ``context + [sop]``: the context is bidirectional, every
token from ``[sop]`` on is causal and sees all of the context. Positions: the context counts 0, 1, ..., and the
generated tokens take the ``[MASK]``'s position (GLM-130B's 1-D rule for ``[MASK]``) or go on counting after
``[gMASK]`` (its rule for ``[gMASK]``). Each new token is the argmax of the last logits; generation stops at
``[eop]`` or after ``max_new_tokens``. The whole sequence is re-run for each token (no KV cache): this is a probe,
not the generator (that is ``glm_mini.generate``).
"""

from __future__ import annotations

import torch

from glm_mini.masks import prefix_causal_mask


@torch.no_grad()
def greedy_infill(model, context_ids: list[int], special, max_new_tokens: int = 16) -> list[int]:
    """The ids the model writes into the first ``[MASK]``/``[gMASK]`` of ``context_ids`` (without ``[eop]``)."""
    blanks = [i for i, t in enumerate(context_ids) if t in (special.mask, special.gmask)]
    if not blanks:
        raise ValueError(f"context_ids: expected a [MASK] ({special.mask}) or [gMASK] ({special.gmask}) id, "
                         "got none")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens: expected >= 1, got {max_new_tokens}")
    blank, n_ctx = blanks[0], len(context_ids)
    is_gmask = context_ids[blank] == special.gmask
    device = next(model.parameters()).device
    sequence = list(context_ids) + [special.sop]
    generated: list[int] = []
    while len(generated) < max_new_tokens and len(sequence) <= model.config.max_sequence_length:
        n_new = len(sequence) - n_ctx  # [sop] and the tokens generated so far
        positions = list(range(n_ctx)) + (list(range(n_ctx, n_ctx + n_new)) if is_gmask else [blank] * n_new)
        pos = torch.tensor([positions], device=device)  # [1, s]
        if model.config.position_encoding_2d:  # GLM's 2-D ids: block position 1, 2, ... inside the span
            block = torch.tensor([[0] * n_ctx + list(range(1, n_new + 1))], device=device)  # [1, s]
            pos = torch.stack((pos, block), dim=1)  # [1, 2, s]
        allowed = prefix_causal_mask(torch.tensor([n_ctx], device=device), len(sequence))  # [1, 1, s, s]
        logits = model(torch.tensor([sequence], device=device), position_ids=pos, attention_mask=allowed).logits
        token = int(logits[0, -1].argmax())
        if token == special.eop:
            break
        generated.append(token)
        sequence.append(token)
    return generated
