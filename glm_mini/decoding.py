"""Token-by-token decoding with a KV cache: greedy, sampling and GLM-130B's beam search, for padded batches.

How it works
------------
A prompt here is already laid out for GLM generation (``generate.py`` builds it): context, then ``[sop]``. Its
first ``prefix_len`` tokens (everything before ``[sop]``) are bidirectional; ``[sop]`` and every generated token
attend causally (THUDM/GLM-130B ``generate.py`` ``get_masks_and_position_ids``; docs/glm130b_facts.md §1.5).

- **Eval mode.** ``decode`` and ``beam_search`` run the model without dropout and give back the caller's mode
  (``eval_mode.py``).
- **One forward per new token.** The prompt is run once (prefill), keeping each layer's keys and values; every later
  step feeds one token and attends to the cache, so a step costs one position, not the whole sequence.
- **Padded batches.** Prompts of different lengths are *left*-padded to the longest, so all rows share the cache
  length; pad keys are masked for every query and each row keeps its own positions (pads take position 0), so a row
  decodes exactly as it would alone.
- **Positions.** A generated token takes ``fixed_position`` when given (the ``[MASK]`` rule: every token of a blank
  sits at its ``[MASK]``'s position), else counts on from ``[sop]`` (the ``[gMASK]`` rule).
- **Choosing a token.** Greedy takes the arg-max (GLM-130B's ``BaseStrategy``, whose sampling lines are commented
  out). Sampling divides the logits by ``temperature``, keeps the ``top_k`` largest and the smallest set whose
  probability reaches ``top_p``, and draws from a seeded ``torch.Generator``.
- **Beam search** follows ``generation/strategies.py`` ``BeamSearchStrategy`` with ``deterministic=True``: scores
  are summed log-probabilities; each step the top ``(n_end + 1)·num_beams`` of the ``softmax`` over all beams'
  scores are walked in score order, an end token closes its beam with the length-penalized score

      score / ((5 + len(beam)) / 6) ** length_penalty          (len counts the prompt too, as the official code does)

  the others continue until ``num_beams`` are kept; the search stops once ``num_beams`` beams have ended and the
  worst of them beats the best open beam's score at the next length, or at ``max_new_tokens``, when the open beams
  join the ended ones. The best (first) beam is returned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from glm_mini.eval_mode import in_eval_mode


@dataclass(frozen=True)
class SamplingConfig:
    """How the next token is chosen; ``do_sample=False`` is greedy (and ``num_beams > 1`` beam search)."""

    do_sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    num_beams: int = 1
    length_penalty: float = 1.0

    def __post_init__(self):
        def need(ok, field, expected):
            if not ok:
                raise ValueError(f"{field}: expected {expected}, got {getattr(self, field)!r}")

        need(isinstance(self.do_sample, bool), "do_sample", "a bool")
        need(_number(self.temperature) and self.temperature > 0, "temperature", "a finite number > 0")
        need(_int(self.top_k) and self.top_k >= 0, "top_k", "an int >= 0 (0 = no top-k filter)")
        need(_number(self.top_p) and 0 < self.top_p <= 1, "top_p", "a number in (0, 1]")
        need(_int(self.num_beams) and self.num_beams >= 1, "num_beams", "an int >= 1")
        need(_number(self.length_penalty), "length_penalty", "a finite number")
        if self.num_beams > 1 and self.do_sample:
            raise ValueError("num_beams: beam search is deterministic here; use num_beams=1 with do_sample=True")


def _int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _check_new_tokens(max_new_tokens) -> None:
    if not _int(max_new_tokens) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens: expected an int >= 1, got {max_new_tokens!r}")


def nucleus_mask(logits: Tensor, top_p: float) -> Tensor:
    """``[b, V]`` bool, True for the tokens top-p sampling keeps: the most probable ones, in order, until their
    probability reaches ``top_p`` (the token that crosses it is kept, so at least one token always is)."""
    sorted_logits, order = torch.sort(logits, descending=True, dim=-1)  # [b, V]
    probs = torch.softmax(sorted_logits.float(), dim=-1)
    keep_sorted = probs.cumsum(dim=-1) - probs < top_p  # the mass *before* a token is still short of top_p
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)


def choose_tokens(logits: Tensor, cfg: SamplingConfig, generator: torch.Generator | None = None) -> Tensor:
    """``logits [b, V]`` -> next ids ``[b]``: arg-max, or a draw after temperature, top-k and top-p."""
    if not cfg.do_sample:
        return logits.argmax(dim=-1)
    logits = logits.float() / cfg.temperature
    if cfg.top_k:
        kth = torch.topk(logits, min(cfg.top_k, logits.shape[-1]), dim=-1).values[:, -1:]  # [b, 1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if cfg.top_p < 1.0:
        logits = logits.masked_fill(~nucleus_mask(logits, cfg.top_p), float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # [b]


@dataclass
class _Batch:
    """Left-padded prompts with their masks and positions, ready for a prefill."""

    input_ids: Tensor  # [b, n]
    position_ids: Tensor  # [b, n]
    attention_mask: Tensor  # [b, 1, n, n]
    key_valid: Tensor  # [b, n]: False on padding
    next_position: Tensor  # [b]: the position of the first generated token
    fixed: Tensor  # [b] bool: positions stay fixed (the [MASK] rule)


def _left_pad(prompts, positions, prefix_lens, fixed_positions, pad_id, device) -> _Batch:
    b, n = len(prompts), max(len(p) for p in prompts)
    ids = torch.full((b, n), pad_id, dtype=torch.long, device=device)
    pos = torch.zeros((b, n), dtype=torch.long, device=device)
    valid = torch.zeros((b, n), dtype=torch.bool, device=device)
    prefix_end = torch.zeros(b, dtype=torch.long, device=device)
    nxt = torch.zeros(b, dtype=torch.long, device=device)
    fixed = torch.zeros(b, dtype=torch.bool, device=device)
    for i, (p, q, c, f) in enumerate(zip(prompts, positions, prefix_lens, fixed_positions)):
        pad = n - len(p)
        ids[i, pad:] = torch.as_tensor(p, dtype=torch.long)
        pos[i, pad:] = torch.as_tensor(q, dtype=torch.long)
        valid[i, pad:] = True
        prefix_end[i] = pad + c
        fixed[i] = f is not None
        nxt[i] = f if f is not None else q[-1] + 1
    cols = torch.arange(n, device=device)
    causal = cols.view(1, n, 1) >= cols.view(1, 1, n)  # [1, n(query), n(key)]
    in_prefix = cols.view(1, 1, n) < prefix_end.view(b, 1, 1)  # [b, 1, n]
    allowed = (causal | in_prefix) & valid.view(b, 1, n)  # [b, n, n]
    return _Batch(ids, pos, allowed.unsqueeze(1), valid, nxt, fixed)


def _step_inputs(batch: _Batch, generated: int, cache_len: int):
    """Position ``[b, 1]`` and mask ``[b, 1, 1, t]`` of the ``generated``-th new token (0-based)."""
    step = torch.where(batch.fixed, batch.next_position, batch.next_position + generated)
    b = batch.key_valid.shape[0]
    ones = torch.ones((b, cache_len + 1 - batch.key_valid.shape[1]), dtype=torch.bool, device=step.device)
    mask = torch.cat((batch.key_valid, ones), dim=1).view(b, 1, 1, -1)  # [b, 1, 1, t]
    return step.view(b, 1), mask


@torch.no_grad()
@in_eval_mode
def decode(model: nn.Module, prompts: list[list[int]], positions: list[list[int]], prefix_lens: list[int],
           fixed_positions: list[int | None], max_new_tokens: int, end_ids: tuple[int, ...], pad_id: int,
           cfg: SamplingConfig = SamplingConfig(), generator: torch.Generator | None = None,
           use_cache: bool = True) -> list[list[int]]:
    """Generate up to ``max_new_tokens`` per prompt, stopping a row at an id in ``end_ids`` (kept in its output).

    ``positions[i]`` are prompt i's position ids, ``prefix_lens[i]`` its bidirectional length, ``fixed_positions[i]``
    the position every generated token takes (None: count on). ``use_cache=False`` recomputes the whole sequence at
    each step (the reference the cache is tested against). Returns the generated ids of each prompt.
    """
    if not prompts:
        raise ValueError("prompts: expected at least one prompt to decode, got none")
    _check_new_tokens(max_new_tokens)
    device = next(model.parameters()).device
    batch = _left_pad(prompts, positions, prefix_lens, fixed_positions, pad_id, device)
    b = len(prompts)
    out: list[list[int]] = [[] for _ in range(b)]
    done = torch.zeros(b, dtype=torch.bool, device=device)
    ids, pos, mask = batch.input_ids, batch.position_ids, batch.attention_mask
    past = None
    for g in range(max_new_tokens):
        result = model(ids, position_ids=pos, attention_mask=mask, past_key_values=past, use_cache=use_cache)
        nxt = choose_tokens(result.logits[:, -1], cfg, generator)  # [b]
        for i in range(b):
            if not done[i]:
                out[i].append(int(nxt[i]))
                done[i] = int(nxt[i]) in end_ids
        if bool(done.all()) or g == max_new_tokens - 1:
            break
        step_pos, step_mask = _step_inputs(batch, g, batch.key_valid.shape[1] + g)
        if use_cache:
            past, ids, pos, mask = result.past_key_values, nxt.view(b, 1), step_pos, step_mask
        else:  # the whole sequence again: the last row of the full mask is this step's mask
            ids = torch.cat((ids, nxt.view(b, 1)), dim=1)
            pos = torch.cat((pos, step_pos), dim=1)
            t = ids.shape[1]
            grown = torch.zeros((b, 1, t, t), dtype=torch.bool, device=device)
            grown[:, :, : t - 1, : t - 1] = mask
            grown[:, :, t - 1:, :] = step_mask
            mask = grown
    return out


def penalized_score(score: float, length: int, length_penalty: float) -> float:
    """A finished beam's score for ranking: ``score / ((5 + length) / 6) ** length_penalty`` (GLM-130B's
    ``BeamSearchStrategy``, from OpenNMT/GNMT's length normalization)."""
    return score / ((5.0 + length) / 6) ** length_penalty


