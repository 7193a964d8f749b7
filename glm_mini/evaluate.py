"""The paper's zero-shot evaluation methods at small scale: language-model loss and bits per byte, LAMBADA-style
cloze by generation (bidirectional vs unidirectional), and multiple choice in one forward pass.

How it works
------------
Each method lays its tokens out as GLM-130B's evaluation code does (THUDM/GLM-130B ``evaluation/dataset.py``,
``tasks/lambada``; docs/glm130b_facts.md §1.5, §6):

- **Language modelling** (Pile BPB, WikiText perplexity): the text is cut into windows of ``seq_len − 1`` tokens that
  advance by ``stride`` tokens. Each window is ``prompt + [gMASK, sop] + text[:-1]`` with targets ``prompt + [gMASK] +
  text``: the prompt (the first token for the first window, the overlap with the previous window after that) is
  bidirectional, the rest causal, and the loss counts the text only, so every token is scored exactly once. Then

      perplexity = exp(Σ nll / n_tokens)          bits per byte = Σ nll / (ln 2 · n_bytes)

  with nll in nats and n_bytes the UTF-8 bytes of the scored text (BPB does not depend on the tokenizer).
- **Cloze** (LAMBADA): the context without its last word, then ``[gMASK]``: generate a few tokens and compare the
  first word with the answer (exact match). *Bidirectional* (GLM): ``context + [gMASK, sop]``, the context attends
  both ways. *Unidirectional* (GPT-style, the paper's ablation): ``[gMASK, sop] + context``, everything causal. At
  130B the paper measured 80.2 vs 75.3 (its Fig. 2, §2.1, labelled as the paper's wherever the kit shows it).
- **Multiple choice** (MMLU-style): ``context + [MASK]``, then for each choice ``[sop] + choice[:-1]``, every choice
  token at the ``[MASK]``'s position; the context attends both ways, each choice causally to itself and to the
  context but never to another choice (a block-diagonal mask), so all choices are scored in one forward. A choice's
  score is the sum of its tokens' log-probabilities; the prediction is the best score.

Every method runs the model in eval mode (no dropout) and gives back the caller's mode (``eval_mode.py``), and an
empty or degenerate input (no items, an empty answer, one choice, a label outside the choices, a NaN score, a window
length of 0) raises ``ValueError`` naming it instead of returning a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from glm_mini.decoding import SamplingConfig, beam_search, decode
from glm_mini.eval_mode import in_eval_mode
from glm_mini.special_tokens import SpecialTokens


@dataclass(frozen=True)
class LMResult:
    """Summed negative log-likelihood (nats) over ``tokens`` scored tokens of text that is ``bytes`` long."""

    nll: float
    tokens: int
    bytes: int

    @property
    def loss(self) -> float:
        return self.nll / self.tokens

    @property
    def perplexity(self) -> float:
        return math.exp(self.loss)

    @property
    def bits_per_byte(self) -> float:
        return self.nll / (math.log(2) * self.bytes)


def lm_windows(tokens: list[int], seq_len: int, stride: int, special: SpecialTokens) -> list[dict[str, Tensor]]:
    """The official language-model windows: each ``{input_ids, targets, loss_mask, attention_mask}`` of length
    ``seq_len`` at most; over all windows every token but the first is scored exactly once."""
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 3:
        raise ValueError(f"seq_len: expected an int >= 3, got {seq_len!r}")
    if isinstance(stride, bool) or not isinstance(stride, int) or not 1 <= stride <= seq_len - 2:
        raise ValueError(f"stride: expected an int in [1, seq_len - 2 = {seq_len - 2}], got {stride!r}")
    if len(tokens) < 2:
        raise ValueError(f"tokens: expected at least 2 tokens to score, got {len(tokens)}")
    windows, n = [], len(tokens)
    count = max(math.ceil(max(n - (seq_len - 1), 0) / stride) + 1, 1)
    for i in range(count):
        chunk = tokens[i * stride: i * stride + seq_len - 1]
        cut = 1 if i == 0 else seq_len - 1 - stride  # the first window scores all but one token
        prompt, text = chunk[:cut], chunk[cut:]
        if not text:
            break
        length = len(prompt) + len(text) + 1
        allowed = torch.ones(length, length).tril_().bool()  # [L, L] causal
        allowed[:, : len(prompt) + 1] = True  # prompt + [gMASK] are bidirectional, and seen by every row
        windows.append({
            "input_ids": torch.tensor(prompt + [special.gmask, special.sop] + text[:-1]),
            "targets": torch.tensor(prompt + [special.gmask] + text),
            "loss_mask": torch.tensor([False] * (len(prompt) + 1) + [True] * len(text)),
            "attention_mask": allowed,
        })
    return windows


@torch.no_grad()
@in_eval_mode
def language_model_eval(model: nn.Module, tokenizer, texts: list[str], seq_len: int | None = None,
                        stride: int | None = None) -> LMResult:
    """Summed loss of ``texts`` (each scored on its own, as a document), with perplexity and bits per byte."""
    if isinstance(texts, str) or not texts:
        raise ValueError("texts: expected a non-empty list of strings")
    seq_len = model.config.max_sequence_length if seq_len is None else seq_len
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 3:
        raise ValueError(f"seq_len: expected an int >= 3 (or None: the model's length), got {seq_len!r}")
    if seq_len > model.config.max_sequence_length:
        raise ValueError(f"seq_len: at most the model's max_sequence_length={model.config.max_sequence_length}, "
                         f"got {seq_len}")
    stride = max(1, (seq_len - 2) // 2) if stride is None else stride
    nll, count, n_bytes = 0.0, 0, 0
    device = next(model.parameters()).device
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text:
            raise ValueError(f"texts[{i}]: expected a non-empty string, got {text!r}")
        ids = tokenizer.encode(text, parse_special=False)
        if len(ids) < 2:
            continue
        # bytes of what is scored: the text without its first token (the first window's prompt)
        n_bytes += len(text.encode("utf-8")) - len(tokenizer.decode(ids[:1]).encode("utf-8"))
        for w in lm_windows(ids, seq_len, stride, tokenizer.special):
            logits = model(w["input_ids"][None].to(device), attention_mask=w["attention_mask"][None].to(device)).logits
            losses = F.cross_entropy(logits[0].float(), w["targets"].to(device), reduction="none")  # [L]
            nll += float(losses[w["loss_mask"].to(device)].sum())
            count += int(w["loss_mask"].sum())
    if count == 0:
        raise ValueError("texts: every text is shorter than two tokens; nothing to score")
    return LMResult(nll, count, n_bytes)


def cloze_prompt(context: list[int], special: SpecialTokens,
                 unidirectional: bool = False) -> tuple[list[int], list[int], int]:
    """``(ids, position_ids, prefix_len)`` of the official [gMASK] generation sample for LAMBADA."""
    if unidirectional:
        ids = [special.gmask, special.sop] + list(context)
        return ids, list(range(len(ids))), 0
    ids = list(context) + [special.gmask, special.sop]
    return ids, list(range(len(ids))), len(context) + 1


@torch.no_grad()
def cloze_predictions(model: nn.Module, contexts: list[list[int]], special: SpecialTokens, max_new_tokens: int = 5,
                      unidirectional: bool = False, num_beams: int = 1) -> list[list[int]]:
    """Generated ids after each context (end token removed), decoded with the official cloze layout."""
    if not contexts:
        raise ValueError("contexts: expected at least one context, got none")
    prompts = [cloze_prompt(c, special, unidirectional) for c in contexts]
    end = (special.eop, special.eos)
    if num_beams > 1:
        outs = [beam_search(model, ids, pos, pre, None, max_new_tokens, end, num_beams) for ids, pos, pre in prompts]
    else:
        outs = decode(model, [p[0] for p in prompts], [p[1] for p in prompts], [p[2] for p in prompts],
                      [None] * len(prompts), max_new_tokens, end, special.pad, SamplingConfig())
    return [o[:-1] if o and o[-1] in end else o for o in outs]


_PUNCTUATION = set(".,;:!?\"'，。；：！？、「」『』")


def first_word(text: str) -> str:
    """The first word of generated text, as LAMBADA compares it: up to the first space or punctuation mark (Chinese
    text has no spaces, so its first word ends at the first punctuation mark)."""
    word = (text.strip().split() or [""])[0]
    for i, ch in enumerate(word):
        if ch in _PUNCTUATION:
            return word[:i]
    return word


def cloze_accuracy(model: nn.Module, tokenizer, items: list[tuple[str, str]], unidirectional: bool = False,
                   max_new_tokens: int = 5, num_beams: int = 1) -> float:
    """Share of ``(context, answer)`` items whose generated first word equals the answer (exact match)."""
    if not items:
        raise ValueError("items: expected at least one (context, answer) pair")
    for i, item in enumerate(items):
        if not (isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise ValueError(f"items[{i}]: expected a (context, answer) pair of strings, got {item!r}"[:200])
        if not first_word(item[1]):
            raise ValueError(f"items[{i}]: expected an answer word (the first generated word is compared with it), "
                             f"got {item[1]!r}")
    contexts = [tokenizer.encode(c, parse_special=False) for c, _ in items]
    preds = cloze_predictions(model, contexts, tokenizer.special, max_new_tokens, unidirectional, num_beams)
    hits = [first_word(tokenizer.decode(p)) == answer.strip() for p, (_, answer) in zip(preds, items)]
    return sum(hits) / len(hits)


def multiple_choice_inputs(context: list[int], choices: list[list[int]], special: SpecialTokens,
                           positions: str = "mask"):
    """The official one-pass multiple-choice sample: ``input_ids [L]``, ``position_ids [L]``, ``attention_mask [L, L]``
    (True = may attend) and, per choice, the indices whose next-token logits score it and its target ids.

    ``positions="mask"`` puts every choice token at the ``[MASK]``'s position (the official default);
    ``"continue"`` numbers ``[sop]`` and the choice on from the ``[MASK]`` (0..L-1 within each choice's view), the
    layout the kit's MIP samples are trained with (``glm_mini.objective.mip_sample``)."""
    if not choices or any(len(c) == 0 for c in choices):
        raise ValueError("choices: expected at least one non-empty choice")
    if positions not in ("mask", "continue"):
        raise ValueError(f"positions: expected 'mask' or 'continue', got {positions!r}")
    ids, pos = list(context), list(range(len(context)))
    if special.mask in ids:
        mask_position = ids.index(special.mask)
    else:
        mask_position = len(ids)
        ids, pos = ids + [special.mask], pos + [mask_position]
    division = len(ids)
    scored = []
    for choice in choices:
        start = len(ids)
        scored.append((list(range(start, start + len(choice))), list(choice)))
        ids += [special.sop] + list(choice[:-1])
        pos += ([mask_position] * len(choice) if positions == "mask"
                else list(range(division, division + len(choice))))
    allowed = choice_mask(division, [len(c) for c in choices])
    return torch.tensor(ids), torch.tensor(pos), allowed, scored


def choice_mask(division: int, choice_lengths: list[int]) -> Tensor:
    """``[L, L]`` bool (True = may attend), ``L = division + Σ lengths``: the first ``division`` tokens (the context)
    see each other and are seen by every row; each choice's block is causal within itself and blind to the others."""
    total = division + sum(choice_lengths)
    allowed = torch.zeros(total, total, dtype=torch.bool)
    start = division
    for n in choice_lengths:
        allowed[start: start + n, start: start + n] = torch.ones(n, n).tril_().bool()  # [n, n] causal block
        start += n
    allowed[:, :division] = True
    return allowed


@torch.no_grad()
@in_eval_mode
def choice_log_probs(model: nn.Module, context: list[int], choices: list[list[int]], special: SpecialTokens,
                     positions: str = "mask") -> list[float]:
    """Summed log-probability of each choice after ``context`` (which may hold the ``[MASK]`` to fill), all choices
    in one forward pass."""
    ids, pos, allowed, scored = multiple_choice_inputs(context, choices, special, positions)
    if len(ids) > model.config.max_sequence_length:
        raise ValueError(f"context + choices: {len(ids)} tokens exceed max_sequence_length="
                         f"{model.config.max_sequence_length}")
    device = next(model.parameters()).device
    logits = model(ids[None].to(device), position_ids=pos[None].to(device),
                   attention_mask=allowed[None, None].to(device)).logits[0]
    logp = torch.log_softmax(logits.float(), dim=-1)  # [L, V]
    return [float(logp[rows, targets].sum()) for rows, targets in
            ((torch.tensor(r, device=device), torch.tensor(t, device=device)) for r, t in scored)]


@torch.no_grad()
@in_eval_mode
def continuation_log_probs(model: nn.Module, context: list[int], choices: list[list[int]], special: SpecialTokens,
                           unidirectional: bool = False) -> list[float]:
    """Summed log-probability of each choice as the ``[gMASK]`` continuation of ``context``, in the official cloze
    layouts (``cloze_prompt``): bidirectional context, or everything causal (GPT-style). One forward per choice."""
    if not choices or any(len(c) == 0 for c in choices):
        raise ValueError("choices: expected at least one non-empty choice")
    ids, pos, prefix = cloze_prompt(context, special, unidirectional)
    device = next(model.parameters()).device
    scores = []
    for choice in choices:
        full = ids + list(choice[:-1])
        n = len(full)
        if n > model.config.max_sequence_length:
            raise ValueError(f"context + choice: {n} tokens exceed max_sequence_length="
                             f"{model.config.max_sequence_length}")
        allowed = torch.ones(n, n).tril_().bool()  # [n, n] causal
        allowed[:, :prefix] = True  # the context (and [gMASK]) is bidirectional unless unidirectional
        logits = model(torch.tensor([full], device=device), position_ids=torch.arange(n, device=device)[None],
                       attention_mask=allowed[None, None].to(device)).logits[0]
        logp = torch.log_softmax(logits[len(ids) - 1:].float(), dim=-1)  # rows predicting the choice's tokens
        scores.append(float(logp[torch.arange(len(choice)), torch.tensor(choice, device=device)].sum()))
    return scores


def rank_accuracy(score_lists: list[list[float]], labels: list[int]) -> float:
    """Share of items whose best-scoring choice is the label (ties go to the first choice)."""
    if len(score_lists) != len(labels) or not labels:
        raise ValueError(f"labels: expected one label per item ({len(score_lists)}), got {len(labels)}")
    for i, (scores, label) in enumerate(zip(score_lists, labels)):
        if len(scores) < 2:
            raise ValueError(f"score_lists[{i}]: expected the scores of at least 2 choices (a ranking of one is "
                             f"always right), got {len(scores)}")
        if any(math.isnan(x) for x in scores):
            raise ValueError(f"score_lists[{i}]: a NaN score cannot be ranked, got {list(scores)}"[:200])
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(scores):
            raise ValueError(f"labels[{i}]: expected a choice index in [0, {len(scores)}), got {label!r}")
    hits = sum(max(range(len(s)), key=s.__getitem__) == label for s, label in zip(score_lists, labels))
    return hits / len(labels)
