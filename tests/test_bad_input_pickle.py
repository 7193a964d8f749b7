"""A crafted pickle (a file whose unpickling would call a function: here ``Path.touch`` on a marker file) given to
every glm_mini loader runs nothing: each refuses the file with an error naming it, the marker never appears, and no
message suggests loading the file with ``weights_only=False``."""

import json
import pathlib
import pickle

import numpy as np
import pytest
import torch
from bad_input_cases import error, params, run

from glm_mini.data import PackedSequences
from glm_mini.data.packing import PACKED_FILES, PackedDataError
from glm_mini.manifest import write_manifest
from glm_mini.tokenizer import GLMTokenizer
from glm_mini.train import TrainConfig, load_model, train
from glm_mini.training.checkpoint import CheckpointError, load_checkpoint

RUN = TrainConfig(preset="nano", max_steps=4, seq_len=32, batch_size=2, batch_size_start=2, val_batches=1)


class Payload:
    """Unpickling this calls ``Path.touch(marker)``: the stand-in for any code a crafted file could run."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


@pytest.fixture
def ctx(tmp_path):
    marker = tmp_path / "MARKER-code-ran"
    payload = Payload(marker)
    (tmp_path / "raw.pt").write_bytes(pickle.dumps({"format": 1, "step": 1, "model": payload}))
    torch.save({"format": 1, "step": 1, "model": payload}, tmp_path / "zip.pt")
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({**RUN.to_json(), "out": str(run_dir)}))
    (run_dir / "metrics.jsonl").write_text("")
    (run_dir / "checkpoints" / "step_00000002.pt").write_bytes((tmp_path / "zip.pt").read_bytes())
    (run_dir / "checkpoints" / "latest").write_text("step_00000002.pt\n")
    packed = tmp_path / "packed"
    PackedSequences(np.zeros((1, 4), dtype=np.int32), np.array([0, 4]), np.array([0, 2]), 3, 0).save(packed)
    np.save(packed / "bounds.npy", np.array([payload], dtype=object), allow_pickle=True)
    write_manifest(packed / "manifest.json", [packed / name for name in PACKED_FILES[:4]])  # the manifest agrees
    (tmp_path / "tok.model").write_bytes(pickle.dumps(payload))
    return {"dir": tmp_path, "marker": marker, "run": run_dir, "packed": packed}


def runs_nothing(load):
    """``load(ctx)``, then: the marker must not exist and the error must not advise an unsafe load."""
    def call(ctx):
        try:
            return load(ctx)
        except Exception as err:
            assert "weights_only" not in str(err), f"the message advises an unsafe load: {err}"
            raise
        finally:
            assert not ctx["marker"].exists(), "the crafted pickle ran code"
    return call


CASES = [
    error("load-checkpoint-raw-pickle", runs_nothing(lambda ctx: load_checkpoint(ctx["dir"] / "raw.pt")),
          CheckpointError, "raw.pt"),
    error("load-checkpoint-torch-zip", runs_nothing(lambda ctx: load_checkpoint(ctx["dir"] / "zip.pt")),
          CheckpointError, "zip.pt", "GLOBAL getattr"),
    error("load-model-of-a-run", runs_nothing(lambda ctx: load_model(ctx["run"])), CheckpointError,
          "step_00000002.pt"),
    error("train-resume", runs_nothing(lambda ctx: train(TrainConfig(**{**RUN.__dict__, "out": str(ctx["run"]),
                                                                         "resume": True}), progress=False)),
          CheckpointError, "step_00000002.pt"),
    error("packed-sequences-load", runs_nothing(lambda ctx: PackedSequences.load(ctx["packed"])), PackedDataError,
          "packed"),
    error("tokenizer-from-file", runs_nothing(lambda ctx: GLMTokenizer.from_file(ctx["dir"] / "tok.model")),
          ValueError, "tok.model"),
]


@pytest.mark.parametrize("case", params(CASES))
def test_pickle_case(case, ctx):
    run(case, ctx)
