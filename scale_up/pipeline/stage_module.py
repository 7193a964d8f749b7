"""A pipeline stage: a copy of the unchanged ``glm_mini.GLM`` with every other stage's layers deleted.

How it works
------------
``build_stage_module(model, stage, num_stages)`` deep-copies the model, deletes from ``transformer.layers`` the layers
that ``partition_layers`` gives to other stages, deletes ``final_layernorm`` unless this is the last stage, and deletes
``word_embeddings`` unless this is the first stage (input lookup) or the last (the tied output head). Nothing is
renamed: the stage's ``state_dict()`` keys are the full model's keys (``transformer.layers.5.mlp...``), so a stage
loads its slice of an ordinary checkpoint with ``strict=True`` and per-stage checkpoints merge back by key.

Its forward is GLM's forward cut at the stage boundaries, with the model's own pieces (docs/glm130b_facts.md §1.3):

    first stage:  h = dropout(shrink(word_embeddings[input_ids], α_egs))             # [b, s, h]
    every stage:  h = GLMLayer_l(h, rope(position_ids), attention_mask)   for its own l
    last stage:   logits = final_layernorm(h) · shrink(word_embeddings, α_egs)ᵀ      # [b, s, V]

Non-last stages return ``(h, position_ids, attention_mask)``, so the GLM mask (bidirectional over Part A) and the
position ids travel with the activations to every stage. Only ``h`` needs a gradient; the schedule sends none back
for the integer and bool tensors. With two or more stages the first and last both hold ``word_embeddings``: they
start equal (one copy), and ``tied_embedding.sum_tied_embedding_grads`` keeps them equal by summing their gradients,
DeepSpeed's ``TiedLayerSpec`` as GLM-130B trained.
"""

from __future__ import annotations

import copy

import torch.nn.functional as F
from torch import Tensor, nn

from glm_mini import GLM, shrink_gradient

from .partition import partition_layers


class GLMStage(nn.Module):
    """Stage ``stage_index`` of ``num_stages``: GLM's ``config`` and ``transformer`` with the other layers deleted."""

    def __init__(self, model: GLM, stage_index: int, num_stages: int):
        super().__init__()
        if not isinstance(model, GLM):
            raise TypeError(f"GLMStage: model must be a glm_mini.GLM, got {type(model).__name__}")
        if not isinstance(stage_index, int) or not 0 <= stage_index < num_stages:
            raise ValueError(f"GLMStage: stage_index must be in [0, {num_stages}), got {stage_index!r}")
        self.config = model.config
        self.stage_index, self.num_stages = stage_index, num_stages
        self.layer_ids = partition_layers(model.config.num_layers, num_stages)[stage_index]
        self.is_first, self.is_last = stage_index == 0, stage_index == num_stages - 1
        self.transformer = copy.deepcopy(model.transformer)
        tr = self.transformer
        for key in list(tr.layers.keys()):
            if int(key) not in self.layer_ids:
                del tr.layers[key]
        if not self.is_last:
            del tr.final_layernorm
        if not (self.is_first or self.is_last):
            del tr.word_embeddings

    def forward(self, x: Tensor, position_ids: Tensor, attention_mask: Tensor):
        cfg, tr = self.config, self.transformer
        if self.is_first:  # x: input_ids [b, s]; check the inputs once, with GLM's own messages
            b, s = x.shape
            position_ids = GLM._positions(self, position_ids, b, s, 0, x.device)
            attention_mask = GLM._allowed(attention_mask, b, s, 0, x.device).expand(b, 1, s, s)  # [b, 1, s, s]
            h = tr.embedding_dropout(shrink_gradient(tr.word_embeddings(x), cfg.embedding_gradient_shrink_alpha))
        else:  # x: hidden states [b, s, h] from the previous stage
            h = x
        rope = tr.rotary(position_ids, h.dtype)
        for layer in tr.layers.values():
            h, _ = layer(h, rope, attention_mask)
        if not self.is_last:
            return h, position_ids, attention_mask
        alpha = cfg.embedding_gradient_shrink_alpha if cfg.shrink_logit_embedding_gradient else 1.0
        return F.linear(tr.final_layernorm(h), shrink_gradient(tr.word_embeddings.weight, alpha))  # [b, s, V]


def build_stage_module(model: GLM, stage_index: int, num_stages: int) -> GLMStage:
    """Stage ``stage_index`` of ``num_stages``, made by deleting layers from a copy of ``model`` (names unchanged)."""
    return GLMStage(model, stage_index, num_stages)
