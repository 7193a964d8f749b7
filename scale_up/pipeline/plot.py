"""Draw a pipeline schedule from its events: one row per stage, one box per forward or backward of a micro-batch.

How it works
------------
Each ``Event`` (recording.py) becomes a box from ``start`` to ``end`` (milliseconds after the step's first event)
in its stage's row, labelled with its micro-batch, blue for a forward and orange for a backward; white space in a
row is that stage's bubble. Used by notebook 10 for measured and for replayed (ideal) timelines.
"""

from __future__ import annotations

from .recording import Event

COLORS = {"F": "#4C72B0", "B": "#DD8452"}


def plot_timeline(events: list[Event], ax, title: str = "", unit: str = "ms") -> None:
    """Draw ``events`` on the matplotlib axes ``ax``; ``unit`` "ms" scales seconds by 1000, "slots" leaves them."""
    if not events:
        raise ValueError("plot_timeline: events is empty")
    if unit not in ("ms", "slots"):
        raise ValueError(f"plot_timeline: unit must be 'ms' or 'slots', got {unit!r}")
    from matplotlib.patches import Patch

    scale = 1000.0 if unit == "ms" else 1.0
    t0 = min(e.start for e in events)
    stages = sorted({e.stage for e in events})
    for e in events:
        x, w = (e.start - t0) * scale, (e.end - e.start) * scale
        ax.barh(e.stage, w, left=x, height=0.8, color=COLORS[e.kind], edgecolor="black", linewidth=0.5)
        ax.text(x + w / 2, e.stage, str(e.microbatch), ha="center", va="center", fontsize=7, color="white")
    ax.set_yticks(stages, [f"stage {s}" for s in stages])
    ax.invert_yaxis()
    ax.set_xlabel("time (ms)" if unit == "ms" else "time (forward slots)")
    ax.set_title(title)
    ax.legend(handles=[Patch(color=COLORS["F"], label="forward"), Patch(color=COLORS["B"], label="backward")],
              loc="lower right", fontsize=7)
