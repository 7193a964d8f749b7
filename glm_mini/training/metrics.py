"""``DIR/metrics.jsonl``: one JSON object per optimizer step, written as the run goes; and the unigram baseline.

How it works
------------
Each line is a step's record: ``step``, ``loss``, ``lr``, ``batch_size``, ``tokens`` (batch × seq_len),
``loss_tokens`` (positions with a loss), ``seconds`` (wall time of the step), ``grad_norm`` (total, before
clipping), ``grad_norm_embedding``, ``grad_norm_rest`` and one ``grad_norm_<module>`` per layer and the final
LayerNorm, ``update_norm`` and ``update_ratio`` (how far the step moved the weights, total and relative) and one
``update_norm_<module>`` per module group, ``egs_alpha``, ``spike`` (bool), ``skipped`` (bool: the update was dropped), ``loss_scale``, plus
``val_loss`` at eval steps. Steps inside ``--skip-steps`` ranges train nothing and write no row. Lines are flushed
as written, so a killed run keeps its rows; on ``--resume`` from step k the file is rewritten (atomically) without
the rows after k, which the resumed run then writes again, identically.

Baseline: a model that ignores the context and predicts every target token from its training frequency c_v (add-one
smoothed over V ids) has cross-entropy

    H_unigram = −(1/|T|) Σ_{t ∈ T} log( (c_t + 1) / (Σ_v c_v + V) )

on the target tokens T; a trained model must get below it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from glm_mini.training.checkpoint import write_atomic

METRICS_FILE = "metrics.jsonl"


class MetricsLog:
    """Append-only writer of ``DIR/metrics.jsonl``."""

    def __init__(self, out_dir: str | Path, resume_step: int | None = None):
        self.path = Path(out_dir) / METRICS_FILE
        if resume_step is not None:  # drop rows written after the checkpoint we resume from
            kept = [row for row in read_metrics(out_dir) if row["step"] <= resume_step] if self.path.exists() else []
            text = "".join(json.dumps(row) + "\n" for row in kept)
            write_atomic(self.path, lambda f: f.write(text.encode()))
        self.file = open(self.path, "a", encoding="utf-8")

    def write(self, row: dict) -> None:
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def read_metrics(out_dir: str | Path) -> list[dict]:
    """The rows of ``DIR/metrics.jsonl`` in order (a line cut short by a kill is ignored)."""
    path = Path(out_dir) / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no metrics in {out_dir}: {path} does not exist")
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break  # only the last line can be partial
    return rows


def unigram_cross_entropy(counts: torch.Tensor, targets: torch.Tensor) -> float:
    """H_unigram in nats of ``targets`` (any shape of ids) under add-one-smoothed ``counts`` ``[V]``."""
    if counts.dim() != 1:
        raise ValueError(f"counts: expected a 1-D tensor of per-id counts [V], got shape {tuple(counts.shape)}")
    if targets.numel() == 0:
        raise ValueError("targets: expected at least one target token, got none")
    if int(targets.min()) < 0 or int(targets.max()) >= len(counts):
        raise ValueError(f"targets: ids must be in [0, {len(counts)}), got range "
                         f"[{int(targets.min())}, {int(targets.max())}]")
    log_p = torch.log(counts.double() + 1.0) - math.log(float(counts.double().sum()) + len(counts))  # [V]
    return float(-log_p[targets.reshape(-1)].mean())
