"""Data parallelism over a pipeline: the replicas' gradients summed by a hand-written, bucketed all-reduce.

How it works
------------
Each of the dp replicas of a (pp, tp) position runs the pipeline on its own slice of the batch. The loss of every
micro-batch divides by the loss-token count of the WHOLE batch (``loss.py``), so the batch's gradient is the SUM of
the replicas' gradients (not their mean, which is what DDP computes):

    g = Σ_d g_d,        g_d = ∂/∂θ Σ_{t ∈ replica d's tokens} CE_t / T

``all_reduce_gradients`` packs the gradients, in parameter order, into flat buckets of at most ``bucket_bytes``
(one dtype per bucket), all-reduces each bucket as one message and copies the sums back: a few large messages
instead of one per parameter, as DDP's reducer does (``torch.nn.parallel.DistributedDataParallel``, 25 MiB buckets
by default). Unlike DDP it runs once after the whole backward: the pipeline schedule owns the backward and its
point-to-point traffic, so no reduction overlaps it (DDP overlaps buckets with the backward of earlier layers).
The optimizer state is then sharded over the same group by torch's ``ZeroRedundancyOptimizer`` (ZeRO stage 1, as
GLM-130B trained; ``scale_up.train``), which needs every replica to hold the summed gradient, as here.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

BUCKET_BYTES = 25 * 2**20  # DDP's default bucket_cap_mb


def gradient_buckets(grads: list[Tensor], bucket_bytes: int = BUCKET_BYTES) -> list[list[int]]:
    """Indices of ``grads`` grouped in order into buckets of one dtype and device, each at most ``bucket_bytes``
    (a single larger gradient gets a bucket of its own)."""
    if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, int) or bucket_bytes < 1:
        raise ValueError(f"bucket_bytes: expected a positive int, got {bucket_bytes!r}")
    buckets: list[list[int]] = []
    size, kind = 0, None
    for i, g in enumerate(grads):
        nbytes = g.numel() * g.element_size()
        if not buckets or (g.dtype, g.device) != kind or size + nbytes > bucket_bytes:
            buckets.append([])
            size, kind = 0, (g.dtype, g.device)
        buckets[-1].append(i)
        size += nbytes
    return buckets


def all_reduce_gradients(parameters, group: dist.ProcessGroup, bucket_bytes: int = BUCKET_BYTES) -> int:
    """Sum the ``.grad`` of ``parameters`` over ``group`` in flat buckets (parameters without a gradient are left
    alone); returns the number of buckets (= all-reduce calls)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    buckets = gradient_buckets(grads, bucket_bytes)
    for bucket in buckets:
        flat = torch.cat([grads[i].reshape(-1) for i in bucket])  # [Σ numel]
        dist.all_reduce(flat, group=group)
        offset = 0
        for i in bucket:
            n = grads[i].numel()
            grads[i].copy_(flat[offset:offset + n].view_as(grads[i]))
            offset += n
    return len(buckets)
