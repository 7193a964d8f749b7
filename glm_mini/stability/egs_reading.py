"""Reading the EGS sweep (notebook 05): the search table and the lesson line, computed from the runs.

How it works
------------
The ``egs`` sweep (``glm_mini.experiments``) trains DeepNorm with embedding gradient shrink α = 1 (``deepnorm``),
α = 0.1 on both paths into the tied embedding (``egs-0.1``, the kit's default and GLM-130B's config) and α = 0.1 on
the input path alone (``egs-0.1-input``), at several learning rates, two seeds each. ``search_table`` gives one row
per learning rate and arm: how often the global clip fired, the embedding's share of the squared gradient norm and
what the rest of the model kept of its gradient (each cell's ``clipping``, ``glm_mini.stability.clipping``, means
over seeds), the trainer's spike count (summed over seeds) and the final validation loss (mean, lowest and highest
seed).

``lesson_line`` asks the paper's question of the numbers: does α = 0.1 (both paths) end at a lower loss than α = 1?
*shown* when at some learning rate every α = 0.1 seed ends below every α = 1 seed (the difference is larger than the
seeds' spread); otherwise *not shown*, with the largest difference, the spread, and how active the clip was.
"""

from __future__ import annotations

import statistics

from glm_mini.stability.lr_sensitivity import margins

ARMS = ("deepnorm", "egs-0.1", "egs-0.1-input")
ARM_LABELS = {"deepnorm": "alpha = 1", "egs-0.1": "alpha = 0.1, both paths", "egs-0.1-input": "alpha = 0.1, input only"}


def search_table(results: dict, depth: int = 6) -> list[dict]:
    """One row per (learning rate, arm), learning rates ascending (module docstring)."""
    rows = []
    lrs = sorted({c["lr"] for c in results["cells"] if c["depth"] == depth})
    for lr in lrs:
        for arm in ARMS:
            cells = [c for c in results["cells"] if (c["scheme"], c["depth"], c["lr"]) == (arm, depth, lr)]
            if not cells:
                continue
            stats = [c["clipping"] for c in cells]
            losses = [c["val_loss"] for c in cells]
            rows.append({"lr": lr, "arm": arm, "seeds": len(cells),
                         **{k: statistics.fmean(s[k] for s in stats) for k in stats[0]},
                         "spikes": sum(c["spikes"] for c in cells),
                         "mean": statistics.fmean(losses), "lo": min(losses), "hi": max(losses)})
    if not rows:
        raise ValueError(f"results: no cells of the arms {ARMS} at {depth} layers")
    return rows


def lesson_line(results: dict, depth: int = 6, name: str = "egs") -> str:
    """``lesson egs: shown (...)`` or ``lesson egs: not shown (...)`` (module docstring)."""
    diffs = margins(results, depth, worse="deepnorm", better="egs-0.1")  # margin = loss(α=1) − loss(α=0.1)
    table = {(r["lr"], r["arm"]): r for r in search_table(results, depth)}
    best = max(diffs, key=lambda r: r["margin"])
    busiest = max((r for r in table.values() if r["arm"] == "deepnorm"), key=lambda r: r["clipped"])
    shrunk = table[busiest["lr"], "egs-0.1"]
    spread = max(max(r["worse_hi"] - r["worse_lo"], r["better_hi"] - r["better_lo"]) for r in diffs)
    lrs = sorted(r["lr"] for r in diffs)
    what = (f"at {depth} layers over lr {lrs[0]:g}-{lrs[-1]:g} x {best['seeds']} seeds: largest gain of alpha 0.1 "
            f"(both paths) over alpha 1 {best['margin']:+.3f} nat at lr {best['lr']:g} ({best['better_mean']:.3f} "
            f"[{best['better_lo']:.3f}, {best['better_hi']:.3f}] vs {best['worse_mean']:.3f} "
            f"[{best['worse_lo']:.3f}, {best['worse_hi']:.3f}]), largest seed spread {spread:.3f}; where the clip "
            f"fired most (lr {busiest['lr']:g}: {busiest['clipped']:.0%} of alpha 1's steps, embedding "
            f"{busiest['share']:.0%} of the squared norm) alpha 0.1 cut it to {shrunk['clipped']:.0%} "
            f"(embedding {shrunk['share']:.0%}) and moved the loss by {shrunk['mean'] - busiest['mean']:+.3f} nat")
    if best["separated"] and best["margin"] > 0:
        return f"lesson {name}: shown ({what})"
    return f"lesson {name}: not shown (no learning rate where every alpha 0.1 seed beats every alpha 1 seed; {what})"
