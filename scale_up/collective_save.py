"""Save one checkpoint as a set of per-rank files, so that no rank can overwrite, half-write or reuse anything.

How it works
------------
Every rank of ``group`` calls ``save_collectively(folder, name, write_own, publish)``; the protocol has four steps,
each ended by a collective, so all ranks take the same branch (no rank waits at a barrier for one that raised):

1. **Agree the target is free.** Each rank looks for ``folder/name``; an all-reduce (max) of what they saw means
   every rank raises ``FileExistsError`` if any rank found it, and nothing is written.
2. **A fresh partial folder.** Rank 0 creates a new hidden folder ``folder/.name.partial-XXXXXXXX`` (a random
   suffix: an older partial folder left by a crashed save is never reused; rank 0 removes such leftovers of the
   same checkpoint) and broadcasts its name as a byte tensor.
3. **Every rank writes its own files** into it (``write_own(partial)``; files written atomically, file names that
   include the rank, so ranks never share a file), then an all-reduce (min) of success: if any rank failed, rank 0
   removes the partial folder and every rank raises (a failed rank its own error).
4. **Publish.** Rank 0 renames the partial folder to ``folder/name`` (one ``os.replace``: the checkpoint appears
   whole or not at all) and calls ``publish()`` (e.g. points ``latest`` at it); a last barrier means every rank
   returns only once the checkpoint is the latest.

Folders get the permissions an ordinary ``mkdir`` gives under the process umask (``mkdtemp`` alone makes 0700).
With NCCL the flags travel as CUDA tensors on the current device; with gloo on the CPU. Without a process group, or
with ``group=LOCAL`` (a save one process makes alone), the same steps run without the collectives.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist

NAME_BYTES = 255


def _device(group) -> torch.device:
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


LOCAL = "local"  # the group of a save made by one process alone, whatever process groups exist


def _distributed(group) -> bool:
    return group != LOCAL and dist.is_available() and dist.is_initialized()


def _agree(value: int, op, group) -> int:
    if not _distributed(group):
        return value
    flag = torch.tensor([value], dtype=torch.int64, device=_device(group))
    dist.all_reduce(flag, op=op, group=group)
    return int(flag.item())


def make_dir_like_mkdir(path: Path) -> None:
    """Give a folder made by ``mkdtemp`` (0700) the mode ``mkdir`` would have given it under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o777 & ~umask)


def _broadcast_name(name: str | None, group) -> str:
    if not _distributed(group):
        return name
    buffer = torch.zeros(NAME_BYTES, dtype=torch.uint8, device=_device(group))
    if name is not None:
        data = name.encode()
        buffer[: len(data)] = torch.tensor(list(data), dtype=torch.uint8)
    dist.broadcast(buffer, src=dist.get_global_rank(group, 0) if group is not None else 0, group=group)
    return bytes(buffer.cpu().tolist()).rstrip(b"\0").decode()


def save_collectively(folder, name: str, write_own: Callable[[Path], None], publish: Callable[[], None] | None = None,
                      group=None) -> Path:
    """Write checkpoint ``folder/name`` with every rank of ``group`` (default: the world; ``LOCAL``: this process
    alone); returns its path."""
    folder = Path(folder)
    final = folder / name
    if "/" in name or name in ("", ".", ".."):
        raise ValueError(f"name: expected one path component, got {name!r}")
    rank = (dist.get_rank(group) if group is not None else dist.get_rank()) if _distributed(group) else 0
    if _agree(int(final.exists()), dist.ReduceOp.MAX, group):
        raise FileExistsError(f"checkpoint {final} already exists; refusing to overwrite it (nothing was written)")
    partial_name = None
    if rank == 0:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(f".{name}.partial-*"):
            shutil.rmtree(stale, ignore_errors=True)  # a crashed save of this very checkpoint: never reused
        partial = Path(tempfile.mkdtemp(prefix=f".{name}.partial-", dir=folder))
        make_dir_like_mkdir(partial)
        partial_name = partial.name
    partial = folder / _broadcast_name(partial_name, group)
    error = None
    try:
        write_own(partial)
    except Exception as err:  # reported to every rank below, then re-raised here
        error = err
    failed = _agree(int(error is not None), dist.ReduceOp.SUM, group)
    if failed:
        if rank == 0:
            shutil.rmtree(partial, ignore_errors=True)
        if error is not None:
            raise error
        raise RuntimeError(f"checkpoint {final}: {failed} other rank(s) failed to write their part, so nothing was "
                           "saved (their own error says why)")
    if rank == 0:
        os.replace(partial, final)
        if publish is not None:
            publish()
    if _distributed(group):
        dist.barrier(group=group)
    return final
