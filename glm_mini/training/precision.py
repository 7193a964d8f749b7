"""Mixed precision: fp32, bf16 autocast (CPU and GPU) and fp16 autocast with dynamic loss scaling (GPU).

How it works
------------
Weights and optimizer state stay fp32 in every mode ("mixed precision"); only the forward/backward matmuls run in
the low-precision type under ``torch.autocast``. GLM-130B trained in fp16 (its V100/A100 cluster, paper §3) with
dynamic loss scaling: the loss is multiplied by a scale S before ``backward`` so small fp16 gradients do not
underflow; gradients are divided by S before clipping; a step whose gradients hold inf/NaN is skipped and S halved;
after a window of clean steps S doubles (Tab.11: initial scale 2^16, window 2000; docs/glm130b_facts.md §2.5). The
official hysteresis of 2 (halve only after two overflows) has no counterpart in ``torch.amp.GradScaler``, which
halves on the first. bf16 has fp32's exponent range, so it needs no scaling; the paper notes bf16 would cost ~15%
more memory in their set-up and is not available on V100 (§3).
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("fp32", "bf16", "fp16")
LOSS_SCALE_INIT = 2.0 ** 16  # paper Tab.11
LOSS_SCALE_WINDOW = 2000  # paper Tab.11 (the released config uses 200)


def check_precision(precision: str, device: torch.device) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(f"precision 'fp16' (dynamic loss scaling) needs a CUDA device, got device {device.type!r}; "
                         "use 'bf16' on CPU")


def autocast(precision: str, device: torch.device):
    """The autocast context for one forward pass (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A dynamic loss scaler for fp16; a disabled one (scale 1, never skips) otherwise."""
    return torch.amp.GradScaler(device.type, init_scale=LOSS_SCALE_INIT, growth_interval=LOSS_SCALE_WINDOW,
                                enabled=precision == "fp16")
