"""Sharded checkpoints of a DP × TP × PP run: every rank saves its own file; any layout loads them.

How it works
------------
A save at step k writes, on every rank r, ``DIR/step_{k:08d}/rank_{r:05d}.pt`` holding that rank's coordinates on the
(pp, dp, tp) mesh, its parameters and optimizer state keyed by the FULL model's parameter names (a stage keeps them,
stage_module.py; the optimizer may be ZeRO-sharded, then each rank holds the state of its own share), and the
trainer's state (data position, random generators, spike history), then rank 0 points ``DIR/latest.json`` at the
step folder. The files go through ``collective_save``: all ranks agree the step folder is new before anyone writes,
write into a fresh hidden folder, agree that all of them succeeded, and only then does it become ``step_{k:08d}``
and ``latest.json`` move: a run killed mid-save leaves ``latest.json`` on the previous complete checkpoint. Step
folders newer than the published one (a save killed between its rename and the pointer, or the abandoned steps of
a run resumed from an earlier checkpoint) are removed before the next save.

Loading on the layout that saved it reads the rank's own file: the exact state, random generators included, so the
resumed run continues bit for bit. On another layout, the files are merged by name per tensor-parallel rank (the
tied embedding on the first and last stage, and data-parallel replicas, hold equal copies; ZeRO shares are
disjoint), tensor-parallel shards are merged back into whole tensors by the official rules when the TP degree
changed (``tp_layout``: each shard keeps its own rank, so shards of one name never overwrite each other), and each
stage takes the names it holds. Files are read with ``weights_only=True`` (``safe_load``).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.optim import ZeroRedundancyOptimizer

from glm_mini.training.checkpoint import write_atomic

from ..collective_save import save_collectively
from ..safe_load import load_tensor_file
from ..tp_layout import merge_tensors, parameter_role, shard_tensor
from .schedule import Pipeline

LATEST = "latest.json"
FORMAT = "scale_up.pipeline/2"
STEP_FOLDER = re.compile(r"step_\d{8}")


class PipelineCheckpointError(ValueError):
    """A pipeline checkpoint that is incomplete, foreign, or does not fit the run loading it."""


def rank_file(rank: int) -> str:
    return f"rank_{rank:05d}.pt"


def local_optimizer(optimizer):
    """The optimizer holding this rank's state: ZeRO's local optimizer over its share, or the optimizer itself."""
    return optimizer.optim if isinstance(optimizer, ZeroRedundancyOptimizer) else optimizer


def _optimizer_by_name(pipe: Pipeline, optimizer) -> dict:
    local = local_optimizer(optimizer)
    state = {n: {k: v.detach().clone() if torch.is_tensor(v) else v for k, v in local.state[p].items()}
             for n, p in pipe.named_parameters() if p in local.state}
    return {"state": state, "param_groups": [{k: v for k, v in g.items() if k != "params"}
                                             for g in local.param_groups]}


def save_pipeline_checkpoint(pipe: Pipeline, optimizer, out_dir, step: int, coords: dict, layout: dict,
                             trainer: dict | None = None, keep: int = 0) -> Path:
    """Every rank saves its part of step ``step``; rank 0 then moves ``latest.json`` onto it (collective).

    ``coords``: this rank's ``{"pp", "dp", "tp"}`` ranks and ``"tp_size"``; ``layout``: what a resume must match;
    ``keep``: newest checkpoints kept (0: all).
    """
    out_dir = Path(out_dir)
    name = f"step_{step:08d}"
    shard = {"format": FORMAT, "step": step, "rank": dist.get_rank(), "coords": dict(coords), "layout": dict(layout),
             "model": {n: t.detach().clone() for m in pipe.modules for n, t in m.state_dict().items()},
             "optimizer": _optimizer_by_name(pipe, optimizer) if optimizer is not None else None,
             "trainer": trainer or {}}

    def write_own(partial: Path) -> None:
        write_atomic(partial / rank_file(dist.get_rank()), lambda f: torch.save(shard, f))

    def publish() -> None:
        latest = {"format": FORMAT, "step": step, "folder": name, "world_size": dist.get_world_size(),
                  "layout": layout}
        write_atomic(out_dir / LATEST, lambda f: f.write(json.dumps(latest).encode()))
        if keep > 0:
            for old in sorted(p for p in out_dir.iterdir() if STEP_FOLDER.fullmatch(p.name))[:-keep]:
                shutil.rmtree(old)

    if dist.get_rank() == 0:
        _remove_unpublished(out_dir)
    dist.barrier()
    return save_collectively(out_dir, name, write_own, publish)


def _remove_unpublished(out_dir: Path) -> None:
    """Remove step folders newer than the one ``latest.json`` names: left by a save that died between its rename and
    the pointer, or by the abandoned steps of a run that was resumed from an earlier checkpoint (which recomputes
    them exactly). Published checkpoints and anything not named ``step_XXXXXXXX`` are never touched."""
    if not out_dir.is_dir():
        return
    try:
        published = json.loads((out_dir / LATEST).read_text())["step"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        published = -1
    for folder in out_dir.iterdir():
        if STEP_FOLDER.fullmatch(folder.name) and folder.is_dir() and int(folder.name[5:]) > published:
            shutil.rmtree(folder)


def read_latest(out_dir) -> dict:
    """``latest.json`` of ``out_dir``, checked: its step folder and every rank file exist."""
    path = Path(out_dir) / LATEST
    if not path.is_file():
        raise FileNotFoundError(f"read_checkpoint: no {LATEST} in {out_dir}; nothing was saved there")
    try:
        latest = json.loads(path.read_text())
        step, folder, world = latest["step"], latest["folder"], latest["world_size"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise PipelineCheckpointError(f"{path}: expected a pipeline checkpoint pointer, got {err!r}") from None
    if not isinstance(folder, str) or not STEP_FOLDER.fullmatch(folder):
        raise PipelineCheckpointError(f"{path}: 'folder' must name a step_XXXXXXXX folder inside {out_dir}, "
                                      f"got {folder!r}")
    if isinstance(world, bool) or not isinstance(world, int) or world < 1:
        raise PipelineCheckpointError(f"{path}: 'world_size' must be a positive int, got {world!r}")
    files = [Path(out_dir) / folder / rank_file(r) for r in range(world)]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"read_checkpoint: {path} names step {step} but its shard(s) {missing} are missing")
    return {**latest, "files": files}


def _read_shard(path: Path) -> dict:
    shard = load_tensor_file(path, "pipeline checkpoint")
    if not isinstance(shard, dict) or shard.get("format") != FORMAT:
        found = shard.get("format") if isinstance(shard, dict) else type(shard).__name__
        raise PipelineCheckpointError(f"pipeline checkpoint: {path} is not a {FORMAT} rank file (format {found!r})")
    return shard


def _merged(shards: list[dict], tp_size: int, tp_rank: int) -> tuple[dict, dict]:
    """(model, optimizer state) by name for tensor rank ``tp_rank`` of ``tp_size``, from every rank's shard."""
    by_tp: dict[int, tuple[dict, dict]] = {}
    for shard in shards:
        model, state = by_tp.setdefault(shard["coords"]["tp"], ({}, {}))
        model.update(shard["model"])  # within one tensor rank, copies of a name are equal
        if shard["optimizer"] is not None:
            state.update(shard["optimizer"]["state"])
    saved_tp = len(by_tp)
    if sorted(by_tp) != list(range(saved_tp)):
        raise PipelineCheckpointError(f"pipeline checkpoint: tensor ranks {sorted(by_tp)} saved, expected 0..n-1")
    if saved_tp == tp_size:
        return by_tp[tp_rank]

    def reshard(name: str, parts: list):
        if not torch.is_tensor(parts[0]) or parts[0].dim() == 0:
            return parts[0]
        role = parameter_role(name)
        return shard_tensor(merge_tensors(parts, role), role, tp_size, tp_rank)

    models = [by_tp[t][0] for t in range(saved_tp)]
    model = {n: reshard(n, [m[n] for m in models]) for n in models[0]}
    states = [by_tp[t][1] for t in range(saved_tp)]
    state = {n: {k: reshard(n, [s[n][k] for s in states]) for k in states[0][n]} for n in states[0]}
    return model, state


