"""The two compute paths of a quantized linear layer, and the one-time conversion into PyTorch's kernel layouts.

How it works
------------
``reference``: unpack → dequantize → matmul in plain PyTorch, the path notebook 08 teaches and the one the official
code runs (``W8A16Linear``: it rebuilds the whole FP16 weight on every call, docs/glm130b_facts.md §4.3):

    y = x · Ŵᵀ + b,        Ŵ = q · scale   (format.py)

``aten``: PyTorch's own weight-only kernels, which never build Ŵ: ``torch._weight_int4pack_mm_for_cpu`` (CPU) or
``torch._weight_int4pack_mm`` (CUDA) for INT4, and ``torch._weight_int8pack_mm`` for INT8. The official scale is one
number per **output** row, so it factors out of the dot product exactly,

    y_r = Σ_c x_c · q_rc · scale_r + b_r = scale_r · (x · q_r) + b_r

and the kernels are given scale 1 and zero 0 (the INT4 kernels compute (u − 8)·scale + zero, u = q + 8 ∈ [1, 15]);
``scale_r`` and the bias are applied afterwards in FP32. So the kernel's weights are the integers q themselves, exactly
(bf16 holds them), and the only difference from the reference path is the kernel's bf16 activations and bf16 output
rounding. Activations are cast to bf16 for the kernel (fp32's range, like the official FP16 "A16"); the result comes
back in the input's dtype.

Kernel layouts, built once per layer (at its first forward after it is created or loaded):
- CPU INT4: ``_convert_weight_to_int4pack_for_cpu(u int32 [N, K], 8)`` → uint8 ``[N, K/2]`` in a blocked order of
  its own; needs N % 16 == 0 and K a multiple of a group size in {32, 64, 128, 256}.
- CUDA INT4: the official byte XOR 0x88 is u's byte with the same nibble order (flipping each nibble's top bit maps
  two's-complement q to q + 8), then ``_convert_weight_to_int4pack(uint8 [N, K/2], inner_k_tiles)``; needs N % 8 == 0.
- INT8: the official int8 ``[N, K]`` as it is, no copy; needs K % 16 == 0.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from .format import dequantize_weight, unpack_int4

BACKENDS = ("auto", "reference", "aten")
GROUP_SIZES = (256, 128, 64, 32)  # the INT4 kernels' allowed group sizes, largest first (fewest scale entries)


def check_backend(backend) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")


def aten_unavailable_reason(bits: int, out_features: int, in_features: int, device: torch.device) -> str | None:
    """Why the ``aten`` backend cannot run this layer on ``device`` (None when it can)."""
    if device.type not in ("cpu", "cuda"):
        return f"no weight-only kernel for device type {device.type!r} (cpu and cuda only)"
    if bits == 8 and in_features % 16:  # measured: torch 2.13's CPU kernel crashes (SIGSEGV) at large batch otherwise
        return f"the INT8 kernel needs in_features divisible by 16, got {in_features}"
    if bits == 4:
        if not any(in_features % g == 0 for g in GROUP_SIZES):
            return f"the INT4 kernel needs in_features divisible by 32, got {in_features}"
        multiple = 16 if device.type == "cpu" else 8
        if out_features % multiple:
            return f"the {device.type} INT4 kernel needs out_features divisible by {multiple}, got {out_features}"
    return _kernel_failure(bits, str(device))


@functools.lru_cache(maxsize=None)
def _kernel_failure(bits: int, device: str) -> str | None:
    """Whether this build runs the kernel on ``device`` at all: a build may list an op without a kernel for this
    device or GPU architecture, so it is asked once, on a tiny layer."""
    op = _op_name(bits, torch.device(device))
    if not hasattr(torch.ops.aten, op):
        return f"this PyTorch build ({torch.__version__}) has no torch.ops.aten.{op}"
    try:
        k = 32 if bits == 4 else 16
        probe = _layout_from_int(torch.zeros(16, k, dtype=torch.int8, device=device), bits)
        _kernel_mm(torch.zeros(1, k, dtype=torch.bfloat16, device=device), probe, bits)
    except (RuntimeError, NotImplementedError) as err:
        return f"torch.ops.aten.{op} failed on {device}: {str(err).splitlines()[0]}"
    return None


def resolve_backend(backend: str, bits: int, out_features: int, in_features: int, device: torch.device) -> str:
    """``auto``: ``aten`` where its kernel serves this layer, else ``reference``. ``aten`` where it cannot: error."""
    check_backend(backend)
    if backend == "reference":
        return backend
    reason = aten_unavailable_reason(bits, out_features, in_features, device)
    if reason is None:
        return "aten"
    if backend == "aten":
        raise ValueError(f"backend 'aten' is unavailable for this [{out_features}, {in_features}] INT{bits} layer "
                         f"on {device}: {reason}")
    return "reference"


def _op_name(bits: int, device: torch.device) -> str:
    if bits == 8:
        return "_weight_int8pack_mm"
    return "_weight_int4pack_mm_for_cpu" if device.type == "cpu" else "_weight_int4pack_mm"


def to_kernel_layout(weight: Tensor, bits: int) -> dict[str, Tensor | int]:
    """The official ``weight`` (int8 ``[N, K]``, or INT4 bytes ``[N, K/2]``) in the ``aten`` kernel's layout."""
    return _layout_from_int(unpack_int4(weight) if bits == 4 else weight, bits)


