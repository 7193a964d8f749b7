"""Start ``python -m scale_up.pipeline`` (or ``scale_up.train``) on N local CPU processes with torchrun, from a test,
a benchmark or a notebook.

How it works
------------
``torchrun --standalone`` picks a free port and starts N processes (gloo on CPU, one thread each); the child
processes get ``PYTHONPATH`` and ``cwd`` at the repository root so they import this checkout, and a timeout so a
stuck run fails instead of hanging. Results come back through the files the run writes into ``out``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from glm_mini import GLMConfig

from ..safe_load import load_tensor_file
from ..tp_layout import merge_state_dicts

REPO_ROOT = Path(__file__).resolve().parents[2]


class PipelineRunError(RuntimeError):
    """A torchrun launch exited with an error (its stderr tail is in the message)."""


def run_torchrun(nproc: int, module: str, *args: str, timeout: float = 180) -> None:
    """Run ``torchrun --standalone --nproc-per-node nproc -m module ARGS...`` at the repository root."""
    if not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"run_torchrun: nproc must be a positive int, got {nproc!r}")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", module, *args]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise PipelineRunError(f"run_torchrun: {module} on {nproc} processes exited {proc.returncode}:\n"
                               f"{proc.stderr[-4000:]}")


def run_pipeline(nproc: int, out: str | os.PathLike, *args: str, timeout: float = 180) -> Path:
    """Run ``torchrun --nproc-per-node nproc -m scale_up.pipeline --out OUT ARGS...``; returns ``out``."""
    run_torchrun(nproc, "scale_up.pipeline", "--out", str(out), *args, timeout=timeout)
    return Path(out)


def read_rank_tensors(out: str | os.PathLike, kind: str, nproc: int) -> dict:
    """Merge the ``rank_{r}_{kind}.pt`` files of a ``--dump`` run (kind "grads" or "params") into one dict by name.

    Copies of one tensor (the tied embedding on the first and last stage, data-parallel replicas) must be equal
    (else ValueError); tensor-parallel shards are merged back into whole tensors by the official rules
    (``tp_layout.merge_state_dicts``).
    """
    if kind not in ("grads", "params"):
        raise ValueError(f"read_rank_tensors: kind must be 'grads' or 'params', got {kind!r}")
    by_tp: dict[int, dict] = {}
    for rank in range(nproc):
        path = Path(out) / f"rank_{rank}_{kind}.pt"
        if not path.is_file():
            raise FileNotFoundError(f"read_rank_tensors: {path} is missing (was the run started with --dump?)")
        part = load_tensor_file(path, "read_rank_tensors")
        tensors = by_tp.setdefault(part["tp_rank"], {})
        for name, t in part["tensors"].items():
            if name in tensors and not torch.equal(tensors[name], t):
                raise ValueError(f"read_rank_tensors: the copies of {name} differ between ranks")
            tensors[name] = t
    if len(by_tp) == 1:
        return by_tp[0]
    config = json.loads((Path(out) / "config.json").read_text())
    shards = [dict(sorted(by_tp[t].items())) for t in range(len(by_tp))]
    return merge_state_dicts(shards, GLMConfig(**config))
