"""How varied a text is: sentence frames, distinct-n-gram ratio and Chinese character coverage, beside real text.

How it works
------------
- **Sentence frames.** A sentence with every entity slotted out: numbers (digits, English number words, Chinese
  numerals) become ``#``, names (people, towns, rivers, pets: English words that the corpus never writes in lower
  case, Chinese surname + given-name characters, runs of the invented-syllable characters) become ``N``, and every
  word of the kit's closed word lists (places, objects, animals, colours, foods, feelings, ...) becomes ``X``.
  ``"At 9 o'clock, Li Wei went to the library."`` and ``"At ten o'clock, Anna went to the park."`` are one frame,
  ``"At # o'clock, N went to the X."``; the number of distinct frames counts how many *ways of saying* the corpus
  has, not how many names.
- **Distinct-n ratio** (Li et al. 2016): distinct n-grams / all n-grams over the first ``n_tokens`` tokens, where a
  token is a lower-cased English word or one Chinese character (punctuation included, spaces dropped). It depends
  on the sample length, so compare equal lengths only (``distinct_ngram_ratio(..., n_tokens=...)``).
- **Character coverage**: the share of a reference text's Chinese characters (counted with repeats) that occur
  somewhere in the corpus, i.e. that a tokenizer trained on the corpus can have seen.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Iterable

from glm_mini.data import lexicon as lx

CJK = re.compile(r"[\u4e00-\u9fff]")
_SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]?")
_TOKEN_EN = re.compile(r"[A-Za-z']+|\d+|[^\sA-Za-z\d]")
_EN_NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve").split()


def _closed_class_words() -> tuple[list[str], list[str]]:
    en, zh = set(), set()
    for name in dir(lx):
        items = getattr(lx, name)
        if name.isupper() and isinstance(items, tuple) and items and isinstance(items[0], tuple):
            for item in items:
                if isinstance(item, lx.Thing):
                    en.update((item.en, item.en_plural))
                    zh.add(item.zh)
                elif isinstance(item, lx.Pair) and name not in ("ACTIVITIES", "MOVES", "SYLLABLES", "SURNAMES",
                                                                "GIVEN_SYLLABLES", "WESTERN_NAMES"):
                    en.add(item.en)
                    zh.add(item.zh)
    return sorted(en, key=len, reverse=True), sorted(zh, key=len, reverse=True)


@lru_cache(maxsize=None)
def _slotters() -> tuple[re.Pattern, re.Pattern, re.Pattern, re.Pattern]:
    en_words, zh_words = _closed_class_words()
    en_lex = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in en_words) + r")\b")
    zh_lex = re.compile("|".join(re.escape(w) for w in zh_words if len(w) > 1))
    name_chars = "".join(sorted({c for p in lx.SURNAMES + lx.GIVEN_SYLLABLES + lx.SYLLABLES for c in p.zh}))
    zh_names = re.compile(f"[{name_chars}]{{2,}}")
    zh_number = re.compile(r"[0-9零一二两三四五六七八九十百千万]+")
    return en_lex, zh_lex, zh_names, zh_number


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def english_frame(sentence: str, lowercase_words: set[str]) -> str:
    """``sentence`` with numbers -> ``#``, names -> ``N``, closed-class words -> ``X`` (see the module docstring)."""
    en_lex, _, _, _ = _slotters()
    out = re.sub(r"\d+(?::\d\d)?", "#", sentence)
    out = re.sub(r"\b(?:" + "|".join(_EN_NUMBER_WORDS) + r")\b", "#", out, flags=re.IGNORECASE)
    out = re.sub(r"\b[A-Z][a-z]+\b", lambda m: m.group(0) if m.group(0).lower() in lowercase_words else "N", out)
    out = re.sub(r"N(?: N)+", "N", out)  # "Li Wei" is one name
    return en_lex.sub("X", out)


def chinese_frame(sentence: str) -> str:
    _, zh_lex, zh_names, zh_number = _slotters()
    out = zh_lex.sub("X", sentence)
    out = zh_names.sub("N", out)
    return zh_number.sub("#", out)


def frame_counts(texts: Iterable[str], lang: str) -> Counter:
    """Distinct sentence frames of ``texts`` (all in one language, ``"en"`` or ``"zh"``) with their counts."""
    if lang not in ("en", "zh"):
        raise ValueError(f"lang must be 'en' or 'zh', got {lang!r}")
    texts = list(texts)
    all_sentences = [s for t in texts for s in sentences(t)]
    if lang == "zh":
        return Counter(chinese_frame(s) for s in all_sentences)
    lowercase = {w for t in texts for w in re.findall(r"\b[a-z]+\b", t)}
    return Counter(english_frame(s, lowercase) for s in all_sentences)


def tokens(text: str, lang: str) -> list[str]:
    """Lower-cased English words (and punctuation), or Chinese characters (spaces dropped)."""
    if lang == "en":
        return [t.lower() for t in _TOKEN_EN.findall(text)]
    return [c for c in text if not c.isspace()]


def distinct_ngram_ratio(toks: list[str], n: int = 4, n_tokens: int | None = None) -> float:
    """Distinct n-grams / n-grams over the first ``n_tokens`` tokens (all of them by default)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    toks = toks[:n_tokens] if n_tokens is not None else toks
    grams = [tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)]
    if not grams:
        raise ValueError(f"distinct_ngram_ratio needs at least n={n} tokens, got {len(toks)}")
    return len(set(grams)) / len(grams)


def char_coverage(corpus_text: str, reference_text: str) -> float:
    """Share of the reference's Chinese character occurrences whose character occurs in the corpus."""
    known = set(CJK.findall(corpus_text))
    ref = CJK.findall(reference_text)
    if not ref:
        raise ValueError("char_coverage: the reference text holds no Chinese characters")
    return sum(c in known for c in ref) / len(ref)
