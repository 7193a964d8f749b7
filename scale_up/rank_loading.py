"""Load one tensor-parallel rank from its own shard of an official checkpoint (FP16 or INT8/INT4), never the whole
model.

How it works
------------
GLM-130B's 8 shards are ~32 GB each; its loader (THUDM/GLM-130B ``initialize.py``) builds the full model on every
rank before loading, which is why 8 ranks need more than 316 GB of host RAM (docs/glm130b_facts.md §5, §7). Here
each rank only ever holds its own shard:

1. ``GLM(config)`` is built on ``meta`` (no memory) in the checkpoint's dtype and made rank r's tensor-parallel shard
   by ``apply_tensor_parallel`` (shapes only).
2. A quantized checkpoint (it has ``weight_scale`` keys) gets its block linears swapped for the quantized parallel
   layers first (``quantize_parallel_`` on ``meta``), the bit width read from the stored shapes.
3. ``to_empty`` gives the rank's parameters real, uninitialized storage on its device; the rank's file
   ``mp_rank_{r:02d}_model_states.pt`` is memory-mapped and copied in with ``strict=True`` (RoPE's ``inv_freq``
   buffers in the official files are dropped: the kit rebuilds them, as SAT ignores them), then RoPE's table is
   recomputed. An FP16 checkpoint asked to run at ``bits`` is quantized after loading, per local row, which gives
   the very bytes ``scale_up.convert --quantization-bit-width`` would have written for this rank.

The checkpoint's TP degree must equal the group's: resharding is ``python -m scale_up.convert``'s job (streamed), so
a mismatch is an error that says so.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from glm_mini import GLM, GLMConfig

from .convert import is_quantized, load_state, source_shards
from .quantized_parallel import quantize_parallel_
from .tensor_parallel import apply_tensor_parallel
from .tensor_parallel.mappings import group_rank, group_size


def stored_bits(state: dict, config: GLMConfig, tp: int) -> int:
    """16 for an FP16 shard, else 8 or 4: ``dense_4h_to_h`` stores ``f/tp · bits/8`` bytes per row."""
    if not is_quantized(state):
        return 16
    key = next((k for k in state if k.endswith("mlp.dense_4h_to_h.weight")), None)
    bits = 8 * state[key].shape[1] // (config.ffn_hidden_size // tp) if key is not None else None
    if bits not in (4, 8) or state[key].shape[1] * 8 != bits * (config.ffn_hidden_size // tp):
        raise ValueError(f"checkpoint: its quantized dense_4h_to_h weight does not fit INT4 or INT8 of the "
                         f"configuration (inner_hidden_size={config.ffn_hidden_size}, tp={tp}); check the model "
                         "arguments (--inner-hidden-size, ...)")
    return bits


def _reset_rope(model: nn.Module) -> None:
    for module in model.modules():
        if type(module).__name__ == "RotaryEmbedding":
            module.reset_parameters()


def load_rank(config: GLMConfig, checkpoint, group=None, bits: int | None = None, device="cpu",
              dtype: torch.dtype | None = None) -> GLM:
    """This rank's tensor-parallel GLM loaded from its own shard of ``checkpoint`` (official layout), in eval mode.

    ``bits``: run at 8 or 4 (an FP16 checkpoint is quantized after loading; a quantized one must match); ``None``
    runs at the checkpoint's own precision. ``dtype``: the compute dtype of the non-quantized tensors (default: the
    checkpoint's; FP32 is handy on CPU).
    """
    files, _ = source_shards(Path(checkpoint))
    tp, rank = group_size(group), group_rank(group)
    if len(files) != tp:
        raise ValueError(f"checkpoint: {checkpoint} holds {len(files)} tensor-parallel shards but this run has "
                         f"tp={tp}; convert it first: python -m scale_up.convert --checkpoint {checkpoint} "
                         f"--out NEW --tp {tp}")
    if bits not in (None, 4, 8):
        raise ValueError(f"bits: expected 4, 8 or None, got {bits!r}")
    state = {k: t for k, t in load_state(files[rank]).items() if not k.endswith("rotary_emb.inv_freq")}
    have = stored_bits(state, config, tp)
    if have != 16 and bits not in (None, have):
        raise ValueError(f"bits: the checkpoint {checkpoint} is INT{have}; it cannot run at INT{bits} (convert the "
                         "FP16 checkpoint instead)")
    floats = [t.dtype for k, t in state.items() if t.is_floating_point() and not k.endswith("weight_scale")]
    with torch.device("meta"):
        model = GLM(config).to(dtype or floats[0])
    apply_tensor_parallel(model, group)
    if have != 16:
        quantize_parallel_(model, have)
    model.to_empty(device=device)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise ValueError(f"checkpoint: {files[rank]} does not fit the configuration (check --preset and the model "
                         f"arguments such as --num-layers, --hidden-size): {str(err)[:400]}") from None
    del state  # unmaps the shard file
    _reset_rope(model)
    if have == 16 and bits is not None:
        quantize_parallel_(model, bits)
    return model.eval()
