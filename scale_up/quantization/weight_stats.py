"""How wide a linear layer's weight rows are, in the terms that decide per-row absmax INT4's error.

How it works
------------
The official format gives each output row r one scale s_r = max_c |W_rc| / 7 (format.py), so the row's 15 levels
span ±max|W_r|. Rounding moves a weight by at most s_r/2, and for weights spread over many levels the error is close
to uniform on [−s_r/2, s_r/2], of mean square s_r²/12. Measured against the row's own size σ_r = √(mean_c W_rc²)
(its spread about zero, which is what a symmetric grid sees) the relative error of a row is then about

    ‖W_r − Ŵ_r‖ / ‖W_r‖  ≈  (max|W_r| / σ_r) / (7 · √12)                                   (1)

so what matters is the **peak-to-σ ratio** of a row, not the size of its weights. A heavy-tailed row (a few weights
far out) has a large ratio and most of its weights fall on the few levels near zero. GLM-130B's §4 and App. B.8
(Fig. 5 left, Fig. 15) make this argument with histograms: GLM's ``attn-dense`` and ``w2`` weights are narrow, BLOOM's
wide and skewed (docs/glm130b_facts.md §4.6). This module puts numbers on "narrow", per row, for any ``[out, in]``
weight:

- ``peak_to_sigma``: the mean over rows of max|W_r| / σ_r;
- ``excess_kurtosis``: the mean over rows of mean_c (W_rc / σ_r)⁴ − 3 (0 for a Gaussian row, > 0 for heavy tails);
- ``outlier_share``: the share of weights with |W_rc| > ``OUTLIER_SIGMAS`` · σ_r (0.27% for a Gaussian);
- ``int4_error``: ‖W − Ŵ‖ / ‖W‖ with Ŵ the official INT4 weight (``quantize_weight``, ``dequantize_weight``).

Even Gaussian rows have a peak-to-σ ratio that grows with their length n (the largest of n draws: about √(2 ln n)),
so a wider layer loses a little more at the same shape; ``gaussian_row_stats(n)`` and ``gaussian_twin_stats(model)``
measure that reference with the same code on standard normal rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .apply import QUANTIZED_LINEARS
from .format import dequantize_weight, quantize_weight

OUTLIER_SIGMAS = 3.0
GAUSSIAN_OUTLIER_SHARE = math.erfc(OUTLIER_SIGMAS / math.sqrt(2))  # P(|z| > 3) = 0.0027 for z ~ N(0, 1)
INT4_ERROR_PER_PEAK = 1 / (7 * math.sqrt(12))  # equation (1): relative INT4 error per unit of peak-to-σ


@dataclass(frozen=True)
class RowStats:
    peak_to_sigma: float  # mean over rows of max|W_r| / σ_r
    excess_kurtosis: float  # mean over rows of mean_c (W_rc / σ_r)^4 - 3
    outlier_share: float  # share of weights beyond OUTLIER_SIGMAS · σ_r of their row
    int4_error: float  # ‖W − Ŵ‖ / ‖W‖, official INT4
    sigma: float  # √(mean W²) over all the weights
    weights: int  # how many weights the numbers are over


def _per_row(weight: Tensor) -> dict[str, Tensor]:
    """Per-row sums of one ``[out, in]`` weight (as the official path sees it, rounded to FP16)."""
    if not isinstance(weight, Tensor) or weight.dim() != 2 or not weight.is_floating_point():
        got = f"{weight.dtype} tensor of shape {list(weight.shape)}" if isinstance(weight, Tensor) else type(weight)
        raise ValueError(f"weight: expected a 2-D floating-point tensor [out, in], got {got}")
    w = weight.detach().to(torch.float16).double()  # [out, in]
    sigma = w.pow(2).mean(dim=-1).sqrt()  # [out]
    if (sigma == 0).any():
        raise ValueError(f"weight: row {int((sigma == 0).nonzero()[0])} is all zeros (its peak-to-σ is undefined)")
    z = w / sigma[:, None]  # [out, in]: each row in units of its own σ
    w_hat = dequantize_weight(*quantize_weight(weight, 4)).double()  # [out, in]
    return {"peak": z.abs().amax(dim=-1), "kurtosis": z.pow(4).mean(dim=-1) - 3,
            "outliers": (z.abs() > OUTLIER_SIGMAS).sum(dim=-1).double(),
            "err2": (w - w_hat).pow(2).sum(dim=-1), "w2": w.pow(2).sum(dim=-1),
            "n": torch.full_like(sigma, w.shape[1])}


def row_peak_to_sigma(weight: Tensor) -> Tensor:
    """max_c |W_rc| / σ_r for every row r of ``weight`` ``[out, in]`` → ``[out]`` (float64, on the FP16 weights)."""
    return _per_row(weight)["peak"]


def pooled_row_stats(weights: list[Tensor]) -> RowStats:
    """``RowStats`` over every row of ``weights`` together (each row weighted by its number of weights)."""
    if not weights:
        raise ValueError("weights: expected at least one [out, in] weight, got none")
    rows = [_per_row(w) for w in weights]
    cat = {k: torch.cat([r[k] for r in rows]) for k in rows[0]}  # [all rows]
    n, total = cat["n"], float(cat["n"].sum())
    return RowStats(peak_to_sigma=float((cat["peak"] * n).sum() / total),
                    excess_kurtosis=float((cat["kurtosis"] * n).sum() / total),
                    outlier_share=float(cat["outliers"].sum() / total),
                    int4_error=math.sqrt(float(cat["err2"].sum() / cat["w2"].sum())),
                    sigma=math.sqrt(float(cat["w2"].sum()) / total), weights=int(total))


def row_stats(weight: Tensor) -> RowStats:
    """``RowStats`` of one ``[out, in]`` weight."""
    return pooled_row_stats([weight])


def linear_weights(model: nn.Module, kinds: tuple[str, ...] = QUANTIZED_LINEARS) -> dict[str, list[Tensor]]:
    """``kind -> [weight of that kind in each layer]`` for the block linears GLM-130B quantizes."""
    out = {kind: [] for kind in kinds}
    for name, module in model.named_modules():
        for kind in kinds:
            if name.endswith(kind) and isinstance(module, nn.Linear):
                out[kind].append(module.weight.detach())
    if not any(out.values()):
        raise ValueError(f"model: found no nn.Linear named like {kinds} (is it a glm_mini.GLM?)")
    return out


def model_weight_stats(model: nn.Module) -> dict[str, RowStats]:
    """``RowStats`` per linear kind (over all layers) and ``"all"`` (the four kinds together) of ``model``."""
    by_kind = linear_weights(model)
    stats = {kind: pooled_row_stats(ws) for kind, ws in by_kind.items()}
    stats["all"] = pooled_row_stats([w for ws in by_kind.values() for w in ws])
    return stats


def gaussian_row_stats(in_features: int, rows: int = 4096, seed: int = 0) -> RowStats:
    """``RowStats`` of ``rows`` standard normal rows of length ``in_features``: the shape every statistic is measured
    against (kurtosis ≈ 0, outliers ≈ 0.27%, peak-to-σ ≈ the expected largest of ``in_features`` |draws|)."""
    generator = torch.Generator().manual_seed(seed)
    return row_stats(torch.randn(rows, in_features, generator=generator))


def gaussian_twin_stats(model: nn.Module, seed: int = 0) -> RowStats:
    """``RowStats`` of standard normal weights shaped like ``model``'s block linears (all four kinds together): what
    its statistics would be if every row were Gaussian."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [w.shape for ws in linear_weights(model).values() for w in ws]
    return pooled_row_stats([torch.randn(shape, generator=generator) for shape in shapes])


def distance_from(model: nn.Module, start: nn.Module) -> dict[str, float]:
    """How far ``model``'s block linears moved from ``start``'s (e.g. its initialisation), per kind:
    ‖W − W₀‖ / ‖W₀‖ over all layers."""
    now, then = linear_weights(model), linear_weights(start)
    out = {}
    for kind in now:
        if [w.shape for w in now[kind]] != [w.shape for w in then[kind]]:
            raise ValueError(f"start: its {kind} weights have other shapes than the model's")
        moved = sum(float((a.double() - b.double()).pow(2).sum()) for a, b in zip(now[kind], then[kind]))
        size = sum(float(b.double().pow(2).sum()) for b in then[kind])
        out[kind] = math.sqrt(moved / size)
    return out
