"""Weight initialization: DeepNorm's scaled Xavier init (GLM-130B) or Megatron's normal init (other schemes).

How it works
------------
DeepNorm (paper §2.1; LargeScale ``megatron/model/utils.py`` and ``transformer.py``): every matrix is Xavier normal,
``std = gain·sqrt(2 / (fan_in + fan_out))`` computed on the *unsharded* shape, with gain β = (2N)^-½ on the FFN
(both GeGLU halves and ``dense_4h_to_h``), the attention output ``dense`` and the value projection, and gain 1 on
query, key and the word embedding. For GLM-130B this gives std 0.00902 (q, k), 0.000762 (v, dense), 0.000563 (FFN),
0.00350 (embedding) (docs/glm130b_facts.md §1.6). Each q/k/v block and each GeGLU half counts as its own [out, in] matrix.

Which QKV rows get β (docs/glm130b_facts.md §1.6): the official code chunks each tensor-parallel rank's fused weight into thirds and
scales the last third, but rows are interleaved per head, so that third is *all q/k/v rows of the last third of the
rank's heads*, not the value projection. ``official_qkv_init_tp = k`` reproduces that quirk for a TP=k run (GLM-130B
trained at TP=4, and the "glm-130b" preset says so); ``0`` (the small presets) scales the true value rows, as the
paper describes.

Other schemes (Megatron), and DeepNorm with ``deepnorm_scale_init=False`` (notebook 04's ablation): normal(0, σ)
with σ = ``init_method_std``, σ/√(2N) on the two output projections.
All biases are zero and every LayerNorm starts at weight 1, bias 0.
"""

import math

import torch
from torch import Tensor, nn

from .config import GLMConfig
from .rope import RotaryEmbedding


def _xavier_normal_(weight: Tensor, gain: float = 1.0) -> None:
    fan_out, fan_in = weight.shape
    weight.normal_(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def beta_rows_of_qkv(config: GLMConfig) -> Tensor:
    """Bool ``[3h]``: which rows of the fused QKV weight get the β gain (see module docstring)."""
    nh, d = config.num_attention_heads, config.head_dim
    rows = torch.zeros(nh, 3, d, dtype=torch.bool)  # [heads, (q, k, v), d]: the fused layout
    if config.official_qkv_init_tp == 0:
        rows[:, 2] = True  # the value rows of every head
        return rows.flatten()
    per_rank = rows.view(config.official_qkv_init_tp, -1)  # [tp, 3h/tp]: each rank's contiguous shard
    per_rank[:, 2 * per_rank.shape[1] // 3:] = True  # chunk(3)[-1] of every rank
    return rows.flatten()


@torch.no_grad()
def init_weights_(model: nn.Module) -> None:
    """Initialize a ``GLM`` in place (works on real and ``meta`` tensors; after ``to_empty`` it also rebuilds RoPE)."""
    config: GLMConfig = model.config
    h = config.hidden_size
    deepnorm = config.deepnorm_init
    beta, std = config.deepnorm_beta, config.init_method_std
    out_std = std / math.sqrt(2 * config.num_layers)

    for module in model.modules():
        if isinstance(module, nn.LayerNorm):
            module.weight.fill_(1.0)
            module.bias.zero_()
        elif isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.zero_()
        elif isinstance(module, RotaryEmbedding):
            module.reset_parameters()

    embedding = model.transformer.word_embeddings.weight
    if deepnorm:
        _xavier_normal_(embedding)
    else:
        embedding.normal_(0.0, std)

    beta_rows = beta_rows_of_qkv(config)
    for layer in model.transformer.layers.values():
        qkv = layer.attention.query_key_value.weight  # [3h, h]
        up = layer.mlp.dense_h_to_4h.weight  # [2f, h]: [x1; x2]
        dense, down = layer.attention.dense.weight, layer.mlp.dense_4h_to_h.weight
        if not deepnorm:
            for w in (qkv, up):
                w.normal_(0.0, std)
            for w in (dense, down):
                w.normal_(0.0, out_std)
            continue
        qkv.normal_(0.0, math.sqrt(2.0 / (h + h)))  # each q/k/v block is an [h, h] matrix, gain 1 ...
        if qkv.device.type != "meta":
            qkv[beta_rows.to(qkv.device)] *= beta  # ... and gain β on the chosen rows
        for half in up.chunk(2, dim=0):  # x1 and x2 are two [f, h] matrices
            _xavier_normal_(half, beta)
        _xavier_normal_(down, beta)
        _xavier_normal_(dense, beta)
