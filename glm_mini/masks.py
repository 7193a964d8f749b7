"""Attention masks in the kit's convention: boolean, **True = may attend**, shaped ``[b, 1, s_q, s_k]``.

How it works
------------
GLM's mask is a bidirectional prefix plus a causal rest (paper §2.1, Fig. 2; THUDM/GLM-130B ``generate.py``): query
i may attend key j when j is in the prefix (the context before ``[sop]``) or j <= i. The official code stores the
opposite (True = blocked); the kit's convention is PyTorch's SDPA one. Rows that may attend nowhere (padding) are
allowed: the attention layer keeps them finite.
"""

import torch
from torch import Tensor


def causal_mask(query_len: int, key_len: int, device=None) -> Tensor:
    """``[1, 1, s_q, s_k]``: the s_q queries are the last s_q positions of the s_k keys (KV-cache decoding)."""
    past = key_len - query_len
    rows = torch.arange(past, key_len, device=device).unsqueeze(1)  # [s_q, 1] absolute query positions
    cols = torch.arange(key_len, device=device).unsqueeze(0)  # [1, s_k]
    return (cols <= rows).view(1, 1, query_len, key_len)


def prefix_causal_mask(prefix_lengths: Tensor, seq_len: int) -> Tensor:
    """``[b, 1, s, s]``: keys before ``prefix_lengths[b]`` are visible to every query, the rest causally.
    ``prefix_lengths`` is a 1-D integer tensor of lengths in ``[0, seq_len]``; anything else raises, naming it."""
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise ValueError(f"seq_len: expected an int >= 1, got {seq_len!r}")
    if not isinstance(prefix_lengths, Tensor):
        raise TypeError(f"prefix_lengths: expected a 1-D integer tensor (e.g. torch.tensor([5])), got "
                        f"{type(prefix_lengths).__name__}")
    if prefix_lengths.dim() != 1 or prefix_lengths.dtype.is_floating_point or prefix_lengths.dtype.is_complex \
            or prefix_lengths.dtype == torch.bool:
        raise ValueError(f"prefix_lengths: expected a 1-D integer tensor [b], got shape {list(prefix_lengths.shape)} "
                         f"and {prefix_lengths.dtype}")
    if prefix_lengths.numel() and not (0 <= int(prefix_lengths.min()) and int(prefix_lengths.max()) <= seq_len):
        raise ValueError(f"prefix_lengths: expected lengths in [0, seq_len={seq_len}], got "
                         f"{prefix_lengths.tolist()}"[:200])
    cols = torch.arange(seq_len, device=prefix_lengths.device)
    in_prefix = cols.view(1, 1, seq_len) < prefix_lengths.view(-1, 1, 1)  # [b, 1, s]
    return (causal_mask(seq_len, seq_len, prefix_lengths.device)[:, 0] | in_prefix).unsqueeze(1)
