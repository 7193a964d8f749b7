"""One training sample of GLM's autoregressive blank infilling: Part A / Part B, positions, mask, loss mask.

How it works
------------
GLM trains one model to read bidirectionally and write autoregressively (paper §2.1; docs/glm130b_facts.md §2.2-2.3).
A text ``x`` has spans ``s_1..s_k`` blanked out:

- **Part A** is ``x`` with each span replaced by one ``[MASK]``: the corrupted text, read bidirectionally.
- **Part B** is the spans in a shuffled order ``z``; each is fed as ``[sop] + span`` and predicted as
  ``span + [eop]``, causally, with all of Part A visible. The loss is on Part B only:

      max_θ  E_z [ Σ_{i=1}^{k} log p_θ(s_{z_i} | x_corrupt, s_{z_1}, ..., s_{z_{i-1}}) ]

  where each span's probability is the product over its tokens, ``p(s | ·) = Π_j p(s_j | x_corrupt, s_{z_<i}, s_<j)``.
- **Attention** (True = may attend): query ``i`` may attend key ``j`` when ``j < division`` (Part A) or ``j <= i``;
  ``division = len(Part A)``. So Part A never sees Part B, and Part B is causal.
- **Positions.** GLM-130B (1-D RoPE): Part A counts ``0, 1, 2, ...`` with each span taking one slot (its ``[MASK]``),
  and every Part B token of a span takes its ``[MASK]``'s position. The original GLM (2-D) keeps that row and adds a
  second, intra-span row: 0 on Part A and ``1, 2, ..., len+1`` on ``[sop] + span``.

``[gMASK]`` blanks one suffix: ``prefix + [gMASK, sop] + suffix[:-1]`` in, ``prefix + [gMASK] + suffix`` as targets,
loss on the suffix, ``division = len(prefix) + 1``, 1-D positions ``0..L-1`` (official ``glm/collator.py``; the
original GLM's 2-D form puts the suffix at the ``[gMASK]`` position with intra-span ids ``1, 2, ...`` after it).

MIP (multi-task instruction pre-training) samples are ``prompt + [MASK, sop] + answer`` in and
``prompt + [MASK] + answer + [eop]`` out: a ``[MASK]`` sample whose only span is the answer, at the end. In 2-D that
is exactly ``mask_sample``; in 1-D the released training code numbers them ``0..L-1`` (the mid-training
"Revert position_id" change, docs/glm130b_facts.md §2.4), and so does the kit.

Speed: the ``[L, L]`` masks are built and stacked in NumPy. On a busy 2-core machine a small multi-threaded torch op
can wait milliseconds for its worker threads where the work itself takes microseconds, which would make building a
batch a sizeable share of a training step; NumPy does this work on the calling thread.

Several samples share one training sequence with a block-diagonal mask (``pack_samples``): each sample's positions
start again at 0 and no query attends to another sample. Padding attends to nothing and nothing attends to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from glm_mini.special_tokens import SpecialTokens

TokenIds = Sequence[int] | Tensor


@dataclass
class GLMSample:
    input_ids: Tensor  # [L] long
    targets: Tensor  # [L] long: the token each position predicts (equal to input_ids on Part A)
    loss_mask: Tensor  # [L] bool: True on the predicted positions (Part B / the suffix / the answer)
    position_ids: Tensor  # [L] (1-D) or [2, L] (2-D) long
    attention_mask: Tensor  # [L, L] bool, True = may attend
    division: int  # length of the bidirectional part (of the first sample, in a packed row)

    def __len__(self) -> int:
        return self.input_ids.shape[0]


def _id_list(tokens: TokenIds, name: str) -> list[int]:
    if isinstance(tokens, Tensor):
        if tokens.dim() != 1 or tokens.is_floating_point() or tokens.is_complex():
            raise ValueError(f"{name}: expected a 1-D integer tensor or a list of ints, got a tensor of shape "
                             f"{tuple(tokens.shape)} and dtype {tokens.dtype}")
        return tokens.tolist()
    ids = list(tokens)
    if all(type(t) is int for t in ids):  # the common case, checked fast
        return ids
    if not all(isinstance(t, Integral) and not isinstance(t, bool) for t in ids):
        raise ValueError(f"{name}: expected a 1-D integer tensor or a list of ints, got {type(tokens).__name__} "
                         f"holding {sorted({type(t).__name__ for t in ids})}")
    return [int(t) for t in ids]


def _check_special(special) -> None:
    if not isinstance(special, SpecialTokens):
        raise TypeError(f"special: expected a SpecialTokens (e.g. tokenizer.special), got {type(special).__name__}")


def glm_attention(division: int, length: int) -> Tensor:
    """``[length, length]`` bool: keys before ``division`` are visible to every query, the rest causally (the
    same mask as ``glm_mini.masks.prefix_causal_mask``, built in NumPy: see "Speed" above)."""
    j = np.arange(length)
    return torch.from_numpy((j[None, :] < division) | (j[None, :] <= j[:, None]))  # [L, L]


def _sample(inputs: list[int], targets: list[int], n_context: int, positions: list[int] | list[list[int]],
            division: int) -> GLMSample:
    length = len(inputs)
    return GLMSample(_long(inputs), _long(targets), torch.from_numpy(np.arange(length) >= n_context),
                     _long(positions), glm_attention(division, length), division)


def _long(values) -> Tensor:
    return torch.from_numpy(np.asarray(values, dtype=np.int64))


def _check_spans(spans, n: int) -> list[tuple[int, int]]:
    checked: list[tuple[int, int]] = []
    for k, span in enumerate(spans):
        if not (isinstance(span, (tuple, list)) and len(span) == 2 and all(isinstance(v, int) for v in span)):
            raise ValueError(f"spans[{k}]: expected a (start, end) pair of ints, got {span!r}")
        start, end = span
        if not 0 <= start < end <= n:
            raise ValueError(f"spans[{k}]: expected 0 <= start < end <= len(tokens) = {n}, got {span!r}")
        if checked and start < checked[-1][1]:
            raise ValueError(f"spans[{k}]: spans must be sorted and non-overlapping, but {span!r} starts before "
                             f"spans[{k - 1}] = {checked[-1]!r} ends")
        checked.append((start, end))
    if not checked:
        raise ValueError("spans: expected at least one (start, end) span, got none")
    return checked


def mask_sample(tokens: TokenIds, spans: Sequence[tuple[int, int]], special: SpecialTokens,
                span_order: Sequence[int] | None = None, two_d: bool = False) -> GLMSample:
    """The ``[MASK]`` sample of ``tokens`` with ``spans`` blanked; Part B holds ``[spans[k] for k in span_order]``."""
    _check_special(special)
    ids = _id_list(tokens, "tokens")
    if not ids:
        raise ValueError("tokens: expected a non-empty text, got 0 tokens")
    spans = _check_spans(spans, len(ids))
    order = list(range(len(spans))) if span_order is None else list(span_order)
    if sorted(order) != list(range(len(spans))):
        raise ValueError(f"span_order: expected a permutation of 0..{len(spans) - 1}, got {list(span_order)}")

    part_a, mask_slot, last = [], [], 0  # mask_slot[k]: position of span k's [MASK] in Part A
    for start, end in spans:
        part_a += ids[last:start]
        mask_slot.append(len(part_a))
        part_a.append(special.mask)
        last = end
    part_a += ids[last:]
    division = len(part_a)

    b_in, b_out, b_pos, b_block = [], [], [], []
    for k in order:
        start, end = spans[k]
        span = ids[start:end]
        b_in += [special.sop] + span
        b_out += span + [special.eop]
        b_pos += [mask_slot[k]] * (len(span) + 1)
        b_block += range(1, len(span) + 2)
    positions = list(range(division)) + b_pos
    if two_d:
        positions = [positions, [0] * division + b_block]
    return _sample(part_a + b_in, part_a + b_out, division, positions, division)


def gmask_sample(tokens: TokenIds, prefix_len: int, special: SpecialTokens, two_d: bool = False) -> GLMSample:
    """The ``[gMASK]`` sample: ``tokens[:prefix_len]`` is read bidirectionally, the rest is generated."""
    _check_special(special)
    ids = _id_list(tokens, "tokens")
    if not ids:
        raise ValueError("tokens: expected a non-empty text, got 0 tokens")
    if isinstance(prefix_len, bool) or not isinstance(prefix_len, int) or not 0 <= prefix_len < len(ids):
        raise ValueError(f"prefix_len: expected an int in [0, len(tokens) - 1] = [0, {len(ids) - 1}] so that the "
                         f"suffix is non-empty and no longer than the text, got {prefix_len!r}")
    prefix, suffix = ids[:prefix_len], ids[prefix_len:]
    inputs = prefix + [special.gmask, special.sop] + suffix[:-1]
    targets = prefix + [special.gmask] + suffix
    positions: list = list(range(len(inputs)))
    if two_d:
        positions = [list(range(prefix_len + 1)) + [prefix_len] * len(suffix),
                     [0] * (prefix_len + 1) + list(range(1, len(suffix) + 1))]
    return _sample(inputs, targets, prefix_len + 1, positions, prefix_len + 1)


def mip_sample(prompt: TokenIds, answer: TokenIds, special: SpecialTokens, two_d: bool = False) -> GLMSample:
    """An instruction sample: prompt and ``[MASK]`` read bidirectionally, then the answer and ``[eop]`` predicted."""
    prompt_ids, answer_ids = _id_list(prompt, "prompt"), _id_list(answer, "answer")
    if not answer_ids:
        raise ValueError("answer: expected at least one token, got 0")
    n = len(prompt_ids)
    sample = mask_sample(prompt_ids + answer_ids, [(n, n + len(answer_ids))], special, two_d=two_d)
    if not two_d:
        sample.position_ids = torch.arange(len(sample))  # the released code's 0..L-1 for MIP
    return sample


def pack_samples(samples: Sequence[GLMSample], length: int, special: SpecialTokens) -> GLMSample:
    """Samples one after another in a ``length``-token row, block-diagonal attention, padding at the end."""
    _check_special(special)
    used = sum(len(s) for s in samples)
    if not samples or used > length:
        raise ValueError(f"samples: expected 1 or more samples of {length} tokens in all, got {len(samples)} "
                         f"samples of {used} tokens")
    two_d = samples[0].position_ids.dim() == 2
    if any((s.position_ids.dim() == 2) != two_d for s in samples):
        raise ValueError("samples: expected all 1-D or all 2-D position_ids, got a mix")
    pad = length - used

    def cat(name: str, fill) -> Tensor:  # the samples' field, then ``fill`` up to ``length``
        parts = [getattr(s, name).numpy() for s in samples]
        return torch.from_numpy(np.concatenate(parts + [np.full((*parts[0].shape[:-1], pad), fill, parts[0].dtype)],
                                               axis=-1))

    input_ids, targets, loss_mask = cat("input_ids", special.pad), cat("targets", special.pad), cat("loss_mask", 0)
    positions = cat("position_ids", 0)
    attention = np.zeros((length, length), dtype=bool)
    start = 0
    for s in samples:
        attention[start:start + len(s), start:start + len(s)] = s.attention_mask.numpy()
        start += len(s)
    return GLMSample(input_ids, targets, loss_mask, positions, torch.from_numpy(attention), samples[0].division)


def collate(samples: Sequence[GLMSample]) -> dict[str, Tensor]:
    """Stack equal-length samples: ``[B, L]`` ids/targets/loss mask, ``[B, L]`` or ``[B, 2, L]`` positions,
    ``[B, 1, L, L]`` attention mask (the model's shape)."""
    if not samples:
        raise ValueError("samples: expected at least one GLMSample, got none")
    lengths = {len(s) for s in samples}
    if len(lengths) != 1:
        raise ValueError(f"samples: expected equal lengths (pack or pad them first), got lengths {sorted(lengths)}")
    if len({s.position_ids.dim() for s in samples}) != 1:
        raise ValueError("samples: expected all 1-D or all 2-D position_ids, got a mix")
    return {
        "input_ids": torch.stack([s.input_ids for s in samples]),
        "targets": torch.stack([s.targets for s in samples]),
        "loss_mask": torch.stack([s.loss_mask for s in samples]),
        "position_ids": torch.stack([s.position_ids for s in samples]),
        "attention_mask": torch.from_numpy(np.stack([s.attention_mask.numpy() for s in samples])[:, None]),
        # [B, L, L] -> [B, 1, L, L]
    }
