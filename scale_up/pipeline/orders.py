"""The order in which one pipeline stage runs its micro-batches under GPipe and under 1F1B.

How it works
------------
GPipe (Huang et al., 2019) runs every forward, then every backward: F0 … F(m−1), B0 … B(m−1). Stage s of p holds
the activations of all m micro-batches at once.

1F1B (PipeDream-Flush, the schedule GLM-130B trained with, docs/glm130b_facts.md §3) caps that at p − s: stage s
first runs w = min(m, p − s − 1) warm-up forwards, then alternates one forward and one backward until every forward
is done, then drains the remaining w backwards:

    F0 … F(w−1),  F(w) B0, F(w+1) B1, …, F(m−1) B(m−1−w),  B(m−w) … B(m−1)

Both have the same bubble, (p − 1)/(m + p − 1); 1F1B keeps at most p − s micro-batches' activations on stage s
instead of m. The recorded events of ``torch.distributed.pipelining``'s schedules follow these orders (tested).
"""

from __future__ import annotations


def _check(stage: int, num_stages: int, m: int) -> None:
    for name, value in (("num_stages", num_stages), ("m", m)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not isinstance(stage, int) or not 0 <= stage < num_stages:
        raise ValueError(f"stage must be an int in [0, {num_stages}), got {stage!r}")


def gpipe_order(stage: int, num_stages: int, m: int) -> list[str]:
    """GPipe's order on ``stage``: ["F0", …, "F(m-1)", "B0", …, "B(m-1)"]."""
    _check(stage, num_stages, m)
    return [f"F{i}" for i in range(m)] + [f"B{i}" for i in range(m)]


def one_f_one_b_order(stage: int, num_stages: int, m: int) -> list[str]:
    """1F1B's order on ``stage``: warm-up forwards, then forward/backward pairs, then the remaining backwards."""
    _check(stage, num_stages, m)
    warmup = min(m, num_stages - stage - 1)
    order = [f"F{i}" for i in range(warmup)]
    for i in range(m - warmup):
        order += [f"F{warmup + i}", f"B{i}"]
    return order + [f"B{i}" for i in range(m - warmup, m)]
