"""Run a function on ``world_size`` gloo ranks forked from this process, so that code written in a notebook reaches
them: the ranks a tensor-parallel exercise needs.

How it works
------------
A check of notebook 09 runs the student's ``torch.autograd.Function``s on real ranks that talk over gloo. A spawned
process (``torchrun``, ``mp.spawn``) starts a fresh interpreter, which cannot import a class defined in a notebook
cell; a **forked** one starts as a copy of this process, the student's classes included (Linux and macOS; the
stability sweeps of notebooks 04 and 05 fork their workers the same way, as torch's DataLoader does). Each rank:

1. sets one torch thread and joins a gloo group through a file store in a fresh temporary folder
   (``init_method="file://..."``: no port to pick, nothing left behind);
2. runs ``fn(rank, world_size)`` and sends its result back through a queue, serialized with ``torch.save``;
3. on an exception, sends back its type and message instead.

The parent collects one answer per rank and returns them in rank order. A rank's exception is raised again here,
naming the rank; a ``NotImplementedError`` stays one, so an exercise stub reads "not yet implemented" in the check. A
rank stuck in a collective that another rank never calls meets gloo's timeout, and the parent kills every child
still alive at its own deadline, so a wrong answer cannot hang the notebook.
"""

from __future__ import annotations

import io
import multiprocessing
import queue as queue_module
import shutil
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist


def _serialize(result: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(result, buffer)
    return buffer.getvalue()


def _rank_main(fn: Callable[[int, int], Any], rank: int, world_size: int, store: str, answers, timeout: float) -> None:
    """One forked rank: join the group, run ``fn``, send ``(rank, ("ok", bytes))`` or ``(rank, ("error", type, text))``."""
    try:
        torch.set_num_threads(1)
        dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size,
                                timeout=timedelta(seconds=timeout))
        try:
            answer = ("ok", _serialize(fn(rank, world_size)))
        finally:
            dist.destroy_process_group()
    except BaseException as err:  # sent to the parent, which raises it naming this rank
        answer = ("error", type(err).__name__, str(err))
    answers.put((rank, answer))


def run_on_forked_ranks(fn: Callable[[int, int], Any], world_size: int, timeout: float = 60.0) -> list[Any]:
    """``[fn(0, world_size), ..., fn(world_size - 1, world_size)]``, each computed on its own forked gloo rank.

    ``fn`` may call any ``torch.distributed`` collective on the default group. Raises ``NotImplementedError`` when a
    rank raised one, ``RuntimeError`` naming the rank for any other exception, ``TimeoutError`` past ``timeout``.
    """
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size: expected a positive int, got {world_size!r}")
    if "fork" not in multiprocessing.get_all_start_methods():
        raise RuntimeError("run_on_forked_ranks: this platform cannot fork a process (Windows); run the notebook on "
                           "Linux or macOS, or with WSL")
    if dist.is_initialized():
        raise RuntimeError("run_on_forked_ranks: this process already belongs to a torch.distributed group, which its "
                           "forked ranks would inherit; call it from a process without one")
    context = multiprocessing.get_context("fork")
    folder = Path(tempfile.mkdtemp(prefix="forked_ranks_"))
    answers = context.Queue()
    ranks = [context.Process(target=_rank_main, args=(fn, r, world_size, str(folder / "store"), answers, timeout),
                             daemon=True) for r in range(world_size)]
    try:
        for process in ranks:
            process.start()
        received, deadline = {}, time.monotonic() + timeout
        while len(received) < world_size:
            try:
                rank, answer = answers.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue_module.Empty:
                raise TimeoutError(f"run_on_forked_ranks: ranks {sorted(set(range(world_size)) - set(received))} of "
                                   f"{world_size} sent nothing within {timeout:g} s (a collective that not every rank "
                                   "calls waits forever)") from None
            received[rank] = answer
        for process in ranks:
            process.join(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        for process in ranks:
            if process.is_alive():
                process.kill()
        shutil.rmtree(folder, ignore_errors=True)
    errors = {rank: answer[1:] for rank, answer in sorted(received.items()) if answer[0] == "error"}
    for rank, (kind, text) in errors.items():  # a stub's NotImplementedError first: the others follow from it
        if kind == "NotImplementedError":
            raise NotImplementedError(text)
    for rank, (kind, text) in errors.items():
        raise RuntimeError(f"rank {rank} raised {kind}: {text}")
    return [torch.load(io.BytesIO(received[rank][1]), weights_only=True) for rank in range(world_size)]
