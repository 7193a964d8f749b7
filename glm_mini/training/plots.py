"""The training curves of a run: loss (train and validation), gradient norms per module, learning rate.

How it works
------------
``plot_training(rows)`` draws three panels from ``metrics.jsonl`` rows: the loss per step with the validation loss
at eval steps (and, given ``baselines``, horizontal lines such as the unigram cross-entropy); the gradient norm of
the word embedding against the rest of the model on a log axis, the pair the paper plots to show that the
embedding's gradient spikes first (paper Fig. 4, §3); and the learning rate. ``save_training_plots`` writes the
figure to a PNG atomically.
"""

from __future__ import annotations

import io
from pathlib import Path

from glm_mini.training.checkpoint import write_atomic


def plot_training(rows: list[dict], baselines: dict[str, float] | None = None):
    """A matplotlib Figure with the loss, gradient-norm and learning-rate panels of ``rows``."""
    import matplotlib.pyplot as plt  # headless, matplotlib picks the Agg backend itself

    if not rows:
        raise ValueError("rows: expected at least one metrics row, got none")
    steps = [r["step"] for r in rows]
    fig, (ax_loss, ax_norm, ax_lr) = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    ax_loss.plot(steps, [r["loss"] for r in rows], lw=1, label="train loss")
    evals = [r for r in rows if "val_loss" in r]
    if evals:
        ax_loss.plot([r["step"] for r in evals], [r["val_loss"] for r in evals], "o-", label="validation loss")
    for k, (name, value) in enumerate((baselines or {}).items()):
        ax_loss.axhline(value, ls="--", color=f"C{k + 3}", label=f"{name} ({value:.2f})")
    spikes = [r for r in rows if r.get("spike")]
    if spikes:
        ax_loss.plot([r["step"] for r in spikes], [r["loss"] for r in spikes], "rx", label="spike")
    ax_loss.set(xlabel="optimizer step", ylabel="cross-entropy (nats / target token)", title="loss")
    ax_loss.legend()
    ax_norm.semilogy(steps, [r["grad_norm_embedding"] for r in rows], lw=1, label="word embedding")
    ax_norm.semilogy(steps, [r["grad_norm_rest"] for r in rows], lw=1, label="rest of the model")
    ax_norm.set(xlabel="optimizer step", ylabel="gradient L2 norm (before clipping)", title="gradient norm per module")
    ax_norm.legend()
    ax_lr.plot(steps, [r["lr"] for r in rows])
    ax_lr.set(xlabel="optimizer step", ylabel="learning rate", title="learning-rate schedule")
    return fig


def save_training_plots(rows: list[dict], path: str | Path, baselines: dict[str, float] | None = None) -> None:
    import matplotlib.pyplot as plt

    fig = plot_training(rows, baselines)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_atomic(Path(path), lambda f: f.write(buffer.getvalue()))
