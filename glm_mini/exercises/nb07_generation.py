"""Checks for notebook 07's exercises (generation and evaluation), each against the package function it rebuilds.

- Exercise 7.1 ``check_generation_layout(fn)``: ``fn(prefix_len, total, mask_position) -> (positions [total],
  allowed [total, total])``, the official generation positions and mask (``glm_mini.generate.generation_layout``).
- Exercise 7.2 ``check_nucleus_mask(fn)``: ``fn(logits [b, V], top_p) -> bool [b, V]``, the tokens top-p sampling
  keeps (``glm_mini.decoding.nucleus_mask``).
- Exercise 7.3 ``check_penalized_score(fn)``: ``fn(score, length, length_penalty) -> float``, GLM-130B's beam
  length normalization (``glm_mini.decoding.penalized_score``); a mismatch prints ``penalty_steps``, the score's
  computation step by step, score / ((5 + |y|)/6)^ℓ, beside the raw length |y|^ℓ (the usual slip).
- Exercise 7.4 ``check_choice_mask(fn)``: ``fn(division, choice_lengths) -> bool [L, L]``, the one-pass
  multiple-choice mask (``glm_mini.evaluate.choice_mask``).
- Exercise 7.5 ``check_right_context_share(fn)``: ``fn(batch) -> float``, the share of supervised tokens that can
  attend to a later text position (``glm_mini.objective.right_context_share``); a mismatch prints
  ``share_steps``: the supervised tokens, how many may attend to a later position, the share, and the two shares a
  slip gives (the attention mask ignored; the loss mask ignored).
- Exercise 7.6 ``check_prompt_layout(fn)``: ``fn(ids, special, layout) -> (ids, position_ids, prefix_len)``, a
  generation prompt in the MIP, ``[gMASK]`` or causal layout (``glm_mini.lessons.generation.prompt_layout``).

Inputs are seeded; every check has several sizes and one edge case.
"""

from __future__ import annotations

import random

import torch

from glm_mini.decoding import nucleus_mask, penalized_score
from glm_mini.evaluate import choice_mask
from glm_mini.exercises.harness import Case, run_check
from glm_mini.generate import generation_layout
from glm_mini.lessons.generation import prompt_layout
from glm_mini.objective import (ObjectiveConfig, SpecialTokens, objective_config, right_context_share,
                                sample_batch)

_SPECIAL = SpecialTokens(mask=100, gmask=101, smask=102, eod=103, sop=104, eop=105, eos=2, pad=0)


def check_generation_layout(fn) -> bool:
    cases = [Case("[MASK] at 1, 4 tokens before [sop], 3 generated", (4, 8, 1)),
             Case("[gMASK] (positions count on), 6 before [sop]", (6, 10, None)),
             Case("[MASK] at 0, long", (12, 30, 0)),
             Case("edge: nothing generated yet, only [sop]", (3, 4, 2))]
    return run_check("Exercise 7.1", fn, generation_layout, cases)


def check_nucleus_mask(fn) -> bool:
    g = torch.Generator().manual_seed(7)
    cases = [Case(f"{b}x{v} logits, top_p={p}", (torch.randn(b, v, generator=g) * 3, p))
             for b, v, p in ((1, 10, 0.5), (4, 50, 0.9), (3, 200, 0.3))]
    peaked = torch.full((2, 6), -5.0)
    peaked[:, 2] = 10.0
    cases.append(Case("edge: one token holds almost all the mass, top_p=0.9", (peaked, 0.9)))
    return run_check("Exercise 7.2", fn, nucleus_mask, cases)


def penalty_steps(score: float, length: int, length_penalty: float) -> list[tuple[str, float]]:
    """score / ((5 + length) / 6) ** length_penalty step by step, and the raw-length divisor beside it."""
    smoothed = (5 + length) / 6
    return [("summed log-probability", score), ("length |y|", length), ("smoothed length (5 + |y|) / 6", smoothed),
            ("smoothed ** length_penalty", smoothed ** length_penalty),
            ("score / that", penalized_score(score, length, length_penalty)),
            ("raw |y| ** length_penalty (not the divisor)", length ** length_penalty)]


def check_penalized_score(fn) -> bool:
    rng = random.Random(3)
    cases = [Case(f"score {s:.2f}, length {n}, penalty {p}", (s, n, p))
             for s, n, p in ((-rng.uniform(0, 20), rng.randint(1, 60), lp) for lp in (1.0, 0.6, 2.0))]
    cases.append(Case("edge: length_penalty 0 leaves the score as it is", (-3.5, 17, 0.0)))
    return run_check("Exercise 7.3", fn, penalized_score, cases, rtol=1e-9, breakdown=penalty_steps)


def check_choice_mask(fn) -> bool:
    cases = [Case("context 3, choices of 2 and 1", (3, [2, 1])),
             Case("context 5, four choices", (5, [1, 3, 2, 4])),
             Case("edge: a single one-token choice", (1, [1]))]
    return run_check("Exercise 7.4", fn, choice_mask, cases)


def share_steps(batch: dict) -> list[tuple[str, float]]:
    """The right-context share's terms for ``batch``, and the share each of two slips computes instead."""
    supervised = int(batch["loss_mask"].sum())
    share = right_context_share(batch)
    no_mask = right_context_share({**batch, "attention_mask": torch.ones_like(batch["attention_mask"])})
    every_token = right_context_share({**batch, "loss_mask": torch.ones_like(batch["loss_mask"])})
    return [("supervised tokens (loss mask)", supervised),
            ("of them, allowed to attend to a later position", round(share * supervised)), ("share", share),
            ("share with the attention mask ignored (a slip)", no_mask),
            ("share over every token, loss mask ignored (a slip)", every_token)]


def check_right_context_share(fn) -> bool:
    def batch(seed, cfg, n=4, seq=48):
        windows = [torch.arange(200 + k, 200 + k + seq) for k in range(n)]
        return sample_batch(windows, seq, _SPECIAL, random.Random(seed), cfg)

    cases = [Case("the paper's 30/70 mix", (batch(0, objective_config("glm")),)),
             Case("70% [MASK] rows", (batch(1, objective_config("glm", 0.7)),)),
             Case("2-D positions, all [MASK] rows", (batch(2, ObjectiveConfig(gmask_prob=0.0, two_d=True)),)),
             Case("edge: the causal twin (no token sees its right)", (batch(3, objective_config("causal")),))]
    return run_check("Exercise 7.5", fn, right_context_share, cases, rtol=1e-9, breakdown=share_steps)


def check_prompt_layout(fn) -> bool:
    cases = [Case(f"{layout}, {n} prompt tokens", (list(range(10, 10 + n)), _SPECIAL, layout))
             for layout, n in (("mip", 5), ("gmask", 7), ("causal", 4))]
    cases.append(Case("edge: a one-token prompt in the MIP layout", ([42], _SPECIAL, "mip")))
    return run_check("Exercise 7.6", fn, prompt_layout, cases)
