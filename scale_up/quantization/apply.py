"""quantize_: swap the four linear layers of every GLM block for QuantizedLinear, by name, in place.

How it works
------------
GLM-130B quantizes exactly the weights of ``attention.query_key_value``, ``attention.dense``, ``mlp.dense_h_to_4h``
and ``mlp.dense_4h_to_h`` in each layer; the word embedding (also the tied output head), every LayerNorm and every
bias stay as they are (THUDM/GLM-130B ``quantization/__init__.py``; docs/glm130b_facts.md §4.1). The model's code is
not touched: modules are found by their names and replaced on their parent, so ``glm_mini.GLM`` stays unchanged and
its ``state_dict()`` becomes the official quantized one.
"""

from __future__ import annotations

from torch import nn

from .format import check_bits
from .kernels import check_backend
from .linear import QuantizedLinear

QUANTIZED_LINEARS = ("attention.query_key_value", "attention.dense", "mlp.dense_h_to_4h", "mlp.dense_4h_to_h")


def quantize_(model: nn.Module, bits: int, backend: str = "auto") -> nn.Module:
    """Replace every block linear named in ``QUANTIZED_LINEARS`` by its ``QuantizedLinear``; returns ``model``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    check_bits(bits)
    check_backend(backend)
    targets = [(name, module) for name, module in model.named_modules() if name.endswith(QUANTIZED_LINEARS)]
    already = [name for name, module in targets if isinstance(module, QuantizedLinear)]
    if already:
        raise ValueError(f"model: already quantized ({already[0]} is a QuantizedLinear)")
    linears = [(name, module) for name, module in targets if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError(f"model: found no nn.Linear named like {QUANTIZED_LINEARS} (is it a glm_mini.GLM?)")
    for name, linear in linears:
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, QuantizedLinear.from_linear(linear, bits, backend))
    return model
