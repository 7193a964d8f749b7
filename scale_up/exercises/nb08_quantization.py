"""Checks for notebook 08's exercises (INT4 quantization): the absmax scale, packing two nibbles, dequantizing, and
a row's peak-to-σ ratio (what decides its INT4 error).

The references are ``scale_up.quantization``'s own functions (the format the kit serves with, so a student is checked
against the very code that writes official checkpoints).
"""

from __future__ import annotations

import torch

from glm_mini.exercises.harness import Case, run_check

from ..quantization import dequantize_weight, pack_int4, quantize_weight, unpack_int4
from ..quantization.weight_stats import row_peak_to_sigma


def _weights(seed: int, rows: int, cols: int, zero_row: int | None = None) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(rows, cols, generator=gen) * 0.02
    if zero_row is not None:
        w[zero_row] = 0.0  # the edge case: absmax 0 must give scale 0, not NaN downstream
    return w.half()


def _int4_values(seed: int, rows: int, cols: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(-8, 8, (rows, cols), generator=gen, dtype=torch.int8)


def check_absmax_scale(student_fn) -> bool:
    """Exercise 8.1: ``student_fn(weight_fp16 [out, in], bits) -> scale fp16 [out]``, the official per-row scale."""
    cases = [Case("INT4, 4x8", (_weights(0, 4, 8), 4)), Case("INT8, 16x64", (_weights(1, 16, 64), 8)),
             Case("INT4, 3x32 with a zero row", (_weights(2, 3, 32, zero_row=1), 4))]
    return run_check("Exercise 8.1", student_fn, lambda w, bits: quantize_weight(w, bits)[1], cases)


def check_pack_int4(student_fn) -> bool:
    """Exercise 8.2: ``student_fn(q int8 [out, in]) -> int8 [out, in/2]``, even column in the high nibble."""
    every_pair = torch.stack(torch.meshgrid(torch.arange(-8, 8), torch.arange(-8, 8), indexing="ij"), -1)
    cases = [Case("one row, 2 columns", (torch.tensor([[3, -2]], dtype=torch.int8),)),
             Case("random 4x16", (_int4_values(3, 4, 16),)),
             Case("all 256 nibble pairs", (every_pair.reshape(16, 32).to(torch.int8),))]  # [16, 16, 2] -> [16, 32]
    return run_check("Exercise 8.2", student_fn, pack_int4, cases)


def check_dequantize_int4(student_fn) -> bool:
    """Exercise 8.3: ``student_fn(packed int8 [out, in/2], scale fp16 [out]) -> fp32 [out, in]``, Ŵ = q·scale."""
    def reference(packed, scale):
        return dequantize_weight(unpack_int4(packed), scale)

    cases = []
    for label, w in (("4x8", _weights(4, 4, 8)), ("8x64", _weights(5, 8, 64)),
                     ("3x16 with a zero row", _weights(6, 3, 16, zero_row=2))):
        q, scale = quantize_weight(w, 4)
        cases.append(Case(label, (pack_int4(q), scale)))
    return run_check("Exercise 8.3", student_fn, reference, cases)


def check_peak_to_sigma(student_fn) -> bool:
    """Exercise 8.4: ``student_fn(weight_fp16 [out, in]) -> [out]``, max_c |W_rc| / σ_r with σ_r = √(mean_c W_rc²).

    The traps the cases catch: ``torch.std`` subtracts the row's mean (a row of positive weights) and divides by
    n − 1 (short rows)."""
    shifted = (torch.arange(1, 17, dtype=torch.float32)[None] * 0.01).half()  # [1, 16]: all positive, mean far from 0
    outlier = _weights(7, 2, 32).float()
    outlier[1, 5] = 0.3  # one weight 15 σ out
    cases = [Case("Gaussian 4x16", (_weights(8, 4, 16),)), Case("a row far out, 2x32", (outlier.half(),)),
             Case("all positive, 1x16", (shifted,))]
    return run_check("Exercise 8.4", student_fn, lambda w: row_peak_to_sigma(w).float(), cases, rtol=1e-3)
