"""The architecture read off a built ``GLM``: parameters per component, and three pictures of how it computes.

How it works
------------
Nothing here is typed from the paper: every name, shape and count comes from the module objects themselves (a
130B model built on the ``meta`` device has the official shapes and no memory).

- ``parameter_groups(model)`` sums ``named_parameters()`` by component (word embedding, which is also the tied head;
  QKV; attention dense; the two FFN matrices; LayerNorms), the split of docs/glm130b_facts.md §1.1.
- ``draw_architecture(model)``: the map of notebook 00, one box per module in data-flow order (embedding, one layer
  standing for all N, final LayerNorm, tied head), each with its official parameter name, its shape, the file that
  implements it and, when given, the notebook that teaches it.
- ``draw_block(layer)``: notebook 03's data flow of one DeepNorm block (SAT ``glm130B_model.py``, facts §1.3):
  ``x = LN_in(h)``, ``y = LN_post(α·x + Attn(x))``, ``out = α·y + GeGLU(y)``, with the layer's own α.
- ``draw_qkv_layout(attention)``: which rows of ``query_key_value`` become q, k and v of which head, found by pushing
  the row indices through ``attention.split_qkv`` (the very split the forward uses, facts §1.4); below it, the rows a
  tensor-parallel rank owns (whole heads) and the rows the training code's ``weight.chunk(3)`` scaled by β, which are
  not the value rows (facts §1.6).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import torch
from torch import nn

from .attention import SelfAttention, split_qkv

COMPONENTS = ("word embedding (tied head)", "attention QKV", "attention dense", "FFN h→4h (GeGLU)", "FFN 4h→h",
              "LayerNorms")
ROLE_COLORS = {"q": "tab:blue", "k": "tab:orange", "v": "tab:green"}


def component_of(name: str) -> str:
    """The component of an official parameter name (``transformer.layers.0.mlp.dense_4h_to_h.bias`` -> FFN 4h→h)."""
    for key, component in (("word_embeddings", COMPONENTS[0]), ("query_key_value", COMPONENTS[1]),
                           ("attention.dense", COMPONENTS[2]), ("dense_h_to_4h", COMPONENTS[3]),
                           ("dense_4h_to_h", COMPONENTS[4]), ("layernorm", COMPONENTS[5])):
        if key in name:
            return component
    raise ValueError(f"name: {name!r} is not a parameter of glm_mini.GLM (expected an official parameter name)")


def parameter_groups(model: nn.Module) -> dict[str, int]:
    """``{component: parameter count}`` in ``COMPONENTS`` order; works on ``meta`` models."""
    groups = dict.fromkeys(COMPONENTS, 0)
    for name, p in model.named_parameters():
        groups[component_of(name)] += p.numel()
    return groups


def source_file(module: nn.Module) -> str:
    """``glm_mini/attention.py`` for a ``SelfAttention``: where the module's class is written."""
    path = Path(inspect.getfile(type(module)))
    return "/".join(path.parts[-2:]) if path.parent.name in ("glm_mini", "scale_up") else path.name


def _shape(module: nn.Module, attr: str = "weight") -> str:
    return "[" + ", ".join(f"{n:,}" for n in getattr(module, attr).shape) + "]"


def architecture_rows(model: nn.Module) -> list[dict]:
    """The map's rows, in data-flow order: ``{"name", "what", "shape", "file", "in_layer"}``."""
    tr = model.transformer
    layer = tr.layers["0"]
    rows = [("transformer.word_embeddings", tr.word_embeddings, "token ids → vectors", False),
            ("….input_layernorm", layer.input_layernorm, "x = LN_in(h)", True),
            ("….attention.query_key_value", layer.attention.query_key_value, "fused q|k|v, per head", True),
            ("RoPE (no parameters)", tr.rotary, "rotate q and k by position", True),
            ("….attention.dense", layer.attention.dense, "attention output", True),
            ("….post_attention_layernorm", layer.post_attention_layernorm, f"y = LN_post(α·x + attn)", True),
            ("….mlp.dense_h_to_4h", layer.mlp.dense_h_to_4h, "[x1; x2], gate: x1·gelu(x2)", True),
            ("….mlp.dense_4h_to_h", layer.mlp.dense_4h_to_h, f"out = α·y + GeGLU(y)", True),
            ("transformer.final_layernorm", tr.final_layernorm, "LN before the head", False),
            ("head (tied)", tr.word_embeddings, "logits = LN(h) · W_embᵀ", False)]
    owners = {"attention.": layer.attention, "mlp.": layer.mlp, "layernorm": layer}  # who builds the Linear/LN
    out = []
    for name, module, what, in_layer in rows:
        owner = next((o for key, o in owners.items() if key in name and in_layer), model if name != "RoPE "
                     "(no parameters)" else module)
        out.append({"name": name, "what": what, "in_layer": in_layer,
                    "shape": _shape(module) if hasattr(module, "weight") else "—", "file": source_file(owner)})
    return out


