"""Record the pipeline schedule that was actually executed, and measure its bubble against (p−1)/(m+p−1).

How it works
------------
``RecordingStage`` is ``torch.distributed.pipelining.PipelineStage`` with its two per-micro-batch entry points
wrapped: each ``forward_one_chunk`` / ``backward_one_chunk`` call appends an ``Event(kind, stage, microbatch, start,
end)`` with ``time.monotonic()`` stamps (one system-wide clock, so events from different processes line up). Waiting
for a neighbour's activations or gradients happens outside these calls, so an event's length is compute only.

The bubble of a rank is the share of the step it spent idle:

    bubble_r = 1 − (Σ_{events on r} (end − start)) / (t_end − t_start)

over the step's window [first event start, last event end] across all ranks. With p stages, m micro-batches and
equal per-stage times, GPipe and 1F1B both idle (p−1) forward+backward slots out of (m+p−1) (GLM-130B paper
App. B.4, eq. 5; docs/glm130b_facts.md §3):

    bubble = (p − 1) / (m + p − 1)          e.g. p = 8, m = 176 → 7/183 ≈ 3.8 % (the paper's figure)

The interleaved 1F1B schedule with v stages per rank shrinks it to (p − 1) / (v·m + p − 1).

On a shared 2-core machine the timestamps also hold communication and noise. ``replay`` separates the schedule from
the machine: it keeps each rank's executed ORDER and re-times it with ideal costs (a forward of a stage costs 1/v,
its backward 2/v, communication is free), starting each event as soon as its rank is free and its inputs exist
(F of stage s after F of stage s−1; B of stage s after B of stage s+1 and F of stage s, same micro-batch). The
replayed bubble is the one the executed order implies, to compare with the formula exactly.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from torch.distributed.pipelining import PipelineStage

from glm_mini.training.checkpoint import write_atomic


@dataclass(frozen=True)
class Event:
    kind: str  # "F" forward or "B" backward of one micro-batch
    stage: int
    microbatch: int
    start: float  # time.monotonic() seconds
    end: float
    rank: int = 0


def bubble_formula(p: int, m: int, v: int = 1) -> float:
    """(p − 1) / (v·m + p − 1): the idle share of a pipeline step with p ranks, m micro-batches, v stages per rank."""
    for name, value in (("p", p), ("m", m), ("v", v)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"bubble_formula: {name} must be a positive int, got {value!r}")
    return (p - 1) / (v * m + p - 1)


class RecordingStage(PipelineStage):
    """A PipelineStage that appends an ``Event`` to ``events`` for every forward and backward it runs."""

    def __init__(self, *args, events: list[Event], rank: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.events, self.rank = events, rank

    def _record(self, kind, microbatch, start):
        self.events.append(Event(kind, self.stage_index, microbatch, start, time.monotonic(), self.rank))

    def forward_one_chunk(self, fwd_chunk_id, *args, **kwargs):
        start = time.monotonic()
        out = super().forward_one_chunk(fwd_chunk_id, *args, **kwargs)
        self._record("F", fwd_chunk_id, start)
        return out

    def backward_one_chunk(self, bwd_chunk_id, *args, **kwargs):
        start = time.monotonic()
        out = super().backward_one_chunk(bwd_chunk_id, *args, **kwargs)
        self._record("B", bwd_chunk_id, start)
        return out


def measured_bubble(events: list[Event]) -> dict[int, float]:
    """bubble_r for every rank in ``events`` (one step's events from all ranks)."""
    if not events:
        raise ValueError("measured_bubble: events is empty; record a step first")
    t0, t1 = min(e.start for e in events), max(e.end for e in events)
    busy: dict[int, float] = {}
    for e in events:
        busy[e.rank] = busy.get(e.rank, 0.0) + (e.end - e.start)
    return {rank: 1.0 - b / (t1 - t0) for rank, b in sorted(busy.items())}


def save_events(events: list[Event], path: str | os.PathLike) -> None:
    """Write events as JSON, atomically (temp file in the same folder, then os.replace)."""
    write_atomic(Path(path), lambda f: f.write(json.dumps([asdict(e) for e in events]).encode()))


def load_events(*paths: str | os.PathLike) -> list[Event]:
    """Events from one or more files written by ``save_events`` (e.g. one per rank), sorted by start time."""
    events = []
    for path in paths:
        if not Path(path).is_file():
            raise FileNotFoundError(f"load_events: no events file at {path}")
        events += [Event(**e) for e in json.loads(Path(path).read_text())]
    return sorted(events, key=lambda e: e.start)


def replay(events: list[Event], forward_cost: float = 1.0, backward_cost: float = 2.0) -> list[Event]:
    """The executed order of ``events`` re-timed with ideal costs per stage (see the module docstring)."""
    if not events:
        raise ValueError("replay: events is empty; record a step first")
    last_stage = max(e.stage for e in events)
    per_rank: dict[int, list[Event]] = {}
    for e in sorted(events, key=lambda e: e.start):
        per_rank.setdefault(e.rank, []).append(e)
    v = max(len({e.stage for e in evs}) for evs in per_rank.values())
    done: dict[tuple[str, int, int], float] = {}
    free = dict.fromkeys(per_rank, 0.0)
    nxt = dict.fromkeys(per_rank, 0)
    out: list[Event] = []
    while len(out) < len(events):
        progressed = False
        for rank, evs in per_rank.items():
            while nxt[rank] < len(evs):
                e = evs[nxt[rank]]
                needs = ([("F", e.stage - 1, e.microbatch)] if e.kind == "F" and e.stage > 0 else []) + (
                    [("F", e.stage, e.microbatch)] + ([("B", e.stage + 1, e.microbatch)] if e.stage < last_stage
                                                      else []) if e.kind == "B" else [])
                if any(n not in done for n in needs):
                    break
                start = max([free[rank]] + [done[n] for n in needs])
                end = start + (forward_cost if e.kind == "F" else backward_cost) / v
                done[(e.kind, e.stage, e.microbatch)] = free[rank] = end
                out.append(Event(e.kind, e.stage, e.microbatch, start, end, rank))
                nxt[rank] += 1
                progressed = True
        if not progressed:
            raise ValueError("replay: the events' order cannot be executed (a dependency never runs before it)")
    return sorted(out, key=lambda e: e.start)
