"""The ``int4-scale`` lesson line, computed from the INT4-scale family's measurements.

How it works
------------
The paper's claim (GLM-130B §4, Fig. 5 right; docs/glm130b_facts.md §4.6): the gap between a GLM in INT4 and in FP16
keeps decreasing as the model grows. For each size the gap is measured per seed on the same validation batches,

    gap_loss = L_INT4 − L_FP32          (nats; > 0 when INT4 is worse)
    gap_acc  = acc_INT4 − acc_FP32      (points of next-token accuracy; < 0 when INT4 is worse)

and summarised as the mean over seeds ± half their range. The rule, fixed before measuring:

**shown** when the mean loss gap falls at every step up in size, *and* the fall from the smallest to the largest
model is larger than the seed noise of the two (the sum of their half ranges), measured over at least ``MIN_SEEDS``
seeds per size; otherwise **not shown**, with the measured gaps. The line also carries the weight statistics the
paper's argument rests on (the rows' peak-to-σ and excess kurtosis, ``weight_stats``), so a reader sees whether the
weights stayed narrow, and splits the gap into its two factors. Near a trained minimum the loss grows with the
square of a small weight perturbation (ΔL ≈ ½ δᵀHδ), so with e = ‖W − Ŵ‖ / ‖W‖ the relative INT4 weight error,

    ΔL ≈ S · e²          S = ΔL / e²: the loss per unit of squared relative weight error           (2)

A gap can fall with size because the weights quantize better (e falls: the paper's explanation) or because the
model minds the same error less (S falls).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import mean

MIN_SEEDS = 2  # one seed has no spread to compare a fall with


@dataclass(frozen=True)
class SizeGap:
    size: str
    quantized_weights: int  # weights INT4 stores (the four block linears)
    total_parameters: int
    loss_gap: list[float]  # INT4 − FP32 validation loss, one per seed
    accuracy_gap: list[float]  # INT4 − FP32 token accuracy, one per seed
    int8_loss_gap: list[float]
    fp32_loss: list[float]
    fp32_accuracy: list[float]
    peak_to_sigma: list[float]  # trained weights, the four block linears together
    excess_kurtosis: list[float]
    outlier_share: list[float]
    int4_error: list[float]

    @property
    def sensitivity(self) -> list[float]:
        """S = ΔL / e² per seed, equation (2)."""
        return [g / e ** 2 for g, e in zip(self.loss_gap, self.int4_error)]


def half_range(values: list[float]) -> float:
    return (max(values) - min(values)) / 2


def size_gap(size: str, parameters: dict, members: list[dict]) -> SizeGap:
    """One ``SizeGap`` from ``size_family.measure_member`` results (one per seed) and ``parameter_counts``."""
    if not members:
        raise ValueError(f"members: expected the measurements of at least one seed of {size}, got none")
    q = [m["quality"] for m in members]
    w = [m["weights"]["all"] for m in members]
    return SizeGap(size, parameters["quantized"], parameters["total"],
                   loss_gap=[x["int4"]["val_loss"] - x["fp32"]["val_loss"] for x in q],
                   accuracy_gap=[x["int4"]["token_accuracy"] - x["fp32"]["token_accuracy"] for x in q],
                   int8_loss_gap=[x["int8"]["val_loss"] - x["fp32"]["val_loss"] for x in q],
                   fp32_loss=[x["fp32"]["val_loss"] for x in q], fp32_accuracy=[x["fp32"]["token_accuracy"] for x in q],
                   peak_to_sigma=[s["peak_to_sigma"] for s in w], excess_kurtosis=[s["excess_kurtosis"] for s in w],
                   outlier_share=[s["outlier_share"] for s in w], int4_error=[s["int4_error"] for s in w])


def shrinks_with_size(gaps: list[SizeGap]) -> tuple[bool, float, float]:
    """``(shown, fall, noise)``: the rule of the module docstring on ``gaps`` ordered by size."""
    if len(gaps) < 2:
        raise ValueError(f"gaps: expected at least two sizes to compare, got {len(gaps)}")
    ordered = sorted(gaps, key=lambda g: g.quantized_weights)
    means = [mean(g.loss_gap) for g in ordered]
    fall = means[0] - means[-1]
    noise = half_range(ordered[0].loss_gap) + half_range(ordered[-1].loss_gap)
    monotone = all(a > b for a, b in zip(means, means[1:]))
    seeded = all(len(g.loss_gap) >= MIN_SEEDS for g in ordered)
    return monotone and fall > noise and seeded, fall, noise


def gap_factors(gaps: list[SizeGap]) -> str:
    """From the smallest to the largest size: which way the rows' peak-to-σ, the INT4 weight error e and the loss per
    unit e² (equation (2)) moved, and so which factor the gap's change comes from."""
    ordered = sorted(gaps, key=lambda g: g.quantized_weights)
    first, last = ordered[0], ordered[-1]

    def change(key: str) -> tuple[float, float]:
        return mean(getattr(first, key)), mean(getattr(last, key))

    def trend(key: str, fmt: str) -> str:
        a, b = change(key)
        return f"{'rises' if b > a else 'falls'} ({a:{fmt}} -> {b:{fmt}})"

    (e0, e1), (s0, s1) = change("int4_error"), change("sensitivity")
    driver = max((("the weights' INT4 error e²", (e1 / e0) ** 2), ("the loss per unit e²", s1 / s0)),
                 key=lambda kv: abs(math.log(kv[1])))
    return (f"row peak-to-σ {trend('peak_to_sigma', '.2f')} with size, INT4 weight error e "
            f"{trend('int4_error', '.4f')}, loss per unit e² {trend('sensitivity', '.2f')}: the larger change is "
            f"{driver[0]}, x{driver[1]:.2f}")


def _nats(values: list[float]) -> str:
    return f"{mean(values):+.4f} ± {half_range(values):.4f}"


def int4_scale_line(gaps: list[SizeGap]) -> str:
    """``lesson int4-scale: shown (...)`` or ``lesson int4-scale: not shown (...)`` (module docstring)."""
    shown, fall, noise = shrinks_with_size(gaps)
    ordered = sorted(gaps, key=lambda g: g.quantized_weights)
    seeds = min(len(g.loss_gap) for g in ordered)
    per_size = "; ".join(
        f"{g.size} ({g.quantized_weights / 1e3:.0f}k quantized weights): INT4 loss gap {_nats(g.loss_gap)} nats, "
        f"accuracy {100 * mean(g.accuracy_gap):+.2f} points, peak/σ {mean(g.peak_to_sigma):.2f}, "
        f"kurtosis {mean(g.excess_kurtosis):+.2f}" for g in ordered)
    span = ordered[-1].quantized_weights / ordered[0].quantized_weights
    if shown:
        verdict = f"the gap falls by {fall:.4f} nats over a {span:.0f}x span, more than the seed noise {noise:.4f}"
    elif seeds < MIN_SEEDS:
        verdict = f"{seeds} seed per size has no spread to judge a fall of {fall:+.4f} nats by; {MIN_SEEDS} needed"
    else:
        verdict = (f"the gap does not fall with size beyond the seed noise: smallest minus largest {fall:+.4f} nats, "
                   f"noise {noise:.4f}, over a {span:.0f}x span")
    factors = gap_factors(gaps)
    seeds_text = f"{seeds} seed{'s' * (seeds != 1)} each"
    return f"lesson int4-scale: {'shown' if shown else 'not shown'} ({verdict}; {factors}; {per_size}; {seeds_text})"
