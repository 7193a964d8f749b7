"""Where a rank computes: ``--device auto|cpu|cuda``, one CUDA device per rank, NCCL only with CUDA tensors.

How it works
------------
``auto`` is CUDA when torch sees a GPU for every process on this machine (``LOCAL_WORLD_SIZE``, set by torchrun, at
most the GPU count), else the CPU: one process alone follows the single-process rule (``glm_mini.train.
resolve_device``), and 4 processes on a 1-GPU machine run on the CPU rather than share the GPU, which NCCL refuses.
Under torchrun each rank takes the GPU of its local rank, ``cuda:LOCAL_RANK``, and makes it current, so NCCL and
every tensor created without a device land there. The collective backend follows the device: NCCL moves CUDA
tensors only and gloo CPU tensors (it has CUDA support for a few collectives only), so a CPU run uses gloo and a CUDA
run NCCL; asking for NCCL on the CPU is refused.
"""

from __future__ import annotations

import os

import torch

from glm_mini.train import resolve_device

DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("auto", "gloo", "nccl")


def rank_device(name: str) -> torch.device:
    """This rank's device for ``--device name`` (``cuda:LOCAL_RANK`` on a GPU, made current)."""
    if name not in DEVICES:
        raise ValueError(f"--device: expected one of {DEVICES}, got {name!r}")
    if name == "auto" and int(os.environ.get("LOCAL_WORLD_SIZE", "1")) > torch.cuda.device_count():
        return torch.device("cpu")
    device = resolve_device(name)
    if device.type != "cuda":
        return device
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if local >= torch.cuda.device_count():
        raise ValueError(f"--device cuda: local rank {local} needs GPU {local}, but torch sees "
                         f"{torch.cuda.device_count()} GPU(s); start at most that many processes per node")
    device = torch.device("cuda", local)
    torch.cuda.set_device(device)
    return device


def backend_for(device: torch.device, backend: str = "auto") -> str:
    """The collective backend for ``device``: NCCL for CUDA, gloo for the CPU; an impossible pair is refused."""
    if backend not in BACKENDS:
        raise ValueError(f"--backend: expected one of {BACKENDS}, got {backend!r}")
    natural = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl" and device.type != "cuda":
        raise ValueError(f"--backend nccl: NCCL moves CUDA tensors only, but the device is {device}; use "
                         "--device cuda (or --backend gloo on the CPU)")
    return natural if backend == "auto" else backend
