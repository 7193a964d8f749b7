"""``apply_tensor_parallel``: turn the unchanged ``glm_mini.GLM`` into rank r's tensor-parallel shard, in place.

How it works
------------
1. A plan keyed by module name (``tensor_parallel_plan``) says which module becomes which parallel layer:
   ``query_key_value`` and ``dense_h_to_4h`` column-parallel, ``attention.dense`` and ``dense_4h_to_h``
   row-parallel, ``word_embeddings`` vocab-parallel, and the tied ``output_head`` its vocab-parallel twin.
   It is built from the module names present, so a pipeline stage (some layers deleted) gets its own plan.
2. Each named module is swapped for its parallel twin (built on ``meta``: no memory, no init), then the whole
   model loads ``shard_state_dict(full, tp, rank)`` (tp_layout.py: whole heads, the rank's own GeGLU halves,
   row-parallel weights split on dim 1), so ``state_dict()`` is the official shard r, key for key.
3. With ``gather_logits=True`` the parallel head all-gathers the vocab-sharded logits, so ``model(...).logits`` is
   the full ``[b, s, V]`` on every rank; with False they stay ``[b, s, V/tp]`` for
   ``vocab_parallel_cross_entropy``.

The attention module needs nothing: it views its QKV output as ``[b, s, -1, 3d]``, so it runs on the rank's
``nh/tp`` heads unchanged (docs/glm130b_facts.md §1.4, §3.1). Every rank must start from the same full weights
(same seed or same checkpoint); a fingerprint check says so when they differ. Dropout inside the split regions
draws the same mask on every rank (there is no per-rank RNG tracker), which is fine for the kit's dropout-free
parity tests and FAST runs but not the official training recipe.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from ..tp_layout import check_tp_degree, shard_state_dict
from .layers import ColumnParallelLinear, RowParallelLinear, VocabParallelEmbedding, VocabParallelHead
from .mappings import group_rank, group_size

STYLES = {
    "attention.query_key_value": "column",
    "attention.dense": "row",
    "mlp.dense_h_to_4h": "column",
    "mlp.dense_4h_to_h": "row",
    "word_embeddings": "vocab",
    "output_head": "vocab_head",
}


def tensor_parallel_plan(model: nn.Module) -> dict[str, str]:
    """Module name -> ``"column" | "row" | "vocab" | "vocab_head"`` for every module of ``model`` that is split."""
    plan = {}
    for name, _ in model.named_modules():
        for suffix, style in STYLES.items():
            if name == suffix or name.endswith("." + suffix):
                plan[name] = style
    return plan


def _parallel_twin(module: nn.Module, style: str, group, gather_logits: bool) -> nn.Module:
    if style == "vocab_head":
        return VocabParallelHead(group, gather_logits)
    like = {"device": "meta", "dtype": next(module.parameters()).dtype}
    if style == "column":
        return ColumnParallelLinear(module.in_features, module.out_features, group, module.bias is not None, **like)
    if style == "row":
        return RowParallelLinear(module.in_features, module.out_features, group, module.bias is not None, **like)
    return VocabParallelEmbedding(module.num_embeddings, module.embedding_dim, group, **like)


def _check_same_weights(model: nn.Module, group) -> None:
    """Every rank must shard the same full model: compare a float64 fingerprint per parameter across ranks."""
    names, params = zip(*model.named_parameters())
    if params[0].is_meta or group_size(group) == 1:
        return
    mine = torch.stack([p.detach().double().sum() for p in params])  # [n_params]
    everyone = [torch.empty_like(mine) for _ in range(group_size(group))]
    dist.all_gather(everyone, mine, group=group)
    for r, theirs in enumerate(everyone):
        if not torch.equal(theirs, everyone[0]):
            first = names[int((theirs != everyone[0]).nonzero()[0])]
            raise ValueError(f"model: rank {r} of the tensor-parallel group holds different full weights than rank 0 "
                             f"(first: {first}); seed every rank alike or load the same checkpoint before sharding")


def apply_tensor_parallel(model: nn.Module, group=None, gather_logits: bool = True) -> nn.Module:
    """Make ``model`` (a ``glm_mini.GLM``, or a pipeline stage of one) this rank's tensor-parallel shard, in place.

    ``group``: the tensor-parallel process group (``None``: the default group). Returns ``model``.
    """
    if getattr(model, "tp_group", "unset") != "unset":
        raise ValueError("model: apply_tensor_parallel was already applied to this model")
    config = getattr(model, "config", None)
    if config is None:
        raise TypeError(f"model: expected a glm_mini.GLM (with .config), got {type(model).__name__}")
    if group is not None and not isinstance(group, dist.ProcessGroup):
        raise TypeError(f"group: expected a torch.distributed ProcessGroup or None, got {type(group).__name__}")
    tp, rank = group_size(group), group_rank(group)
    check_tp_degree(config, tp)
    _check_same_weights(model, group)
    shard = shard_state_dict(model.state_dict(), tp, rank, config)
    for name, style in tensor_parallel_plan(model).items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, _parallel_twin(getattr(parent, child), style, group, gather_logits))
    model.load_state_dict(shard, strict=True, assign=True)
    model.tp_group = group
    return model
