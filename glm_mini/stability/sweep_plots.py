"""Pictures of a learning-rate sweep (notebooks 04 and 05): loss against learning rate with the seeds' spread.

How it works
------------
``plot_lr_curves`` draws, for each scheme, the mean final validation loss over seeds against the peak learning rate
on a log axis (``glm_mini.stability.lr_sensitivity.curve``), with the spread between the lowest and the highest seed:
a line and a shaded band for a committed sweep, markers with error bars for cells trained live, so the two are told
apart at a glance. ``plot_collapse_line`` adds the loss of a model that predicts token frequencies (the sweep's
unigram loss, ``lr_sensitivity.collapse_loss``). ``plot_cell_curves`` draws one quantity per step (a cell summary's
list, e.g. ``loss`` or ``attn_logit_max``) for chosen cells.
"""

from __future__ import annotations

from glm_mini.stability.lr_sensitivity import collapse_loss, curve

SCHEME_COLORS = {"pre-ln": "tab:blue", "post-ln": "tab:red", "sandwich": "tab:orange", "deepnorm": "tab:green",
                 "alpha-only": "tab:purple", "beta-only": "tab:brown", "egs-0.1": "tab:cyan",
                 "egs-0.1-input": "tab:pink"}


def plot_lr_curves(ax, results: dict, schemes, depth: int, live: bool = False, label_suffix: str = "") -> None:
    """Mean loss against learning rate for each of ``schemes`` at ``depth``; spread = lowest to highest seed."""
    for scheme in schemes:
        rows = curve(results, scheme, depth)
        lrs = [r["lr"] for r in rows]
        mean, lo, hi = ([r[k] for r in rows] for k in ("mean", "lo", "hi"))
        color = SCHEME_COLORS.get(scheme, "black")
        label = f"{scheme}{label_suffix}"
        if live:
            ax.errorbar(lrs, mean, yerr=[[m - a for m, a in zip(mean, lo)], [b - m for m, b in zip(mean, hi)]],
                        fmt="o", ms=7, mfc="white", mew=1.8, color=color, capsize=4, label=label, zorder=3)
        else:
            ax.plot(lrs, mean, "-", color=color, lw=1.8, label=label)
            ax.fill_between(lrs, lo, hi, color=color, alpha=0.2, lw=0)
    ax.set_xscale("log")
    ax.set_xlabel("peak learning rate")
    ax.set_ylabel("final validation loss (nats/token)")


def plot_collapse_line(ax, results: dict) -> float:
    """A dashed line at the unigram loss; returns it."""
    line = collapse_loss(results)
    ax.axhline(line, color="black", ls="--", lw=1)
    ax.text(ax.get_xlim()[0] if ax.get_xscale() != "log" else ax.get_xlim()[0] * 1.05, line + 0.03,
            f"unigram loss {line:.2f}: predicts token frequencies", fontsize=8, va="bottom")
    return line


def plot_cell_curves(ax, results: dict, key: str, select, colors=None, logy: bool = False) -> None:
    """``key`` per step for every cell where ``select(cell)`` is true; labelled by scheme, lr and seed."""
    for cell in results["cells"]:
        if not select(cell):
            continue
        color = (colors or SCHEME_COLORS).get(cell["scheme"], "black")
        style = "-" if cell["seed"] == min(results["settings"]["seeds"]) else ":"
        ax.plot(results["series_steps"], cell[key], style, color=color,
                label=f"{cell['scheme']}, lr {cell['lr']:g}, seed {cell['seed']}")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
