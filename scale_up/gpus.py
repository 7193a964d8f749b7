"""The GPUs the planner knows by name: memory and dense FP16/BF16 tensor-core peak, from the vendors' datasheets.

How it works
------------
A plan needs two facts about a card: how many bytes it holds and how many FLOP/s its tensor cores reach on FP16/BF16
matrix products with FP32 accumulation (what mixed-precision training and FP16 inference use; no sparsity). These are
hardware facts, quoted from NVIDIA's datasheets and architecture whitepapers (A100: 312 TFLOP/s; V100 SXM2: 125;
H100 SXM: 989; GeForce RTX 3090: 71, and RTX 2080 Ti: 53.8, the GeForce rates with FP32 accumulation, half the FP16-
accumulate figure). Memory is the card's nominal size in GiB; a plan subtracts the CUDA context itself
(``context_bytes``, an assumption stated here: about 0.5 GiB for a PyTorch process with cuBLAS loaded, the order seen
in practice; override it for your own stack). Any other card is given as ``GPU(name, memory_bytes, peak_flops)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

GiB = 1 << 30


@dataclass(frozen=True)
class GPU:
    """One accelerator: ``memory_bytes`` on the card, ``peak_flops`` dense FP16/BF16 (FP32 accumulate) FLOP/s."""

    name: str
    memory_bytes: int
    peak_flops: float
    context_bytes: int = GiB // 2  # CUDA context + cuBLAS workspace of one process (an assumption; see above)

    def __post_init__(self):
        for field in ("memory_bytes", "peak_flops"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"GPU.{field}: expected a positive finite number, got {value!r}")
        if isinstance(self.context_bytes, bool) or not isinstance(self.context_bytes, int) or \
                not 0 <= self.context_bytes < self.memory_bytes:
            raise ValueError(f"GPU.context_bytes: expected an int in [0, memory_bytes), got {self.context_bytes!r}")


GPUS: dict[str, GPU] = {
    "a100-40g": GPU("a100-40g", 40 * GiB, 312e12),
    "a100-80g": GPU("a100-80g", 80 * GiB, 312e12),
    "v100-32g": GPU("v100-32g", 32 * GiB, 125e12),
    "rtx3090": GPU("rtx3090", 24 * GiB, 71e12),
    "rtx2080ti": GPU("rtx2080ti", 11 * GiB, 53.8e12),
    "h100-80g": GPU("h100-80g", 80 * GiB, 989e12),
}


def get_gpu(gpu: str | GPU) -> GPU:
    """A GPU by name (one of ``GPUS``) or as given."""
    if isinstance(gpu, GPU):
        return gpu
    if isinstance(gpu, str) and gpu.lower() in GPUS:
        return GPUS[gpu.lower()]
    raise ValueError(f"gpu: expected one of {sorted(GPUS)} or a scale_up.gpus.GPU, got {gpu!r}")
