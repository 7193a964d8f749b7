"""Fail fast, and say who failed: a dead rank makes every other rank stop within seconds, naming the dead rank.

How it works
------------
A collective blocks until every rank of its group joins. If one rank dies (killed, out of memory), the others
either get a transport error at once (gloo: "Connection reset by peer", naming an address, not a rank) or, with
NCCL, wait until the process-group timeout, 30 minutes by default: GLM-130B users lost hours to hung loads
(docs/glm130b_facts.md §7). So:

1. ``init_distributed`` starts the process group with a short timeout (seconds, not 30 minutes), so no
   collective can wait long;
2. each rank runs a heartbeat thread that writes ``scale_up/heartbeat/<rank>`` = now into the rendezvous store
   (``MASTER_ADDR:MASTER_PORT``: torchrun's agent, or rank 0 without torchrun) every ``interval`` seconds, through
   its own store connection, so it never shares a socket with the process group's own store traffic;
3. ``fail_fast()`` wraps a training or inference step: when a collective raises (a ``torch.distributed.DistError``,
   or a ``RuntimeError`` whose message is a transport's: gloo's "Connection closed by peer", a timeout, NCCL), it
   prints the original traceback, reads every rank's heartbeat and builds a ``RankFailure`` naming the ranks whose
   heartbeat stopped (or the store's host, when the store itself is gone). By default it prints that to stderr and
   leaves with ``os._exit(1)``: a normal interpreter exit would first tear down the broken process group, which
   waits out the whole timeout (measured: about as long as the timeout itself). ``exit_process=False`` raises the
   ``RankFailure`` instead, chained to the original error. Any other error (an out-of-memory, a shape error, a bad
   input) is not a distributed failure and passes through unchanged, with its own traceback.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from datetime import timedelta

import torch.distributed as dist

HEARTBEAT_KEY = "scale_up/heartbeat/{}"
# what a RuntimeError from a collective says when the transport or a peer failed (gloo, NCCL, the c10d store)
TRANSPORT_SIGNS = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "Connection refused",
                   "Timed out", "timed out", "Timeout", "NCCL", "gloo", "c10d", "ProcessGroup", "Socket")


def is_distributed_failure(error: BaseException) -> bool:
    """True for an error of the distributed machinery itself, not of the computation around it."""
    if isinstance(error, dist.DistError):
        return True
    return type(error) is RuntimeError and any(sign in str(error) for sign in TRANSPORT_SIGNS)


class RankFailure(RuntimeError):
    """A collective failed because other ranks stopped; ``dead_ranks`` lists them (empty when none is known)."""

    def __init__(self, message: str, dead_ranks: list[int]):
        super().__init__(message)
        self.dead_ranks = dead_ranks


class _Heartbeat:
    def __init__(self, store, rank: int, world: int, interval: float):
        self.store, self.rank, self.world, self.interval = store, rank, world, interval
        self.stop = threading.Event()
        self.beat()
        self.thread = threading.Thread(target=self._run, name=f"heartbeat-rank{rank}", daemon=True)
        self.thread.start()

    def beat(self):
        self.store.set(HEARTBEAT_KEY.format(self.rank), repr(time.time()))

    def _run(self):
        while not self.stop.wait(self.interval):
            try:
                self.beat()
            except Exception:  # the store is gone: fail_fast reports it when a collective fails
                return

    def silent_ranks(self) -> list[int]:
        """Ranks whose last heartbeat is older than 3 intervals (after waiting that long, so live ranks beat)."""
        time.sleep(3 * self.interval)
        now, silent = time.time(), []
        for r in range(self.world):
            key = HEARTBEAT_KEY.format(r)
            if r != self.rank and (not self.store.check([key])  # never beat: died before its first heartbeat
                                   or now - float(self.store.get(key)) > 3 * self.interval):
                silent.append(r)
        return silent


_HEARTBEAT: _Heartbeat | None = None


def start_heartbeat(interval: float = 0.5) -> None:
    """Start this rank's heartbeat (call once, after ``init_process_group`` with ``MASTER_ADDR``/``MASTER_PORT``)."""
    global _HEARTBEAT
    if interval <= 0:
        raise ValueError(f"interval: expected seconds > 0, got {interval!r}")
    missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise RuntimeError(f"start_heartbeat: environment variables {missing} are not set; launch with torchrun")
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False,
                          timeout=timedelta(seconds=max(5.0, 4 * interval)), wait_for_workers=False)
    _HEARTBEAT = _Heartbeat(store, dist.get_rank(), dist.get_world_size(), interval)


def stop_heartbeat() -> None:
    """Stop and join the heartbeat thread (before the store goes away, or the exit aborts mid-write)."""
    global _HEARTBEAT
    if _HEARTBEAT is not None:
        _HEARTBEAT.stop.set()
        _HEARTBEAT.thread.join()
        _HEARTBEAT = None


def shutdown_distributed() -> None:
    """The clean end of an ``init_distributed`` run: stop the heartbeat, wait until every rank has stopped its own
    (rank 0 hosts the store they write to, so it must not exit while another rank still beats), then destroy the
    process group."""
    stop_heartbeat()
    dist.barrier()
    dist.destroy_process_group()


def end_worker(code: int | None) -> None:
    """End a torchrun worker after ``shutdown_distributed``: flush, then ``os._exit(code)``. Interpreter teardown is
    skipped on purpose: with the heartbeat's store client, an ordinary exit sometimes aborted in a C++ destructor
    ("terminate called without an active exception", SIGABRT) after all the work was done and written."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def init_distributed(timeout_s: float = 60.0, backend: str = "gloo", heartbeat_s: float = 0.5) -> tuple[int, int]:
    """``init_process_group`` from torchrun's environment with a short timeout and a heartbeat; (rank, world)."""
    if timeout_s <= 0:
        raise ValueError(f"timeout_s: expected seconds > 0, got {timeout_s!r}")
    if heartbeat_s <= 0:
        raise ValueError(f"heartbeat_s: expected seconds > 0, got {heartbeat_s!r}")
    missing = [v for v in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
    if missing:
        raise RuntimeError(f"init_distributed: environment variables {missing} are not set; launch with torchrun")
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s))
    start_heartbeat(heartbeat_s)
    return dist.get_rank(), dist.get_world_size()


@contextmanager
def fail_fast(exit_process: bool = True):
    """On a collective's failure: name the dead ranks (needs ``start_heartbeat``); exit(1) or raise ``RankFailure``."""
    try:
        yield
    except (RuntimeError, dist.DistError) as error:
        if _HEARTBEAT is None or isinstance(error, RankFailure) or not is_distributed_failure(error):
            raise
        traceback.print_exception(error, file=sys.stderr)  # what failed, where: before the rank's verdict
        sys.stderr.flush()
        rank = _HEARTBEAT.rank
        try:
            dead = _HEARTBEAT.silent_ranks()
            what = (f"rank(s) {dead} stopped (no heartbeat for {3 * _HEARTBEAT.interval:.1f} s)" if dead
                    else "no rank stopped its heartbeat: a rank is stuck, or the collective timed out")
        except Exception:  # the store is unreachable: its host (rank 0 under a tcp:// init) is gone
            dead, what = [0], "the rendezvous store is unreachable: rank 0, its host, stopped"
        failure = RankFailure(f"rank {rank}: a collective failed because {what}; stopping this rank too. "
                              f"Original error: {str(error)[:200]}", dead)
        if exit_process:
            print(f"RankFailure: {failure}", file=sys.stderr, flush=True)
            os._exit(1)
        raise failure from error
