"""Weight-only INT8/INT4 in the official GLM-130B format (docs/glm130b_facts.md §4).

``format`` (quantize_weight, pack_int4, unpack_int4, dequantize_weight: the bytes) · ``kernels`` (the reference and
aten compute paths, the kernel layouts) · ``linear`` (QuantizedLinear) · ``apply`` (quantize_, by module name).
"""

from .apply import QUANTIZED_LINEARS, quantize_
from .format import dequantize_weight, pack_int4, q_max, quantize_weight, unpack_int4
from .kernels import BACKENDS
from .linear import QuantizedLinear

__all__ = ["BACKENDS", "QUANTIZED_LINEARS", "QuantizedLinear", "dequantize_weight", "pack_int4", "q_max",
           "quantize_", "quantize_weight", "unpack_int4"]
