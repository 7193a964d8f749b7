"""apply_tensor_parallel, the parallel loss and the check CLI: one-process behaviour and bad inputs (no process
group needed)."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from glm_mini import GLM, PRESETS
from scale_up import apply_tensor_parallel, vocab_parallel_cross_entropy
from scale_up.tensor_parallel import tensor_parallel_plan
from scale_up.tensor_parallel.check import launch_check, main


def test_plan_is_keyed_by_module_name_and_follows_deleted_layers():
    model = GLM(PRESETS["nano"])
    plan = tensor_parallel_plan(model)
    assert plan["transformer.layers.1.attention.query_key_value"] == "column"
    assert plan["transformer.layers.1.mlp.dense_4h_to_h"] == "row"
    assert plan["transformer.word_embeddings"] == "vocab" and plan["transformer.output_head"] == "vocab_head"
    del model.transformer.layers["0"]  # a pipeline stage: names unchanged, fewer of them
    assert not any(name.startswith("transformer.layers.0.") for name in tensor_parallel_plan(model))
    assert len(plan) == 2 + 4 * 2


def test_tp1_without_a_process_group_changes_nothing():
    model = GLM(PRESETS["nano"])
    ids = torch.randint(0, 1024, (2, 8))
    expected = model(ids).logits
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    apply_tensor_parallel(model)
    assert torch.equal(model(ids).logits, expected)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in sd.items())
    loss = vocab_parallel_cross_entropy(expected, ids)  # one rank holds the whole vocabulary
    assert torch.allclose(loss, F.cross_entropy(expected.flatten(0, 1), ids.flatten(), reduction="none").view(2, 8))


def test_meta_model_is_sharded_without_memory():
    with torch.device("meta"):
        model = GLM(PRESETS["nano"])
    apply_tensor_parallel(model)
    assert model.transformer.word_embeddings.weight.is_meta


def test_bad_inputs(tmp_path, capsys):
    with pytest.raises(TypeError, match="model: expected a glm_mini.GLM"):
        apply_tensor_parallel(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="group: expected a torch.distributed ProcessGroup"):
        apply_tensor_parallel(GLM(PRESETS["nano"]), group="tp")
    model = apply_tensor_parallel(GLM(PRESETS["nano"]))
    with pytest.raises(ValueError, match="model: apply_tensor_parallel was already applied"):
        apply_tensor_parallel(model)
    with pytest.raises(ValueError, match=r"targets: expected shape \(2, 3\)"):
        vocab_parallel_cross_entropy(torch.zeros(2, 3, 10), torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="tp: expected a positive int"):
        launch_check(0, tmp_path)
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--batch-size", "0"])
    assert "--batch-size: expected a positive int, got 0" in capsys.readouterr().err


def test_check_cli_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert all(flag in out for flag in ("--out", "--preset", "--batch-size", "--seq-len", "--seed", "--timeout-s"))
