"""QuantizedLinear: an ``nn.Linear`` stored in the official INT8/INT4 format, run by the reference or aten backend.

How it works
------------
The module's state dict is exactly the official one for a quantized linear (THUDM/GLM-130B
``quantization/layers.py``; docs/glm130b_facts.md §4.2):

    <name>.weight        int8  [out, in]     (INT8)   or  [out, in/2]  (INT4, two values per byte)
    <name>.weight_scale  fp16  [out]
    <name>.bias          the original bias, in its own dtype

so an official quantized state dict loads with ``strict=True`` and saving writes one. The forward is
``y = x · (q · scale)ᵀ + b`` by either backend (kernels.py). For ``aten`` the official bytes are converted into the
kernel's layout once, at the first forward after the layer is built or loaded, and kept beside them (INT8 shares the
official tensor; INT4 holds a second copy of its bytes).

``weight_scale`` stays FP16 through ``model.to(dtype)``/``.float()``/``.half()``: it is part of the format, and its
exact FP16 value is what the kernels multiply by. Moving the module to another device rebuilds the kernel layout.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .format import check_bits, dequantize_weight, pack_int4, quantize_weight, unpack_int4
from .kernels import (aten_linear, check_backend, kernel_integer_weights, reference_linear, resolve_backend,
                      to_kernel_layout)


class QuantizedLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int, bits: int, bias: bool = True, backend: str = "auto",
                 device=None, bias_dtype: torch.dtype = torch.float32):
        super().__init__()
        check_bits(bits)
        check_backend(backend)
        if bits == 4 and in_features % 2:
            raise ValueError(f"in_features: INT4 packs two columns per byte, so it must be even, got {in_features}")
        self.in_features, self.out_features, self.bits = in_features, out_features, bits
        self.requested_backend = backend
        cols = in_features * bits // 8
        self.register_buffer("weight", torch.zeros(out_features, cols, dtype=torch.int8, device=device))
        self.register_buffer("weight_scale", torch.zeros(out_features, dtype=torch.float16, device=device))
        self.bias = nn.Parameter(torch.zeros(out_features, dtype=bias_dtype, device=device),
                                 requires_grad=False) if bias else None
        self._refresh_kernel()

    @classmethod
    def from_linear(cls, linear: nn.Linear, bits: int, backend: str = "auto") -> QuantizedLinear:
        """Quantize ``linear``'s weight in the official format (FP16 arithmetic); its bias is kept as it is."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear: expected an nn.Linear, got {type(linear).__name__}")
        check_bits(bits)
        if linear.weight.device.type == "meta":
            raise ValueError("linear: its weight is on the meta device (no values to quantize)")
        has_bias = linear.bias is not None
        layer = cls(linear.in_features, linear.out_features, bits, bias=has_bias, backend=backend,
                    device=linear.weight.device, bias_dtype=linear.bias.dtype if has_bias else torch.float32)
        q, scale = quantize_weight(linear.weight, bits)
        with torch.no_grad():
            layer.weight.copy_(pack_int4(q) if bits == 4 else q)
            layer.weight_scale.copy_(scale)
            if has_bias:
                layer.bias.copy_(linear.bias)
        layer._refresh_kernel()
        return layer

    # --- compute ---------------------------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x: expected last dimension {self.in_features} (in_features), got shape "
                             f"{list(x.shape)}")
        if self.backend == "aten":
            return aten_linear(x, self.kernel_layout(), self.bits, self.weight_scale, self.bias)
        return reference_linear(x, self.weight, self.bits, self.weight_scale, self.bias)

    def integer_weights(self) -> Tensor:
        """q as int8 ``[out, in]``, unpacked from the official bytes."""
        return unpack_int4(self.weight) if self.bits == 4 else self.weight

    def dequantized_weight(self) -> Tensor:
        """Ŵ = q · scale in FP32 ``[out, in]``, read from what this layer's backend actually multiplies by
        (for ``aten``, the kernel layout itself), so comparing backends compares their weights."""
        q = self.integer_weights()
        if self.backend == "aten":
            q = kernel_integer_weights(self.kernel_layout(), self.bits, self.in_features)
        return dequantize_weight(q, self.weight_scale)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, bits={self.bits}, "
                f"backend={self.backend}, bias={self.bias is not None}")

    # --- keeping the kernel layout and the FP16 scale right -------------------------------------------------------
    def kernel_layout(self) -> dict:
        """The ``aten`` kernel's tensors for the current weight, converted on first use (kernels.py)."""
        if self._kernel is None:
            self._kernel = to_kernel_layout(self.weight, self.bits)
        return self._kernel

    def _refresh_kernel(self) -> None:
        """Choose the backend for the weight's device; the kernel layout is rebuilt at its next use."""
        self.backend = resolve_backend(self.requested_backend, self.bits, self.out_features, self.in_features,
                                       self.weight.device)
        self._kernel = None

    def _apply(self, fn, recurse=True):
        scale = self.weight_scale
        super()._apply(fn, recurse)
        if self.weight_scale.dtype != torch.float16:  # a dtype cast: the format's scale stays exactly FP16
            self.weight_scale = scale.to(device=self.weight_scale.device)
        if self.weight.device.type != "meta":
            self._refresh_kernel()
        return self

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        expected = {"weight": torch.int8, "weight_scale": torch.float16}
        wrong = [f"{prefix}{name}: expected dtype {dtype} (official INT{self.bits} format), got {value.dtype}"
                 for name, dtype in expected.items()
                 if (value := state_dict.get(prefix + name)) is not None and value.dtype != dtype]
        if wrong:  # refuse before anything is copied: copy_ would silently cast FP16 weights to int8
            error_msgs.extend(wrong)
            return
        errors_before = len(error_msgs)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        if len(error_msgs) == errors_before:
            self._refresh_kernel()
