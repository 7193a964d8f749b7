"""GLM-130B's objective mixture: which objective each training sequence gets, and the batch that results.

How it works
------------
GLM-130B's pre-training (paper §2.2, Tab.11; docs/glm130b_facts.md §2.1; the official ``glm/collator.py``):

- **MIP** (multi-task instruction pre-training) fills 5% of the tokens. Every row of a batch has ``seq_len``
  positions, so a row is an MIP row with probability ``mip_ratio`` and MIP holds that share of the positions.
  An MIP row packs instruction pairs (``prompt + [MASK, sop] + answer``) greedily, block-diagonally.
- **Self-supervised blank infilling** fills the other 95%, one objective per sequence: ``[gMASK]`` with probability
  0.7 (``gpt_prob``), else ``[MASK]`` (30%).
- A ``[MASK]`` row holds ``mask_samples_per_sequence`` (4) samples packed block-diagonally, each from its own slot of
  the window (GLM-130B: 4 × 512 in 2048). Per slot: with probability 2% a "short" text (a random length of at least
  32 tokens), with probability 2% a single span, otherwise spans drawn until ≥ 15% of the text is masked
  (``spans.py``); Part B order shuffled.
- A ``[gMASK]`` row is one sample over the whole window: ``n = seq_len − 1`` text tokens (the sample adds one), of
  which a suffix of ``randint(int(0.2·n), n)`` tokens is generated (``min_gmask_ratio``), so the bidirectional
  prefix is 0–80% of the text.
- ``causal=True`` (the causal twin, ``causal.py``): every self-supervised row is a ``[gMASK]`` row with an empty
  prefix (left to right) and MIP rows read prompt and answer left to right; the MIP share is unchanged.

``objective_config(objective, mask_share)`` builds the config the trainer uses from its two flags: ``"glm"`` with
``[MASK]`` on ``mask_share`` of the self-supervised rows (the paper's 0.3 unless told otherwise), or ``"causal"``.

All randomness comes from the ``random.Random`` passed in, so a trainer can save and restore it and replay a run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from numbers import Integral
from typing import Sequence

from torch import Tensor

from glm_mini.objective.causal import causal_mip_sample, causal_sample
from glm_mini.objective.sample import (GLMSample, collate, gmask_sample, mask_sample, mip_sample, pack_samples,
                                       _check_special)
from glm_mini.objective.spans import MAX_SPAN_LENGTH, place_spans, sample_span_lengths
from glm_mini.special_tokens import SpecialTokens

OBJECTIVES = ("mask", "gmask", "mip")
TRAINING_OBJECTIVES = ("glm", "causal")  # the trainer's --objective
PAPER_MASK_SHARE = 0.3  # share of GLM-130B's self-supervised rows that are [MASK] rows (1 - gpt_prob)
MipPair = tuple[list[int], list[int]]


@dataclass(frozen=True)
class ObjectiveConfig:
    mask_ratio: float = 0.15  # [MASK]: spans are added until this share of the text is masked (mask_prob)
    span_lambda: float = 3.0  # Poisson mean of span lengths (average_block_length)
    max_span_length: int = MAX_SPAN_LENGTH  # lengths truncated to 1..39
    gmask_prob: float = 0.7  # share of self-supervised sequences that use [gMASK] (gpt_prob); the rest [MASK]
    min_gmask_ratio: float = 0.2  # the [gMASK] suffix is 20%..100% of the text
    mip_ratio: float = 0.05  # share of rows (= of tokens) from instruction data (multitask_ratio)
    mask_samples_per_sequence: int = 4  # [MASK] samples packed per row (aggregated_samples_per_sequence)
    single_span_prob: float = 0.02  # a [MASK] sample with exactly one span (single_span_prob)
    short_seq_prob: float = 0.02  # a [MASK] sample on a shorter text (short_seq_prob)
    short_seq_min_len: int = 32  # ... of at least this many tokens (the official randrange(32, n))
    two_d: bool = False  # False: GLM-130B's 1-D positions; True: the original GLM's 2-D position ids
    max_sequence_length: int | None = None  # the model's maximum; sample_batch refuses a longer seq_len
    causal: bool = False  # the causal twin: every row left to right (causal.py)

    def __post_init__(self):
        def need(ok: bool, field: str, what: str):
            if not ok:
                raise ValueError(f"ObjectiveConfig.{field}: expected {what}, got {getattr(self, field)!r}")

        def is_int(v) -> bool:
            return isinstance(v, Integral) and not isinstance(v, bool)

        for name in ("gmask_prob", "mip_ratio", "single_span_prob", "short_seq_prob"):
            need(0.0 <= getattr(self, name) <= 1.0, name, "a probability in [0, 1]")
        need(0.0 < self.mask_ratio < 1.0, "mask_ratio", "a ratio in (0, 1)")
        need(0.0 <= self.min_gmask_ratio <= 1.0, "min_gmask_ratio", "a ratio in [0, 1]")
        need(isinstance(self.span_lambda, (int, float)) and not isinstance(self.span_lambda, bool)
             and 0 < self.span_lambda < float("inf"), "span_lambda", "a positive Poisson mean, finite")
        need(is_int(self.max_span_length) and self.max_span_length >= 1, "max_span_length", "an int >= 1")
        need(is_int(self.mask_samples_per_sequence) and self.mask_samples_per_sequence >= 1,
             "mask_samples_per_sequence", "an int >= 1")
        need(is_int(self.short_seq_min_len) and self.short_seq_min_len >= 1, "short_seq_min_len", "an int >= 1")
        need(isinstance(self.two_d, bool), "two_d", "a bool")
        need(isinstance(self.causal, bool), "causal", "a bool")
        need(self.max_sequence_length is None or (is_int(self.max_sequence_length) and self.max_sequence_length > 0),
             "max_sequence_length", "None or a positive int")


def objective_config(objective: str = "glm", mask_share: float | None = None, **fields) -> ObjectiveConfig:
    """The trainer's ``--objective glm|causal`` and ``--mask-share`` as an ``ObjectiveConfig`` (``fields``: any other
    ``ObjectiveConfig`` field, e.g. ``two_d``). ``mask_share`` (None: the paper's 0.3) is the share of self-supervised
    rows that are ``[MASK]`` rows; a causal objective takes none."""
    if objective not in TRAINING_OBJECTIVES:
        raise ValueError(f"objective: expected one of {TRAINING_OBJECTIVES}, got {objective!r}")
    if objective == "causal":
        if mask_share not in (None, 0, 0.0):
            raise ValueError(f"mask_share: the causal objective has no [MASK] rows, got mask_share={mask_share!r}")
        return ObjectiveConfig(gmask_prob=1.0, causal=True, **fields)
    share = PAPER_MASK_SHARE if mask_share is None else mask_share
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0.0 <= share <= 1.0:
        raise ValueError(f"mask_share: expected a share of rows in [0, 1], got {mask_share!r}")
    return ObjectiveConfig(gmask_prob=1.0 - share, **fields)


def choose_objective(rng: random.Random, cfg: ObjectiveConfig = ObjectiveConfig(), with_mip: bool = True) -> str:
    """One of ``OBJECTIVES`` for the next sequence: MIP with ``mip_ratio`` (when MIP data is given), else
    ``[gMASK]`` with ``gmask_prob``, else ``[MASK]``."""
    if with_mip and rng.random() < cfg.mip_ratio:
        return "mip"
    return "gmask" if rng.random() < cfg.gmask_prob else "mask"


def sample_mask_spans(n_tokens: int, rng: random.Random, cfg: ObjectiveConfig = ObjectiveConfig(),
                      single_span: bool = False) -> list[tuple[int, int]]:
    """Random spans for a text of ``n_tokens`` tokens: lengths until ``int(mask_ratio · n)`` are masked, placed."""
    lengths = sample_span_lengths(rng, n_tokens, cfg.mask_ratio, cfg.span_lambda, cfg.max_span_length,
                                  single_span=single_span)
    return place_spans(lengths, n_tokens, rng)


def sample_prefix_len(n_tokens: int, rng: random.Random, cfg: ObjectiveConfig = ObjectiveConfig()) -> int:
    """A ``[gMASK]`` prefix length: the suffix is ``randint(int(min_gmask_ratio · n), n)`` tokens, at least 1."""
    suffix = rng.randint(max(1, int(cfg.min_gmask_ratio * n_tokens)), n_tokens)
    return n_tokens - suffix


def shuffled(k: int, rng: random.Random) -> list[int]:
    order = list(range(k))
    rng.shuffle(order)
    return order


def _mask_row(window: list[int], seq_len: int, special: SpecialTokens, rng: random.Random,
              cfg: ObjectiveConfig) -> GLMSample:
    k = cfg.mask_samples_per_sequence
    slots = [seq_len // k] * (k - 1) + [seq_len - (k - 1) * (seq_len // k)]  # the last slot takes the remainder
    samples, offset = [], 0
    for slot in slots:
        budget = slot
        if rng.random() < cfg.short_seq_prob:
            budget = rng.randint(min(cfg.short_seq_min_len, slot), slot)
        single = rng.random() < cfg.single_span_prob
        lengths = sample_span_lengths(rng, budget, cfg.mask_ratio, cfg.span_lambda, cfg.max_span_length,
                                      tokens_per_span=2, single_span=single)
        n = budget - 2 * len(lengths)  # text tokens: the sample grows by [MASK] + [sop] per span
        rng.shuffle(lengths)
        spans = place_spans(lengths, n, rng)
        sample = mask_sample(window[offset:offset + n], spans, special, shuffled(len(spans), rng), cfg.two_d)
        samples.append(pack_samples([sample], slot, special) if budget < slot else sample)
        offset += slot
    return pack_samples(samples, seq_len, special)


def _fit_pair(prompt: list[int], answer: list[int], length: int) -> MipPair:
    """Cut a pair to ``length`` tokens as the official collator does: the prompt first (keeping at least a quarter
    of the room), then the answer."""
    if len(prompt) + len(answer) + 2 > length:
        prompt = prompt[:max(int(0.25 * length), length - len(answer) - 2)]
    if len(prompt) + len(answer) + 2 > length:
        answer = answer[:length - len(prompt) - 2]
    return prompt, answer


def _mip_row(pairs: Sequence[MipPair], seq_len: int, special: SpecialTokens, rng: random.Random,
             cfg: ObjectiveConfig) -> GLMSample:
    samples, used = [], 0
    make = causal_mip_sample if cfg.causal else mip_sample  # both layouts take len(prompt) + len(answer) + 2
    while True:
        i = rng.randrange(len(pairs))
        if not (isinstance(pairs[i], (tuple, list)) and len(pairs[i]) == 2 and len(pairs[i][1]) > 0):
            raise ValueError(f"mip_pairs[{i}]: expected a (prompt_ids, answer_ids) pair with a non-empty answer, "
                             f"got {pairs[i]!r}"[:300])
        prompt, answer = list(pairs[i][0]), list(pairs[i][1])
        need = len(prompt) + len(answer) + 2
        if used + need > seq_len:
            if not samples:  # one pair longer than the row: cut it
                samples.append(make(*_fit_pair(prompt, answer, seq_len), special, cfg.two_d))
            break
        samples.append(make(prompt, answer, special, cfg.two_d))
        used += need
    return pack_samples(samples, seq_len, special)


def _check_batch_inputs(windows, seq_len, special, rng, cfg, mip_pairs) -> list[list[int]]:
    _check_special(special)
    if not isinstance(rng, random.Random):
        raise TypeError(f"rng: expected a random.Random (all randomness comes from it), got {type(rng).__name__}")
    if not isinstance(cfg, ObjectiveConfig):
        raise TypeError(f"cfg: expected an ObjectiveConfig, got {type(cfg).__name__}")
    min_len = max(4, 4 * cfg.mask_samples_per_sequence)
    if isinstance(seq_len, bool) or not isinstance(seq_len, Integral) or seq_len < min_len:
        raise ValueError(f"seq_len: expected an int >= {min_len} (4 tokens per packed [MASK] sample), got {seq_len!r}")
    if cfg.max_sequence_length is not None and seq_len > cfg.max_sequence_length:
        raise ValueError(f"seq_len: {seq_len} is longer than the model's maximum sequence length "
                         f"cfg.max_sequence_length = {cfg.max_sequence_length}")
    if not isinstance(windows, (list, tuple)) or not windows:
        raise ValueError(f"windows: expected a non-empty list of 1-D token tensors, got {type(windows).__name__} "
                         f"of length {len(windows) if hasattr(windows, '__len__') else '?'}")
    out = []
    for i, w in enumerate(windows):
        if not isinstance(w, Tensor) or w.dim() != 1 or w.is_floating_point():
            raise ValueError(f"windows[{i}]: expected a 1-D integer tensor, got "
                             f"{type(w).__name__} {tuple(w.shape) if isinstance(w, Tensor) else ''}")
        if w.shape[0] < seq_len:
            raise ValueError(f"windows[{i}]: expected at least seq_len = {seq_len} tokens, got {w.shape[0]}")
        out.append(w[:seq_len].tolist())
    if mip_pairs is not None:
        if not isinstance(mip_pairs, (list, tuple)):
            raise ValueError(f"mip_pairs: expected None or a list of (prompt_ids, answer_ids), got "
                             f"{type(mip_pairs).__name__}")
    return out


def sample_row(window: list[int], seq_len: int, special: SpecialTokens, rng: random.Random,
               cfg: ObjectiveConfig, mip_pairs: Sequence[MipPair] | None, objective: str) -> GLMSample:
    """One ``seq_len`` row with the given objective (``window`` holds at least ``seq_len`` tokens)."""
    if objective == "mip":
        return _mip_row(mip_pairs, seq_len, special, rng, cfg)
    if cfg.causal:
        return causal_sample(window[:seq_len - 1], special, cfg.two_d)
    if objective == "gmask":
        n = seq_len - 1
        return gmask_sample(window[:n], sample_prefix_len(n, rng, cfg), special, cfg.two_d)
    return _mask_row(window, seq_len, special, rng, cfg)


def sample_batch(windows: Sequence[Tensor], seq_len: int, special: SpecialTokens, rng: random.Random,
                 cfg: ObjectiveConfig = ObjectiveConfig(), mip_pairs: Sequence[MipPair] | None = None
                 ) -> dict[str, Tensor]:
    """A training batch, one row per window: ``input_ids``, ``targets``, ``loss_mask`` ``[B, L]``, ``position_ids``
    ``[B, L]`` (or ``[B, 2, L]``), ``attention_mask`` ``[B, 1, L, L]`` bool (True = may attend), ``L = seq_len``.

    Without ``mip_pairs`` (None or empty) no row is MIP and the split is 30/70 [MASK]/[gMASK] of all rows."""
    ids = _check_batch_inputs(windows, seq_len, special, rng, cfg, mip_pairs)
    with_mip = bool(mip_pairs)
    rows = [sample_row(w, seq_len, special, rng, cfg, mip_pairs, choose_objective(rng, cfg, with_mip)) for w in ids]
    return collate(rows)


def mip_pairs_from_records(tokenizer, records: Sequence[dict]) -> list[MipPair]:
    """``(prompt_ids, answer_ids)`` for the corpus's ``mip_train`` records (each has "prompt" and "answer" text);
    a prompt's trailing spaces are tokenized with the answer."""
    for i, r in enumerate(records):
        for key in ("prompt", "answer"):
            if not isinstance(r, dict) or not isinstance(r.get(key), str):
                raise ValueError(f"records[{i}]: expected a dict with a str {key!r} field (a mip_train record), "
                                 f"got {r!r}"[:300])
        if not r["answer"]:
            raise ValueError(f"records[{i}]: expected a non-empty 'answer', got ''")
    # a prompt's trailing spaces move onto the answer, so the answer is tokenized as running text ("▁teacher"),
    # the pieces the model reads in documents, not as letters after a bare space
    prompts = [r["prompt"].rstrip(" ") for r in records]
    answers = [r["prompt"][len(p):] + r["answer"] for p, r in zip(prompts, records)]
    prompts = tokenizer.encode_batch(prompts, parse_special=False)  # corpus text: plain
    answers = tokenizer.encode_batch(answers, parse_special=False)
    return list(zip(prompts, answers))
