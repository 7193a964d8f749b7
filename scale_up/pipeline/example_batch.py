"""A seeded batch with GLM's shape of inputs, identical on every rank: the input of the parity tests and the demo.

How it works
------------
Each sample is a blank-infilling layout (docs/glm130b_facts.md §2.2–2.3): a bidirectional prefix of random length
(Part A) followed by a causal part (Part B) whose tokens carry the loss. So the batch has everything a pipeline must
carry to every stage: ``attention_mask [b, 1, s, s]`` (prefix-causal, True = may attend), ``position_ids [b, s]``,
and a ``loss_mask [b, s]`` whose count differs between samples (so micro-batches hold different numbers of loss
tokens). Tokens come from a ``torch.Generator`` seeded by ``seed``, so every rank builds the same batch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from glm_mini import GLMConfig, prefix_causal_mask


def example_batch(config: GLMConfig, batch_size: int, seq_len: int, seed: int = 0) -> dict[str, Tensor]:
    """input_ids, position_ids, attention_mask, targets, loss_mask for ``batch_size`` samples of ``seq_len``."""
    if seq_len < 2 or seq_len > config.max_sequence_length:
        raise ValueError(f"example_batch: seq_len must be in [2, {config.max_sequence_length}], got {seq_len}")
    if batch_size < 1:
        raise ValueError(f"example_batch: batch_size must be >= 1, got {batch_size}")
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, config.vocab_size, (batch_size, seq_len + 1), generator=gen)  # [b, s+1]
    prefix = torch.randint(1, seq_len, (batch_size,), generator=gen)  # Part A lengths, 1 .. s-1
    positions = torch.arange(seq_len).expand(batch_size, seq_len)  # [b, s]
    loss_mask = positions >= prefix[:, None]  # Part B carries the loss
    return {"input_ids": tokens[:, :-1], "position_ids": positions.clone(),
            "attention_mask": prefix_causal_mask(prefix, seq_len), "targets": tokens[:, 1:], "loss_mask": loss_mask}
