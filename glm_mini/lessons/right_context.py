"""Lesson "bidirectional": does GLM use the text to the *right* of a blank, where a left-to-right model cannot?

How it works
------------
Each ``right_context_test`` item (``glm_mini/data/sounds.py``) blanks an animal whose sound, told after it, fixes it.
Every reader ranks the same 15 candidates (docs/glm130b_facts.md §6 for the layouts), like compared with like:

==========================  =================================================================  =========
method                      what it reads                                                       passes
==========================  =================================================================  =========
GLM, one pass               ``prefix [MASK] suffix``; every candidate after ``[sop]`` at the     1
                            ``[MASK]``'s position (``evaluate.choice_log_probs``)
GLM, right context removed  ``prefix [MASK]``: the within-model control                         1
causal, from the left       ``[gMASK, sop] prefix`` then the candidate, all causal              K
causal, rescoring           log p(candidate + suffix | prefix), all causal: it *does* read      K
                            the right context, by scoring each whole candidate sentence
==========================  =================================================================  =========

An item is *clean* when its text tokenizes as prefix, candidate and suffix tokenized apart (no piece crosses the
blank's edges), so every candidate is whole pieces; only clean items are scored (``clean_items``).

The second measurement reads ordinary validation text: positions whose token is fixed by its right neighbour and not
by the text to its left, judged by n-gram counts of the training split,

    right-fixed(i) ⇔ max_x P(x | right = r_i) ≥ 0.9 with x = t_i,  count(· r_i) ≥ 20,  and
                     max_x P(x | t_{i-k} .. t_{i-1}) < 0.5  for k = 1 .. 3 wherever that left context occurs ≥ 3 times

and compares a single-token ``[MASK]`` fill (argmax after ``[sop]``) with the causal twin's next-token argmax. The
left condition reads up to three tokens (round 1 read one, and kept positions such as " the" after ", as" in ", as
the clock struck", which a left-to-right model predicts from a few words back: the causal twin got 62% of them);
``describe_positions`` says which tokens it selects.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from glm_mini.cli.progress import progress_bar
from glm_mini.evaluate import choice_log_probs, continuation_log_probs, multiple_choice_inputs
from glm_mini.zero_shot import _split_space

METHODS = ("GLM, one pass", "GLM, right context removed", "causal, from the left", "causal, rescoring")
RIGHT_SHARE, LEFT_SHARE, MIN_RIGHT_COUNT = 0.9, 0.5, 20
LEFT_ORDER, MIN_LEFT_COUNT = 3, 3  # left contexts of 1..3 tokens, counted when seen 3 times or more


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, parse_special=False)


@dataclass(frozen=True)
class Encoded:
    prefix: list[int]
    choices: list[list[int]]
    suffix: list[int]
    label: int


def encode_item(tokenizer, record: dict) -> Encoded:
    prefix, _ = _split_space(record["prefix"], "")
    choices = [_encode(tokenizer, _split_space(record["prefix"], c)[1]) for c in record["candidates"]]
    return Encoded(_encode(tokenizer, prefix), choices, _encode(tokenizer, record["suffix"]),
                   record["candidates"].index(record["target"]))


def clean_items(tokenizer, records: list[dict]) -> list[dict]:
    """The records whose whole text tokenizes as prefix + target + suffix tokenized apart."""
    out = []
    for r in records:
        e = encode_item(tokenizer, r)
        if e.prefix + e.choices[e.label] + e.suffix == _encode(tokenizer, r["text"]):
            out.append(r)
    return out


def rank_scores(model: nn.Module, tokenizer, records: list[dict], method: str,
                progress: bool | None = None) -> list[list[float]]:
    """Per record, the score of every candidate under ``method`` (one of ``METHODS``); ``progress``: a bar over the
    records (None: when stderr is a terminal)."""
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    special = tokenizer.special
    out = []
    for r in progress_bar(records, enabled=progress, desc=method, unit="item", leave=False):
        e = encode_item(tokenizer, r)
        if method == "GLM, one pass":
            out.append(choice_log_probs(model, e.prefix + [special.mask] + e.suffix, e.choices, special))
        elif method == "GLM, right context removed":
            out.append(choice_log_probs(model, e.prefix + [special.mask], e.choices, special))
        elif method == "causal, from the left":
            out.append(continuation_log_probs(model, e.prefix, e.choices, special, unidirectional=True))
        else:
            out.append(continuation_log_probs(model, e.prefix, [c + e.suffix for c in e.choices], special,
                                              unidirectional=True))
    return out


def accuracy(scores: list[list[float]], records: list[dict]) -> float:
    labels = [r["candidates"].index(r["target"]) for r in records]
    hits = [int(np.argmax(s)) == y for s, y in zip(scores, labels)]
    return sum(hits) / len(hits)


def left_rules(records: list[dict], train_text: str) -> dict[str, float]:
    """Accuracy of the rules that read only the prefix: the first candidate, the candidate most frequent in the
    training text, the candidate most frequent right after the prefix's last word in training, and the expected
    accuracy of a random candidate."""
    counts = Counter()
    follow = Counter()
    for r in records:
        for c in r["candidates"]:
            counts[c] = counts[c] or train_text.count(c)
    hits = Counter()
    for r in records:
        cands, target = r["candidates"], r["target"]
        tail = r["prefix"][-6:]
        for c in cands:
            key = (tail, c)
            if key not in follow:
                follow[key] = train_text.count(tail + c)
        hits["first candidate"] += cands[0] == target
        hits["most frequent in train"] += max(cands, key=counts.__getitem__) == target
        hits["most frequent after the last words"] += max(cands, key=lambda c: follow[(tail, c)]) == target
        hits["random candidate (expected)"] += 1 / len(cands)
    return {name: v / len(records) for name, v in hits.items()}


# ------------------------------------------------------------------------------------------------------------------
# natural validation positions fixed by their right neighbour

def bigram_tables(docs: list[list[int]], vocab_size: int) -> np.ndarray:
    """``[V, V]`` counts of (left, right) token pairs within documents."""
    table = np.zeros((vocab_size, vocab_size), dtype=np.int64)
    for d in docs:
        if len(d) > 1:
            a = np.asarray(d[:-1]); b = np.asarray(d[1:])
            np.add.at(table, (a, b), 1)
    return table


class LeftNgrams:
    """For each left context of ``k`` tokens (k = 1..``order``) seen in the training documents: how often it occurs
    and how often its most frequent next token follows it (``best_share``)."""

    def __init__(self, docs: list[list[int]], vocab_size: int, order: int = LEFT_ORDER):
        self.vocab_size, self.order = vocab_size, order
        self.tables = []
        for k in range(1, order + 1):
            keys = [self._keys(np.asarray(d, dtype=np.int64), k) for d in docs if len(d) > k]
            pairs, counts = np.unique(np.concatenate(keys) if keys else np.zeros(0, np.int64), return_counts=True)
            contexts, first = np.unique(pairs // vocab_size, return_index=True)  # pairs sorted: contexts grouped
            totals = np.add.reduceat(counts, first) if len(first) else counts
            best = np.maximum.reduceat(counts, first) if len(first) else counts
            self.tables.append((contexts, totals, best))

    def _keys(self, doc: np.ndarray, k: int) -> np.ndarray:
        """``[len(doc) - k]`` keys of (the k tokens before j, token j) for j = k .. len(doc) - 1."""
        key = np.zeros(len(doc) - k, dtype=np.int64)
        for m in range(k + 1):  # base-V digits: t_{j-k} .. t_{j-1}, then t_j
            key = key * self.vocab_size + doc[m:len(doc) - k + m]
        return key

    def predictive(self, doc: list[int], i: int, share: float = LEFT_SHARE, min_count: int = MIN_LEFT_COUNT) -> bool:
        """True when some left context of ``doc[i]`` (1..order tokens) seen ``min_count`` times or more is followed by
        one token at least ``share`` of the time."""
        for k, (contexts, totals, best) in enumerate(self.tables, start=1):
            if i < k:
                break
            key = 0
            for t in doc[i - k:i]:
                key = key * self.vocab_size + t
            at = np.searchsorted(contexts, key)
            seen = at < len(contexts) and contexts[at] == key and totals[at] >= min_count
            if seen and best[at] >= share * totals[at]:
                return True
        return False


def right_fixed_positions(train_docs: list[list[int]], val_docs: list[list[int]], vocab_size: int,
                          limit: int | None = None) -> list[tuple[int, int]]:
    """``(document index, position)`` of validation tokens fixed by their right neighbour and not by the text to their
    left (the rule in the module docstring)."""
    table = bigram_tables(train_docs, vocab_size)
    into = table.sum(axis=0)  # count(· r)
    best_before = table.max(axis=0)  # max_x count(x r)
    left = LeftNgrams(train_docs, vocab_size)
    found = []
    for d, doc in enumerate(val_docs):
        for i in range(1, len(doc) - 1):
            t, right = doc[i], doc[i + 1]
            if into[right] < MIN_RIGHT_COUNT or table[t, right] < RIGHT_SHARE * into[right]:
                continue
            if table[t, right] != best_before[right]:
                continue
            if left.predictive(doc, i):
                continue
            found.append((d, i))
            if limit is not None and len(found) >= limit:
                return found
    return found


def describe_positions(tokenizer, docs: list[list[int]], positions: list[tuple[int, int]],
                       top: int = 8) -> list[tuple[str, int]]:
    """The most frequent ``"token -> right neighbour"`` pairs among ``positions``, with their counts."""
    pairs = Counter(f"{tokenizer.decode([docs[d][i]])!r} -> {tokenizer.decode([docs[d][i + 1]])!r}"
                    for d, i in positions)
    return pairs.most_common(top)


@torch.no_grad()
def single_token_fill(model: nn.Module, docs: list[list[int]], positions: list[tuple[int, int]], special,
                      method: str, window: int = 48) -> float:
    """Share of ``positions`` whose token is the model's argmax: ``"GLM [MASK]"`` (``window`` tokens each side,
    the token replaced by ``[MASK]``), ``"GLM [MASK], right removed"`` or ``"causal"`` (next token after the left
    ``window`` tokens, read left to right)."""
    device = next(model.parameters()).device
    hits = 0
    for d, i in positions:
        doc, target = docs[d], docs[d][i]
        left = doc[max(0, i - window):i]
        if method == "causal":
            ids = [special.gmask, special.sop] + left
            n = len(ids)
            allowed = torch.ones(n, n, dtype=torch.bool).tril()
            logits = model(torch.tensor([ids], device=device), position_ids=torch.arange(n, device=device)[None],
                           attention_mask=allowed[None, None].to(device)).logits[0, -1]
        else:
            right = doc[i + 1:i + 1 + window] if method == "GLM [MASK]" else []
            ids, pos, allowed, scored = multiple_choice_inputs(left + [special.mask] + right, [[target]], special)
            logits = model(ids[None].to(device), position_ids=pos[None].to(device),
                           attention_mask=allowed[None, None].to(device)).logits[0, scored[0][0][0]]
        hits += int(logits.argmax()) == target
    return hits / max(1, len(positions))
