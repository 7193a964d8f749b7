"""The largest attention logit of each layer, read off a training run with forward hooks (Wortsman et al. 2023, §3.1).

How it works
------------
Wortsman et al. ("Small-scale proxies for large-scale Transformer training instabilities", arXiv 2309.14322) trace
one instability of high learning rates to *attention-logit growth*: the pre-softmax scores

    z_ij = q_i · k_j / √d

grow until the softmax is one-hot and its gradient vanishes. ``AttentionLogitProbe`` measures, for every layer l,

    z_max(l) = max over heads and allowed pairs (i, j) of |z_ij|

in the last forward pass of a model in training mode, without touching the model's code: a forward pre-hook on each
``SelfAttention`` keeps the call's RoPE tables and mask, and a forward hook on its ``query_key_value`` linear splits
the fused output into per-head q, k (the per-head interleaved layout of ``glm_mini/attention.py``), rotates them with
the same tables (``glm_mini.rope.apply_rope``) and takes the maximum under ``torch.no_grad``. Forwards in eval mode
(the trainer's validation) are ignored, so ``read()`` after a training step gives that step's logits. Pass it to
``glm_mini.train.train(cfg, probes=[probe])`` and each ``metrics.jsonl`` row gets ``attn_logit_max_layer_<l>``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from glm_mini.attention import SelfAttention
from glm_mini.rope import apply_rope

PREFIX = "attn_logit_max_layer_"


def max_attention_logit(qkv: torch.Tensor, rope, allowed: torch.Tensor, head_dim: int) -> float:
    """max |q·k|/√d over heads and allowed pairs, from the fused ``query_key_value`` output ``[b, s, 3h]``.

    ``rope`` is the RoPE tables the attention got, ``allowed`` its bool mask ``[b, 1, s, s]`` (True = may attend).
    """
    b, s, _ = qkv.shape
    q, k, _ = qkv.float().view(b, s, -1, 3 * head_dim).split(head_dim, dim=-1)  # [b, s, 3h] -> each [b, s, nh, d]
    q, k = apply_rope(q, rope).transpose(1, 2), apply_rope(k, rope).transpose(1, 2)  # each [b, nh, s, d]
    scores = q @ k.transpose(-1, -2) / math.sqrt(head_dim)  # [b, nh, s, s]
    scores = scores.abs().masked_fill(~allowed, 0.0)
    return float(scores.max())


class AttentionLogitProbe:
    """Records ``max_attention_logit`` of every layer in each training-mode forward (module docstring)."""

    def __init__(self):
        self.model: nn.Module | None = None
        self._handles: list = []
        self._inputs: dict[int, tuple] = {}
        self._maxima: dict[int, float] = {}

    def attach(self, model: nn.Module) -> "AttentionLogitProbe":
        if self.model is not None:
            raise RuntimeError("AttentionLogitProbe: already attached to a model; call detach() first")
        layers = getattr(getattr(model, "transformer", None), "layers", None)
        if layers is None:
            raise TypeError(f"model: expected a glm_mini.GLM (with transformer.layers), got {type(model).__name__}")
        self.model = model
        for key, layer in layers.items():
            attention = layer.attention
            if not isinstance(attention, SelfAttention):
                raise TypeError(f"layer {key}: expected a SelfAttention, got {type(attention).__name__}")
            number = int(key)
            self._handles.append(attention.register_forward_pre_hook(self._keep_inputs(number)))
            self._handles.append(attention.query_key_value.register_forward_hook(self._measure(number, attention)))
        return self

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles, self.model = [], None

    def read(self) -> dict[str, float]:
        """``{"attn_logit_max_layer_<l>": z_max(l)}`` of the last training forward (empty before the first)."""
        return {f"{PREFIX}{n}": v for n, v in sorted(self._maxima.items())}

    def _keep_inputs(self, number: int):
        def hook(module, args):
            _, rope, allowed = args[:3]
            self._inputs[number] = (rope, allowed) if module.training else None
        return hook

    def _measure(self, number: int, attention: SelfAttention):
        def hook(module, args, output):
            kept = self._inputs.pop(number, None)
            if kept is None or output.shape[1] != kept[1].shape[-1]:  # eval mode, or a KV-cached step
                return
            with torch.no_grad():
                self._maxima[number] = max_attention_logit(output.detach(), kept[0], kept[1], attention.head_dim)
        return hook


def read_attention_logits(rows: list[dict], num_layers: int) -> list[list[float]]:
    """Per step, ``[z_max(0), ..., z_max(N-1)]`` from ``metrics.jsonl`` rows a probed run wrote."""
    missing = [r.get("step") for r in rows if f"{PREFIX}{num_layers - 1}" not in r]
    if missing:
        raise ValueError(f"rows: steps {missing[:5]} have no {PREFIX}<l> entries; was the run trained with "
                         "probes=[AttentionLogitProbe()]?")
    return [[r[f"{PREFIX}{i}"] for i in range(num_layers)] for r in rows]
