"""Checks for notebook 02's exercises (the blank-infilling objective), each against ``glm_mini.objective``.

- Exercise 2.1 ``check_part_a(fn)``: ``fn(tokens, spans, mask_id) -> list[int]``, Part A (each span -> one [MASK]).
- Exercise 2.2 ``check_part_b(fn)``: ``fn(tokens, spans, span_order, sop_id, eop_id) -> (inputs, targets)``, Part B:
  per span in ``span_order``, ``[sop] + span`` as inputs and ``span + [eop]`` as targets (docs/glm130b_facts.md §2.2).
- Exercise 2.3 ``check_part_b_positions(fn)``: ``fn(spans, span_order) -> list[int]``, the 1-D positions of Part B.
- Exercise 2.4 ``check_gmask_sample(fn)``: ``fn(tokens, prefix_len, gmask_id, sop_id) -> (inputs, targets)``.

Inputs are seeded (``random.Random``); every check has several sizes and one edge case.
"""

from __future__ import annotations

import random

from glm_mini.exercises.harness import Case, run_check
from glm_mini.objective import gmask_sample, mask_sample, sample_mask_spans
from glm_mini.special_tokens import SpecialTokens

_SPECIAL = SpecialTokens(mask=1000, gmask=1001, smask=1002, eod=1003, sop=1004, eop=1005, eos=2, pad=0)


def _special(mask_id: int = _SPECIAL.mask, gmask_id: int = _SPECIAL.gmask, sop_id: int = _SPECIAL.sop):
    return SpecialTokens(mask=mask_id, gmask=gmask_id, smask=_SPECIAL.smask, eod=_SPECIAL.eod, sop=sop_id,
                         eop=_SPECIAL.eop, eos=_SPECIAL.eos, pad=_SPECIAL.pad)


def part_a(tokens: list[int], spans: list[tuple[int, int]], mask_id: int) -> list[int]:
    """Reference for 2.1: Part A of the package's ``mask_sample``."""
    sample = mask_sample(tokens, spans, _special(mask_id=mask_id))
    return sample.input_ids[:sample.division].tolist()


def part_b(tokens: list[int], spans: list[tuple[int, int]], span_order: list[int], sop_id: int,
           eop_id: int) -> tuple[list[int], list[int]]:
    """Reference for 2.2: Part B's input ids and targets from the package's ``mask_sample``."""
    special = SpecialTokens(mask=_SPECIAL.mask, gmask=_SPECIAL.gmask, smask=_SPECIAL.smask, eod=_SPECIAL.eod,
                            sop=sop_id, eop=eop_id, eos=_SPECIAL.eos, pad=_SPECIAL.pad)
    sample = mask_sample(tokens, spans, special, span_order)
    return sample.input_ids[sample.division:].tolist(), sample.targets[sample.division:].tolist()


def part_b_positions(spans: list[tuple[int, int]], span_order: list[int]) -> list[int]:
    """Reference for 2.3: the 1-D positions of Part B (``[sop] + span`` per span, in ``span_order``)."""
    n = max(end for _, end in spans) + 1
    sample = mask_sample(list(range(10, 10 + n)), spans, _SPECIAL, span_order)
    return sample.position_ids[sample.division:].tolist()


def gmask_inputs_targets(tokens: list[int], prefix_len: int, gmask_id: int, sop_id: int):
    """Reference for 2.4: input ids and targets of the package's ``gmask_sample``."""
    sample = gmask_sample(tokens, prefix_len, _special(gmask_id=gmask_id, sop_id=sop_id))
    return sample.input_ids.tolist(), sample.targets.tolist()


def _text(rng: random.Random, n: int) -> list[int]:
    return [rng.randrange(3, 900) for _ in range(n)]


def _span_cases() -> list[Case]:
    rng = random.Random(2)
    cases = [Case("the worked example x1..x6, spans {x3}, {x5 x6}", ([11, 12, 13, 14, 15, 16], [(2, 3), (4, 6)]))]
    for n in (12, 40, 97):
        tokens = _text(rng, n)
        cases.append(Case(f"{n} tokens", (tokens, sample_mask_spans(n, rng))))
    cases.append(Case("edge: the whole text is one span", ([7, 8, 9], [(0, 3)])))
    return cases


def check_part_a(fn) -> bool:
    cases = [Case(c.label, (*c.args, 1000)) for c in _span_cases()]
    cases.append(Case("edge: another mask id", ([5, 6, 7, 8], [(1, 2)], 77)))
    return run_check("Exercise 2.1", fn, part_a, cases)


def _shuffled(cases: list[Case], seed: int) -> list[tuple[str, list, list[int]]]:
    rng = random.Random(seed)
    out = []
    for c in cases:
        order = list(range(len(c.args[1])))
        rng.shuffle(order)
        out.append((c.label + ", shuffled order", c.args, order))
    return out


def check_part_b(fn) -> bool:
    cases = [Case(label, (tokens, spans, order, 1004, 1005)) for label, (tokens, spans), order in
             _shuffled(_span_cases(), seed=5)]
    cases.append(Case("the worked example, order (x5 x6), (x3)", ([11, 12, 13, 14, 15, 16], [(2, 3), (4, 6)],
                                                                   [1, 0], 1004, 1005)))
    cases.append(Case("edge: other [sop]/[eop] ids", ([5, 6, 7, 8], [(1, 2), (3, 4)], [0, 1], 61, 62)))
    return run_check("Exercise 2.2", fn, part_b, cases)


def check_part_b_positions(fn) -> bool:
    cases = [Case(label, (spans, order)) for label, (_, spans), order in _shuffled(_span_cases(), seed=3)]
    cases.append(Case("the worked example, order (x5 x6), (x3)", ([(2, 3), (4, 6)], [1, 0])))
    return run_check("Exercise 2.3", fn, part_b_positions, cases)


def check_gmask_sample(fn) -> bool:
    rng = random.Random(4)
    cases = [Case("x1..x6, prefix 2", ([11, 12, 13, 14, 15, 16], 2, 1001, 1004))]
    for n in (10, 33):
        cases.append(Case(f"{n} tokens", (_text(rng, n), rng.randrange(n), 1001, 1004)))
    cases += [Case("edge: empty prefix", ([5, 6, 7], 0, 1001, 1004)),
              Case("edge: a one-token suffix", ([5, 6, 7], 2, 51, 52))]
    return run_check("Exercise 2.4", fn, gmask_inputs_targets, cases)
