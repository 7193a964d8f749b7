"""Sharded checkpoints in the official layout: each tensor-parallel rank saves and loads its own file, atomically,
and a checkpoint written at one TP degree loads at another.

How it works
------------
The layout is the official one (docs/glm130b_facts.md §5): ``FOLDER/latest`` holds the step, and
``FOLDER/<step>/mp_rank_XX_model_states.pt`` holds ``{"module": state_dict}`` for TP rank XX, here with the
optimizer state (keyed by parameter name, so it reshards like the parameters), the RNG state and ``extra``.

Atomic save (``collective_save``): the TP ranks agree that ``FOLDER/<step>`` does not exist yet (else every one of
them raises ``FileExistsError``, none waits), each writes its own ``mp_rank_XX`` file atomically into a fresh hidden
folder (a new name at every save: a partial folder left by a crash is never reused), they agree that all
succeeded, then rank 0 renames the folder to ``FOLDER/<step>`` and only then replaces ``latest``. A run killed at
any point leaves ``latest`` naming the previous complete checkpoint, which still loads. Files are read back with
``weights_only=True`` (``safe_load``): the RNG state is a tensor and ``extra`` must hold plain values (numbers,
strings, lists, dicts, tensors).

Load: the TP degree of the checkpoint is the number of ``mp_rank_*`` files. When it differs from the model's,
all shards are read and each tensor (parameters and Adam moments) is merged and re-split with the official
convert_tp rules (``tp_layout``); with ``reshard=False`` a mismatch is an error naming both degrees.
Only the first data-parallel replica writes (pass ``writer=False`` on every rank of the others); ZeRO-sharded
optimizer state must be consolidated first (``ZeroRedundancyOptimizer.consolidate_state_dict``), which this module
does not do (the DP × TP × PP trainer saves with ``pipeline/checkpoint.py``).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from glm_mini.training.checkpoint import write_atomic

from .collective_save import LOCAL, save_collectively
from .safe_load import load_tensor_file
from .tensor_parallel.mappings import group_rank, group_size
from .tp_layout import merge_tensors, parameter_role, shard_tensor

SHARD = "mp_rank_{:02d}_model_states.pt"


def _tp_of(model: nn.Module) -> tuple[int, int, object]:
    if not hasattr(model, "tp_group"):  # a plain model: TP degree 1
        return 1, 0, None
    group = model.tp_group
    return group_size(group), group_rank(group), group


def _optimizer_state_by_name(model: nn.Module, optimizer) -> dict:
    names = {id(p): n for n, p in model.named_parameters()}
    sd = optimizer.state_dict()
    order = [names[id(p)] for group in optimizer.param_groups for p in group["params"]]
    return {"state": {order[i]: s for i, s in sd["state"].items()},
            "param_groups": [{k: v for k, v in g.items() if k != "params"} for g in sd["param_groups"]]}


def _load_optimizer_state_by_name(model: nn.Module, optimizer, saved: dict) -> None:
    names = {id(p): n for n, p in model.named_parameters()}
    order = [names[id(p)] for group in optimizer.param_groups for p in group["params"]]
    groups, first = [], 0
    for saved_group, group in zip(saved["param_groups"], optimizer.param_groups):
        groups.append(dict(saved_group, params=list(range(first, first + len(group["params"])))))
        first += len(group["params"])
    state = {i: saved["state"][name] for i, name in enumerate(order) if name in saved["state"]}
    optimizer.load_state_dict({"state": state, "param_groups": groups})


PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def _check_plain(value, where: str) -> None:
    """``value`` holds only what ``weights_only=True`` loads back (containers of numbers, strings and tensors)."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_plain(key, f"{where} key")
            _check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
    elif not isinstance(value, PLAIN):
        raise ValueError(f"{where}: a {type(value).__name__} would not load back safely (only numbers, strings, "
                         "tensors and lists/dicts of them are saved)")


