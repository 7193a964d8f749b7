"""Loss-spike detection and the paper's remedy: skip the data that caused it.

How it works
------------
GLM-130B's loss exploded at steps 33700, 35250 and 40800; besides lowering the learning rate and re-shrinking the
embedding gradient, the team restarted from a checkpoint before the spike and skipped the batches around it
(``--skip-train-iteration-range 40701-40900 42401-42600``; docs/glm130b_facts.md §2.6). The kit does both halves:

- ``SpikeDetector`` flags step t when its loss exceeds ``factor`` times the median of the previous ``window``
  losses kept (spikes are not kept), or is not finite (ρ = 1.5, w = 20 by default):

      spike(t) ⇔ ℓ_t > ρ · median(ℓ_{t−w}, …, ℓ_{t−1})

- ``parse_skip_ranges`` reads ranges such as ``"40701-40900,42401-42600"``: the trainer draws those steps' batches
  (so the data position moves on exactly as in the official code) but neither runs nor applies them. With
  ``spike_action="skip"`` the trainer also drops the update of a step flagged as a spike.
"""

from __future__ import annotations

import math
import statistics
from collections import deque


class NonFiniteLossError(ArithmeticError):
    """The training loss came out NaN or infinite: the trainer stops there (every later step would be too)."""


class SpikeDetector:
    def __init__(self, factor: float = 1.5, window: int = 20):
        if factor <= 1.0:
            raise ValueError(f"spike factor must be > 1, got {factor}")
        if window < 1:
            raise ValueError(f"spike window must be >= 1, got {window}")
        self.factor, self.window = factor, window
        self.history: deque[float] = deque(maxlen=window)

    def update(self, loss: float) -> bool:
        """Record ``loss``; True when it is a spike against the losses recorded before it (spikes are not kept)."""
        if not math.isfinite(loss):
            return True
        spike = len(self.history) == self.window and loss > self.factor * statistics.median(self.history)
        if not spike:
            self.history.append(loss)
        return spike

    def state_dict(self) -> dict:
        return {"history": list(self.history)}

    def load_state_dict(self, state: dict) -> None:
        self.history = deque(state["history"], maxlen=self.window)


def parse_skip_ranges(text: str | None) -> tuple[tuple[int, int], ...]:
    """``"a-b,c-d"`` (inclusive, 1-based steps) → ``((a, b), (c, d))``; empty or None → ``()``."""
    if not text:
        return ()
    ranges = []
    for part in text.split(","):
        bounds = part.strip().split("-")
        try:
            if len(bounds) > 2:
                raise ValueError
            a, b = int(bounds[0]), int(bounds[-1])
        except ValueError:
            raise ValueError(f"skip_steps: expected ranges like '40701-40900,42401-42600', got {text!r}") from None
        if not 1 <= a <= b:
            raise ValueError(f"skip_steps: each range needs 1 <= first <= last, got {part.strip()!r}")
        ranges.append((a, b))
    return tuple(ranges)


def in_ranges(step: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(a <= step <= b for a, b in ranges)
