"""GLM: the GLM-130B architecture at any size, with the official parameter names.

How it works
------------
    h_0    = shrink(word_embeddings[input_ids], α_egs)           # no absolute position embedding (RoPE instead)
    h_l+1  = GLMLayer_l(h_l)                                      # layer.py: DeepNorm Post-LN by default
    logits = final_layernorm(h_N) · shrink(word_embeddings, α_egs)ᵀ   # output head tied to the input embedding

Parameter names are exactly the official ones (``transformer.word_embeddings.weight``,
``transformer.layers.N.attention.query_key_value.weight``, ..., ``transformer.final_layernorm.bias``; THUDM/GLM-130B
``tools/convert_tp.py``), so an official TP=1 state dict loads with ``strict=True`` once its
``attention.rotary_emb.inv_freq`` buffers are dropped: the kit's RoPE table is a non-persistent buffer, built once
per forward at the transformer level instead of once per layer.

Layers live in a ``ModuleDict`` keyed by ``str(layer_number)`` (torchtitan's layout), and ``forward`` runs whatever
the model still holds: the embedding lookup when it is given token ids (a model without ``word_embeddings`` takes
the hidden states ``[b, s, h]`` of the layers before it), the layers present, ``final_layernorm`` and the tied
``output_head`` (``output_head.py``) when they are there, else it returns the hidden states. So a pipeline stage is
this model with modules deleted, every remaining name unchanged, running this very forward; each layer keeps its own
``layer_number`` for query-key layer scaling.

Conventions: ``attention_mask`` is bool, True = may attend, ``[b, 1, s, t]`` or ``[b, s, t]`` (t = past + s);
``None`` means causal. ``position_ids`` are ``[b, s]`` (1-D RoPE) or ``[b, 2, s]`` (2-D); ``None`` means
``past, past+1, ...`` (with zeros as the 2-D block positions). Shapes: b batch, s new tokens, V vocab, h hidden.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .config import GLMConfig
from .grad_shrink import shrink_gradient
from .init import init_weights_
from .layer import GLMLayer
from .masks import causal_mask
from .output_head import TiedOutputHead
from .rope import RotaryEmbedding

KVCache = tuple[tuple[Tensor, Tensor], ...]  # per layer (k, v), each [b, nh, t, d], RoPE already applied to k


@dataclass
class GLMOutput:
    logits: Tensor | None  # [b, s, V]; None for a model without output_head (a pipeline stage before the last)
    past_key_values: KVCache | None = None  # filled when use_cache=True
    hidden_states: Tensor | None = None  # [b, s, h], the output of a model without output_head


class GLMTransformer(nn.Module):
    def __init__(self, config: GLMConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.embedding_dropout = nn.Dropout(config.hidden_dropout)
        self.rotary = RotaryEmbedding(config.head_dim, two_d=config.position_encoding_2d)
        self.layers = nn.ModuleDict({str(i): GLMLayer(config, i) for i in range(config.num_layers)})
        self.final_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layernorm_epsilon)
        self.output_head = TiedOutputHead()  # logits = final_layernorm(h) · word_embeddingsᵀ


class GLM(nn.Module):
    def __init__(self, config: GLMConfig):
        super().__init__()
        self.config = config
        self.transformer = GLMTransformer(config)
        init_weights_(self)

    def forward(self, input_ids: Tensor, position_ids: Tensor | None = None, attention_mask: Tensor | None = None,
                past_key_values: KVCache | None = None, use_cache: bool = False) -> GLMOutput:
        """``input_ids``: token ids ``[b, s]``, or hidden states ``[b, s, h]`` for a model without the layers before."""
        cfg, tr = self.config, self.transformer
        embedding, norm, head = (getattr(tr, name, None) for name in ("word_embeddings", "final_layernorm",
                                                                      "output_head"))
        hidden_input = isinstance(input_ids, Tensor) and input_ids.is_floating_point()
        b, s = self._check_hidden_states(input_ids) if hidden_input else self._check_input_ids(input_ids)
        past = self._check_cache(past_key_values, b)
        if not isinstance(use_cache, bool):
            raise TypeError(f"use_cache: expected a bool, got {type(use_cache).__name__} {use_cache!r}")
        if past + s > cfg.max_sequence_length:
            raise ValueError(f"input_ids: {past} cached + {s} new tokens exceed max_sequence_length="
                             f"{cfg.max_sequence_length} of the config")
        # positions arriving with hidden states come from the model part before, which checked their values
        position_ids = self._positions(position_ids, b, s, past, input_ids.device, check_values=not hidden_input)
        allowed = self._allowed(attention_mask, b, s, past, input_ids.device)

        egs = cfg.embedding_gradient_shrink_alpha
        if hidden_input:
            h = input_ids  # [b, s, h] from the layers before (the previous pipeline stage)
        else:
            if embedding is None:
                raise ValueError("input_ids: this model holds no word_embeddings (its first layers live elsewhere, "
                                 f"e.g. a later pipeline stage); pass hidden states [b, s, {cfg.hidden_size}]")
            h = tr.embedding_dropout(shrink_gradient(embedding(input_ids), egs))  # [b, s, h]
        rope = tr.rotary(position_ids, h.dtype)
        caches = []
        for i, layer in enumerate(tr.layers.values()):
            h, kv = layer(h, rope, allowed, past_key_values[i] if past_key_values else None)
            caches.append(kv)
        if norm is not None:
            h = norm(h)
        caches = tuple(caches) if use_cache else None
        if head is None:
            return GLMOutput(None, caches, hidden_states=h)
        if embedding is None:
            raise ValueError("output_head: the tied head needs word_embeddings, which this model no longer holds")
        logits = head(h, embedding.weight, egs if cfg.shrink_logit_embedding_gradient else 1.0)  # [b, s, V]
        return GLMOutput(logits, caches)

    # --- input checks: a wrong shape or dtype is named here, not deep inside a matmul ------------------------------
    # Shapes and dtypes are always checked (free: no data is read). Value ranges (token ids in [0, V), positions in
    # [0, max_sequence_length)) are checked with one min/max when the tensor is on the CPU, where that costs
    # microseconds; on an accelerator it would force a device sync per call, so there an out-of-range token id is left
    # to the embedding's own device-side bounds check. None of the checks touches the values used for the logits.
    def _check_input_ids(self, input_ids) -> tuple[int, int]:
        if not isinstance(input_ids, Tensor):
            raise TypeError(f"input_ids: expected a torch.Tensor of token ids [batch, seq], got "
                            f"{type(input_ids).__name__}")
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids: expected shape [batch, seq], got {list(input_ids.shape)}"
                             + (" (add a batch dim: ids[None])" if input_ids.dim() == 1 else ""))
        if input_ids.dtype not in (torch.long, torch.int32):
            raise ValueError(f"input_ids: expected dtype torch.long or torch.int32, got {input_ids.dtype}")
        b, s = input_ids.shape
        if b == 0 or s == 0:
            raise ValueError(f"input_ids: expected at least one sequence of at least one token, got shape [{b}, {s}]")
        _check_range("input_ids", input_ids, 0, self.config.vocab_size, "vocab_size")
        return b, s

    def _check_hidden_states(self, hidden) -> tuple[int, int]:
        h = self.config.hidden_size
        if hidden.dim() != 3 or hidden.shape[-1] != h or hidden.shape[0] == 0 or hidden.shape[1] == 0:
            raise ValueError(f"input_ids: a floating-point input is read as hidden states [batch, seq, {h}], got "
                             f"shape {list(hidden.shape)} of dtype {hidden.dtype} (token ids must be torch.long or "
                             "torch.int32 [batch, seq])")
        return hidden.shape[0], hidden.shape[1]

    def _check_cache(self, past_key_values, b) -> int:
        """The cached length t, after checking the cache holds one (k, v) pair [b, nh, t, d] per layer."""
        if past_key_values is None or (isinstance(past_key_values, (tuple, list)) and len(past_key_values) == 0):
            return 0
        n = len(self.transformer.layers)
        if not isinstance(past_key_values, (tuple, list)) or len(past_key_values) != n:
            got = f"{len(past_key_values)} entries" if isinstance(past_key_values, (tuple, list)) else \
                type(past_key_values).__name__
            raise ValueError(f"past_key_values: expected a tuple of {n} (key, value) pairs, one per layer, got {got}")
        first = None
        for i, kv in enumerate(past_key_values):
            if not (isinstance(kv, (tuple, list)) and len(kv) == 2 and all(isinstance(t, Tensor) for t in kv)):
                raise ValueError(f"past_key_values[{i}]: expected a (key, value) pair of tensors")
            k, v = kv
            if k.dim() != 4 or k.shape != v.shape or k.shape[0] != b or k.shape[3] != self.config.head_dim:
                raise ValueError(f"past_key_values[{i}]: expected key and value of shape [{b}, heads, cached, "
                                 f"{self.config.head_dim}], got {list(k.shape)} and {list(v.shape)}")
            if first is not None and k.shape != first:
                raise ValueError(f"past_key_values[{i}]: shape {list(k.shape)} differs from layer 0's {list(first)}")
            first = k.shape
        return first[2]

    def _positions(self, position_ids, b, s, past, device, check_values: bool = True) -> Tensor:
        two_d = self.config.position_encoding_2d
        if position_ids is None:
            pos = torch.arange(past, past + s, device=device).expand(b, s)  # [b, s]
            return torch.stack((pos, torch.zeros_like(pos)), dim=1) if two_d else pos  # [b, 2, s] or [b, s]
        if not isinstance(position_ids, Tensor):
            raise TypeError(f"position_ids: expected a torch.Tensor, got {type(position_ids).__name__}")
        expected = (b, 2, s) if two_d else (b, s)
        if tuple(position_ids.shape) != expected:
            kind = "2-D RoPE ([b, 2, s])" if two_d else "1-D RoPE ([b, s])"
            raise ValueError(f"position_ids: expected shape {expected} for {kind}, got {tuple(position_ids.shape)}")
        if position_ids.dtype.is_floating_point or position_ids.dtype.is_complex or position_ids.dtype == torch.bool:
            raise ValueError(f"position_ids: expected an integer dtype, got {position_ids.dtype}")
        if check_values:
            _check_range("position_ids", position_ids, 0, self.config.max_sequence_length, "max_sequence_length")
        return position_ids

    @staticmethod
    def _allowed(attention_mask, b, s, past, device) -> Tensor:
        t = past + s
        if attention_mask is None:
            return causal_mask(s, t, device)
        if not isinstance(attention_mask, Tensor):
            raise TypeError(f"attention_mask: expected a bool torch.Tensor, got {type(attention_mask).__name__}")
        if attention_mask.dtype != torch.bool:
            raise ValueError("attention_mask: expected dtype torch.bool (True = may attend), "
                             f"got {attention_mask.dtype}")
        if attention_mask.dim() == 3:
            attention_mask = attention_mask.unsqueeze(1)  # [b, s, t] -> [b, 1, s, t]
        if attention_mask.dim() != 4 or tuple(attention_mask.shape[-2:]) != (s, t) or attention_mask.shape[1] != 1 \
                or attention_mask.shape[0] not in (1, b):
            raise ValueError(f"attention_mask: expected shape [{b}, 1, {s}, {t}] or [{b}, {s}, {t}], "
                             f"got {list(attention_mask.shape)}")
        return attention_mask


def _check_range(name: str, values: Tensor, low: int, high: int, limit: str) -> None:
    """Raise if a CPU tensor holds a value outside [low, high); skipped off the CPU and while ``torch.compile`` traces
    (a data-dependent check would break the graph there)."""
    if values.device.type != "cpu" or torch.compiler.is_compiling():
        return
    lo, hi = values.min().item(), values.max().item()
    if lo < low or hi >= high:
        bad = lo if lo < low else hi
        raise ValueError(f"{name}: expected values in [{low}, {high}) ({limit}={high}), got {bad}")
