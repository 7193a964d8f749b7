"""Checks for notebook 10's exercises: the paper's partition rule, the 1F1B order of a stage, the bubble formula.

The references are ``scale_up.pipeline``'s own functions: the partition the pipeline runs, the order of its 1F1B
schedule, the bubble formula its measurements are compared with. A wrong bubble also prints the counts it is made
of (``bubble_steps``: units a step lasts, a stage works, a stage idles), so the student sees which count is off.
"""

from __future__ import annotations

import random

from glm_mini.exercises.harness import Case, run_check

from ..pipeline.orders import one_f_one_b_order
from ..pipeline.partition import layers_per_stage
from ..pipeline.recording import bubble_formula


def check_layers_per_stage(student_fn) -> bool:
    """Exercise 10.1: ``student_fn(num_layers, num_stages) -> list[int]``, layers per stage by the paper's rule."""
    rng = random.Random(10_1)
    cases = [Case("GLM-130B: 70 layers, 8 stages", (70, 8)), Case("one stage (edge)", (5, 1)),
             Case("one layer per stage (edge)", (4, 4))]
    for k in range(3):
        stages = rng.randint(2, 8)
        cases.append(Case(f"random {k}", (rng.randint(stages, 40), stages)))
    return run_check("Exercise 10.1", student_fn, layers_per_stage, cases)


def check_one_f_one_b_order(student_fn) -> bool:
    """Exercise 10.2: ``student_fn(stage, num_stages, m) -> list[str]``, the 1F1B order ("F0", "B0", ...)."""
    cases = [Case("first of 2 stages, m=4", (0, 2, 4)), Case("last of 4 stages, m=4", (3, 4, 4)),
             Case("middle stage, m=6", (1, 4, 6)), Case("fewer micro-batches than stages (edge)", (0, 4, 2))]
    return run_check("Exercise 10.2", student_fn, one_f_one_b_order, cases)


def bubble_steps(p: int, m: int) -> list[tuple[str, float]]:
    """The counts behind the bubble, in units of one forward plus one backward (t_f + t_b) of one stage."""
    return [("units one step lasts", m + p - 1), ("units one stage works", m), ("units one stage idles", p - 1),
            ("idle share", bubble_formula(p, m))]


def check_bubble_fraction(student_fn) -> bool:
    """Exercise 10.3: ``student_fn(p, m) -> float`` is (p − 1)/(m + p − 1); a mismatch prints ``bubble_steps``."""
    rng = random.Random(10_3)
    cases = [Case("paper: p=8, m=176", (8, 176)), Case("one stage (edge)", (1, 7)),
             Case("one micro-batch (edge)", (4, 1))]
    cases += [Case(f"random {k}", (rng.randint(2, 16), rng.randint(1, 64))) for k in range(3)]
    return run_check("Exercise 10.3", student_fn, bubble_formula, cases, rtol=1e-12, breakdown=bubble_steps)