def save_sharded_checkpoint(folder, step: int, model: nn.Module, optimizer=None, extra: dict | None = None,
                            writer: bool = True) -> Path:
    """Every TP rank saves its shard of ``model`` (and ``optimizer``) as ``FOLDER/<step>``; returns that folder.

    Collective over the model's TP group when one is set (TP=1: this process alone). ``writer=False``: this rank
    writes nothing (every rank of a data-parallel replica other than the first).
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step: expected an int >= 0, got {step!r}")
    _check_plain(extra or {}, "extra")
    folder = Path(folder)
    tp, rank, group = _tp_of(model)
    if not writer:
        return folder / str(step)
    payload = {"module": model.state_dict(), "tp": tp, "step": step, "rng": torch.get_rng_state(),
               "extra": extra or {}}
    if optimizer is not None:
        payload["optimizer"] = _optimizer_state_by_name(model, optimizer)

    def write_own(partial: Path) -> None:
        write_atomic(partial / SHARD.format(rank), lambda f: torch.save(payload, f))

    def publish() -> None:
        write_atomic(folder / "latest", lambda f: f.write(str(step).encode()))

    try:
        return save_collectively(folder, str(step), write_own, publish, group=group if tp > 1 else LOCAL)
    except FileExistsError as err:
        raise FileExistsError(f"folder: {err}") from None


def latest_step(folder) -> int:
    """The step named by ``FOLDER/latest`` (the last complete checkpoint)."""
    path = Path(folder) / "latest"
    if not path.is_file():
        raise FileNotFoundError(f"folder: no checkpoint in {folder} (missing {path})")
    text = path.read_text().strip()
    if not text.isdigit():
        raise ValueError(f"folder: {path} must hold a step number (digits only), got {text[:40]!r}")
    return int(text)


def checkpoint_tp_degree(folder, step: int | None = None) -> int:
    step = latest_step(folder) if step is None else step
    files = [p.name for p in (Path(folder) / str(step)).glob("mp_rank_*_model_states.pt")]
    if not files or sorted(files) != [SHARD.format(r) for r in range(len(files))]:
        raise FileNotFoundError(f"folder: {Path(folder) / str(step)} holds no complete set of mp_rank_XX shards "
                                f"(found {sorted(files)})")
    return len(files)


def _reshard(states: list, key: str, tp: int, rank: int):
    """This rank's part of ``key`` from all source ranks' tensors (a non-tensor or scalar is replicated)."""
    if not torch.is_tensor(states[0]) or states[0].dim() == 0:
        return states[0]
    return shard_tensor(merge_tensors(states, parameter_role(key)), parameter_role(key), tp, rank)


def _read(path: Path) -> dict:
    payload = load_tensor_file(path, "folder")
    if not isinstance(payload, dict) or not isinstance(payload.get("module"), dict):
        raise ValueError(f"folder: {path} is not a sharded checkpoint shard (no 'module' state dict)")
    missing = [k for k in ("rng", "extra") if k not in payload]
    if missing:
        raise ValueError(f"folder: {path} holds an official 'module' state dict but not the kit's {missing} (a "
                         "converted official checkpoint: load it with scale_up.rank_loading.load_rank)")
    return payload


def load_sharded_checkpoint(folder, model: nn.Module, optimizer=None, step: int | None = None,
                            reshard: bool = True) -> dict:
    """Load this rank's part of checkpoint ``step`` (default: ``latest``) into ``model`` (and ``optimizer``).

    Returns ``{"step": ..., "extra": ..., "source_tp": ...}``. Works at any TP degree that divides the model.
    """
    folder = Path(folder)
    step = latest_step(folder) if step is None else step
    source_tp = checkpoint_tp_degree(folder, step)
    tp, rank, _ = _tp_of(model)
    path = folder / str(step)
    if source_tp == tp:
        payload = _read(path / SHARD.format(rank))
        module, opt_state = payload["module"], payload.get("optimizer")
        torch.set_rng_state(payload["rng"])
    elif not reshard:
        raise ValueError(f"folder: checkpoint {path} was written at tp={source_tp} but the model runs at tp={tp} "
                         "(pass reshard=True to convert it on load)")
    else:
        payloads = [_read(path / SHARD.format(r)) for r in range(source_tp)]
        module = {k: _reshard([p["module"][k] for p in payloads], k, tp, rank) for k in payloads[0]["module"]}
        opt_state = None
        if optimizer is not None and "optimizer" in payloads[0]:
            states = [p["optimizer"]["state"] for p in payloads]
            opt_state = {"param_groups": payloads[0]["optimizer"]["param_groups"],
                         "state": {n: {k: _reshard([s[n][k] for s in states], n, tp, rank) for k in states[0][n]}
                                   for n in states[0]}}
        payload = payloads[0]
    model.load_state_dict(module, strict=True)
    if optimizer is not None:
        if opt_state is None:
            raise ValueError(f"optimizer: checkpoint {path} holds no optimizer state")
        _load_optimizer_state_by_name(model, optimizer, opt_state)
    return {"step": step, "extra": payload["extra"], "source_tp": source_tp}
