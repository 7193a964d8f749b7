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
moved onto the candidate so that both are tokenized as the running text was in training. A context too long for the
model keeps its last tokens, as the official evaluation datasets truncate (``evaluation/dataset.py``): room is left
for the longest candidate and the two tokens ``[gMASK]``/``[MASK]`` and ``[sop]``.

A split whose items cannot be ranked is refused with ``ValueError`` naming the record: no records, an empty target,
a target missing from its candidates, fewer than two distinct candidates (a ranking of one is always right), or a
held-out family with fewer than two distinct answers in a language.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from torch import nn

from glm_mini.cli.progress import progress_bar
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


def _fit(model: nn.Module, context: list[int], choices: list[list[int]]) -> list[int]:
    """The last tokens of ``context`` that fit beside the longest choice and two special tokens."""
    room = model.config.max_sequence_length - max(len(c) for c in choices) - 2
    if room < 1:
        raise ValueError(f"choices: a candidate of {max(len(c) for c in choices)} tokens leaves no room for context "
                         f"in max_sequence_length={model.config.max_sequence_length}")
    return context[-room:]


def _need(records: list[dict], split: str, fields: tuple[str, ...]) -> None:
    if not records:
        raise ValueError(f"{split}: expected at least one record, got none")
    for i, r in enumerate(records):
        missing = [f for f in fields if f not in r]
        if missing:
            raise ValueError(f"{split}[{i}]: missing field(s) {missing}; expected {list(fields)}")
        if "candidates" in fields:
            _check_candidates(r, f"{split}[{i}]")


def _check_candidates(record: dict, where: str) -> None:
    """A rankable item: a non-empty target among at least two distinct, non-empty candidate strings."""
    target, candidates = record["target"], record["candidates"]
    if not isinstance(target, str) or not target.strip():
        raise ValueError(f"{where}: expected a non-empty target string, got {target!r}")
    if (not isinstance(candidates, list) or any(not isinstance(c, str) or not c.strip() for c in candidates)
            or len(set(candidates)) < 2):
        raise ValueError(f"{where}: expected at least 2 distinct non-empty candidate strings (a ranking of one is "
                         f"always right), got {candidates!r}"[:300])
    if target not in candidates:
        raise ValueError(f"{where}: the target {target!r} is not among the candidates {candidates!r}"[:300])


def cloze_scores(model: nn.Module, tokenizer, records: list[dict], generation: bool = True,
                 progress: bool | None = None) -> list[Score]:
    """Candidate ranking (bidirectional and unidirectional) and, if ``generation``, the exact-match metric.
    ``progress``: a bar per pass over the records (None: when stderr is a terminal)."""
    _need(records, "cloze_test", ("context", "target", "candidates"))
    special = tokenizer.special
    rows = []
    for unidirectional, name in ((False, "bidirectional [gMASK]"), (True, "unidirectional (causal)")):
        scores, labels = [], []
        for r in progress_bar(records, enabled=progress, desc=f"cloze, {name}", unit="item", leave=False):
            context, _ = _split_space(r["context"], "")
            choices = [_encode(tokenizer, _split_space(r["context"], c)[1]) for c in r["candidates"]]
            context_ids = _fit(model, _encode(tokenizer, context), choices)
            scores.append(continuation_log_probs(model, context_ids, choices, special, unidirectional))
            labels.append(r["candidates"].index(r["target"]))
        rows.append(Score("cloze_test", f"rank candidates, {name}", rank_accuracy(scores, labels), len(records)))
    if generation:
        for unidirectional, name in ((False, "bidirectional"), (True, "unidirectional")):
            limit = model.config.max_sequence_length - 5 - 2  # room for 5 new tokens, [gMASK] and [sop]
            contexts = [_encode(tokenizer, r["context"].rstrip(" "))[-limit:] for r in records]
            preds = cloze_predictions(model, contexts, special, max_new_tokens=5, unidirectional=unidirectional)
            hits = [first_word(tokenizer.decode(p)) == r["target"] for p, r in zip(preds, records)]
            rows.append(Score("cloze_test", f"generate, first word exact ({name})", sum(hits) / len(hits),
                              len(records)))
    return rows


