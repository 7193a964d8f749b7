"""The trainer end to end on the nano preset: exact resume (stop/resume and kill -9/resume), metrics and outputs,
the recipe's switches (bf16, skip ranges, spikes, batch ramp), and clear errors for bad input."""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from glm_mini.train import TrainConfig, build_parser, load_model, main, train
from glm_mini.training.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint
from glm_mini.training.metrics import read_metrics

REPO_ROOT = Path(__file__).resolve().parents[1]
# dropout on, so resuming must restore torch's generator too; a batch ramp, so the data position matters
DROPOUT = {"hidden_dropout": 0.1, "attention_dropout": 0.1}


def small(out, **changes) -> TrainConfig:
    base = TrainConfig(preset="nano", max_steps=12, out=str(out), seq_len=64, batch_size=4, batch_size_start=2,
                       batch_rampup_steps=4, eval_every=4, val_batches=1, seed=0, config_overrides=DROPOUT)
    return replace(base, **changes)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted 12-step run."""
    out = tmp_path_factory.mktemp("reference")
    result = train(small(out), progress=False)
    return out, result


def test_uninterrupted_run_writes_everything(reference):
    out, result = reference
    rows = read_metrics(out)
    assert [r["step"] for r in rows] == list(range(1, 13)) and result.steps_done == 12
    assert [r["batch_size"] for r in rows[:5]] == [2, 2, 3, 3, 4]  # the ramp: 2 -> 4 over 4 steps
    assert [r["step"] for r in rows if "val_loss" in r] == [4, 8, 12]
    for key in ("loss", "lr", "grad_norm", "grad_norm_embedding", "grad_norm_rest", "grad_norm_layer_0",
                "grad_norm_layer_1", "grad_norm_final_layernorm", "tokens", "seconds", "egs_alpha"):
        assert key in rows[0], key
    assert rows[-1]["lr"] == pytest.approx(0.1 * 1e-3)  # cosine ends at 10% of the peak
    assert result.final_val_loss == rows[-1]["val_loss"] and result.losses == [r["loss"] for r in rows]
    assert sum(r["loss"] for r in rows[-3:]) < sum(r["loss"] for r in rows[:3])  # it learns
    assert json.loads((out / "config.json").read_text())["preset"] == "nano"
    assert (out / "plots.png").stat().st_size > 0
    assert latest_checkpoint(out).name == "step_00000012.pt"


def test_stop_then_resume_is_exact(reference, tmp_path):
    _, full = reference
    first = train(small(tmp_path, stop_after_step=5), progress=False)
    assert first.steps_done == 5 and len(first.losses) == 5
    resumed = train(small(tmp_path, resume=True), progress=False)
    assert resumed.steps_done == 12
    assert resumed.losses == full.losses  # bit for bit
    assert resumed.final_val_loss == full.final_val_loss


def test_resume_of_a_finished_run_trains_nothing(reference):
    out, full = reference
    again = train(small(out, resume=True), progress=False)
    assert again.steps_done == 12 and again.losses == full.losses and again.tokens_per_second == 0.0


def test_kill_9_after_a_checkpoint_then_resume_is_exact(reference, tmp_path):
    _, full = reference  # the same run; only when it saves and evaluates differs, which changes no loss
    cfg = small(tmp_path / "run", save_every=3, eval_every=0)
    cmd = [sys.executable, "-m", "glm_mini.train", "--preset", "nano", "--max-steps", "12", "--out", cfg.out,
           "--seq-len", "64", "--batch-size", "4", "--batch-size-start", "2", "--batch-rampup-steps", "4",
           "--eval-every", "0", "--save-every", "3", "--val-batches", "1", "--set", "hidden_dropout=0.1",
           "--set", "attention_dropout=0.1", "--no-progress"]
    # the same thread count as this process, so both sum in the same order and the losses can match bit for bit
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pointer = Path(cfg.out) / "checkpoints" / "latest"
    deadline = time.monotonic() + 120
    while not pointer.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, f"the run ended before it could be killed: {err.decode()[-2000:]}"
    killed_at = load_checkpoint(latest_checkpoint(cfg.out))["step"]
    assert killed_at < 12
    resumed = train(replace(cfg, resume=True), progress=False)
    assert resumed.losses == full.losses


def test_bf16_skip_ranges_and_spike_skipping(tmp_path):
    bf16 = train(small(tmp_path / "bf16", max_steps=3, precision="bf16"), progress=False)
    assert all(torch.isfinite(torch.tensor(bf16.losses)))
    skipping = train(small(tmp_path / "skip", max_steps=6, skip_steps="2-3", eval_every=0), progress=False)
    assert [r["step"] for r in read_metrics(tmp_path / "skip")] == [1, 4, 5, 6] and skipping.steps_done == 6
    train(small(tmp_path / "spike", max_steps=6, spike_factor=1.0001, spike_window=1, spike_action="skip"),
          progress=False)
    rows = read_metrics(tmp_path / "spike")
    assert any(r["spike"] for r in rows)
    assert all(r["skipped"] == r["spike"] for r in rows)


def test_load_model_gives_the_checkpointed_weights(reference):
    out, _ = reference
    model = load_model(out)
    assert not model.training
    state = load_checkpoint(latest_checkpoint(out))["model"]
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, state[name]), name


# --- bad input ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("changes, name", [
    ({"preset": "huge"}, "preset"), ({"max_steps": 0}, "max_steps"), ({"precision": "fp8"}, "precision"),
    ({"stop_after_step": 13}, "stop_after_step"), ({"seq_len": 4096}, "seq_len"), ({"lr": -1.0}, "lr"),
    ({"batch_size_start": 9}, "batch_size_start"), ({"skip_steps": "9-2"}, "skip_steps"),
    ({"spike_action": "panic"}, "spike_action"), ({"config_overrides": {"num_layer": 3}}, "num_layer"),
    ({"warmup_steps": 20}, "warmup_steps"), ({"save_every": -1}, "save_every"), ({"egs_ramp": (5, 2)}, "egs"),
])
def test_bad_config_values_name_the_field(tmp_path, changes, name):
    with pytest.raises(ValueError, match=name):
        small(tmp_path, **changes)


def test_fp16_needs_cuda_and_mip_needs_the_default_corpus(tmp_path):
    with pytest.raises(ValueError, match="fp16"):
        train(small(tmp_path / "a", precision="fp16", device="cpu"), progress=False)
    text = tmp_path / "corpus.txt"
    text.write_text("one line of text\nanother line\n" * 20)
    with pytest.raises(ValueError, match="mip"):
        train(small(tmp_path / "b", corpus=str(text), mip=True), progress=False)
    one_line = tmp_path / "one.txt"
    one_line.write_text("a single document\n")
    with pytest.raises(ValueError, match="one.txt.*at least 2 documents"):
        train(small(tmp_path / "c", corpus=str(one_line)), progress=False)


def test_user_corpus_trains(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("".join(f"line {i} of a small user corpus, with some words.\n" for i in range(300)))
    result = train(small(tmp_path / "run", corpus=str(text), max_steps=2), progress=False)
    assert result.steps_done == 2 and result.final_val_loss is not None


def test_out_dir_and_checkpoint_errors(reference, tmp_path):
    out, _ = reference
    with pytest.raises(FileExistsError, match=str(out)):
        train(small(out), progress=False)  # another run is there and --resume was not given
    with pytest.raises(FileNotFoundError, match="resume"):
        train(small(tmp_path / "empty", resume=True), progress=False)
    with pytest.raises(ValueError, match="lr"):
        train(small(out, resume=True, lr=5e-4), progress=False)  # config does not match the run
    broken = tmp_path / "broken"
    train(small(broken, max_steps=2), progress=False)
    latest = latest_checkpoint(broken)
    latest.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=latest.name):
        train(small(broken, max_steps=2, resume=True), progress=False)
    saved = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**saved, "lr": 5e-4}))  # edited by hand to fit a new --lr
    train(small(tmp_path / "other", max_steps=2), progress=False)
    latest.write_bytes(latest_checkpoint(tmp_path / "other").read_bytes())
    with pytest.raises(ValueError, match="checkpoint .*lr"):  # the checkpoint still knows the run's lr
        train(small(broken, max_steps=2, lr=5e-4, resume=True), progress=False)
    with pytest.raises(FileNotFoundError, match="out_dir"):
        load_model(tmp_path / "nothing")
    other = json.loads((tmp_path / "other" / "config.json").read_text())
    other["model"]["hidden_size"] = 32  # as if the preset had been re-sized since this run was trained
    (tmp_path / "other" / "config.json").write_text(json.dumps(other))
    with pytest.raises(ValueError, match="model: run has"):
        train(small(tmp_path / "other", max_steps=2, resume=True), progress=False)


def test_cli(tmp_path, capsys):
    parser = build_parser()
    undocumented = [a.dest for a in parser._actions if not a.help]
    assert not undocumented
    assert main(["--preset", "nano", "--max-steps", "2", "--out", str(tmp_path / "cli"), "--seq-len", "64",
                 "--batch-size", "2", "--val-batches", "1", "--no-progress"]) == 0
    assert "step 2" in capsys.readouterr().out
    assert main(["--preset", "nano", "--max-steps", "2", "--out", str(tmp_path / "cli"), "--no-progress"]) == 2
    assert "--resume" in capsys.readouterr().err
    for flags, name in ((["--max-steps", "0"], "--max-steps"), (["--max-steps", "2", "--lr", "nan"], "--lr"),
                        (["--max-steps", "2", "--precision", "fp8"], "--precision"),
                        (["--max-steps", "2", "--set", "num_layers"], "--set")):
        with pytest.raises(SystemExit):
            main(["--out", str(tmp_path / "x"), *flags])
        assert name in capsys.readouterr().err


def test_load_model_names_a_config_without_the_model_entry(tmp_path):
    from glm_mini.train import load_model

    (tmp_path / "config.json").write_text('{"preset": "mini"}')
    with pytest.raises(ValueError, match=r"config.json: expected a training run's config with a 'model' entry"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="JSONDecodeError"):
        load_model(tmp_path)


def test_read_run_config_gives_back_the_runs_config(reference, tmp_path):
    from glm_mini.train import read_run_config

    out, _ = reference
    cfg = read_run_config(out)
    assert replace(cfg, resume=False) == small(out)  # an earlier test may have resumed this run
    with pytest.raises(FileNotFoundError, match="holds no training run"):
        read_run_config(tmp_path)
    (tmp_path / "config.json").write_text('{"no_such_field": 1}')
    with pytest.raises(ValueError, match="config.json: expected a training run's config"):
        read_run_config(tmp_path)


def test_a_run_saved_before_a_new_field_resumes_at_its_default(tmp_path):
    """A run whose config.json predates a TrainConfig/GLMConfig field resumes when the field is at its default (the
    behaviour the run trained with) and is refused, naming the field, when it is set otherwise."""
    out = tmp_path / "old"
    train(small(out, max_steps=2), progress=False)
    saved = json.loads((out / "config.json").read_text())
    del saved["text_column"], saved["model"]["deepnorm_scale_init"]  # as written before these fields existed
    (out / "config.json").write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="deepnorm_scale_init"):
        train(small(out, max_steps=2, resume=True, config_overrides={**DROPOUT, "deepnorm_scale_init": False}),
              progress=False)
    assert train(small(out, max_steps=2, resume=True), progress=False).steps_done == 2
