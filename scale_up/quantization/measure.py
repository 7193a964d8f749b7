"""What quantization buys, measured: stored bytes per format, matmul time per backend, greedy decode tokens/s.

How it works
------------
Bytes of one ``[out, in]`` linear weight in each format (its scales included; docs/glm130b_facts.md §4.4):

    FP32: 4·out·in     FP16/BF16: 2·out·in     INT8: out·in + 2·out     INT4: out·in/2 + 2·out

Times are medians over rounds in which every contender runs once, in turn, so a noisy, shared machine slows all of
them alike; compare them as ratios within one call, never as absolute numbers across machines.
Decoding is glm_mini's greedy decoder (``glm_mini.decoding.decode``) with the model's own KV cache: one forward
over the prompt (read causally here, as a language model's prefix), then one token per forward.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch
from torch import Tensor, nn

from glm_mini.decoding import decode

from .format import check_bits

FORMATS = ("fp32", "bf16", "fp16", "int8", "int4")
FORMAT_OF_BITS = {16: "fp16", 8: "int8", 4: "int4"}  # the official serving formats by weight bits


def stored_bytes(out_features: int, in_features: int, fmt: str) -> int:
    """Bytes of one linear weight (scales included, bias excluded) stored as ``fmt`` (one of ``FORMATS``)."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt: expected one of {FORMATS}, got {fmt!r}")
    n = out_features * in_features
    if fmt == "fp32":
        return 4 * n
    if fmt in ("bf16", "fp16"):
        return 2 * n
    bits = int(fmt[3:])
    check_bits(bits)
    return n * bits // 8 + 2 * out_features


def linear_weight_bytes(model: nn.Module, fmt: str, names: tuple[str, ...]) -> int:
    """``stored_bytes`` summed over the ``nn.Linear`` modules whose names end with ``names``; works on ``meta``."""
    return sum(stored_bytes(m.out_features, m.in_features, fmt) for n, m in model.named_modules()
               if n.endswith(names) and isinstance(m, nn.Linear))


def tensor_bytes(tensors) -> int:
    """Bytes actually held by ``tensors`` (e.g. a state dict's values)."""
    return sum(t.numel() * t.element_size() for t in tensors)


def median_times(fns: dict[str, Callable[[], object]], rounds: int = 7, warmup: int = 1) -> dict[str, float]:
    """Median seconds per call of each ``fn``, the contenders interleaved within every round."""
    if rounds < 1:
        raise ValueError(f"rounds: expected >= 1, got {rounds}")
    times = {name: [] for name in fns}
    for r in range(warmup + rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            if r >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def greedy_decode(model: nn.Module, prompt: Tensor, new_tokens: int) -> Tensor:
    """Greedy continuation of ``prompt`` ``[b, s]`` (causal) for ``new_tokens`` tokens: ``[b, new_tokens]``."""
    if prompt.dim() != 2 or prompt.dtype != torch.long:
        raise ValueError(f"prompt: expected a [batch, seq] long tensor, got {prompt.dtype} {list(prompt.shape)}")
    if new_tokens < 1:
        raise ValueError(f"new_tokens: expected >= 1, got {new_tokens}")
    b, s = prompt.shape
    rows = decode(model, prompt.tolist(), [list(range(s))] * b, [0] * b, [None] * b, new_tokens, (), pad_id=0)
    return torch.tensor(rows, dtype=torch.long, device=prompt.device)  # [b, new_tokens]