def read_checkpoint(out_dir) -> dict:
    """The latest complete checkpoint in ``out_dir`` as ONE model: ``{"step", "model", "optimizer"}`` by full-model
    name, tensor-parallel shards merged into whole tensors."""
    latest = read_latest(out_dir)
    shards = [_read_shard(f) for f in latest["files"]]
    model, state = _merged(shards, 1, 0)
    return {"step": latest["step"], "model": model, "optimizer": {"state": state}, "layout": latest.get("layout")}


def load_pipeline_checkpoint(pipe: Pipeline, optimizer, out_dir, coords: dict, layout: dict,
                             same_layout_only: bool = False) -> tuple[int, dict]:
    """Load the latest checkpoint into this rank's stages and optimizer; returns (its step, the trainer state).

    On the layout that saved it each rank reads its own file, trainer state and all; on another layout (refused when
    ``same_layout_only``) the files are merged by name and resharded, and the trainer state is rank 0's.
    """
    latest = read_latest(out_dir)
    if latest.get("layout") == layout and latest["world_size"] == dist.get_world_size():
        shard = _read_shard(latest["files"][dist.get_rank()])
        model, state, trainer = shard["model"], (shard["optimizer"] or {}).get("state", {}), shard["trainer"]
    elif same_layout_only:
        raise PipelineCheckpointError(f"resume: the checkpoint in {out_dir} was saved with layout "
                                      f"{latest.get('layout')}, this run has {layout}; resume with the same "
                                      "--dp/--tp/--pp/--schedule/--micro-batches")
    else:
        shards = [_read_shard(f) for f in latest["files"]]
        model, state = _merged(shards, coords["tp_size"], coords["tp"])
        trainer = shards[0]["trainer"]
    for module in pipe.modules:
        missing = [n for n in module.state_dict() if n not in model]
        if missing:
            raise PipelineCheckpointError(f"load_pipeline_checkpoint: the checkpoint in {out_dir} lacks "
                                          f"{len(missing)} tensor(s) of stage {module.stage_index}, e.g. "
                                          f"{missing[:2]} (a different model?)")
        try:
            module.load_state_dict({n: model[n] for n in module.state_dict()}, strict=True)
        except RuntimeError as err:
            raise PipelineCheckpointError(f"load_pipeline_checkpoint: the checkpoint in {out_dir} does not fit "
                                          f"stage {module.stage_index}: {str(err)[:300]}") from None
    if optimizer is not None:
        local = local_optimizer(optimizer)
        device = next(iter(pipe.parameters())).device
        for name, p in pipe.named_parameters():
            if name in state and (local is optimizer or p in _owned(local)):
                local.state[p] = {k: v.to(device) if torch.is_tensor(v) and v.dim() > 0 else v
                                  for k, v in state[name].items()}
    return latest["step"], trainer


def _owned(local) -> set:
    return {p for group in local.param_groups for p in group["params"]}
