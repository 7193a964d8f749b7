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

Reading is strict, because a resume rewrites the file from what was read: a row is written with its newline in one
call, so only the *last* line can be cut short by a kill (it then has no newline at its end) and only such a line is
skipped. Any other line that is not a JSON object with an int ``step`` and a number ``loss`` raises ``ValueError``
naming the file and the line, before anything is written.

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
    """Append-only writer of ``DIR/metrics.jsonl``; ``resume_step=k`` first drops the rows after step k."""

    def __init__(self, out_dir: str | Path, resume_step: int | None = None):
        self.path = Path(out_dir) / METRICS_FILE
        if resume_step:  # drop rows written after the checkpoint we resume from
            if not self.path.is_file():
                raise FileNotFoundError(f"{self.path}: missing, so the rows of steps 1..{resume_step} are gone and "
                                        f"a resumed run would write a metrics file without them; restore it (or "
                                        f"create it empty to resume without those rows)")
            kept = [row for row in read_metrics(out_dir) if row["step"] <= resume_step]
            text = "".join(json.dumps(row) + "\n" for row in kept)
            write_atomic(self.path, lambda f: f.write(text.encode()))
        self.file = open(self.path, "a", encoding="utf-8")

    def write(self, row: dict) -> None:
        self.file.write(json.dumps(row) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def read_metrics(out_dir: str | Path) -> list[dict]:
    """The rows of ``DIR/metrics.jsonl`` in order; a last line cut short by a kill is skipped, any other bad line
    raises ``ValueError`` naming the file and the line (module docstring)."""
    path = Path(out_dir) / METRICS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no metrics in {out_dir}: {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: expected UTF-8 JSON lines, got byte {err.object[err.start]:#04x} at offset "
                         f"{err.start}") from None
    lines = text.split("\n")
    cut = lines.pop()  # "" when the file ends with a newline, else a last line cut short by a kill
    rows = [_row(path, number, line) for number, line in enumerate(lines, 1)]
    if cut:
        try:
            rows.append(_row(path, len(lines) + 1, cut))
        except ValueError:
            pass  # cut short: the step it belonged to is not in the file
    return rows


def _row(path: Path, number: int, line: str) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: line {number} is not valid JSON ({err.msg}); only a last line cut short by a "
                         f"kill is skipped. Fix or delete the line (rows after it are kept)") from None
    step, loss = (row.get("step"), row.get("loss")) if isinstance(row, dict) else (None, None)
    if (isinstance(step, bool) or not isinstance(step, int) or isinstance(loss, bool)
            or not isinstance(loss, (int, float))):
        raise ValueError(f"{path}: line {number}: expected a metrics row (a JSON object with an int 'step' and a "
                         f"number 'loss'), got {line[:80]!r}")
    return row


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
