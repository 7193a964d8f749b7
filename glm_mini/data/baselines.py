"""Baselines shipped with the data: n-gram language models and the rules a skeptic would try on each evaluation split.

How it works
------------
A number means something only beside what a trivial method gets on the same data. Two kinds of baselines:

**Language models** on the kit's tokenization (each document is ``[eod] ids [eod]``; every token after the first
``[eod]`` is predicted, the closing ``[eod]`` included), trained on ``train`` and scored on ``validation`` in
nats/token:

- unigram, add-one smoothed: ``p(w) = (c(w) + 1) / (N + V)``;
- interpolated Kneser-Ney bigram (Chen & Goodman 1998) with one discount ``d`` (0.75):

  ``p(w|v) = max(c(v,w) - d, 0) / c(v)  +  d * N1+(v .) / c(v) * p_cont(w)``, and ``p_cont(w)`` when ``c(v) = 0``,

  ``p_cont(w) = (max(N1+(. w) - d, 0) + d * T / V) / N1+(. .)``: the share of distinct left contexts ``w`` follows,
  itself discounted towards uniform over the ``V`` ids (``T`` = ids seen as a continuation), so that every id has
  non-zero probability and each row sums to 1 (``tests/test_baselines.py`` checks both).

**Rules** for each evaluation split (accuracy, exact match of the chosen answer):

- ``cloze_test`` / ``infill_test`` (records carry ``candidates``: the entities of the answer's type in the passage):
  the first candidate, the last-mentioned one (before the blank, for infill), the last-mentioned one before the final
  sentence, the nearest one after the blank (infill), the most frequent in the passage, the
  most frequent in the training text, a uniformly random one (its expected accuracy, 1/k), and the bigram model
  restricted to the candidates (the candidate whose tokens it finds likeliest after the context; for infill also a
  version that scores the words right after the blank too);
- ``mip_validation`` / ``mip_heldout``: per family, the majority answer of the split (the best constant answer) and
  the label that occurs most often in the training text, among that family's labels.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

DISCOUNT = 0.75
TAIL_CHARS = 32  # context characters the bigram rule reads on each side of a candidate


def document_ids(tokenizer, texts: Iterable[str]) -> list[np.ndarray]:
    """``[eod] ids [eod]`` for each text, as int64 arrays."""
    eod = tokenizer.eod_id
    return [np.array([eod, *tokenizer.encode(t), eod], dtype=np.int64) for t in texts]


def _pairs(docs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    prev = np.concatenate([d[:-1] for d in docs]) if docs else np.zeros(0, np.int64)
    nxt = np.concatenate([d[1:] for d in docs]) if docs else np.zeros(0, np.int64)
    return prev, nxt


class UnigramLM:
    """Add-one smoothed unigram model over ``vocab_size`` ids."""

    def __init__(self, docs: Sequence[np.ndarray], vocab_size: int):
        _, nxt = _pairs(docs)
        self.vocab_size = vocab_size
        self.log_p = np.log((np.bincount(nxt, minlength=vocab_size) + 1.0) / (len(nxt) + vocab_size))

    def nats_per_token(self, docs: Sequence[np.ndarray]) -> float:
        _, nxt = _pairs(docs)
        return float(-self.log_p[nxt].mean())


class KneserNeyBigram:
    """Interpolated Kneser-Ney bigram model (formula in the module docstring)."""

    def __init__(self, docs: Sequence[np.ndarray], vocab_size: int, discount: float = DISCOUNT):
        if not 0.0 < discount < 1.0:
            raise ValueError(f"discount must be in (0, 1), got {discount}")
        prev, nxt = _pairs(docs)
        if len(prev) == 0:
            raise ValueError("KneserNeyBigram needs at least one document with a token, got none")
        v = self.vocab_size = vocab_size
        self.d = discount
        keys, counts = np.unique(prev * v + nxt, return_counts=True)
        self.keys, self.counts = keys, counts
        self.context_count = np.bincount(prev, minlength=v).astype(np.float64)  # c(v)
        self.followers = np.bincount(keys // v, minlength=v).astype(np.float64)  # N1+(v .)
        left = np.bincount(keys % v, minlength=v).astype(np.float64)  # N1+(. w)
        seen = float((left > 0).sum())
        self.p_cont = (np.maximum(left - discount, 0.0) + discount * seen / v) / len(keys)

    def prob(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """p(nxt | prev), elementwise over two int arrays of the same shape."""
        prev, nxt = np.asarray(prev, np.int64), np.asarray(nxt, np.int64)
        key = prev * self.vocab_size + nxt
        at = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
        pair_count = np.where(self.keys[at] == key, self.counts[at], 0).astype(np.float64)
        c = self.context_count[prev]
        safe = np.maximum(c, 1.0)
        backoff = self.d * self.followers[prev] / safe
        p = np.maximum(pair_count - self.d, 0.0) / safe + backoff * self.p_cont[nxt]
        return np.where(c > 0, p, self.p_cont[nxt])

    def log_prob(self, ids: Sequence[int]) -> float:
        """Sum of log p over ``ids[1:]`` given each previous id."""
        ids = np.asarray(ids, np.int64)
        return float(np.log(self.prob(ids[:-1], ids[1:])).sum()) if len(ids) > 1 else 0.0

    def nats_per_token(self, docs: Sequence[np.ndarray]) -> float:
        prev, nxt = _pairs(docs)
        return float(-np.log(self.prob(prev, nxt)).mean())


@dataclass(frozen=True)
class LMBaselines:
    unigram: UnigramLM
    bigram: KneserNeyBigram
    unigram_nats: float  # nats/token on validation
    bigram_nats: float


def lm_baselines(tokenizer, corpus: dict) -> LMBaselines:
    """Unigram and Kneser-Ney bigram trained on ``corpus["train"]``, scored on ``corpus["validation"]``."""
    for split in ("train", "validation"):
        if not corpus.get(split):
            raise ValueError(f"corpus[{split!r}] must hold records, got {len(corpus.get(split) or [])}")
    train = document_ids(tokenizer, (r["text"] for r in corpus["train"]))
    valid = document_ids(tokenizer, (r["text"] for r in corpus["validation"]))
    v = len(tokenizer)
    unigram, bigram = UnigramLM(train, v), KneserNeyBigram(train, v)
    return LMBaselines(unigram, bigram, unigram.nats_per_token(valid), bigram.nats_per_token(valid))


# ---------------------------------------------------------------------------------------------------------------
# Rules


@dataclass(frozen=True)
class BaselineRow:
    split: str
    baseline: str
    accuracy: float
    n: int


def _last_mentioned(text: str, candidates: Sequence[str]) -> str:
    return max(candidates, key=lambda c: text.rfind(c))


def _before_last_sentence(text: str) -> str:
    """``text`` up to the end of its second-to-last sentence (the final, unfinished sentence removed)."""
    ends = [text.rfind(mark) for mark in ".。!?！？"]
    return text[: max(ends) + 1]


def _most_frequent(text: str, candidates: Sequence[str]) -> str:
    return max(candidates, key=lambda c: text.count(c))  # ties: the first in candidate order


class TrainFrequency:
    """How often a string occurs in the training text. ``prime(strings)`` counts many strings in one regex pass
    (longest match first, so "Li Weifang" is not also counted as "Li Wei"); lookups of other strings count alone."""

    def __init__(self, corpus: dict):
        self.text = "\n".join(r["text"] for r in corpus["train"] + corpus.get("mip_train", []))
        self.memo: dict[str, int] = {}

    def prime(self, strings: Iterable[str]) -> None:
        new = sorted({s for s in strings if s and s not in self.memo}, key=len, reverse=True)
        if new:
            found = Counter(re.findall("|".join(map(re.escape, new)), self.text))
            self.memo.update({s: found[s] for s in new})

    def __call__(self, s: str) -> int:
        if s not in self.memo:
            self.memo[s] = self.text.count(s)
        return self.memo[s]


def _bigram_choice(tokenizer, bigram: KneserNeyBigram, left: str, candidates: Sequence[str], right: str = "") -> str:
    """The candidate that makes ``left + c + right`` likeliest under the bigram model (the context part cancels)."""
    return max(candidates, key=lambda c: bigram.log_prob(tokenizer.encode(left + c + right)))


def _candidate_rules(split: str, records: list[dict], left_of: str, freq: TrainFrequency, tokenizer=None,
                     bigram: KneserNeyBigram | None = None) -> list[BaselineRow]:
    hits: Counter = Counter()
    expected_random = 0.0
    freq.prime(c for r in records for c in r["candidates"])
    for r in records:
        cands, target, left = r["candidates"], r["target"], r[left_of]
        if not cands:
            raise ValueError(f"{split}: a record has no candidates: {r['text'][:80]!r}")
        visible = left if split == "cloze_test" else r["prefix"] + r["suffix"]
        picks = {
            "first candidate": cands[0],
            "last-mentioned candidate": _last_mentioned(left, cands),
            "most frequent in passage": _most_frequent(visible, cands),
            "most frequent in train": max(cands, key=freq),
        }
        if split == "cloze_test":
            picks["last-mentioned before the last sentence"] = _last_mentioned(_before_last_sentence(left), cands)
        if split == "infill_test":
            picks["nearest candidate after the blank"] = min(
                cands, key=lambda c: r["suffix"].find(c) if c in r["suffix"] else len(r["suffix"]))
        if bigram is not None:
            picks["bigram over candidates"] = _bigram_choice(tokenizer, bigram, left[-TAIL_CHARS:], cands)
            if split == "infill_test":
                picks["bigram over candidates, both sides"] = _bigram_choice(
                    tokenizer, bigram, left[-TAIL_CHARS:], cands, r["suffix"][:TAIL_CHARS])
        for name, pick in picks.items():
            hits[name] += pick == target
        expected_random += (target in cands) / len(cands)
    n = len(records)
    rows = [BaselineRow(split, name, hits[name] / n, n) for name in hits]
    return rows + [BaselineRow(split, "random candidate (expected)", expected_random / n, n)]


def _task_rules(split: str, records: list[dict], freq: TrainFrequency) -> list[BaselineRow]:
    """Per family: the best constant answer (one per language), and the label the training text uses most."""
    rows = []
    for family in sorted({r["family"] for r in records}):
        mine = [r for r in records if r["family"] == family]
        langs = sorted({r["lang"] for r in mine})
        by_lang = {lang: Counter(r["answer"] for r in mine if r["lang"] == lang) for lang in langs}
        majority = sum(c.most_common(1)[0][1] for c in by_lang.values())
        rows.append(BaselineRow(split, f"{family}: majority answer", majority / len(mine), len(mine)))
        if all(len(c) <= 12 for c in by_lang.values()):  # a classification family: its answers are its labels
            prior = sum(c[max(sorted(c), key=freq)] for c in by_lang.values())
            rows.append(BaselineRow(split, f"{family}: most frequent label in train", prior / len(mine), len(mine)))
    return rows


def rule_baselines(corpus: dict, tokenizer=None, bigram: KneserNeyBigram | None = None) -> list[BaselineRow]:
    """Every rule baseline on every evaluation split present in ``corpus`` (the bigram rules need both the tokenizer
    and a bigram model, e.g. ``lm_baselines(tokenizer, corpus).bigram``)."""
    if (tokenizer is None) != (bigram is None):
        raise ValueError("rule_baselines: pass both tokenizer and bigram, or neither "
                         f"(got tokenizer={tokenizer is not None}, bigram={bigram is not None})")
    if not corpus.get("train"):
        raise ValueError("rule_baselines: corpus['train'] must hold records (the train-frequency rule reads it)")
    freq = TrainFrequency(corpus)
    rows: list[BaselineRow] = []
    if corpus.get("cloze_test"):
        rows += _candidate_rules("cloze_test", corpus["cloze_test"], "context", freq, tokenizer, bigram)
    if corpus.get("infill_test"):
        rows += _candidate_rules("infill_test", corpus["infill_test"], "prefix", freq, tokenizer, bigram)
    for split in ("mip_validation", "mip_heldout"):
        if corpus.get(split):
            rows += _task_rules(split, corpus[split], freq)
    return rows


def baseline_table(corpus: dict, tokenizer=None) -> list[BaselineRow]:
    """LM rows (nats/token on validation, in the ``accuracy`` column) and every rule row, ready for ``format_table``."""
    rows: list[BaselineRow] = []
    bigram = None
    if tokenizer is not None:
        lm = lm_baselines(tokenizer, corpus)
        n = sum(len(d) - 1 for d in document_ids(tokenizer, (r["text"] for r in corpus["validation"])))
        rows += [BaselineRow("validation", "unigram (nats/token)", lm.unigram_nats, n),
                 BaselineRow("validation", "Kneser-Ney bigram (nats/token)", lm.bigram_nats, n)]
        bigram = lm.bigram
    return rows + rule_baselines(corpus, tokenizer, bigram)


def format_table(rows: Sequence[BaselineRow]) -> str:
    """A plain-text table: split, baseline, value (accuracy, or nats/token where the name says so), n."""
    width = max((len(r.baseline) for r in rows), default=10)
    lines = [f"{'split':<15} {'baseline':<{width}} {'value':>7} {'n':>7}"]
    for r in rows:
        value = f"{r.accuracy:7.3f}" if "nats" in r.baseline else f"{100 * r.accuracy:6.1f}%"
        lines.append(f"{r.split:<15} {r.baseline:<{width}} {value:>7} {r.n:>7}")
    return "\n".join(lines)
