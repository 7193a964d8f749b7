"""The official tensor-parallel checkpoint layout: split a full GLM state dict into TP shards and merge them back.

How it works
------------
Every parameter has one of four roles, decided by its name after ``transformer.layers.N.`` (or ``transformer.``),
as in THUDM/GLM-130B ``tools/convert_tp.py`` (docs/glm130b_facts.md §3.1, §5):

- ``replicated``: LayerNorms, the row-parallel biases (``attention.dense.bias``, ``mlp.dense_4h_to_h.bias``, added
  once after the all-reduce) and RoPE's ``inv_freq``: every rank holds the whole tensor.
- ``cols`` (split on dim 1): the row-parallel weights ``attention.dense.weight`` and ``mlp.dense_4h_to_h.weight``
  ``[h, in]`` -> ``[h, in/tp]``; rank r takes input columns ``[r·in/tp, (r+1)·in/tp)``.
- ``glu`` (GeGLU-aware split on dim 0): ``mlp.dense_h_to_4h.{weight,bias}`` holds ``[x1; x2]``, each ``f`` rows.
  Rank r must own *matching* halves, so its shard is ``[x1_r; x2_r]``: cut the rows into 2·tp equal chunks
  c_0..c_{2tp-1} and take ``[c_r; c_{tp+r}]``. Merging chunks each shard in two and concatenates all first halves,
  then all second halves. (A plain dim-0 split would give rank 0 ``[x1; nothing]`` and silently wrong numbers.)
- ``rows`` (split on dim 0): everything else: the word embedding (vocab rows, ``V/tp`` per rank) and
  ``attention.query_key_value.{weight,bias}``, whose rows are grouped per head ``[q_j; k_j; v_j]``, so a contiguous
  block of ``3h/tp`` rows is exactly ``nh/tp`` whole heads.

Splitting and merging are exact inverses (only slicing and concatenation), so resharding tp -> 1 -> tp' is lossless.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from glm_mini import GLMConfig

REPLICATED = ("input_layernorm.weight", "input_layernorm.bias", "post_attention_layernorm.weight",
              "post_attention_layernorm.bias", "third_layernorm.weight", "third_layernorm.bias",
              "fourth_layernorm.weight", "fourth_layernorm.bias", "attention.dense.bias", "mlp.dense_4h_to_h.bias",
              "attention.rotary_emb.inv_freq", "final_layernorm.weight", "final_layernorm.bias")
GLU = ("mlp.dense_h_to_4h.weight", "mlp.dense_h_to_4h.bias")
COLUMN_SPLIT = ("attention.dense.weight", "mlp.dense_4h_to_h.weight")  # split on dim 1
ROW_SPLIT = ("word_embeddings.weight", "attention.query_key_value.weight", "attention.query_key_value.bias")


def local_name(key: str) -> str:
    """``transformer.layers.3.mlp.dense_h_to_4h.weight`` -> ``mlp.dense_h_to_4h.weight`` (convert_tp's naming)."""
    parts = key.split(".")
    return ".".join(parts[3:] if key.startswith("transformer.layers.") else parts[1:])


def parameter_role(key: str) -> str:
    """``"replicated"``, ``"rows"``, ``"cols"`` or ``"glu"`` for an official parameter name."""
    name = local_name(key)
    for role, names in (("replicated", REPLICATED), ("glu", GLU), ("cols", COLUMN_SPLIT), ("rows", ROW_SPLIT)):
        if name in names:
            return role
    raise ValueError(f"state_dict: key {key!r} is not a GLM parameter the tensor-parallel layout knows")


def check_tp_degree(config: GLMConfig, tp: int, name: str = "tp") -> None:
    """Raise ValueError unless heads, vocabulary and GeGLU width all divide evenly over ``tp`` ranks (``name``: the
    argument that gave ``tp``, for the message)."""
    if not isinstance(tp, int) or isinstance(tp, bool) or tp < 1:
        raise ValueError(f"{name}: expected a positive int, got {tp!r}")
    for field, size in (("num_attention_heads", config.num_attention_heads), ("vocab_size", config.vocab_size),
                        ("inner_hidden_size (GeGLU width)", config.ffn_hidden_size)):
        if size % tp:
            raise ValueError(f"{name}: {field}={size} is not divisible by {name}={tp}; each rank must own an equal "
                             "share")


def shard_tensor(tensor: Tensor, role: str, tp: int, rank: int) -> Tensor:
    """Rank ``rank``'s part of one full tensor (a copy, so saving a shard never saves the whole tensor)."""
    if role == "replicated":
        return tensor.clone()
    dim = 1 if role == "cols" else 0
    if tensor.shape[dim] % (2 * tp if role == "glu" else tp):
        raise ValueError(f"tensor of shape {tuple(tensor.shape)}: dim {dim} does not split into tp={tp} "
                         f"{'GeGLU half-pairs' if role == 'glu' else 'equal parts'}")
    if role == "glu":
        chunks = tensor.chunk(2 * tp, dim=0)  # c_0..c_{2tp-1}: x1 is c_0..c_{tp-1}, x2 is c_tp..c_{2tp-1}
        return torch.cat((chunks[rank], chunks[tp + rank]), dim=0)  # [x1_r; x2_r]
    return tensor.chunk(tp, dim=dim)[rank].clone()


def merge_tensors(parts: Sequence[Tensor], role: str) -> Tensor:
    """The full tensor from all ranks' parts, in rank order (inverse of ``shard_tensor``)."""
    if role == "replicated":
        return parts[0].clone()
    if role == "glu":
        halves = [p.chunk(2, dim=0) for p in parts]  # per rank (x1_r, x2_r)
        return torch.cat([x1 for x1, _ in halves] + [x2 for _, x2 in halves], dim=0)  # [x1; x2]
    return torch.cat(list(parts), dim=1 if role == "cols" else 0)


def shard_state_dict(state_dict: Mapping[str, Tensor], tp: int, rank: int, config: GLMConfig) -> dict[str, Tensor]:
    """Rank ``rank`` of ``tp``'s shard of a full (TP=1) official state dict, keys unchanged."""
    check_tp_degree(config, tp)
    if not isinstance(rank, int) or not 0 <= rank < tp:
        raise ValueError(f"rank: expected an int in [0, {tp}), got {rank!r}")
    return {key: shard_tensor(t, parameter_role(key), tp, rank) for key, t in state_dict.items()}


def merge_state_dicts(shards: Sequence[Mapping[str, Tensor]], config: GLMConfig) -> dict[str, Tensor]:
    """The full (TP=1) state dict from the ``len(shards)`` ranks' shards, given in rank order."""
    if not isinstance(shards, Sequence) or not shards:
        raise ValueError(f"shards: expected a non-empty list of state dicts in rank order, got {type(shards)}")
    check_tp_degree(config, len(shards))
    keys = list(shards[0])
    for r, shard in enumerate(shards):
        if list(shard) != keys:
            missing, extra = sorted(set(keys) - set(shard)), sorted(set(shard) - set(keys))
            raise ValueError(f"shards[{r}]: keys differ from shards[0] (missing {missing[:3]}, extra {extra[:3]})")
    return {key: merge_tensors([s[key] for s in shards], parameter_role(key)) for key in keys}


def reshard_state_dicts(shards: Sequence[Mapping[str, Tensor]], tp: int, config: GLMConfig) -> list[dict]:
    """``len(shards)``-way shards -> ``tp``-way shards (merge, then split; exact)."""
    full = merge_state_dicts(shards, config)
    return [shard_state_dict(full, tp, r, config) for r in range(tp)]
