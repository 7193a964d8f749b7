"""Where f and g sit inside a GLM block, read off one forward pass of a real tensor-parallel layer, and drawn.

How it works
------------
``trace_tp_layer(config, tp)`` builds a ``glm_mini.GLM``, makes it rank 0 of a ``tp``-way group with
``apply_tensor_parallel`` inside torch's single-process ``fake`` process group (``dry_run.fake_rank``: the shards have
their real local shapes, collectives do nothing), and runs layer 0 forward once. Forward hooks on the layer's modules
that hold weights record, in call order, each module's official name, class and local weight shape; the two
operators' ``forward`` are wrapped for the pass to record every call of f (``CopyToTensorParallel``) and g
(``ReduceFromTensorParallel``) and the module it ran in. f runs inside a ``ColumnParallelLinear`` before its matmul
(entering the split region) and g inside a ``RowParallelLinear`` after it (leaving the region), so each is placed
before or after its module's step (``mappings.py``; Megatron-LM, Shoeybi et al. 2019, Fig. 3).

``draw_tp_block(steps)`` draws the trace: one row for the attention half and one for the MLP half, the split region
between each f and the g that closes it shaded, with what each operator does forward and backward, and between the
two linears the computation each rank does on its own part (its heads; its columns of the GeGLU), sized from the
local weights.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from glm_mini import GLM, GLMConfig

from .apply import apply_tensor_parallel
from .mappings import CopyToTensorParallel, ReduceFromTensorParallel

OPERATORS = {"f": "forward: identity\nbackward: all-reduce", "g": "forward: all-reduce\nbackward: identity"}


@dataclass(frozen=True)
class Step:
    """One step of a tensor-parallel layer's forward: a module (official name within the layer) or an operator."""

    name: str  # "attention.query_key_value", or "f" / "g"
    kind: str  # "module" or "operator"
    cls: str  # the module's class, or the operator's autograd Function
    weight_shape: tuple[int, ...] = ()  # this rank's weight, [out, in]; () for an operator


@contextlib.contextmanager
def _recording_operators(calls: list[str]):
    """Record ``"f"``/``"g"`` for every call of the two operators while the block is active."""
    originals = {CopyToTensorParallel: CopyToTensorParallel.forward, ReduceFromTensorParallel: ReduceFromTensorParallel.forward}

    def recorder(cls, name):
        def forward(ctx, x, group):
            calls.append(name)
            return originals[cls](ctx, x, group)
        return staticmethod(forward)

    CopyToTensorParallel.forward = recorder(CopyToTensorParallel, "f")
    ReduceFromTensorParallel.forward = recorder(ReduceFromTensorParallel, "g")
    try:
        yield
    finally:
        for cls, forward in originals.items():
            cls.forward = staticmethod(forward)


