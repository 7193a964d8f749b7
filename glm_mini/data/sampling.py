"""Seeded sampling helpers for the corpus generator: Zipf-weighted choice, names, numbers in Chinese.

How it works
------------
Natural text is Zipfian: a few entities are frequent and most are rare. ``Zipf`` draws item ``i`` (0-based) with
weight ``1 / (i + 1) ** exponent``. The cumulative weights are computed once, and each draw is one
``random.choices(..., cum_weights=...)`` call, a binary search: O(log n). (Passing plain ``weights`` recomputes the
running sum on every call, O(n), which tests/benchmarks/bench_tokenizer.py measures: it turns a seconds-long generation into
minutes.) Every generator takes an explicit ``random.Random``, so a seed fixes the corpus byte for byte.

``zh_number`` writes an integer in Chinese numerals (``305 -> 三百零五``, ``12 -> 十二``, ``20000 -> 两万``), using
the standard reading rules: a 零 for each run of skipped places, a bare 十 at the start of 10-19, 两 for a leading 2
before 万.
"""

from __future__ import annotations

import itertools
import random
from typing import Generic, Sequence, TypeVar

from glm_mini.data.lexicon import GIVEN_SYLLABLES, SURNAMES, SYLLABLES, WESTERN_NAMES, Pair

T = TypeVar("T")


class Zipf(Generic[T]):
    """Draw items with Zipf weights ``1/(rank+1)**exponent``, O(log n) per draw."""

    def __init__(self, items: Sequence[T], exponent: float = 1.0):
        if not items:
            raise ValueError("Zipf needs at least one item")
        self.items = list(items)
        self.cum_weights = list(itertools.accumulate(1.0 / (rank + 1) ** exponent for rank in range(len(items))))

    def __call__(self, rng: random.Random) -> T:
        return rng.choices(self.items, cum_weights=self.cum_weights)[0]

    def distinct(self, rng: random.Random, k: int) -> list[T]:
        """``k`` different items (redraws on a repeat; ``k`` must be well below ``len(items)``)."""
        chosen: list[T] = []
        while len(chosen) < k:
            item = self(rng)
            if item not in chosen:
                chosen.append(item)
        return chosen


def _shuffled(items: Sequence[T], salt: str) -> list[T]:
    """A fixed permutation (independent of the corpus seed) so that Zipf ranks do not follow list order."""
    out = list(items)
    random.Random(salt).shuffle(out)
    return out


def _chinese_names() -> list[Pair]:
    common = GIVEN_SYLLABLES[:30]  # two-syllable given names from the first 30 only: the list stays ~50 k names
    givens = list(GIVEN_SYLLABLES) + [Pair(a.en + b.en.lower(), a.zh + b.zh) for a in common for b in common if a != b]
    return [Pair(f"{s.en} {g.en}", s.zh + g.zh) for s in SURNAMES for g in givens]


def _invented_words(min_syllables: int, max_syllables: int, syllables: Sequence[Pair] = SYLLABLES) -> list[Pair]:
    words = []
    for n in range(min_syllables, max_syllables + 1):
        for combo in itertools.product(syllables, repeat=n):
            if len({s.en for s in combo}) == n:  # no repeated syllable: "Kaka" is a pet name, not a town
                words.append(Pair("".join(s.en for s in combo).capitalize(), "".join(s.zh for s in combo)))
    return words


PEOPLE = Zipf(_shuffled(_chinese_names(), "people") + list(WESTERN_NAMES), exponent=0.6)
TOWNS = Zipf(_shuffled(_invented_words(2, 2) + _invented_words(3, 3, SYLLABLES[:24]), "towns"), exponent=0.5)
RIVERS = Zipf(_shuffled(_invented_words(2, 2), "rivers"), exponent=0.8)
PET_NAMES = Zipf(_shuffled([Pair((s.en * 2).capitalize(), s.zh * 2) for s in SYLLABLES] + _invented_words(2, 2),
                           "pets"), exponent=0.7)

_DIGITS = "零一二三四五六七八九"


def _below_10000(n: int) -> str:
    """Chinese reading of 1..9999, with 零 for skipped places (``1005 -> 一千零五``)."""
    out, pending_zero = "", False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // value % 10
        if digit == 0:
            pending_zero = bool(out)
            continue
        if pending_zero:
            out += "零"
        out += _DIGITS[digit] + unit
        pending_zero = False
    return out


def zh_number(n: int) -> str:
    """An integer 0 <= n < 10**8 in Chinese numerals."""
    if not 0 <= n < 10**8:
        raise ValueError(f"zh_number supports 0 <= n < 100000000, got {n}")
    if n == 0:
        return "零"
    high, low = divmod(n, 10000)
    text = ""
    if high:
        text = ("两" if high == 2 else _below_10000(high)) + "万"
        if low and low < 1000:
            text += "零"
    if low:
        text += _below_10000(low)
    if text.startswith("一十"):  # 10..19 read 十, 十五
        text = text[1:]
    return text
