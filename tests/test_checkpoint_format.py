"""A training checkpoint keeps the model's weights as safetensors beside the trainer's state: the weights equal the
model's bit for bit, the ``.pt`` holds no weights, both files go together, and an old single-file checkpoint loads."""

import pytest
import torch
from safetensors.torch import load_file

from glm_mini.train import TrainConfig, load_model, train
from glm_mini.training.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint, weights_path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(preset="nano", max_steps=3, out=str(out), seq_len=32, batch_size=2, val_batches=1,
                      save_every=1, keep_checkpoints=2)
    train(cfg, progress=False)
    return out, cfg


def test_the_weights_are_a_safetensors_file_beside_the_state(run):
    out, _ = run
    path = latest_checkpoint(out)
    assert path.name == "step_00000003.pt" and weights_path(path).name == "step_00000003.safetensors"
    weights = load_file(weights_path(path))
    assert "model" not in torch.load(path, weights_only=True)
    model = load_model(out)
    assert sorted(weights) == sorted(model.state_dict())
    for name, tensor in model.state_dict().items():
        assert torch.equal(weights[name], tensor), name
    kept = sorted(p.name for p in (out / "checkpoints").iterdir() if p.name != "latest")
    assert kept == ["step_00000002.pt", "step_00000002.safetensors", "step_00000003.pt", "step_00000003.safetensors"]


def test_a_missing_or_damaged_weights_file_is_named(run, tmp_path):
    out, _ = run
    path = latest_checkpoint(out)
    copy = tmp_path / path.name
    copy.write_bytes(path.read_bytes())
    with pytest.raises(CheckpointError, match="step_00000003.safetensors are missing"):
        load_checkpoint(copy)
    weights_path(copy).write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="step_00000003.safetensors are corrupt"):
        load_checkpoint(copy)


def test_a_checkpoint_of_the_earlier_single_file_format_still_loads(run, tmp_path):
    out, _ = run
    path = latest_checkpoint(out)
    state = load_checkpoint(path)
    old = tmp_path / path.name
    torch.save({**state, "format": 1}, old)  # version 1: the weights inside the .pt file
    again = load_checkpoint(old)
    assert all(torch.equal(again["model"][k], state["model"][k]) for k in state["model"])
    assert again["step"] == 3


def test_a_state_naming_other_weights_is_refused(run, tmp_path):
    out, _ = run
    path = latest_checkpoint(out)
    state = torch.load(path, weights_only=True)
    state["model_weights"] = "../elsewhere.safetensors"
    torch.save(state, tmp_path / path.name)
    (tmp_path / weights_path(path).name).write_bytes(weights_path(path).read_bytes())
    with pytest.raises(CheckpointError, match="names weights that are not its own step_00000003.safetensors"):
        load_checkpoint(tmp_path / path.name)