def _layout_from_int(q: Tensor, bits: int) -> dict[str, Tensor | int]:
    """Kernel tensors from unpacked integers q int8 ``[N, K]``."""
    n, k = q.shape
    if bits == 8:
        return {"weight": q, "unit_scales": torch.ones(n, dtype=torch.bfloat16, device=q.device)}
    group = next(g for g in GROUP_SIZES if k % g == 0)
    unit = torch.zeros(k // group, n, 2, dtype=torch.bfloat16, device=q.device)  # [K/group, N, (scale, zero)]
    unit[..., 0] = 1.0
    if q.device.type == "cpu":
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu((q + 8).to(torch.int32), 8)  # uint8 [N, K/2]
    else:
        u = (q + 8).to(torch.uint8).view(n, k // 2, 2)  # [N, K/2, (even, odd)]
        nibbles = (u[..., 0] << 4) | u[..., 1]  # uint8 [N, K/2], even column high, as the official byte ^ 0x88
        tiles = next(t for t in (8, 4, 2) if k % (16 * t) == 0)
        packed = torch.ops.aten._convert_weight_to_int4pack(nibbles, tiles)  # int32 [N/8, K/(16 t), 32, t/2]
    return {"weight": packed, "unit_scales": unit, "group_size": group}


def _kernel_mm(x: Tensor, layout: dict, bits: int) -> Tensor:
    """x bf16 ``[M, K]`` times the kernel's integer weights: ``x · qᵀ``, bf16 ``[M, N]``."""
    if bits == 8:
        return torch.ops.aten._weight_int8pack_mm(x, layout["weight"], layout["unit_scales"])
    op = torch.ops.aten._weight_int4pack_mm_for_cpu if x.device.type == "cpu" else torch.ops.aten._weight_int4pack_mm
    return op(x, layout["weight"], layout["group_size"], layout["unit_scales"])


def aten_linear(x: Tensor, layout: dict, bits: int, scale: Tensor, bias: Tensor | None) -> Tensor:
    """``scale · (x · qᵀ) + bias`` through the kernel; any leading shape, output in x's dtype."""
    x2 = x.reshape(-1, x.shape[-1]).to(torch.bfloat16)  # [M, K], M = all leading dims
    y = _kernel_mm(x2, layout, bits).float() * scale.float()  # [M, N] in FP32
    if bias is not None:
        y = y + bias.float()
    return y.to(x.dtype).view(*x.shape[:-1], -1)  # [..., N]


def reference_linear(x: Tensor, weight: Tensor, bits: int, scale: Tensor, bias: Tensor | None) -> Tensor:
    """Unpack → dequantize (exact, FP32) → cast to x's dtype → matmul: the official W8A16 recipe."""
    q = unpack_int4(weight) if bits == 4 else weight
    w = dequantize_weight(q, scale).to(x.dtype)  # [N, K]; in fp16 this equals the official CUDA extraction
    return torch.nn.functional.linear(x, w, None if bias is None else bias.to(x.dtype))


def kernel_integer_weights(layout: dict, bits: int, in_features: int) -> Tensor:
    """The integers the kernel multiplies by, read back through the kernel itself (x = identity): int8 ``[N, K]``.

    A check that the layout conversion is exact; costs one K×K matmul, so for tests and small layers.
    """
    device = layout["weight"].device
    eye = torch.eye(in_features, dtype=torch.bfloat16, device=device)  # [K, K]
    return _kernel_mm(eye, layout, bits).t().to(torch.int8)  # [K, N] -> [N, K]