@torch.no_grad()
@in_eval_mode
def beam_search(model: nn.Module, prompt: list[int], positions: list[int], prefix_len: int,
                fixed_position: int | None, max_new_tokens: int, end_ids: tuple[int, ...], num_beams: int,
                length_penalty: float = 1.0) -> list[int]:
    """GLM-130B's deterministic beam search for one prompt; returns the best beam's generated ids (end id kept)."""
    _check_new_tokens(max_new_tokens)
    device = next(model.parameters()).device
    batch = _left_pad([prompt], [positions], [prefix_len], [fixed_position], 0, device)
    result = model(batch.input_ids, position_ids=batch.position_ids, attention_mask=batch.attention_mask,
                   use_cache=True)
    logits, past = result.logits[:, -1].float(), result.past_key_values  # [1, V]
    beams = [list(prompt)]  # open beams, full sequences
    scores = torch.zeros(1, device=device)  # [beams]
    ended: list[tuple[float, list[int]]] = []  # (penalized score, beam), best first
    n_candidates = (max(1, len(end_ids)) + 1) * num_beams
    vocab = logits.shape[-1]
    finished = False
    for g in range(max_new_tokens):
        total = torch.log_softmax(logits, dim=-1) + scores[:, None]  # [beams, V]
        flat = total.view(-1)  # [beams * V]
        top = torch.topk(torch.softmax(flat, dim=-1), min(n_candidates, flat.numel())).indices
        cand_scores, order = torch.sort(flat[top], descending=True)
        top = top[order]
        keep_rows, keep_tokens, keep_scores = [], [], []
        for score, index in zip(cand_scores.tolist(), top.tolist()):
            row, token = divmod(index, vocab)
            beam = beams[row] + [token]
            if token in end_ids:
                _insert_ended(ended, penalized_score(score, len(beam), length_penalty), beam, num_beams)
            elif len(keep_rows) < num_beams:
                keep_rows.append(row), keep_tokens.append(token), keep_scores.append(score)
            else:
                break
        seq_len = len(beams[0])
        beams = [beams[r] + [t] for r, t in zip(keep_rows, keep_tokens)]
        scores = torch.tensor(keep_scores, device=device)
        if not beams:
            finished = True
            break
        best_open = penalized_score(max(keep_scores), seq_len + 1, length_penalty)
        if len(ended) == num_beams and ended[-1][0] >= best_open:
            finished = True
            break
        if g == max_new_tokens - 1:
            break
        rows = torch.tensor(keep_rows, device=device)
        past = tuple((k[rows], v[rows]) for k, v in past)  # reorder the cache to the kept beams
        step_pos, step_mask = _step_inputs(batch, g, batch.key_valid.shape[1] + g)
        n = len(beams)
        result = model(torch.tensor(keep_tokens, device=device).view(n, 1), position_ids=step_pos.expand(n, 1),
                       attention_mask=step_mask.expand(n, -1, -1, -1), past_key_values=past, use_cache=True)
        logits, past = result.logits[:, -1].float(), result.past_key_values
    if not finished:  # out of budget: the best open beam joins the ended ones (the official finalize)
        best = int(torch.argmax(scores))
        score = penalized_score(float(scores[best]), len(beams[best]), length_penalty)
        _insert_ended(ended, score, beams[best], num_beams)
    return ended[0][1][len(prompt):]


def _insert_ended(ended: list, score: float, beam: list[int], num_beams: int) -> None:
    """Insert keeping ``ended`` sorted best first (before equal scores, as the official loop does); keep num_beams."""
    i = len(ended)
    while i > 0 and not score < ended[i - 1][0]:
        i -= 1
    ended.insert(i, (score, beam))
    del ended[num_beams:]
