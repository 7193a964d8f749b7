"""Per-layer gradient scale at initialization, the picture behind "why DeepNorm" (paper §2.1, Fig. 3 context).

How it works
------------
Build a freshly initialized ``GLM`` (seeded), run one forward/backward of the next-token cross-entropy on a batch
of tokens, and report each layer's parameter-gradient norm (the trainer's groups, ``grad_norms.group_of``):

    g_l = √( Σ_{p ∈ layer l} Σ_i (∂ℓ/∂p_i)² )

Post-LN puts a LayerNorm after every residual sum, so the gradient reaching the lower layers passes through N of
them and shrinks layer by layer (Xiong et al. 2020); Pre-LN keeps an identity path and its g_l stays flat;
DeepNorm's α up-weights the residual and β down-scales the branch init so the Post-LN stack stays bounded. The
measured ratio ``g_0 / g_{N-1}`` (first layer over last) is the single number the notebook compares.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from glm_mini.config import GLMConfig
from glm_mini.model import GLM
from glm_mini.training.grad_norms import grad_norms


def layer_grad_norms_at_init(config: GLMConfig, tokens: torch.Tensor, seed: int = 0) -> list[float]:
    """``[g_0, ..., g_{N-1}]`` of a ``GLM(config)`` initialized under ``seed``, on ``tokens`` ``[b, s]`` (causal LM)."""
    if not isinstance(config, GLMConfig):
        raise TypeError(f"config: expected a GLMConfig, got {type(config).__name__}")
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.dtype != torch.long or tokens.shape[1] < 2:
        got = f"shape {tuple(tokens.shape)}, dtype {tokens.dtype}" if isinstance(tokens, torch.Tensor) else type(tokens)
        raise ValueError(f"tokens: expected a long tensor [batch, seq >= 2], got {got}")
    if int(tokens.min()) < 0 or int(tokens.max()) >= config.vocab_size:
        raise ValueError(f"tokens: ids must be in [0, {config.vocab_size}), got range "
                         f"[{int(tokens.min())}, {int(tokens.max())}]")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GLM(config.replace(hidden_dropout=0.0, attention_dropout=0.0))
    logits = model(tokens[:, :-1]).logits  # [b, s-1, V]
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))  # [b*(s-1), V]
    loss.backward()
    norms = grad_norms(model)
    return [norms[f"layer_{i}"] for i in range(config.num_layers)]
