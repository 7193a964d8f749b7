"""Blank filling and left-to-right generation, rule for rule as GLM-130B's ``generate.py``.

How it works
------------
GLM-130B is prompted with text that holds blanks (THUDM/GLM-130B ``generate.py`` ``fill_blanks``; the mask and
position rules in docs/glm130b_facts.md §1.5):

1. **Which blanks.** If the prompt holds ``[MASK]`` the model fills every ``[MASK]``; otherwise it fills ``[gMASK]``,
   appending one at the end when the prompt holds no mask token at all. A prompt that does not end with a mask token
   gets ``eos`` appended (the official rule; it marks where the context ends).
2. **One blank at a time, left to right.** The blanks are the prompt's own mask tokens (a mask id the model
   generates is text, not a new blank). The sequence so far plus ``[sop]`` is the prompt; everything before
   ``[sop]`` is bidirectional, ``[sop]`` and the generated tokens causal. With ``[MASK]`` every generated token takes
   the ``[MASK]``'s position; with ``[gMASK]`` positions count on from ``[sop]``. Decoding stops at ``[eop]`` or
   ``eos`` (dropped from the answer) or after ``max_new_tokens``.
3. **Splice.** The answer replaces its mask token, so the next blank is filled with the earlier answers in place.
   At the end one trailing ``eos`` is removed, as the official code does.
4. **Eval mode.** The model runs in eval mode (no dropout), as the official ``initialize.py`` sets it, and the
   caller's mode comes back afterwards (``eval_mode.py``): a model left in training mode still decodes greedily.

Where the official code is fragile, the kit does better, on purpose:
- its length budget is shared by all blanks (``out_seq_length`` minus the prompt), so a first blank that uses it up
  leaves nothing for the next; here ``max_new_tokens`` is per blank;
- it finds the answer by searching the output for the first ``[sop]`` id, so a prompt or answer holding ``[sop]``
  corrupts the splice; here the answer's place is known, not searched for;
- its beam search draws candidates at random unless built with ``deterministic=True``; here decoding is
  deterministic unless ``do_sample=True`` (with a ``seed`` for a reproducible draw);
- ``[sMASK]`` (GLM's sentence-level blank) is filled with the ``[MASK]`` rule when the prompt holds no ``[MASK]``;
  the official regular expression ignores it and would generate nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from glm_mini.decoding import SamplingConfig, beam_search, decode
from glm_mini.eval_mode import in_eval_mode
from glm_mini.special_tokens import SpecialTokens


@dataclass(frozen=True)
class BlankPrompt:
    """One blank's decoding input: ``ids`` ends with ``[sop]``; the rows before it are bidirectional."""

    ids: list[int]
    position_ids: list[int]
    prefix_len: int  # tokens before [sop]
    mask_position: int  # index of the blank's mask token in ``ids``
    fixed_position: int | None  # position of every generated token ([MASK] rule), None to count on ([gMASK])


def prepare_prompt(ids, special: SpecialTokens) -> tuple[list[int], int]:
    """Apply rule 1: the prompt ids (``[gMASK]``/``eos`` appended as the official code does) and the blank id."""
    ids = _as_id_list(ids)
    if not ids:
        raise ValueError("ids: expected a non-empty prompt, got an empty one")
    mask_ids = (special.mask, special.smask, special.gmask)
    if special.mask in ids:
        blank = special.mask
    elif special.smask in ids:
        blank = special.smask
    else:
        blank = special.gmask
        if special.gmask not in ids:
            ids = ids + [special.gmask]
    if ids[-1] not in mask_ids:
        ids = ids + [special.eos]
    return ids, blank


def blank_prompt(seq: list[int], mask_position: int, gmask: bool, special: SpecialTokens) -> BlankPrompt:
    """The decoding input for the blank at ``seq[mask_position]`` (official ``get_masks_and_position_ids``)."""
    ids = seq + [special.sop]
    positions, _ = generation_layout(len(seq), len(ids), None if gmask else mask_position)
    return BlankPrompt(ids, positions.tolist(), len(seq), mask_position, None if gmask else mask_position)


def generation_layout(prefix_len: int, total: int, mask_position: int | None) -> tuple[Tensor, Tensor]:
    """``position_ids [total]`` and ``attention_mask [total, total]`` (True = may attend) of a generation sequence
    whose first ``prefix_len`` tokens precede ``[sop]`` (official ``get_masks_and_position_ids``): those are seen by
    every row, the rest causally; positions count 0, 1, ..., except that with a ``[MASK]`` blank (``mask_position``
    given) ``[sop]`` and every generated token take the ``[MASK]``'s position."""
    positions = torch.arange(total)  # [total]
    if mask_position is not None:
        positions[prefix_len:] = mask_position
    cols = torch.arange(total)
    allowed = (cols.view(1, -1) <= cols.view(-1, 1)) | (cols.view(1, -1) < prefix_len)  # [total, total]
    return positions, allowed


def official_inputs(prompt: BlankPrompt, generated: list[int]) -> tuple[Tensor, Tensor, Tensor]:
    """``input_ids [1, n]``, ``position_ids [1, n]`` and ``attention_mask [1, 1, n, n]`` (True = may attend) of a
    prompt plus the tokens generated so far, built as the official code builds them, for reading and for tests."""
    ids = prompt.ids + list(generated)
    n = len(ids)
    positions, allowed = generation_layout(prompt.prefix_len, n, prompt.fixed_position)
    return torch.tensor([ids]), positions.view(1, n), allowed.view(1, 1, n, n)


