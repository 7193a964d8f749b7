"""Reading a learning-rate sweep: loss-vs-LR curves with their spread, usable LR ranges, margins and the verdict.

How it works
------------
From the cells of a ``glm_mini.stability.lr_sweep`` results file (one final validation loss ℓ per scheme, depth,
learning rate η and seed):

- the **curve** of a scheme at a depth: for each η, the mean of ℓ over seeds and its spread (lowest and highest seed);
- the **collapse line** ℓ_uni: the loss of a model that predicts every target from its training frequency (the mean
  over seeds of the sweep's ``unigram_val_loss``). A cell has *collapsed* when its loss is within
  ``COLLAPSE_TOLERANCE`` of its seed's unigram loss (a run still above it has not learned yet; that is not a collapse);
- a scheme **trains** at η when every seed ends at least ``TRAINED_BELOW`` nats under the collapse line (a recipe
  one can rely on at that learning rate, whatever the seed), and its **usable range** is the set of such η;
- the **margin** of scheme B over scheme A at η is mean_A(η) − mean_B(η); it is *separated* when every seed of B is
  below every seed of A (max_B < min_A), so the seeds' spread cannot explain it;
- Wortsman et al.'s **LR sensitivity** of a curve: E_η[min(ℓ(η), ℓ_0) − min_η' ℓ(η')] over the swept η, with ℓ_0 the
  loss at initialization (the first step's training loss, mean over the cells): how much loss an imperfect choice of
  learning rate costs on average (0 = insensitive; a flat curve at the collapse line is *not* insensitive, it is bad
  everywhere, which is why the notebook judges by the usable range and the margin first).

``lesson_line`` turns the best margin into the course's summary line: ``shown`` when some η gives a margin of at
least ``min_margin`` nats on the mean of the seeds and the seeds are separated, else ``not shown`` with the measured
numbers.
"""

from __future__ import annotations

import math
import statistics

COLLAPSE_TOLERANCE = 0.1  # nats: within this of the unigram loss counts as collapsed
TRAINED_BELOW = 0.3  # nats: a scheme trains at an LR when every seed ends at least this far under the unigram loss


def _cells(results: dict) -> list[dict]:
    if not isinstance(results, dict) or "cells" not in results:
        raise ValueError("results: expected a sweep results dict (glm_mini.stability.lr_sweep.run_sweep), "
                         f"got {type(results).__name__} without 'cells'")
    return results["cells"]


def losses_by_lr(results: dict, scheme: str, depth: int) -> dict[float, list[float]]:
    """``{lr: [final validation loss of each seed, by seed]}`` of one scheme at one depth (ValueError if absent)."""
    table: dict[float, list[tuple[int, float]]] = {}
    for cell in _cells(results):
        if cell["scheme"] == scheme and cell["depth"] == depth:
            loss = cell["val_loss"] if cell["val_loss"] is not None and math.isfinite(cell["val_loss"]) else math.inf
            table.setdefault(cell["lr"], []).append((cell["seed"], loss))
    if not table:
        have = sorted({(c["scheme"], c["depth"]) for c in _cells(results)})
        raise ValueError(f"scheme/depth: no cells for {scheme!r} at {depth} layers; the sweep has {have}")
    return {lr: [loss for _, loss in sorted(pairs)] for lr, pairs in sorted(table.items())}


def curve(results: dict, scheme: str, depth: int) -> list[dict]:
    """One row per learning rate: ``lr``, ``mean``, ``lo``, ``hi`` (lowest/highest seed), ``n`` (seeds)."""
    return [{"lr": lr, "mean": statistics.fmean(v), "lo": min(v), "hi": max(v), "n": len(v)}
            for lr, v in losses_by_lr(results, scheme, depth).items()]


def collapse_loss(results: dict) -> float:
    """ℓ_uni: the mean over seeds of the sweep's unigram loss of the validation targets."""
    values = list(results.get("unigram_val_loss", {}).values())
    if not values:
        raise ValueError("results: expected 'unigram_val_loss' (one entry per seed), got none")
    return statistics.fmean(values)


def usable_range(losses: dict[float, list[float]], unigram: float, trained_below: float = TRAINED_BELOW
                 ) -> list[float]:
    """The learning rates (ascending) where every seed's loss is at most ``unigram − trained_below`` (a NaN or
    infinite loss never is)."""
    return [lr for lr, values in sorted(losses.items()) if values and all(v <= unigram - trained_below for v in values)]


def usable_lrs(results: dict, scheme: str, depth: int) -> list[float]:
    """``usable_range`` of a scheme at a depth, against the sweep's collapse line."""
    return usable_range(losses_by_lr(results, scheme, depth), collapse_loss(results))


