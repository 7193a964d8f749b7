"""Zero-shot evaluation of a model on the kit's evaluation splits, beside the rule baselines of the same items.

How it works
------------
Each split is scored the way the paper scores its counterpart (docs/glm130b_facts.md §6), with ``glm_mini.evaluate``:

- ``cloze_test`` (LAMBADA-like): rank the passage's candidate entities as the ``[gMASK]`` continuation of the context,
  once with the context read both ways (GLM) and once purely left to right (GPT-style, the paper's unidirectional
  ablation); and the official metric, greedy generation whose first word must equal the answer.
- ``infill_test``: rank the candidates for a blank in mid-passage three ways: ``[MASK]`` with the text after the
  blank visible (what GLM's blank infilling is for), ``[gMASK]`` over the prefix alone read both ways, and the prefix
  alone left to right. The evidence for these blanks comes after them, so only the first can use it.
- ``mip_heldout`` (held-out instruction families): rank each family's labels (the distinct answers of its items in
  that language) after the prompt, in the layout MIP trains with (``positions="continue"``).

A candidate follows its context directly in the corpus text; when the context ends with a space, the space is
moved onto the candidate so that both are tokenized as the running text was in training.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from torch import nn

from glm_mini.evaluate import (choice_log_probs, cloze_predictions, continuation_log_probs, first_word,
                               rank_accuracy)


@dataclass(frozen=True)
class Score:
    split: str
    method: str
    accuracy: float
    n: int


def _split_space(left: str, word: str) -> tuple[str, str]:
    """Move a trailing space of ``left`` onto ``word``: "... gave it to " + "Anna" -> "... gave it to", " Anna"."""
    stripped = left.rstrip(" ")
    return stripped, left[len(stripped):] + word


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, parse_special=False)


def _need(records: list[dict], split: str, fields: tuple[str, ...]) -> None:
    if not records:
        raise ValueError(f"{split}: expected at least one record, got none")
    for i, r in enumerate(records):
        missing = [f for f in fields if f not in r]
        if missing:
            raise ValueError(f"{split}[{i}]: missing field(s) {missing}; expected {list(fields)}")


def cloze_scores(model: nn.Module, tokenizer, records: list[dict], generation: bool = True) -> list[Score]:
    """Candidate ranking (bidirectional and unidirectional) and, if ``generation``, the exact-match metric."""
    _need(records, "cloze_test", ("context", "target", "candidates"))
    special = tokenizer.special
    rows = []
    for unidirectional, name in ((False, "bidirectional [gMASK]"), (True, "unidirectional (causal)")):
        scores, labels = [], []
        for r in records:
            context, _ = _split_space(r["context"], "")
            choices = [_encode(tokenizer, _split_space(r["context"], c)[1]) for c in r["candidates"]]
            scores.append(continuation_log_probs(model, _encode(tokenizer, context), choices, special,
                                                 unidirectional))
            labels.append(r["candidates"].index(r["target"]))
        rows.append(Score("cloze_test", f"rank candidates, {name}", rank_accuracy(scores, labels), len(records)))
    if generation:
        for unidirectional, name in ((False, "bidirectional"), (True, "unidirectional")):
            contexts = [_encode(tokenizer, r["context"].rstrip(" ")) for r in records]
            preds = cloze_predictions(model, contexts, special, max_new_tokens=5, unidirectional=unidirectional)
            hits = [first_word(tokenizer.decode(p)) == r["target"] for p, r in zip(preds, records)]
            rows.append(Score("cloze_test", f"generate, first word exact ({name})", sum(hits) / len(hits),
                              len(records)))
    return rows


def infill_scores(model: nn.Module, tokenizer, records: list[dict]) -> list[Score]:
    """Candidate ranking for a mid-passage blank: with the right context ([MASK]) and without it."""
    _need(records, "infill_test", ("prefix", "target", "suffix", "candidates"))
    special = tokenizer.special
    labels = [r["candidates"].index(r["target"]) for r in records]
    with_suffix, prefix_bi, prefix_causal = [], [], []
    for r in records:
        prefix, _ = _split_space(r["prefix"], "")
        choices = [_encode(tokenizer, _split_space(r["prefix"], c)[1]) for c in r["candidates"]]
        context = _encode(tokenizer, prefix) + [special.mask] + _encode(tokenizer, r["suffix"])
        with_suffix.append(choice_log_probs(model, context, choices, special))
        prefix_ids = _encode(tokenizer, prefix)
        prefix_bi.append(continuation_log_probs(model, prefix_ids, choices, special, unidirectional=False))
        prefix_causal.append(continuation_log_probs(model, prefix_ids, choices, special, unidirectional=True))
    n = len(records)
    return [Score("infill_test", "[MASK], text after the blank visible", rank_accuracy(with_suffix, labels), n),
            Score("infill_test", "[gMASK], prefix only, bidirectional", rank_accuracy(prefix_bi, labels), n),
            Score("infill_test", "prefix only, unidirectional (causal)", rank_accuracy(prefix_causal, labels), n)]


def task_scores(model: nn.Module, tokenizer, records: list[dict], split: str = "mip_heldout") -> list[Score]:
    """Per family: rank classification over the family's labels (its items' distinct answers, per language)."""
    _need(records, split, ("prompt", "answer", "family", "lang"))
    special = tokenizer.special
    labels_of: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in records:
        key = (r["family"], r["lang"])
        if r["answer"] not in labels_of[key]:
            labels_of[key].append(r["answer"])
    by_family: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        labels = sorted(labels_of[(r["family"], r["lang"])])
        choices = [_encode(tokenizer, a) for a in labels]
        scores = choice_log_probs(model, _encode(tokenizer, r["prompt"]), choices, special, positions="continue")
        by_family[r["family"]].append(labels[max(range(len(scores)), key=scores.__getitem__)] == r["answer"])
    return [Score(split, f"{family}: rank its labels", sum(h) / len(h), len(h)) for family, h in
            sorted(by_family.items())]


def format_scores(rows: list[Score]) -> str:
    """A plain-text table in the layout of ``glm_mini.data.baselines.format_table``."""
    width = max((len(r.method) for r in rows), default=10)
    lines = [f"{'split':<15} {'method':<{width}} {'accuracy':>8} {'n':>6}"]
    lines += [f"{r.split:<15} {r.method:<{width}} {100 * r.accuracy:7.1f}% {r.n:>6}" for r in rows]
    return "\n".join(lines)
