"""Global gradient clipping and the word embedding: how often the clip at 1.0 fires, and whom it shrinks.

How it works
------------
GLM-130B clips the *global* gradient norm at c = 1.0 (paper Tab. 11; ``glm_mini.training.grad_norms``): at step t
every gradient is multiplied by the same factor

    s_t = min(1, c / ‖g_t‖),        ‖g_t‖² = ‖g_emb,t‖² + ‖g_rest,t‖²

so when the word embedding's gradient dominates ‖g_t‖, the clip shrinks every other layer's gradient too. Embedding
gradient shrink (EGS, paper §3) multiplies g_emb by α before the norm is taken, which is the one place where that
constant factor is not undone by Adam (``glm_mini.stability.adam_invariance``). Per step, from the trainer's
gradient norms (measured before clipping):

    share_t = ‖g_emb,t‖² / ‖g_t‖²                          the embedding's share of the squared global norm
    kept_t  = s_t / min(1, c / ‖g_rest,t‖) = min(1, c/‖g_t‖) / min(1, c/‖g_rest,t‖)

kept_t is the part of its gradient the rest of the model keeps, relative to a clip that did not count the embedding:
1 when the clip does not fire (or the embedding is negligible), 0.4 when the embedding's share costs the other layers
60% of their clipped gradient on that step. ``clipping_stats`` averages these over a run and over its first steps.
"""

from __future__ import annotations

import math
import statistics


def _check_norms(grad_norm: list[float], grad_norm_embedding: list[float]) -> None:
    if len(grad_norm) != len(grad_norm_embedding) or not grad_norm:
        raise ValueError(f"grad_norm/grad_norm_embedding: expected two equal, non-empty lists, got lengths "
                         f"{len(grad_norm)} and {len(grad_norm_embedding)}")


def embedding_share(grad_norm: list[float], grad_norm_embedding: list[float]) -> list[float]:
    """share_t = ‖g_emb,t‖² / ‖g_t‖² per step (NaN where ‖g_t‖ is 0 or not finite)."""
    _check_norms(grad_norm, grad_norm_embedding)
    return [e * e / (g * g) if g > 0 and math.isfinite(g) else math.nan
            for g, e in zip(grad_norm, grad_norm_embedding)]


def clip_factor(norm: float, max_norm: float = 1.0) -> float:
    """s = min(1, c / ‖g‖) (1 for a zero norm)."""
    if not max_norm > 0:
        raise ValueError(f"max_norm: expected a positive clipping norm, got {max_norm}")
    return min(1.0, max_norm / norm) if norm > 0 else 1.0


def rest_kept(grad_norm: list[float], grad_norm_embedding: list[float], max_norm: float = 1.0) -> list[float]:
    """kept_t = min(1, c/‖g_t‖) / min(1, c/‖g_rest,t‖) per step, with ‖g_rest,t‖ = √(‖g_t‖² − ‖g_emb,t‖²)."""
    _check_norms(grad_norm, grad_norm_embedding)
    kept = []
    for g, e in zip(grad_norm, grad_norm_embedding):
        rest = math.sqrt(max(g * g - e * e, 0.0))
        kept.append(clip_factor(g, max_norm) / clip_factor(rest, max_norm) if math.isfinite(g) else math.nan)
    return kept


def clipping_stats(grad_norm: list[float], grad_norm_embedding: list[float], max_norm: float = 1.0,
                   early_steps: int = 20) -> dict[str, float]:
    """Over a run: ``clipped`` (share of steps with ‖g‖ > c), ``share`` (mean share_t), ``kept`` (mean kept_t), and
    the same three over the first ``early_steps`` steps (``*_early``)."""
    share = embedding_share(grad_norm, grad_norm_embedding)
    kept = rest_kept(grad_norm, grad_norm_embedding, max_norm)
    clipped = [1.0 if g > max_norm else 0.0 for g in grad_norm]

    def mean(values):
        finite = [v for v in values if math.isfinite(v)]
        return statistics.fmean(finite) if finite else math.nan

    k = max(1, min(early_steps, len(grad_norm)))
    return {"clipped": mean(clipped), "share": mean(share), "kept": mean(kept),
            "clipped_early": mean(clipped[:k]), "share_early": mean(share[:k]), "kept_early": mean(kept[:k])}
