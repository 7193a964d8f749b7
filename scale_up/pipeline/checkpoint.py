"""Sharded pipeline checkpoints: each rank saves its own stages, atomically; any pipeline layout loads them.

How it works
------------
A save at step k writes, on every rank r, ``DIR/step_{k:08d}/rank_{r:03d}.pt`` holding that rank's parameters and
AdamW state keyed by the FULL model's parameter names (a stage keeps them, stage_module.py), then, after a barrier,
rank 0 points ``DIR/latest.json`` at the step folder. Every file is written to a temp file in its folder and moved
into place with ``os.replace``, and ``latest.json`` moves last: a run killed mid-save leaves ``latest.json`` on the
previous complete checkpoint, and nothing already saved is overwritten.

Loading reads every rank file of the step named in ``latest.json``, merges them by name (the tied embedding appears
on the first and the last stage, equal), and gives each stage the names it holds. Because names do not depend on
the layout, a checkpoint saved with 2 stages loads into 4, into the interleaved layout, or into one ``GLM``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.distributed as dist

from glm_mini.training.checkpoint import write_atomic

from .schedule import Pipeline

LATEST = "latest.json"


def save_pipeline_checkpoint(pipe: Pipeline, optimizer: torch.optim.Optimizer, out_dir: str | os.PathLike,
                             step: int) -> Path:
    """Every rank writes its shard of step ``step``; rank 0 then moves ``latest.json`` onto it."""
    folder = Path(out_dir) / f"step_{step:08d}"
    folder.mkdir(parents=True, exist_ok=True)
    params = dict(pipe.named_parameters())
    shard = {
        "step": step,
        "model": {n: t.detach().clone() for m in pipe.modules for n, t in m.state_dict().items()},
        "optimizer": {"state": {n: optimizer.state[p] for n, p in params.items() if p in optimizer.state},
                      "param_groups": [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]},
    }
    write_atomic(folder / f"rank_{dist.get_rank():03d}.pt", lambda f: torch.save(shard, f))
    dist.barrier()
    if dist.get_rank() == 0:
        latest = {"step": step, "folder": folder.name, "world_size": dist.get_world_size()}
        write_atomic(Path(out_dir) / LATEST, lambda f: f.write(json.dumps(latest).encode()))
    dist.barrier()
    return folder


def read_checkpoint(out_dir: str | os.PathLike) -> dict:
    """The latest complete checkpoint in ``out_dir``, merged by name: {"step", "model", "optimizer"}."""
    latest_path = Path(out_dir) / LATEST
    if not latest_path.is_file():
        raise FileNotFoundError(f"read_checkpoint: no {LATEST} in {out_dir}; nothing was saved there")
    latest = json.loads(latest_path.read_text())
    folder = Path(out_dir) / latest["folder"]
    files = [folder / f"rank_{r:03d}.pt" for r in range(latest["world_size"])]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(f"read_checkpoint: {latest_path} names step {latest['step']} but its shard(s) "
                                f"{missing} are missing")
    merged = {"step": latest["step"], "model": {}, "optimizer": {"state": {}, "param_groups": None}}
    for f in files:
        shard = torch.load(f, map_location="cpu", weights_only=True)
        merged["model"].update(shard["model"])
        merged["optimizer"]["state"].update(shard["optimizer"]["state"])
        merged["optimizer"]["param_groups"] = shard["optimizer"]["param_groups"]
    return merged


def load_pipeline_checkpoint(pipe: Pipeline, optimizer: torch.optim.Optimizer | None,
                             out_dir: str | os.PathLike) -> int:
    """Load the latest checkpoint (saved with any layout) into this rank's stages and optimizer; returns its step."""
    ckpt = read_checkpoint(out_dir)
    for module in pipe.modules:
        missing = [n for n in module.state_dict() if n not in ckpt["model"]]
        if missing:
            raise ValueError(f"load_pipeline_checkpoint: the checkpoint in {out_dir} lacks {len(missing)} tensor(s) of "
                             f"stage {module.stage_index}, e.g. {missing[:2]} (a different model?)")
        module.load_state_dict({n: ckpt["model"][n] for n in module.state_dict()}, strict=True)
    if optimizer is not None:
        for name, p in pipe.named_parameters():
            if name in ckpt["optimizer"]["state"]:
                optimizer.state[p] = {k: v.clone() for k, v in ckpt["optimizer"]["state"][name].items()}
        for group, saved in zip(optimizer.param_groups, ckpt["optimizer"]["param_groups"]):
            group.update(saved)
    return ckpt["step"]
