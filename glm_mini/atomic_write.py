"""The kit's one atomic file writer: a file is either the old one or the complete new one, never half of either.

How it works
------------
``write_atomic(path, write)`` calls ``write(f)`` on a temporary file created beside ``path`` (same folder, so the same
file system), flushes and fsyncs it, then ``os.replace``-s it onto ``path``: the rename is atomic, so a process killed
at any instant leaves either the previous file or the new one. On any error the temporary file is removed. The file
gets the permissions ``open()`` would give it under the process umask (``mkstemp`` alone makes 0600, which hides a
shared cache or checkpoint from the other users of a course machine). Checkpoints, metrics, plots, tokenizer models,
converted shards and every JSON the kit writes go through it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def open_permissions(path: Path) -> None:
    """Give ``path`` the mode ``open()`` (a file) or ``mkdir()`` (a folder) would have given it under the process's
    umask: ``mkstemp``/``mkdtemp`` make 0600/0700, which others on a shared course machine cannot read."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if path.is_dir() else 0o666) & ~umask)


def write_atomic(path: Path, write) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, fsync it, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    open_permissions(Path(tmp))  # mkstemp makes 0600; give the file the permissions open() would
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
