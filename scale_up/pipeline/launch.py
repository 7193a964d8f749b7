"""Start ``python -m scale_up.pipeline`` on N local CPU processes with torchrun, from a test, a benchmark or a notebook.

How it works
------------
``torchrun --standalone`` picks a free port and starts N processes (gloo on CPU, one thread each); the child
processes get ``PYTHONPATH`` and ``cwd`` at the repository root so they import this checkout, and a timeout so a
stuck run fails instead of hanging. Results come back through the files the run writes into ``out``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


class PipelineRunError(RuntimeError):
    """A torchrun launch exited with an error (its stderr tail is in the message)."""


def run_pipeline(nproc: int, out: str | os.PathLike, *args: str, timeout: float = 180) -> Path:
    """Run ``torchrun --nproc-per-node nproc -m scale_up.pipeline --out OUT ARGS...``; returns ``out``."""
    if not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"run_pipeline: nproc must be a positive int, got {nproc!r}")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "scale_up.pipeline", "--out", str(out), *args]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise PipelineRunError(f"run_pipeline: torchrun with {nproc} processes exited {proc.returncode}:\n"
                               f"{proc.stderr[-4000:]}")
    return Path(out)
