"""Atomic training checkpoints: everything a run needs to continue as if it had never stopped.

How it works
------------
A checkpoint of step k is two files in ``DIR/checkpoints/``:

- ``step_XXXXXXXX.safetensors``: the model's weights, tensor for tensor (safetensors: a header of names, dtypes and
  shapes, then the raw bytes; the format the reference models ship in, readable by any tool without unpickling);
- ``step_XXXXXXXX.pt`` (``torch.save``): everything else a run needs to continue as if it had never stopped: the
  optimizer (AdamW moments and step counts), the loss scaler, every random state (torch's CPU generator for dropout,
  each CUDA generator, the objective's ``random.Random``), the data position, the spike detector's history and the
  run's config. The learning-rate, batch-size and EGS schedules are pure functions of the step (``schedule.py``),
  so the step is their whole state.

Writing is atomic: each file goes to a temporary name in the same folder, is flushed to disk, then ``os.replace``-d
into place (the weights first, then the state), and only then does the one-line pointer ``DIR/checkpoints/latest``
(itself written the same way) name the ``.pt`` file. A process killed at any instant leaves either the old or the
new checkpoint as ``latest``, never half of one. Older checkpoints beyond the newest ``keep`` are removed (both
files) only after the new one is in place. ``load_checkpoint`` returns the state with the weights under ``"model"``,
as one dictionary; a checkpoint of the earlier format (version 1: the weights inside the ``.pt`` file) still loads.

Loading never runs code from the files: ``torch.load(weights_only=True)`` unpickles tensors and plain containers
only, and a file holding anything else (a crafted pickle that would call a function) is refused with the kit's own
message, which never suggests loading it unsafely; safetensors holds no code at all. ``latest`` must name one
``step_*.pt`` file beside it, nothing elsewhere.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import torch

from glm_mini.atomic_write import write_atomic  # noqa: F401  (the kit's one atomic writer; imported from here too)

FORMAT_VERSION = 2  # 2: the model's weights in step_X.safetensors beside step_X.pt; 1: all in step_X.pt
READABLE_VERSIONS = (1, 2)
WEIGHTS_KEY = "model_weights"  # format 2: the name of the safetensors file that holds state["model"]


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read, or does not belong to the run that tries to resume from it."""


def checkpoint_dir(out_dir: str | Path) -> Path:
    return Path(out_dir) / "checkpoints"


def rng_state() -> dict:
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def weights_path(path: str | Path) -> Path:
    """The safetensors file of the model's weights beside checkpoint ``path`` (``step_X.pt``)."""
    return Path(path).with_suffix(".safetensors")


def save_checkpoint(out_dir: str | Path, step: int, state: dict, keep: int = 2) -> Path:
    """Write ``state`` (plus ``step`` and the format version) as step ``step`` and point ``latest`` at it: the
    weights ``state["model"]`` as safetensors, the rest with ``torch.save``."""
    from safetensors.torch import save

    folder = checkpoint_dir(out_dir)
    path = folder / f"step_{step:08d}.pt"
    rest = {k: v for k, v in state.items() if k != "model"}
    if "model" in state:
        weights = {k: t.detach().contiguous() for k, t in state["model"].items()}
        write_atomic(weights_path(path), lambda f: f.write(save(weights, metadata={"step": str(step)})))
        rest[WEIGHTS_KEY] = weights_path(path).name
    write_atomic(path, lambda f: torch.save({"format": FORMAT_VERSION, "step": step, **rest}, f))
    write_atomic(folder / "latest", lambda f: f.write(path.name.encode() + b"\n"))
    if keep > 0:
        for old in sorted(folder.glob("step_*.pt"))[:-keep]:
            old.unlink()
            weights_path(old).unlink(missing_ok=True)
    return path


def latest_checkpoint(out_dir: str | Path) -> Path:
    """The file ``DIR/checkpoints/latest`` points at; ``FileNotFoundError`` naming what is missing."""
    pointer = checkpoint_dir(out_dir) / "latest"
    if not pointer.is_file():
        raise FileNotFoundError(f"no checkpoint to resume from: {pointer} does not exist (was the run in {out_dir} "
                                "ever saved? train without --resume to start it)")
    name = pointer.read_text(encoding="utf-8", errors="replace").strip()
    if not re.fullmatch(r"step_\d+\.pt", name):
        raise CheckpointError(f"{pointer}: expected the name of a checkpoint beside it (step_XXXXXXXX.pt), got "
                              f"{name[:80]!r}")
    path = pointer.parent / name
    if not path.is_file():
        raise FileNotFoundError(f"{pointer} names {path.name}, which does not exist")
    return path


def load_checkpoint(path: str | Path, required: tuple[str, ...] = ()) -> dict:
    """Read a checkpoint (tensors to CPU) without running code from it; ``CheckpointError`` naming the file if it is
    corrupt, foreign, holds more than tensors and plain containers, or lacks one of the ``required`` keys."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # torch's text here advises an unsafe load: the kit says why it refuses
        found = re.search(r"WeightsUnpickler error:\s*([^\n]*?)(?:\.? Please|\n|$)", str(err))
        raise CheckpointError(f"checkpoint {path} is corrupt or not a glm_mini checkpoint: the safe loader stopped "
                              f"at {found.group(1).strip() if found else 'an unsupported pickle'} (it reads tensors "
                              "and plain containers only; anything else could run code when unpickled, so it is "
                              "never loaded)") from None
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as err:
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable: {err}") from err
    found = state.get("format") if isinstance(state, dict) else None
    if found not in READABLE_VERSIONS:
        raise CheckpointError(f"checkpoint {path}: expected a glm_mini.train checkpoint (format {FORMAT_VERSION}), "
                              f"got a {type(state).__name__} with format {found!r}")
    if found == 2 and WEIGHTS_KEY in state:
        if state.pop(WEIGHTS_KEY) != weights_path(path).name:
            raise CheckpointError(f"checkpoint {path}: names weights that are not its own {weights_path(path).name} "
                                  "(a checkpoint is the pair step_X.pt + step_X.safetensors)")
        state["model"] = load_weights(weights_path(path), path)
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path}: lacks {', '.join(map(repr, missing))}; expected every key of a "
                              f"glm_mini.train checkpoint ({', '.join(required)})")
    return state


def load_weights(path: Path, checkpoint: Path) -> dict:
    """The model's weights of ``checkpoint`` from their safetensors file; ``CheckpointError`` naming it if missing
    or unreadable."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"checkpoint {checkpoint}: its model weights {path.name} are missing beside it (a "
                              "checkpoint is the pair step_X.pt + step_X.safetensors)")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"checkpoint {checkpoint}: its model weights {path} are corrupt or unreadable: "
                              f"{err}") from None