def collapsed_cells(results: dict, scheme: str, depth: int) -> list[tuple[float, int]]:
    """``(lr, seed)`` of the cells whose loss is within ``COLLAPSE_TOLERANCE`` of their seed's unigram loss."""
    unigram = results.get("unigram_val_loss", {})
    return [(c["lr"], c["seed"]) for c in _cells(results) if c["scheme"] == scheme and c["depth"] == depth
            and c["val_loss"] is not None
            and abs(c["val_loss"] - unigram.get(str(c["seed"]), collapse_loss(results))) <= COLLAPSE_TOLERANCE]


def margins(results: dict, depth: int, worse: str = "post-ln", better: str = "deepnorm") -> list[dict]:
    """Per shared learning rate: ``margin`` = mean_worse − mean_better, both means and spreads, ``separated``."""
    a, b = losses_by_lr(results, worse, depth), losses_by_lr(results, better, depth)
    rows = []
    for lr in sorted(set(a) & set(b)):
        rows.append({"lr": lr, "margin": statistics.fmean(a[lr]) - statistics.fmean(b[lr]),
                     "worse_mean": statistics.fmean(a[lr]), "worse_lo": min(a[lr]), "worse_hi": max(a[lr]),
                     "better_mean": statistics.fmean(b[lr]), "better_lo": min(b[lr]), "better_hi": max(b[lr]),
                     "separated": max(b[lr]) < min(a[lr]), "seeds": min(len(a[lr]), len(b[lr]))})
    if not rows:
        raise ValueError(f"results: {worse!r} and {better!r} share no learning rate at {depth} layers")
    return rows


def best_margin(results: dict, depth: int, worse: str = "post-ln", better: str = "deepnorm") -> dict:
    """The row of ``margins`` with the largest margin."""
    return max(margins(results, depth, worse, better), key=lambda r: r["margin"])


def lr_sensitivity(results: dict, scheme: str, depth: int) -> float:
    """Wortsman et al.'s LR sensitivity E_η[min(ℓ(η), ℓ_0) − min ℓ] of the scheme's mean curve (module docstring)."""
    rows = curve(results, scheme, depth)
    firsts = [c["loss"][0] for c in _cells(results) if c["scheme"] == scheme and c["depth"] == depth and c["loss"]]
    init = statistics.fmean(firsts)
    best = min(r["mean"] for r in rows)
    return statistics.fmean(min(r["mean"], init) - best for r in rows)


def format_range(lrs: list[float], grid: list[float] | None = None) -> str:
    """``'0.001-0.005'`` when ``lrs`` are consecutive points of ``grid`` (all swept rates), else each one
    (``'0.001, 0.005'``); ``'none'`` for an empty list."""
    if not lrs:
        return "none"
    lrs = sorted(lrs)
    grid = sorted(grid) if grid is not None else lrs
    if len(lrs) == 1:
        return f"{lrs[0]:g}"
    start = grid.index(lrs[0]) if lrs[0] in grid else -1
    if start >= 0 and grid[start:start + len(lrs)] == lrs:
        return f"{lrs[0]:g}-{lrs[-1]:g}"
    return ", ".join(f"{x:g}" for x in lrs)


def lesson_line(results: dict, depths: list[int] | None = None, min_margin: float = 1.0,
                name: str = "deepnorm", worse: str = "post-ln", better: str = "deepnorm") -> str:
    """``lesson <name>: shown (...)`` or ``lesson <name>: not shown (...)`` from the sweep (module docstring)."""
    depths = depths or sorted({c["depth"] for c in _cells(results)})
    rows = [(d, best_margin(results, d, worse, better)) for d in depths]
    depth, row = max(rows, key=lambda dr: dr[1]["margin"])
    line = collapse_loss(results)
    grid = sorted({c["lr"] for c in _cells(results) if c["depth"] == depth})
    what = (f"at {depth} layers, lr {row['lr']:g}: {better} {row['better_mean']:.2f} "
            f"[{row['better_lo']:.2f}, {row['better_hi']:.2f}] vs {worse} {row['worse_mean']:.2f} "
            f"[{row['worse_lo']:.2f}, {row['worse_hi']:.2f}] nats, margin {row['margin']:.2f} nat on the mean of "
            f"{row['seeds']} seeds [lowest, highest seed], {'separated' if row['separated'] else 'overlapping'} seeds; "
            f"unigram loss {line:.2f}; usable lr {better} {format_range(usable_lrs(results, better, depth), grid)}, "
            f"{worse} {format_range(usable_lrs(results, worse, depth), grid)}")
    short = [f"the largest margin is under {min_margin:g} nat"] * (row["margin"] < min_margin) + \
        ["the seeds overlap"] * (not row["separated"])
    if not short:
        return f"lesson {name}: shown ({what})"
    return f"lesson {name}: not shown ({' and '.join(short)}: {what})"
