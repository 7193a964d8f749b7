"""Lessons "mip" and "gmask": what a model *generates* for a held-out question, and for a long completion.

How it works
------------
Both lessons decode greedily (``glm_mini.decoding.decode``, GLM-130B's ``BaseStrategy``) in the layout each model was
trained with (docs/glm130b_facts.md §1.5, §2.4):

- **GLM, MIP layout** (``facts_test``): ``prompt [MASK] [sop]``, prompt and ``[MASK]`` bidirectional, positions
  ``0..L-1`` (the kit's MIP samples, ``glm_mini.objective.mip_sample``). The answer ends at ``[eop]``.
- **GLM, ``[gMASK]``** (``completion_test``): ``prompt [gMASK] [sop]``, positions counting on.
- **GLM, ``[MASK]`` at the end** (``completion_test`` for the twin trained without ``[gMASK]`` rows): ``prompt [MASK]
  [sop]``, every generated token at the ``[MASK]``'s position (the official rule for a blank, ``glm_mini.generate``).
- **causal**: ``[gMASK] [sop] prompt``, everything causal (``evaluate.cloze_prompt(..., unidirectional=True)``).

Generation stops at ``[eop]``, ``eos`` or ``<eod>`` (a document ends with ``<eod>`` in pretraining, so a model that
learned where a countdown ends writes it there). Scores, per record:

- ``facts_test``: *format*: the answer (stripped) is one of the attribute's values; *correct*: it is the person's.
  Also the rank accuracy over the values, which measures what the model knows apart from the format it writes.
- ``completion_test``: *completed*: the generated text equals the rest of the countdown and the next token ends the
  generation; *stopped*: generation ended with an end token within ``len(target) + 8`` tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from glm_mini.decoding import SamplingConfig, decode
from glm_mini.evaluate import choice_log_probs, cloze_prompt, continuation_log_probs
from glm_mini.generate import blank_prompt

LAYOUTS = ("mip", "gmask", "mask", "causal")


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, parse_special=False)


def prompt_layout(ids: list[int], special, layout: str) -> tuple[list[int], list[int], int]:
    """``(ids, position_ids, bidirectional length)`` of a generation prompt in ``layout`` (one of ``LAYOUTS``)."""
    if layout == "mask":  # the official blank rule: [sop] and every generated token at the [MASK]'s position
        prompt = blank_prompt(list(ids) + [special.mask], len(ids), False, special)
        return prompt.ids, prompt.position_ids, prompt.prefix_len
    if layout == "mip":
        full = list(ids) + [special.mask, special.sop]
        return full, list(range(len(full))), len(ids) + 1
    if layout == "gmask":
        return cloze_prompt(ids, special, unidirectional=False)
    if layout == "causal":
        return cloze_prompt(ids, special, unidirectional=True)
    raise ValueError(f"layout: expected one of {LAYOUTS}, got {layout!r}")


def generate(model: nn.Module, tokenizer, prompts: list[str], layout: str, max_new_tokens: int,
             batch_size: int = 32) -> list[tuple[list[int], bool]]:
    """Greedy generations ``(ids without the end token, ended with an end token)`` for each prompt."""
    special = tokenizer.special
    end = (special.eop, special.eos, special.eod)
    results = []
    for start in range(0, len(prompts), batch_size):
        chunk = [prompt_layout(_encode(tokenizer, p), special, layout) for p in prompts[start:start + batch_size]]
        fixed = [c[1][-1] if layout == "mask" else None for c in chunk]  # the [MASK] rule: positions stay
        outs = decode(model, [c[0] for c in chunk], [c[1] for c in chunk], [c[2] for c in chunk], fixed,
                      max_new_tokens, end, special.pad, SamplingConfig())
        results += [(o[:-1], True) if o and o[-1] in end else (o, False) for o in outs]
    return results


@dataclass(frozen=True)
class FactScores:
    format: float  # share of answers that are one of the attribute's values
    correct: float  # share of answers equal to the person's value
    ranked: float  # rank accuracy over the attribute's values
    n: int


def fact_scores(model: nn.Module, tokenizer, records: list[dict], layout: str = "mip") -> FactScores:
    """Generate an answer for each ``facts_test`` record (module docstring)."""
    # as in MIP training, a prompt's trailing space belongs to the answer ("Answer:" + " teacher")
    prompts = [r["prompt"].rstrip(" ") for r in records]
    outs = generate(model, tokenizer, prompts, layout, max_new_tokens=6)
    answers = [tokenizer.decode(ids).strip() for ids, _ in outs]
    in_format = [a in r["candidates"] for a, r in zip(answers, records)]
    correct = [a == r["answer"] for a, r in zip(answers, records)]
    ranked = []
    special = tokenizer.special
    for r, prompt in zip(records, prompts):
        space = r["prompt"][len(prompt):]
        choices = [_encode(tokenizer, space + c) for c in r["candidates"]]
        if layout == "causal":
            scores = continuation_log_probs(model, _encode(tokenizer, prompt), choices, special, True)
        else:
            scores = choice_log_probs(model, _encode(tokenizer, prompt), choices, special, positions="continue")
        ranked.append(r["candidates"][max(range(len(scores)), key=scores.__getitem__)] == r["answer"])
    n = len(records)
    return FactScores(sum(in_format) / n, sum(correct) / n, sum(ranked) / n, n)


@dataclass(frozen=True)
class CompletionScores:
    completed: float  # exact rest of the countdown, then an end token
    stopped: float  # ended with an end token
    mean_new_tokens: float
    n: int


def completion_scores(model: nn.Module, tokenizer, records: list[dict], layout: str) -> CompletionScores:
    """Complete each ``completion_test`` countdown in ``layout`` ("gmask", "mask" or "causal"; module docstring)."""
    targets = [_encode(tokenizer, r["target"]) for r in records]
    limit = max(len(t) for t in targets) + 8
    outs = generate(model, tokenizer, [r["prompt"] for r in records], layout, max_new_tokens=limit)
    completed = [ended and tokenizer.decode(ids) == r["target"] for (ids, ended), r in zip(outs, records)]
    stopped = [ended for _, ended in outs]
    n = len(records)
    return CompletionScores(sum(completed) / n, sum(stopped) / n, sum(len(o) for o, _ in outs) / n, n)
