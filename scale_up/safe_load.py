"""Load a tensor file a user handed in without ever running code from it: ``torch.load(weights_only=True)`` only.

How it works
------------
A ``.pt`` file is a pickle, and unpickling may call any importable function: a crafted checkpoint runs code the
moment torch's unrestricted unpickler reads it. ``weights_only=True`` unpickles with an allow-list (tensors, dicts,
lists, numbers, strings), so such a file is refused instead. Every loader in ``scale_up`` reads user files through
``load_tensor_file``, which also turns torch's errors into one that names the file and says what was wrong; the
advice torch appends, to retry with the allow-list switched off or to allow-list the object it met, is left out on
purpose: for a file of unknown origin it is the one thing not to do. Kit files are recognised by the keys this safe
load returns, never by unpickling.
``mmap=True`` maps the file instead of reading it (the pages load as tensors are touched); a file in torch's legacy
(non-zip) format cannot be mapped and is read whole.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch


class UnreadableTensorFile(ValueError):
    """A tensor file that is missing, corrupt, or holds objects other than tensors and plain containers."""


_TORCH_ADVICE = ("weights_only", "Weights only load failed", "Please file an issue", "Check the documentation")


def _reason(err: BaseException) -> str:
    """torch's own explanation, without its advice about ``weights_only`` (never to be followed for such a file)."""
    lines = [line.strip() for line in str(err).splitlines()]
    kept = [line for line in lines if line and not any(a in line for a in _TORCH_ADVICE)]
    text = " ".join(kept).replace("WeightsUnpickler error:", "").strip()
    text = text.split(" Please use `torch.serialization")[0]  # torch's advice to allow-list the object: not for us
    return text[:300] or type(err).__name__


def load_tensor_file(path, what: str = "checkpoint", mmap: bool = False):
    """``torch.load(path, map_location="cpu", weights_only=True)``; ``UnreadableTensorFile`` naming ``path`` else."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableTensorFile(f"{what}: {path} does not exist (or is not a file)")
    try:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
        except RuntimeError as err:
            if not mmap or "mmap" not in str(err):
                raise
            return torch.load(path, map_location="cpu", weights_only=True)  # a legacy file cannot be mapped
    except pickle.UnpicklingError as err:
        reason = _reason(err)
        if "GLOBAL" in reason:
            raise UnreadableTensorFile(f"{what}: {path} holds more than tensors and plain containers, so it was not "
                                       f"loaded (unpickling it could run code): {reason}") from None
        raise UnreadableTensorFile(f"{what}: {path} is corrupt or not a torch tensor file: {reason}") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError) as err:
        raise UnreadableTensorFile(f"{what}: {path} is corrupt or not a torch tensor file: {_reason(err)}") from None