def draw_architecture(model: nn.Module, taught_in: dict[str, str] | None = None, ax=None, title: str | None = None):
    """The architecture map (see the module docstring); ``taught_in`` maps a package file to a notebook number."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    rows = architecture_rows(model)
    n_layers = len(model.transformer.layers)
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 0.62 * len(rows) + 1.2))
    top = len(rows)
    for i, row in enumerate(rows):
        y = top - i - 1
        face = "#dbe9f6" if row["in_layer"] else "#f3e3c3"
        ax.add_patch(FancyBboxPatch((0.0, y + 0.12), 4.0, 0.76, boxstyle="round,pad=0.02", fc=face, ec="gray"))
        ax.text(0.08, y + 0.5, row["name"], va="center", fontsize=8.5, family="monospace")
        ax.text(4.2, y + 0.5, row["shape"], va="center", fontsize=8.5, family="monospace")
        ax.text(6.7, y + 0.5, row["what"], va="center", fontsize=9)
        note = row["file"] + (f"  (notebook {taught_in[row['file']]})" if taught_in and row["file"] in taught_in
                              else "")
        ax.text(10.6, y + 0.5, note, va="center", fontsize=8.5, color="dimgray")
        if i:
            ax.annotate("", (2.0, y + 0.88), (2.0, y + 1.12), arrowprops={"arrowstyle": "->", "color": "gray"})
    layer_rows = [top - i - 1 for i, r in enumerate(rows) if r["in_layer"]]
    ax.add_patch(plt.Rectangle((-0.15, min(layer_rows) + 0.04), 4.3, max(layer_rows) - min(layer_rows) + 0.92,
                               fill=False, ls="--", ec="tab:blue"))
    alpha = model.transformer.layers["0"].alpha
    ax.text(-0.25, (min(layer_rows) + max(layer_rows) + 1) / 2, f"× {n_layers} layers, α = {alpha:.3f}", rotation=90,
            ha="right", va="center", color="tab:blue", fontsize=10)
    ax.annotate("", (-0.02, top - 0.5), (-0.02, 0.5), arrowprops={"arrowstyle": "<->", "color": "tab:red",
                                                                 "connectionstyle": "arc3,rad=-0.35"})
    ax.text(-1.55, 0.9, "tied: the\nsame matrix", color="tab:red", fontsize=8.5, ha="center")
    for x, head in ((0.08, "module (official name)"), (4.2, "shape"), (6.7, "what it computes"),
                    (10.6, "package file")):
        ax.text(x, top + 0.25, head, fontsize=9, weight="bold")
    ax.set(xlim=(-2.3, 14.8), ylim=(-0.2, top + 0.7), title=title or "")
    ax.axis("off")
    return ax


def draw_block(layer: nn.Module, ax=None):
    """One DeepNorm block's data flow, labelled with the layer's own α and module names."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(12, 3.4))
    alpha = layer.alpha
    nodes = {"h": (0, 1), "LN_in": (1.7, 1), "Attn": (3.3, 2.1), "+1": (4.9, 1), "LN_post": (6.5, 1),
             "GeGLU": (8.1, 2.1), "+2": (9.7, 1), "out": (11.2, 1)}
    labels = {"h": "h\n(layer input)", "LN_in": "input_\nlayernorm", "Attn": "attention\n(QKV, RoPE, FP32 softmax,\n"
              "dense)", "+1": "+", "LN_post": "post_attention_\nlayernorm", "GeGLU": "mlp\n(GeGLU)", "+2": "+",
              "out": "out\n(next layer's h)"}
    for key, (x, y) in nodes.items():
        round_node = key.startswith("+")
        ax.text(x, y, labels[key], ha="center", va="center", fontsize=9 if not round_node else 14,
                bbox={"boxstyle": "circle" if round_node else "round", "fc": "#f3e3c3" if "LN" in key else
                      "#dbe9f6" if key in ("Attn", "GeGLU") else "white", "ec": "gray"})

    def arrow(a, b, text=None, color="gray", text_at=(0.0, 0.0)):
        (x0, y0), (x1, y1) = nodes[a], nodes[b]
        ax.annotate("", (x1, y1), (x0, y0), arrowprops={"arrowstyle": "->", "color": color, "shrinkA": 30,
                                                        "shrinkB": 30 if not b.startswith("+") else 14})
        if text:
            ax.text((x0 + x1) / 2 + text_at[0], (y0 + y1) / 2 + text_at[1], text, ha="center", fontsize=9,
                    color=color)

    arrow("h", "LN_in")
    arrow("LN_in", "Attn", "x", text_at=(-0.25, 0.05))
    arrow("LN_in", "+1", f"x × α  (α = {alpha:.2f})", color="tab:red", text_at=(0, -0.3))
    arrow("Attn", "+1", "Attn(x)", text_at=(0.35, 0.05))
    arrow("+1", "LN_post")
    arrow("LN_post", "GeGLU", "y", text_at=(-0.25, 0.05))
    arrow("LN_post", "+2", f"y × α  (α = {alpha:.2f})", color="tab:red", text_at=(0, -0.3))
    arrow("GeGLU", "+2", "GeGLU(y)", text_at=(0.4, 0.05))
    arrow("+2", "out")
    ax.set(xlim=(-0.7, 12.0), ylim=(0.4, 2.7),
           title=f"one DeepNorm block (layer {int(round(layer.attention.coeff)) - 1}): the residual branch carries "
                 "the normalized x, scaled by α")
    ax.axis("off")
    return ax


