"""Where the blanks go: span lengths from a truncated Poisson, drawn until 15% of the text is masked, then placed.

How it works
------------
GLM-130B's ``[MASK]`` objective blanks out short spans (docs/glm130b_facts.md §2.1; the official collator
``glm/collator.py``, and ``blocklm_utils.py`` of the original GLM, which it mirrors):

1. **Lengths.** Each span length is drawn from a Poisson distribution with mean λ = 3, restricted to 1..39 and
   renormalized:

       P(ℓ) = (λ^ℓ e^(-λ) / ℓ!) / Σ_{k=1}^{39} (λ^k e^(-λ) / k!),        ℓ = 1, ..., 39

   Lengths are added until they cover at least ``int(0.15 · n)`` of the ``n`` text tokens (always at least one).
2. **Places.** With ``k`` spans of total length ``S`` in a text of ``n`` tokens, draw ``k`` numbers uniformly from
   ``0..m`` with ``m = n − S − k + 1``, sort them, and put span ``i`` after ``place_i`` unmasked tokens plus the
   spans before it, each followed by at least one token: so spans never touch, and every arrangement is reachable.

3. **What a span leaves visible.** Spans never touch, so the token after a span is always visible: of a span's ``ℓ``
   tokens exactly one, its last, keeps its right neighbour as a cue. Over many spans the share of masked tokens whose
   right neighbour stays visible is (number of spans) / (masked tokens), which tends to

       1 / E[ℓ]        (λ = 3: E[ℓ] ≈ 3.16, so about 32%; λ = 1: E[ℓ] = 1 / (1 − e^(-1)) ≈ 1.58, about 63%)

   (``right_neighbour_visible_share``). A lesson whose blank is fixed by its right neighbour (notebook 07) learns
   only from the masked tokens whose neighbour stayed visible.

When several ``[MASK]`` samples are packed into one training sequence, a sample must fit its slot *after* it grows:
each span adds a ``[MASK]`` to Part A and a ``[sop]`` to Part B, so a text of ``n`` tokens with ``k`` spans becomes
``n + 2k`` tokens. ``sample_span_lengths(..., tokens_per_span=2)`` therefore reads its budget as the slot length and
aims at 15% of the ``budget − 2k`` text tokens that will fit, so a packed sample fills its slot exactly instead of
being cut (the official collator cuts Part B at the slot end).
"""

from __future__ import annotations

import math
import random
from functools import lru_cache

MAX_SPAN_LENGTH = 39  # the official collator's range(1, 40)


@lru_cache(maxsize=16)
def _cum_weights(lam: float, max_len: int) -> tuple[float, ...]:
    pmf = [math.exp(-lam + k * math.log(lam) - math.lgamma(k + 1)) for k in range(1, max_len + 1)]
    return tuple(sum(pmf[: i + 1]) for i in range(len(pmf)))


def span_length_probs(lam: float = 3.0, max_len: int = MAX_SPAN_LENGTH) -> list[float]:
    """P(ℓ) for ℓ = 1..max_len: the Poisson(λ) probabilities restricted to 1..max_len, renormalized (sum to 1)."""
    cum = _cum_weights(float(lam), int(max_len))
    return [(c - p) / cum[-1] for c, p in zip(cum, (0.0, *cum[:-1]))]


def draw_span_length(rng: random.Random, lam: float = 3.0, max_len: int = MAX_SPAN_LENGTH) -> int:
    """One length from the truncated Poisson(λ) on 1..max_len."""
    cum = _cum_weights(float(lam), int(max_len))
    return rng.choices(range(1, max_len + 1), cum_weights=cum)[0]


def sample_span_lengths(rng: random.Random, budget: int, ratio: float = 0.15, lam: float = 3.0,
                        max_len: int = MAX_SPAN_LENGTH, tokens_per_span: int = 0,
                        single_span: bool = False) -> list[int]:
    """Span lengths covering ``int(ratio · n)`` text tokens, ``n = budget − tokens_per_span · k`` for ``k`` spans.

    ``tokens_per_span=0``: ``budget`` is the text length (the paper's rule). ``tokens_per_span=2``: ``budget`` is a
    slot that the finished sample must fill (see the module docstring). Each length is also capped so the spans
    still fit the text; a draw that would no longer fit ends the list. ``single_span``: exactly one span.
    """
    if budget - tokens_per_span < 1:
        raise ValueError(f"budget: expected room for at least one span ({tokens_per_span + 1} tokens), got {budget}")
    cap = min(max_len, budget - tokens_per_span)
    lengths: list[int] = []
    total = 0
    while not lengths or (not single_span and total < int(ratio * (budget - tokens_per_span * len(lengths)))):
        length = draw_span_length(rng, lam, cap)
        k = len(lengths) + 1
        if total + length + k - 1 > budget - tokens_per_span * k:  # k spans need k-1 separating tokens
            break  # never the first span: the cap keeps it inside the text
        lengths.append(length)
        total += length
    return lengths


def place_spans(lengths: list[int], n_tokens: int, rng: random.Random) -> list[tuple[int, int]]:
    """Sorted, non-touching ``(start, end)`` spans of the given lengths (in that order) inside ``n_tokens`` tokens."""
    k, covered = len(lengths), sum(lengths)
    room = n_tokens - covered - k + 1
    if k == 0 or min(lengths) < 1 or room < 0:
        raise ValueError(f"lengths: expected >= 1 positive lengths that fit {n_tokens} tokens with a gap between "
                         f"spans, got {lengths}")
    places = sorted(rng.randrange(room + 1) for _ in range(k))
    spans, offset = [], 0
    for place, length in zip(places, lengths):
        spans.append((offset + place, offset + place + length))
        offset += length + 1
    return spans


def mean_span_length(lam: float = 3.0, max_len: int = MAX_SPAN_LENGTH) -> float:
    """E[ℓ] of the truncated Poisson(λ) on 1..max_len."""
    return sum(p * length for length, p in enumerate(span_length_probs(lam, max_len), start=1))


def right_neighbour_visible_share(spans: list[tuple[int, int]]) -> float:
    """Share of the masked tokens of ``spans`` whose right neighbour is not masked: (number of spans) / (masked
    tokens), since only a span's last token is followed by a visible one (module docstring, point 3)."""
    masked = sum(end - start for start, end in spans)
    if masked == 0:
        raise ValueError("spans: expected at least one non-empty span, got none")
    return len(spans) / masked
