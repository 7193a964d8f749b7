"""Bad input to scale_up's checkpoint loaders and savers (``sharded_checkpoint``, the pipeline checkpoints,
``read_rank_tensors``, ``rank_loading.load_rank``): a crafted file runs nothing, a pointer cannot leave its folder, an
existing checkpoint is never overwritten, a stale partial folder is never reused, tensor-parallel shards of one name
never overwrite each other, a checkpoint that does not fit the model is named."""

import json

import pytest
import torch
from bad_input_cases import error, params, right, run
from convert_fixtures import SMALL, make_checkpoint
from hostile_files import crafted_pickle, refused_safely

from glm_mini import GLM, PRESETS
from scale_up.convert import ConversionError
from scale_up.pipeline.checkpoint import FORMAT, PipelineCheckpointError, rank_file, read_checkpoint
from scale_up.pipeline.launch import read_rank_tensors
from scale_up.rank_loading import load_rank
from scale_up.safe_load import UnreadableTensorFile
from scale_up.sharded_checkpoint import SHARD, latest_step, load_sharded_checkpoint, save_sharded_checkpoint
from scale_up.tp_layout import shard_state_dict

NANO = PRESETS["nano"]


@pytest.fixture
def ctx(tmp_path):
    torch.manual_seed(0)
    return {"tmp": tmp_path, "model": GLM(NANO), "marker": tmp_path / "code_ran"}


def saved(ctx, step=1, **kw):
    return save_sharded_checkpoint(ctx["tmp"] / "ckpt", step, ctx["model"], **kw)


def crafted_sharded(ctx):
    saved(ctx)
    crafted_pickle(ctx["tmp"] / "ckpt" / "1" / SHARD.format(0), ctx["marker"])
    return refused_safely(lambda: load_sharded_checkpoint(ctx["tmp"] / "ckpt", GLM(NANO)), ctx["marker"])


def latest_says(text):
    def call(ctx):
        saved(ctx)
        (ctx["tmp"] / "ckpt" / "latest").write_text(text)
        return load_sharded_checkpoint(ctx["tmp"] / "ckpt", GLM(NANO))
    return call


class NotPlain:
    pass


def stale_partial_then_save(ctx):
    stale = ctx["tmp"] / "ckpt" / ".1.partial-crashed"
    stale.mkdir(parents=True)
    (stale / SHARD.format(0)).write_bytes(b"half a file")
    path = saved(ctx)
    return path, stale


def official_folder_as_kit(ctx):
    make_checkpoint(ctx["tmp"] / "official", tp=1)
    return load_sharded_checkpoint(ctx["tmp"] / "official", GLM(SMALL))


def pipeline_latest(folder, world=1):
    def call(ctx):
        root = ctx["tmp"] / "pipe"
        (root / "step_00000001").mkdir(parents=True)
        torch.save({"format": FORMAT, "coords": {"tp": 0}, "model": {}, "optimizer": None, "trainer": {}},
                   root / "step_00000001" / rank_file(0))
        (root / "latest.json").write_text(json.dumps({"step": 1, "folder": folder, "world_size": world}))
        return read_checkpoint(root)
    return call


def crafted_pipeline_rank(ctx):
    root = ctx["tmp"] / "pipe"
    crafted_pickle(root / "step_00000001" / rank_file(0), ctx["marker"], wrap=lambda p: {"format": FORMAT, "x": p})
    (root / "latest.json").write_text(json.dumps({"step": 1, "folder": "step_00000001", "world_size": 1}))
    return refused_safely(lambda: read_checkpoint(root), ctx["marker"])


def foreign_pipeline_rank(ctx):
    root = ctx["tmp"] / "pipe"
    (root / "step_00000001").mkdir(parents=True)
    torch.save({"model": {}}, root / "step_00000001" / rank_file(0))
    (root / "latest.json").write_text(json.dumps({"step": 1, "folder": "step_00000001", "world_size": 1}))
    return read_checkpoint(root)


def two_tp_ranks_one_name(ctx):
    """Two rank files holding TP shards 0 and 1 of the same names: read back as the whole tensors, not one shard."""
    root = ctx["tmp"] / "pipe"
    (root / "step_00000001").mkdir(parents=True)
    full = {k: v for k, v in ctx["model"].state_dict().items()}
    for r in range(2):
        shard = {"format": FORMAT, "coords": {"pp": 0, "dp": 0, "tp": r, "tp_size": 2},
                 "model": shard_state_dict(full, 2, r, NANO), "optimizer": None, "trainer": {}}
        torch.save(shard, root / "step_00000001" / rank_file(r))
    (root / "latest.json").write_text(json.dumps({"step": 1, "folder": "step_00000001", "world_size": 2}))
    return read_checkpoint(root)["model"], full


