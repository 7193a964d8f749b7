"""A pipeline stage: the unchanged ``glm_mini.GLM`` with every other stage's modules deleted, running GLM's forward.

How it works
------------
``build_stage_module(model, stage, num_stages)`` copies the model without the parts other stages own and deletes
them (torchtitan's split by deletion): the layers ``partition_layers`` gives to other stages, ``final_layernorm`` and
the tied ``output_head`` unless this is the last stage, and ``word_embeddings`` unless this is the first stage (input
lookup) or the last (the tied head's weight). Nothing is renamed: the stage's ``state_dict()`` keys are the full
model's keys (``transformer.layers.5.mlp...``), so a stage loads its slice of an ordinary checkpoint with
``strict=True`` and per-stage checkpoints merge back by key.

The stage IS a ``glm_mini.GLM`` (a subclass that only adapts the call signature), and its forward is
``GLM.forward``, which runs whatever the model holds (docs/glm130b_facts.md §1.3):

    first stage:  h = dropout(shrink(word_embeddings[input_ids], α_egs))             # [b, s, h]
    every stage:  h = GLMLayer_l(h, rope(position_ids), attention_mask)   for its own l
    last stage:   logits = output_head(final_layernorm(h), word_embeddings)          # [b, s, V]

``torch.distributed.pipelining`` passes a stage's outputs to the next stage as its arguments, so a stage takes and
returns plain tensors: non-last stages return ``(h, position_ids, attention_mask)`` (the GLM mask, bidirectional over
Part A, and the positions travel with the activations; the first stage fills in GLM's defaults and checks them with
GLM's own ``_positions``/``_allowed``), the last returns the logits. Only ``h`` needs a gradient; the schedule sends
none back for the integer and bool tensors. With two or more stages the first and last both hold
``word_embeddings``: they start equal, and ``tied_embedding.sum_tied_embedding_grads`` keeps them equal by summing
their gradients, DeepSpeed's ``TiedLayerSpec`` as GLM-130B trained.
"""

from __future__ import annotations

import copy

from torch import Tensor, nn

from glm_mini import GLM

from .partition import partition_layers


def _copy_without(module: nn.Module, unwanted: list[nn.Module]) -> nn.Module:
    """A deep copy of ``module`` in which every module of ``unwanted`` is ``None`` (never copied, then deleted)."""
    return copy.deepcopy(module, memo={id(m): None for m in unwanted})


class GLMStage(GLM):
    """Stage ``stage_index`` of ``num_stages``: a ``GLM`` holding only its own layers (and the ends it needs)."""

    def __init__(self, model: GLM, stage_index: int, num_stages: int):
        if not isinstance(model, GLM):
            raise TypeError(f"GLMStage: model must be a glm_mini.GLM, got {type(model).__name__}")
        if isinstance(model, GLMStage):
            raise TypeError("GLMStage: model must be a whole glm_mini.GLM, not a stage of one")
        if not isinstance(stage_index, int) or not 0 <= stage_index < num_stages:
            raise ValueError(f"GLMStage: stage_index must be in [0, {num_stages}), got {stage_index!r}")
        nn.Module.__init__(self)  # not GLM.__init__: the parts are the given model's, copied, not freshly initialized
        self.config = model.config
        self.stage_index, self.num_stages = stage_index, num_stages
        self.layer_ids = partition_layers(model.config.num_layers, num_stages)[stage_index]
        self.is_first, self.is_last = stage_index == 0, stage_index == num_stages - 1
        tr = model.transformer
        unwanted = [layer for key, layer in tr.layers.items() if int(key) not in self.layer_ids]
        if not self.is_last:
            unwanted += [tr.final_layernorm, tr.output_head]
        if not (self.is_first or self.is_last):
            unwanted.append(tr.word_embeddings)
        self.transformer = _copy_without(tr, unwanted)
        for child in list(self.transformer.modules()):
            for key, grandchild in list(child._modules.items()):
                if grandchild is None:
                    delattr(child, key)

    def forward(self, x: Tensor, position_ids: Tensor | None = None, attention_mask: Tensor | None = None):
        """``x``: token ids ``[b, s]`` (first stage) or the previous stage's hidden states ``[b, s, h]``."""
        hidden = isinstance(x, Tensor) and x.is_floating_point()
        b, s = self._check_hidden_states(x) if hidden else self._check_input_ids(x)
        position_ids = self._positions(position_ids, b, s, 0, x.device, check_values=not hidden)
        attention_mask = self._allowed(attention_mask, b, s, 0, x.device).expand(b, 1, s, s)  # [b, 1, s, s]
        out = super().forward(x, position_ids=position_ids, attention_mask=attention_mask)
        return out.logits if self.is_last else (out.hidden_states, position_ids, attention_mask)


def build_stage_module(model: GLM, stage_index: int, num_stages: int) -> GLMStage:
    """Stage ``stage_index`` of ``num_stages``: ``model`` with the other stages' modules deleted (names unchanged)."""
    return GLMStage(model, stage_index, num_stages)