def infill_scores(model: nn.Module, tokenizer, records: list[dict], progress: bool | None = None) -> list[Score]:
    """Candidate ranking for a mid-passage blank: with the right context ([MASK]) and without it."""
    _need(records, "infill_test", ("prefix", "target", "suffix", "candidates"))
    special = tokenizer.special
    labels = [r["candidates"].index(r["target"]) for r in records]
    with_suffix, prefix_bi, prefix_causal = [], [], []
    for r in progress_bar(records, enabled=progress, desc="infill", unit="item", leave=False):
        prefix, _ = _split_space(r["prefix"], "")
        choices = [_encode(tokenizer, _split_space(r["prefix"], c)[1]) for c in r["candidates"]]
        prefix_ids, suffix_ids = _fit(model, _encode(tokenizer, prefix), choices), _encode(tokenizer, r["suffix"])
        room = model.config.max_sequence_length - sum(len(c) for c in choices) - 1  # every choice in one pass
        suffix_ids = suffix_ids[: max(room // 2, room - len(prefix_ids))]  # the text nearest the blank is kept
        keep = max(0, room - len(suffix_ids))
        context = (prefix_ids[-keep:] if keep else []) + [special.mask] + suffix_ids
        with_suffix.append(choice_log_probs(model, context, choices, special))
        prefix_bi.append(continuation_log_probs(model, prefix_ids, choices, special, unidirectional=False))
        prefix_causal.append(continuation_log_probs(model, prefix_ids, choices, special, unidirectional=True))
    n = len(records)
    return [Score("infill_test", "[MASK], text after the blank visible", rank_accuracy(with_suffix, labels), n),
            Score("infill_test", "[gMASK], prefix only, bidirectional", rank_accuracy(prefix_bi, labels), n),
            Score("infill_test", "prefix only, unidirectional (causal)", rank_accuracy(prefix_causal, labels), n)]


def task_scores(model: nn.Module, tokenizer, records: list[dict], split: str = "mip_heldout",
                progress: bool | None = None) -> list[Score]:
    """Per family: rank classification over the family's labels (its items' distinct answers, per language)."""
    _need(records, split, ("prompt", "answer", "family", "lang"))
    special = tokenizer.special
    labels_of: dict[tuple[str, str], list[str]] = defaultdict(list)
    for i, r in enumerate(records):
        if not isinstance(r["answer"], str) or not r["answer"].strip():
            raise ValueError(f"{split}[{i}]: expected a non-empty answer string, got {r['answer']!r}")
        key = (r["family"], r["lang"])
        if r["answer"] not in labels_of[key]:
            labels_of[key].append(r["answer"])
    for (family, lang), labels in labels_of.items():
        if len(labels) < 2:
            raise ValueError(f"{split}: family {family!r} ({lang}) has the single answer {labels[0]!r} in these "
                             f"records; ranking its labels needs at least 2 (a ranking of one is always right)")
    by_family: dict[str, list[bool]] = defaultdict(list)
    for r in progress_bar(records, enabled=progress, desc=split, unit="item", leave=False):
        labels = sorted(labels_of[(r["family"], r["lang"])])
        choices = [_encode(tokenizer, a) for a in labels]
        room = model.config.max_sequence_length - sum(len(c) for c in choices) - 1
        scores = choice_log_probs(model, _encode(tokenizer, r["prompt"])[-room:], choices, special,
                                  positions="continue")
        by_family[r["family"]].append(labels[max(range(len(scores)), key=scores.__getitem__)] == r["answer"])
    return [Score(split, f"{family}: rank its labels", sum(h) / len(h), len(h)) for family, h in
            sorted(by_family.items())]


def format_scores(rows: list[Score]) -> str:
    """A plain-text table in the layout of ``glm_mini.data.baselines.format_table``."""
    width = max((len(r.method) for r in rows), default=10)
    lines = [f"{'split':<15} {'method':<{width}} {'accuracy':>8} {'n':>6}"]
    lines += [f"{r.split:<15} {r.method:<{width}} {100 * r.accuracy:7.1f}% {r.n:>6}" for r in rows]
    return "\n".join(lines)
