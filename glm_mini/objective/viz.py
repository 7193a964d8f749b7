"""Pictures of a GLM sample: the token rows (input, target, positions, loss) above the attention mask.

How it works
------------
``draw_sample`` lays out one ``GLMSample`` as a figure: a table of the input tokens, their targets, position ids
(one or two rows) and the loss mask, then the ``[L, L]`` attention mask as an image (query rows, key columns; dark =
may attend) with the Part A / Part B boundary (``division``) drawn as lines, a legend and integer ticks.
``infilling_example`` turns text and knobs (objective, mask ratio, seed) into a sample, the way the notebook's widget
does: spans from ``sample_mask_spans`` or a prefix from ``sample_prefix_len``, Part B shuffled, all from one seed.
Matplotlib is imported here only, so ``glm_mini.objective`` stays light.
"""

from __future__ import annotations

import random

import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from glm_mini.objective.mixture import ObjectiveConfig, sample_mask_spans, sample_prefix_len, shuffled
from glm_mini.objective.sample import GLMSample, gmask_sample, mask_sample

ALLOWED, BLOCKED = "#2b6cb0", "#edf2f7"
PART_A, PART_B = "#ebf8ff", "#fffaf0"


def token_label(tokenizer):
    """``id -> str`` for plot labels: the piece (``▁`` shown as ``_``) when it is plain ASCII, else ``#id`` (the
    default Matplotlib fonts have no CJK glyphs)."""
    def label(i: int) -> str:
        piece = tokenizer.id_to_token(int(i)).replace("\u2581", "_")
        return piece if piece.isascii() and piece.isprintable() else f"#{int(i)}"
    return label


def infilling_example(tokens: list[int], special, objective: str = "mask", mask_ratio: float = 0.15, seed: int = 0,
                      two_d: bool = False) -> GLMSample:
    """A ``[MASK]`` (spans until ``mask_ratio`` is masked, Part B shuffled) or ``[gMASK]`` sample of ``tokens``."""
    if objective not in ("mask", "gmask"):
        raise ValueError(f"objective: expected 'mask' or 'gmask', got {objective!r}")
    rng = random.Random(seed)
    cfg = ObjectiveConfig(mask_ratio=mask_ratio, two_d=two_d)
    if objective == "gmask":
        return gmask_sample(tokens, sample_prefix_len(len(tokens), rng, cfg), special, two_d=two_d)
    spans = sample_mask_spans(len(tokens), rng, cfg)
    return mask_sample(tokens, spans, special, shuffled(len(spans), rng), two_d=two_d)


def plot_attention_mask(allowed, division: int | None = None, ax=None, labels: list[str] | None = None,
                        title: str = "attention mask (row = query, column = key)"):
    """The ``[L, L]`` bool mask as an image, Part A/B boundary at ``division``, legend, integer (or token) ticks."""
    ax = ax or plt.gca()
    n = allowed.shape[-1]
    ax.imshow(allowed.int().numpy(), cmap=ListedColormap([BLOCKED, ALLOWED]), vmin=0, vmax=1, interpolation="nearest")
    if division is not None and 0 < division < n:
        for line in (ax.axhline, ax.axvline):
            line(division - 0.5, color="#c53030", lw=1.5)
    if labels is not None and n <= 48:  # one tick per token, labelled with it
        ax.set_xticks(range(n), [labels[i] for i in range(n)], rotation=90, fontsize=7)
        ax.set_yticks(range(n), [f"{i} {labels[i]}" for i in range(n)], fontsize=7)
    else:
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(MaxNLocator(nbins=10, integer=True))
    ax.set_xlabel("key position")
    ax.set_ylabel("query position")
    ax.set_title(title)
    handles = [Patch(color=ALLOWED, label="may attend"), Patch(color=BLOCKED, label="blocked")]
    if division is not None:
        handles.append(Patch(color="#c53030", label=f"Part A | Part B (division = {division})"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return ax


def _table_rows(sample: GLMSample, decode) -> tuple[list[str], list[list[str]]]:
    pos = sample.position_ids
    rows = {"input": [decode(i) for i in sample.input_ids.tolist()],
            "target": [decode(t) if m else "" for t, m in zip(sample.targets.tolist(), sample.loss_mask.tolist())]}
    if pos.dim() == 2:
        rows["position"], rows["block pos."] = ([str(p) for p in r] for r in pos.tolist())
    else:
        rows["position"] = [str(p) for p in pos.tolist()]
    rows["loss"] = ["1" if m else "0" for m in sample.loss_mask.tolist()]
    return list(rows), list(rows.values())


def draw_sample(sample: GLMSample, decode=str, title: str = "", max_columns: int = 40):
    """A figure: the token table (input, target, positions, loss mask) over the attention-mask image."""
    names, rows = _table_rows(sample, decode)
    n = min(len(sample), max_columns)
    fig = plt.figure(figsize=(max(8.0, 0.42 * n + 1.5), 0.42 * len(rows) + 0.35 * n + 2.5))
    grid = fig.add_gridspec(2, 1, height_ratios=[0.42 * len(rows) + 0.4, 0.35 * n + 1.5])
    ax_table = fig.add_subplot(grid[0])
    ax_table.axis("off")
    colours = [[PART_A if j < sample.division else PART_B for j in range(n)] for _ in rows]
    table = ax_table.table(cellText=[r[:n] for r in rows], rowLabels=names, colLabels=[str(j) for j in range(n)],
                           cellColours=colours, loc="center", cellLoc="center")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    ax_table.set_title(title or f"{len(sample)} tokens; Part A = 0..{sample.division - 1} (blue), "
                                f"Part B = {sample.division}..{len(sample) - 1} (cream)")
    ax = fig.add_subplot(grid[1])
    plot_attention_mask(sample.attention_mask[:n, :n], sample.division, ax,
                        labels=[decode(i) for i in sample.input_ids[:n].tolist()])
    fig.tight_layout()
    return fig