def trace_tp_layer(config: GLMConfig, tp: int = 2, seq_len: int = 4) -> list[Step]:
    """The steps of layer 0 of ``config`` as rank 0 of a ``tp``-way tensor-parallel group runs them, in order."""
    from ..dry_run import fake_rank

    torch.manual_seed(0)
    model = GLM(config).eval()
    steps: list[Step] = []
    calls: list[str] = []
    with fake_rank(0, tp):
        apply_tensor_parallel(model)
        layer = model.transformer.layers["0"]
        hooks = []
        for name, module in layer.named_modules():
            if name and not list(module.children()) and getattr(module, "weight", None) is not None:
                def before(mod, args, name=name):
                    calls.append(f"enter {name}")

                def after(mod, args, out, name=name):
                    ops = [c for c in calls[calls.index(f"enter {name}") + 1:] if c in OPERATORS]
                    del calls[calls.index(f"enter {name}"):]
                    step = Step(name, "module", type(mod).__name__, tuple(mod.weight.shape))
                    steps.extend([Step(op, "operator", _function_of(op)) for op in ops if op == "f"] + [step]
                                 + [Step(op, "operator", _function_of(op)) for op in ops if op == "g"])
                hooks += [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
        h = torch.randn(1, seq_len, config.hidden_size)  # [b, s, h]
        rope = model.transformer.rotary(torch.arange(seq_len).view(1, seq_len), torch.float32)
        allowed = torch.ones(1, 1, seq_len, seq_len, dtype=torch.bool)
        try:
            with _recording_operators(calls), torch.no_grad():
                layer(h, rope, allowed)
        finally:
            for hook in hooks:
                hook.remove()
    return steps


def _function_of(op: str) -> str:
    return (CopyToTensorParallel if op == "f" else ReduceFromTensorParallel).__name__


def draw_tp_block(steps: list[Step], config: GLMConfig, tp: int, ax=None):
    """The trace as two rows of boxes (attention, MLP); the split regions shaded; f and g as circles."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(13, 5.2))
    halves = [[], []]
    for step in steps:  # the MLP half starts at post_attention_layernorm
        halves[1 if halves[1] or step.name == "post_attention_layernorm" else 0].append(step)
    width = 0
    for row, (half, title) in enumerate(zip(halves, ("attention", "MLP"))):
        y = 1.9 * (1 - row)
        items = _with_local_compute(half, config, tp) + [("+ α·x\n(residual)" if row == 0 else "+ α·y\n→ next layer",
                                                          "residual")]
        ax.text(-0.75, y + 0.75, f"{title} half", fontsize=10, weight="bold")
        opened = None
        for i, (label, kind) in enumerate(items):
            x = 1.6 * i
            if kind == "f":
                opened = x
            if kind == "g" and opened is not None:
                ax.add_patch(plt.Rectangle((opened + 0.35, y - 0.45), x - opened - 0.7, 0.9, fc="#e4f1e1",
                                           ec="tab:green", ls="--", zorder=0))
                ax.text((opened + x) / 2, y + 0.53, f"split: each of the {tp} ranks holds 1/{tp} of these weights and "
                        "computes its own part", ha="center", fontsize=8, color="tab:green")
            style = {"boxstyle": "circle,pad=0.4" if kind in OPERATORS else "round", "ec": "gray",
                     "fc": "#fbe3c8" if kind in OPERATORS else "#dbe9f6" if kind == "module" else "white"}
            ax.text(x, y, label, ha="center", va="center", fontsize=12 if kind in OPERATORS else 7.5, bbox=style)
            if kind in OPERATORS:
                ax.text(x, y - 0.72, OPERATORS[kind], ha="center", va="center", fontsize=7.5, color="tab:red")
            if i:
                ax.annotate("", (x - 0.62, y), (x - 0.98, y), arrowprops={"arrowstyle": "->", "color": "gray"})
        width = max(width, 1.6 * len(items))
    ax.text(-0.75, -1.25, "outside the shaded regions every rank holds the same (replicated) tensors", fontsize=8,
            color="dimgray")
    ax.set(xlim=(-0.9, width - 0.7), ylim=(-1.4, 2.8),
           title=f"one GLM block on rank 0 of TP = {tp}, traced from a forward pass (this rank's weight shapes)")
    ax.axis("off")
    return ax


def _with_local_compute(half: list[Step], config: GLMConfig, tp: int) -> list[tuple[str, str]]:
    """The half's boxes as (label, kind), with the rank's own computation inserted between its two linears."""
    items = []
    for step in half:
        if step.kind == "operator":
            items.append((step.name, step.name))
            continue
        short = step.name.split(".")[-1]
        shape = " × ".join(map(str, step.weight_shape))
        items.append((f"{short}\n{step.cls}\n[{shape}]", "module"))
        if short == "query_key_value":
            heads = step.weight_shape[0] // (3 * config.hidden_size // config.num_attention_heads)
            items.append((f"attention over\nthis rank's\n{heads} of {config.num_attention_heads} heads", "compute"))
        if short == "dense_h_to_4h":
            items.append((f"GeGLU on\n{step.weight_shape[0] // 2} of {config.ffn_hidden_size}\ncolumns", "compute"))
    return items