@torch.no_grad()
@in_eval_mode
def fill_blanks_batch_ids(model: nn.Module, prompts, special: SpecialTokens, max_new_tokens: int, *,
                          do_sample: bool = False, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                          num_beams: int = 1, length_penalty: float = 1.0, seed: int | None = None,
                          use_cache: bool = True) -> list[tuple[list[list[int]], list[int]]]:
    """``fill_blanks_ids`` for several prompts at once: each round fills the next blank of every prompt still
    holding one, decoding them together as one left-padded batch (beam search runs one prompt at a time)."""
    cfg = SamplingConfig(do_sample, temperature, top_k, top_p, num_beams, length_penalty)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens: expected an int >= 1, got {max_new_tokens!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError(f"seed: expected an int or None, got {seed!r}")
    prepared = [prepare_prompt(p, special) for p in prompts]
    limit = model.config.max_sequence_length
    for i, (ids, _) in enumerate(prepared):
        if len(ids) + 1 > limit:  # + [sop]
            raise ValueError(f"prompts[{i}]: {len(ids)} tokens (+ [sop]) exceed the model's "
                             f"max_sequence_length={limit}")
    vocab = model.config.vocab_size
    for i, p in enumerate(prompts):
        bad = [t for t in _as_id_list(p) if not 0 <= t < vocab]
        if bad:
            raise ValueError(f"prompts[{i}]: token id {bad[0]} is outside the vocabulary [0, {vocab})")
    generator = torch.Generator(device=next(model.parameters()).device)
    generator.manual_seed(0 if seed is None else seed)
    end_ids = (special.eop, special.eos)
    seqs = [ids for ids, _ in prepared]
    # where each prompt's blanks are: only the prompt's own mask tokens are blanks, never a generated mask id
    pending = [[j for j, t in enumerate(ids) if t == blank] for ids, blank in prepared]
    answers: list[list[list[int]]] = [[] for _ in prompts]
    while any(pending):
        todo = [i for i, p in enumerate(pending) if p]
        blanks = [blank_prompt(seqs[i], pending[i][0], prepared[i][1] == special.gmask, special) for i in todo]
        for b in blanks:
            if len(b.ids) + max_new_tokens > limit:
                raise ValueError(f"max_new_tokens: {len(b.ids)} prompt tokens + {max_new_tokens} new ones exceed the "
                                 f"model's max_sequence_length={limit}")
        if cfg.num_beams > 1:
            outs = [beam_search(model, b.ids, b.position_ids, b.prefix_len, b.fixed_position, max_new_tokens,
                                end_ids, cfg.num_beams, cfg.length_penalty) for b in blanks]
        else:
            outs = decode(model, [b.ids for b in blanks], [b.position_ids for b in blanks],
                          [b.prefix_len for b in blanks], [b.fixed_position for b in blanks], max_new_tokens,
                          end_ids, special.pad, cfg, generator, use_cache)
        for i, b, out in zip(todo, blanks, outs):
            answer = out[:-1] if out and out[-1] in end_ids else out
            answers[i].append(answer)
            seq = seqs[i]
            seqs[i] = seq[: b.mask_position] + answer + seq[b.mask_position + 1:]
            pending[i] = [j + len(answer) - 1 for j in pending[i][1:]]  # later blanks move by the answer's length
    results = []
    for seq, answer in zip(seqs, answers):
        if seq and seq[-1] == special.eos:
            seq = seq[:-1]
        results.append((answer, seq))
    return results


def fill_blanks_ids(model: nn.Module, ids, special: SpecialTokens, max_new_tokens: int, *,
                    do_sample: bool = False, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                    num_beams: int = 1, length_penalty: float = 1.0,
                    seed: int | None = None) -> tuple[list[list[int]], list[int]]:
    """Fill every blank of one prompt (token ids, with ``[MASK]``/``[sMASK]``/``[gMASK]`` ids where it has blanks).

    Returns ``(answers, output_ids)``: one list of generated ids per blank (without ``[sop]``/``[eop]``), and the
    spliced sequence with one trailing ``eos`` removed. ``max_new_tokens`` applies to each blank.
    """
    return fill_blanks_batch_ids(model, [ids], special, max_new_tokens, do_sample=do_sample,
                                 temperature=temperature, top_k=top_k, top_p=top_p, num_beams=num_beams,
                                 length_penalty=length_penalty, seed=seed)[0]


def fill_blanks(model: nn.Module, tokenizer, text: str, max_new_tokens: int = 32, **options) -> tuple[str, list[str]]:
    """``fill_blanks_ids`` on text: returns the filled text and the answers as text. The prompt's special-token
    strings (``[MASK]``, ``[gMASK]``, ``[sMASK]``) become their ids; nothing else in it does."""
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, got {type(text).__name__}")
    if not text:
        raise ValueError("text: expected a non-empty prompt, got ''")
    answers, output = fill_blanks_ids(model, tokenizer.encode(text), tokenizer.special, max_new_tokens, **options)
    return tokenizer.decode(output), [tokenizer.decode(a) for a in answers]


def _as_id_list(ids) -> list[int]:
    if isinstance(ids, Tensor):
        if ids.dim() != 1 or ids.dtype.is_floating_point or ids.dtype == torch.bool:
            raise ValueError(f"ids: expected a 1-D integer tensor, got shape {list(ids.shape)} and {ids.dtype}")
        return [int(t) for t in ids]
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
        raise TypeError(f"ids: expected a list of token ids, got {type(ids).__name__}")
    out = list(ids)
    for t in out:
        if isinstance(t, bool) or not isinstance(t, int):
            raise TypeError(f"ids: expected int token ids, got {t!r} ({type(t).__name__})")
    return out
