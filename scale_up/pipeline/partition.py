"""Which transformer layers each pipeline stage holds: the paper's rule, embedding and head counted as layers.

How it works
------------
GLM-130B split its 70 layers over 8 pipeline stages with DeepSpeed's ``--pp-partition-method
'type:transformer|embedding'`` (docs/glm130b_facts.md §3): every transformer layer is one unit of work, and so is each
end of the model that touches the 150k-row embedding (the input lookup on the first stage, the tied output projection
on the last). That makes 70 + 2 = 72 units, 9 per stage, so the two end stages hold 8 layers plus an embedding and the
six middle stages hold 9 layers.

``partition_layers`` does the same for any size. Stage ``i`` costs

    cost_i = n_i + e_i,     e_i = [i is the first stage] + [i is the last stage],   Σ n_i = N,  n_i ≥ 1

and the rule picks the smallest possible maximum cost M = max(⌈(N + 2) / S⌉, 1 + max e_i), gives every stage
``M − e_i`` layers, then takes the surplus back one layer at a time from the most expensive stage (the later one on a
tie, so the first stages keep the extra work when it does not divide evenly, as DeepSpeed's uniform split does).
Stages own contiguous layer ranges, in order.
"""

from __future__ import annotations

import math


def end_units(stage: int, num_stages: int) -> int:
    """e_i: how many embedding units stage ``stage`` holds (input lookup on the first, tied head on the last)."""
    return int(stage == 0) + int(stage == num_stages - 1)


def partition_layers(num_layers: int, num_stages: int) -> list[range]:
    """The contiguous layer range of each of ``num_stages`` stages, balanced with embedding and head as units."""
    for name, value in (("num_layers", num_layers), ("num_stages", num_stages)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"partition_layers: {name} must be a positive int, got {value!r}")
    if num_layers < num_stages:
        raise ValueError(f"partition_layers: num_layers={num_layers} is fewer than num_stages={num_stages}; "
                         "every pipeline stage needs at least one transformer layer")
    extra = [end_units(i, num_stages) for i in range(num_stages)]
    max_cost = max(math.ceil((num_layers + 2) / num_stages), 1 + max(extra))
    counts = [max_cost - e for e in extra]
    for _ in range(sum(counts) - num_layers):  # hand the surplus back from the most loaded stage, later ones first
        i = max((i for i in range(num_stages) if counts[i] > 1), key=lambda i: (counts[i] + extra[i], i))
        counts[i] -= 1
    starts = [sum(counts[:i]) for i in range(num_stages)]
    return [range(start, start + n) for start, n in zip(starts, counts)]


def stage_costs(num_layers: int, num_stages: int) -> list[int]:
    """cost_i = layers + embedding units per stage, under ``partition_layers``."""
    return [len(r) + end_units(i, num_stages) for i, r in enumerate(partition_layers(num_layers, num_stages))]


def layers_per_stage(num_layers: int, num_stages: int) -> list[int]:
    """n_i, the number of transformer layers of each stage, under ``partition_layers``."""
    return [len(r) for r in partition_layers(num_layers, num_stages)]
