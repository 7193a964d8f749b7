"""INT8/INT4 weight-only linears that keep their tensor-parallel role, so a TP shard can be quantized (or built on
``meta`` already quantized) and still computes the same thing.

How it works
------------
``scale_up.quantization.QuantizedLinear`` stores the official format (int8 ``weight``, FP16 ``weight_scale``) but
computes ``y = x·Ŵᵀ + b`` on one device. Inside a tensor-parallel model two of the four block linears are
row-parallel, whose output must be summed over ranks *before* the (replicated) bias is added
(tensor_parallel/layers.py):

    column-parallel:  y_r = f(x) · Ŵ_rᵀ + b_r                (f: identity forward)
    row-parallel:     y   = g(x_r · Ŵ_rᵀ) + b                (g: all-reduce sum, then the bias once)

exactly the split of THUDM/GLM-130B ``quantization/__init__.py`` (``QuantizedColumnParallelLinear`` /
``QuantizedRowParallelLinear``; docs/glm130b_facts.md §4.1). ``quantize_parallel_`` swaps the four linears of every
block by name (``QUANTIZED_LINEARS``), picking the parallel twin for a ``ColumnParallelLinear`` /
``RowParallelLinear`` and delegating a model without tensor parallelism to ``quantize_``. On ``meta`` (the dry run)
it builds the layers with the format's shapes and dtypes and no values.
"""

from __future__ import annotations

from torch import Tensor, nn

from .quantization import QUANTIZED_LINEARS, QuantizedLinear, quantize_
from .quantization.format import check_bits
from .quantization.kernels import aten_linear, reference_linear
from .tensor_parallel import ColumnParallelLinear, RowParallelLinear
from .tensor_parallel.mappings import copy_to_tensor_parallel, reduce_from_tensor_parallel


class QuantizedColumnParallelLinear(QuantizedLinear):
    """``y_r = f(x)·Ŵ_rᵀ + b_r`` with rank r's output rows in the official INT8/INT4 format."""

    group = None

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(copy_to_tensor_parallel(x, self.group))


class QuantizedRowParallelLinear(QuantizedLinear):
    """``y = g(x_r·Ŵ_rᵀ) + b``: the all-reduce first, the replicated bias once after it."""

    group = None

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"x: expected last dimension {self.in_features} (in_features), got shape "
                             f"{list(x.shape)}")
        if self.backend == "aten":
            y = aten_linear(x, self.kernel_layout(), self.bits, self.weight_scale, None)
        else:
            y = reference_linear(x, self.weight, self.bits, self.weight_scale, None)
        y = reduce_from_tensor_parallel(y, self.group)
        return y + self.bias if self.bias is not None else y


def _quantized_twin(linear: nn.Linear, bits: int, backend: str) -> QuantizedLinear:
    cls = (QuantizedRowParallelLinear if isinstance(linear, RowParallelLinear) else
           QuantizedColumnParallelLinear if isinstance(linear, ColumnParallelLinear) else QuantizedLinear)
    if linear.weight.is_meta:  # the dry run: the format's shapes and dtypes, no values
        has_bias = linear.bias is not None
        layer = cls(linear.in_features, linear.out_features, bits, bias=has_bias, backend=backend, device="meta",
                    bias_dtype=linear.bias.dtype if has_bias else linear.weight.dtype)
    else:
        layer = cls.from_linear(linear, bits, backend)
    if cls is not QuantizedLinear:
        layer.group = linear.group
    return layer


def quantize_parallel_(model: nn.Module, bits: int, backend: str = "auto") -> nn.Module:
    """Quantize the four block linears of ``model`` in place, keeping their TP role; works on ``meta``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    check_bits(bits)
    targets = [(name, m) for name, m in model.named_modules()
               if name.endswith(QUANTIZED_LINEARS) and type(m) is not QuantizedLinear and isinstance(m, nn.Linear)]
    parallel_or_meta = any(isinstance(m, (ColumnParallelLinear, RowParallelLinear)) or m.weight.is_meta
                           for _, m in targets)
    if not parallel_or_meta:
        return quantize_(model, bits, backend)
    for name, linear in targets:
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, _quantized_twin(linear, bits, backend))
    return model
