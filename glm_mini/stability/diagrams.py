"""Hand-drawn diagrams of the stability lab (matplotlib): where each scheme puts its LayerNorms, and EGS's graph.

How it works
------------
Nothing in the model computes a picture of its own data flow, so these are drawn from a small description: a list of
boxes bottom to top, each a label and a kind (``"ln"`` LayerNorm, ``"f"`` a branch: attention or the feed-forward,
``"add"`` a residual sum, ``"io"`` the layer's input/output), joined by arrows, with the residual path drawn beside
the branch. ``draw_norm_placements`` follows ``glm_mini/layer.py`` (one residual block, the branch f standing for
attention or the GeGLU): Post-LN ``LN(h + f(h))``, Pre-LN ``h + f(LN(h))``, Sandwich-LN ``h + LN(f(LN(h)))``,
DeepNorm ``LN(α·h + f(h))`` with f's weights initialized with gain β. ``draw_egs_graph`` follows ``glm_mini/model.py``:
the tied embedding E feeds the input lookup and the output head, each through ``shrink(·, α)``
(``glm_mini/grad_shrink.py``), and shows where the gradient is multiplied by α and where the global clip reads it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

COLORS = {"ln": "#f4d35e", "f": "#8ecae6", "add": "#ffffff", "io": "#e9ecef", "shrink": "#f4a261", "param": "#b7e4c7",
          "loss": "#e5989b"}

# one residual block per scheme, bottom to top: (label, kind); "skip" marks where the residual leaves and rejoins
PLACEMENTS = {
    "Post-LN": [("h", "io"), ("f", "f"), ("+", "add"), ("LN", "ln"), ("h'", "io")],
    "Pre-LN": [("h", "io"), ("LN", "ln"), ("f", "f"), ("+", "add"), ("h'", "io")],
    "Sandwich-LN": [("h", "io"), ("LN", "ln"), ("f", "f"), ("LN", "ln"), ("+", "add"), ("h'", "io")],
    "DeepNorm": [("h", "io"), ("f  (init gain β)", "f"), ("α·h  +", "add"), ("LN", "ln"), ("h'", "io")],
}
FORMULAS = {"Post-LN": "h' = LN(h + f(h))", "Pre-LN": "h' = h + f(LN(h))", "Sandwich-LN": "h' = h + LN(f(LN(h)))",
            "DeepNorm": "h' = LN(α·h + f(h))"}


def _box(ax, x, y, text, kind, width=0.5, height=0.5):
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.05",
                                facecolor=COLORS[kind], edgecolor="black", lw=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=9)


def _arrow(ax, start, end, color="black", style="-|>", ls="-", rad=0.0):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=color, lw=1.2, ls=ls,
                                 connectionstyle=f"arc3,rad={rad}"))


def draw_norm_placements(fig=None):
    """Four panels, one residual block each, bottom (input h) to top (output h'). Returns the figure."""
    fig = fig or plt.figure(figsize=(12, 4.2))
    axes = fig.subplots(1, len(PLACEMENTS))
    for ax, (name, boxes) in zip(axes, PLACEMENTS.items()):
        ys = [i * 1.0 for i in range(len(boxes))]
        add = next(i for i, (_, kind) in enumerate(boxes) if kind == "add")
        fork = 0  # the residual leaves right after the input
        for i, ((label, kind), y) in enumerate(zip(boxes, ys)):
            _box(ax, 0.0, y, label, kind, width=0.9 if len(label) > 3 else 0.5)
            if i:
                _arrow(ax, (0.0, ys[i - 1] + 0.3), (0.0, y - 0.3))
        # the residual path: from the input around the branch into the sum
        ax.plot([0.0, 0.75, 0.75], [ys[fork] + 0.1, ys[fork] + 0.1, ys[add]], color="tab:gray", lw=1.2)
        _arrow(ax, (0.75, ys[add]), (0.35, ys[add]), color="tab:gray")
        ax.text(0.8, (ys[fork] + ys[add]) / 2, "residual", rotation=90, va="center", fontsize=8, color="tab:gray")
        ax.set_title(f"{name}\n{FORMULAS[name]}", fontsize=10)
        ax.set_xlim(-1.0, 1.2)
        ax.set_ylim(-0.6, ys[-1] + 0.6)
        ax.axis("off")
    fig.suptitle("Where the LayerNorm (yellow) sits around a branch f (blue: attention or feed-forward)", fontsize=11)
    fig.tight_layout()
    return fig


def draw_egs_graph(fig=None):
    """The tied word embedding E, both shrink points, the layers, the loss; forward arrows black, gradient red."""
    fig = fig or plt.figure(figsize=(12, 3.8))
    ax = fig.add_subplot(1, 1, 1)
    nodes = {  # name: (x, y, label, kind)
        "E": (0.0, 0.0, "E  [V, h]\nword embedding\n(one tensor)", "param"),
        "lookup": (2.2, 1.0, "E[input_ids]", "io"),
        "shrink_in": (4.2, 1.0, "shrink(·, α)", "shrink"),
        "layers": (6.4, 1.0, "N layers +\nfinal LN", "f"),
        "shrink_out": (4.2, -1.0, "shrink(E, α)", "shrink"),
        "head": (6.4, -1.0, "logits = x·Eᵀ", "io"),
        "loss": (8.6, 0.0, "loss", "loss"),
        "clip": (10.8, 0.0, "global clip:\n× min(1, 1/‖g‖)\nthen AdamW", "ln"),
    }
    for x, y, label, kind in nodes.values():
        _box(ax, x, y, label, kind, width=1.6, height=0.8)
    forward = [("E", "lookup"), ("lookup", "shrink_in"), ("shrink_in", "layers"), ("E", "shrink_out"),
               ("shrink_out", "head"), ("layers", "head"), ("head", "loss")]
    for a, b in forward:
        (xa, ya), (xb, yb) = nodes[a][:2], nodes[b][:2]
        _arrow(ax, (xa + 0.8 * (xb > xa), ya - 0.4 * (yb < ya) + 0.4 * (yb > ya) * (xb == xa)),
               (xb - 0.8 * (xb > xa), yb + 0.4 * (yb < ya) * (xb == xa)))
    for (xa, ya), (xb, yb), text in [((4.2, 1.45), (2.2, 1.45), "∂ℓ/∂e × α"), ((3.4, -1.45), (0.0, -0.5), "× α")]:
        _arrow(ax, (xa, ya), (xb, yb), color="tab:red", ls="--", rad=0.15)
        ax.text((xa + xb) / 2, (ya + yb) / 2 + 0.25 * (1 if ya > 0 else -1), text, color="tab:red", ha="center",
                fontsize=9)
    ax.text(10.8, -1.0, "‖g‖² = ‖g_E‖² + ‖g_rest‖²:\nthe one place where E's gradient\nscale reaches other layers",
            ha="center", va="top", fontsize=8, color="tab:red")
    _arrow(ax, (9.4, 0.0), (10.0, 0.0))
    ax.set_xlim(-1.0, 12.0)
    ax.set_ylim(-2.2, 2.0)
    ax.axis("off")
    ax.set_title("Embedding gradient shrink: forward unchanged (black); the gradient into E is multiplied by α on "
                 "both paths (red, dashed)", fontsize=10)
    fig.tight_layout()
    return fig
