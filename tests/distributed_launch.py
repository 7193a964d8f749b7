"""Run a function on N gloo CPU processes for a test: free port, 1 thread per rank, a hard deadline, errors raised."""

import os
import socket
import time
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank, fn, world, port, args):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=30))
    try:
        fn(rank, world, *args)
    finally:
        dist.destroy_process_group()


def run_workers(fn, world: int, *args, timeout: float = 90.0) -> None:
    """``fn(rank, world, *args)`` on ``world`` spawned ranks; a rank's exception (or a deadline) fails the test."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    ctx = mp.start_processes(_entry, args=(fn, world, free_port(), args), nprocs=world, join=False,
                             start_method="spawn")
    deadline = time.monotonic() + timeout
    while not ctx.join(timeout=0.5):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            raise TimeoutError(f"{fn.__name__} on {world} ranks did not finish within {timeout} s")
