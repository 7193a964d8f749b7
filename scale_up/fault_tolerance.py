"""Fail fast, and say who failed: a dead rank makes every other rank stop within seconds, naming the dead rank.

How it works
------------
A collective blocks until every rank of its group joins. If one rank dies (killed, out of memory), the others
either get a transport error at once (gloo: "Connection reset by peer", naming an address, not a rank) or, with
NCCL, wait until the process-group timeout, 30 minutes by default: GLM-130B users lost hours to hung loads
(docs/glm130b_facts.md §7). So:

1. ``init_distributed`` starts the process group with a short timeout (seconds, not 30 minutes), so no
   collective can wait long;
2. each rank runs a heartbeat thread that writes ``heartbeat/<rank>`` = now into the rendezvous store every
   ``interval`` seconds (the store lives in torchrun's agent, or in rank 0 with a ``tcp://`` init);
3. ``fail_fast()`` wraps a training or inference step: when a collective raises, it reads every rank's heartbeat
   and builds a ``RankFailure`` naming the ranks whose heartbeat stopped (or the store's host, when the store
   itself is gone). By default it prints that to stderr and leaves with ``os._exit(1)``: a normal interpreter exit
   would first tear down the broken process group, which waits out the whole timeout (measured: about as long as
   the timeout itself). ``exit_process=False`` raises the ``RankFailure`` instead, chained to the original error.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

import torch.distributed as dist

HEARTBEAT_KEY = "heartbeat/{}"


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
            if r != self.rank and now - float(self.store.get(HEARTBEAT_KEY.format(r))) > 3 * self.interval:
                silent.append(r)
        return silent


_HEARTBEAT: _Heartbeat | None = None


def start_heartbeat(interval: float = 0.5) -> None:
    """Start this rank's heartbeat in the default store (call once, after ``init_process_group``)."""
    global _HEARTBEAT
    if interval <= 0:
        raise ValueError(f"interval: expected seconds > 0, got {interval!r}")
    store = dist.distributed_c10d._get_default_store()
    _HEARTBEAT = _Heartbeat(store, dist.get_rank(), dist.get_world_size(), interval)


def stop_heartbeat() -> None:
    global _HEARTBEAT
    if _HEARTBEAT is not None:
        _HEARTBEAT.stop.set()
        _HEARTBEAT = None


def init_distributed(timeout_s: float = 60.0, backend: str = "gloo", heartbeat_s: float = 0.5) -> tuple[int, int]:
    """``init_process_group`` from torchrun's environment with a short timeout and a heartbeat; (rank, world)."""
    if timeout_s <= 0:
        raise ValueError(f"timeout_s: expected seconds > 0, got {timeout_s!r}")
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
        if _HEARTBEAT is None or isinstance(error, RankFailure):
            raise
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