def qkv_row_roles(attention: SelfAttention) -> tuple[list[str], list[int]]:
    """Role ('q', 'k', 'v') and head index of every row of ``attention.query_key_value``, read through
    ``split_qkv`` (push the row numbers through the split the forward uses and see where each lands)."""
    rows = attention.query_key_value.out_features
    index = torch.arange(rows, dtype=torch.float64).view(1, 1, rows)  # [b=1, s=1, 3h]: row r carries value r
    roles, heads = [""] * rows, [0] * rows
    for role, part in zip("qkv", split_qkv(index, attention.head_dim)):  # each [1, 1, nh, d]
        for head in range(part.shape[2]):
            for r in part[0, 0, head].long().tolist():
                roles[r], heads[r] = role, head
    return roles, heads


def draw_qkv_layout(attention: SelfAttention, tp: int = 2, ax=None):
    """Rows of the fused QKV weight by role and head; the rows of each of ``tp`` ranks; the rows ``chunk(3)[2]``
    holds (what the official training code initialized with β, thinking them the value rows)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Patch

    roles, heads = qkv_row_roles(attention)
    rows = len(roles)
    if ax is None:
        _, ax = plt.subplots(figsize=(12, 2.6))
    image = torch.tensor([[to_rgb(ROLE_COLORS[r]) for r in roles]])  # [1, rows, 3]
    ax.imshow(image.numpy(), aspect="auto", extent=(0, rows, 2.0, 3.0))
    for r in range(1, rows):
        if heads[r] != heads[r - 1]:
            ax.axvline(r, ymin=2 / 3.2, ymax=3 / 3.2, color="black", lw=1.2)
    for head in range(max(heads) + 1):
        first = heads.index(head)
        ax.text(first + rows / (2 * (max(heads) + 1)), 3.1, f"head {head}", ha="center", fontsize=8)
    per_rank = rows // tp
    for rank in range(tp):
        ax.add_patch(plt.Rectangle((rank * per_rank, 1.1), per_rank, 0.6, fc=plt.cm.Pastel1(rank), ec="gray"))
        ax.text((rank + 0.5) * per_rank, 1.4, f"TP rank {rank}: rows {rank * per_rank}–{(rank + 1) * per_rank - 1}",
                ha="center", va="center", fontsize=8)
    third = rows // 3
    ax.add_patch(plt.Rectangle((2 * third, 0.2), third, 0.6, fc="#f7d6d6", ec="tab:red"))
    ax.text(2.5 * third, 0.5, "weight.chunk(3)[2]: the rows scaled by β", ha="center", va="center", fontsize=8)
    ax.set(xlim=(0, rows), ylim=(0, 3.3), yticks=[0.5, 1.4, 2.5],
           yticklabels=["training init", f"TP = {tp}", "role"], xlabel="row of query_key_value.weight")
    ax.legend(handles=[Patch(color=c, label=f"{r} rows") for r, c in ROLE_COLORS.items()], loc="upper left",
              bbox_to_anchor=(1.01, 1), fontsize=8)
    ax.set_title(f"fused QKV rows, {max(heads) + 1} heads of {attention.head_dim}: [q_j; k_j; v_j] per head")
    return ax