def crafted_rank_tensors(ctx):
    crafted_pickle(ctx["tmp"] / "dump" / "rank_0_params.pt", ctx["marker"], wrap=lambda p: {"tensors": p})
    return refused_safely(lambda: read_rank_tensors(ctx["tmp"] / "dump", "params", 1), ctx["marker"])


def crafted_official_rank(ctx):
    make_checkpoint(ctx["tmp"] / "official", tp=1)
    crafted_pickle(ctx["tmp"] / "official" / "49300" / SHARD.format(0), ctx["marker"])
    return refused_safely(lambda: load_rank(SMALL, ctx["tmp"] / "official"), ctx["marker"])


def modes_like_open(folder) -> bool:
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)
    files = [p for p in folder.parent.rglob("*") if p.is_file()]
    dirs = [folder.parent] + [p for p in folder.parent.rglob("*") if p.is_dir()]
    return files != [] and all(stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask for p in files) and \
        all(stat.S_IMODE(p.stat().st_mode) == 0o777 & ~umask for p in dirs)


CASES = [
    error("sharded-crafted-shard", crafted_sharded, UnreadableTensorFile, SHARD.format(0), "could run code"),
    error("sharded-latest-parent", latest_says("../1"), ValueError, "latest", "digits only"),
    error("sharded-latest-absolute", latest_says("/etc"), ValueError, "latest", "digits only"),
    error("sharded-latest-missing-step", latest_says("7"), FileNotFoundError, "no complete set"),
    error("sharded-existing-step", lambda ctx: (saved(ctx), saved(ctx)), FileExistsError, "folder: checkpoint",
          "already exists"),
    error("sharded-negative-step", lambda ctx: saved(ctx, step=-1), ValueError, "step"),
    error("sharded-bool-step", lambda ctx: saved(ctx, step=True), ValueError, "step"),
    error("sharded-extra-not-plain", lambda ctx: saved(ctx, extra={"obj": NotPlain()}), ValueError, "extra",
          "NotPlain"),
    error("sharded-official-folder", official_folder_as_kit, ValueError, "load_rank"),
    error("pipeline-latest-parent", pipeline_latest("../step_00000001"), PipelineCheckpointError, "folder",
          "step_XXXXXXXX"),
    error("pipeline-latest-absolute", pipeline_latest("/tmp"), PipelineCheckpointError, "folder"),
    error("pipeline-rank-missing", pipeline_latest("step_00000001", world=2), FileNotFoundError,
          rank_file(1)),
    error("pipeline-world-size-zero", pipeline_latest("step_00000001", world=0), PipelineCheckpointError,
          "world_size"),
    error("pipeline-crafted-rank", crafted_pipeline_rank, UnreadableTensorFile, rank_file(0), "could run code"),
    error("pipeline-foreign-rank", foreign_pipeline_rank, PipelineCheckpointError, rank_file(0), FORMAT),
    error("rank-tensors-crafted", crafted_rank_tensors, UnreadableTensorFile, "rank_0_params.pt",
          "could run code"),
    error("load-rank-crafted", crafted_official_rank, ConversionError, SHARD.format(0), "could run code"),
    error("load-rank-wrong-tp", lambda ctx: (make_checkpoint(ctx["tmp"] / "official", tp=2),
                                             load_rank(SMALL, ctx["tmp"] / "official")), ValueError, "tp=1",
          "convert it first"),
    error("load-rank-wrong-config", lambda ctx: (make_checkpoint(ctx["tmp"] / "official", tp=1),
                                                 load_rank(SMALL.replace(hidden_size=128), ctx["tmp"] / "official")),
          ValueError, SHARD.format(0), "does not fit the configuration"),
    error("load-rank-bits-3", lambda ctx: (make_checkpoint(ctx["tmp"] / "official", tp=1),
                                           load_rank(SMALL, ctx["tmp"] / "official", bits=3)), ValueError, "bits"),
    right("sharded-stale-partial-not-reused", stale_partial_then_save,
          lambda result, ctx: latest_step(ctx["tmp"] / "ckpt") == 1 and not result[1].exists()
          and torch.load(result[0] / SHARD.format(0), weights_only=True)["step"] == 1),
    right("sharded-files-readable-like-ordinary-ones", lambda ctx: saved(ctx), lambda path, ctx: modes_like_open(path)),
    right("pipeline-tp-shards-merge-not-overwrite", two_tp_ranks_one_name,
          lambda result, ctx: all(torch.equal(result[0][k], v) for k, v in result[1].items())),
]


@pytest.mark.parametrize("case", params(CASES))
def test_checkpoint_case(case, ctx):
    run(case, ctx)
