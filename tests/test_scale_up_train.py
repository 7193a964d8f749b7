"""``python -m scale_up.train`` is glm_mini's trainer on a parallel layout: the same metrics as ``python -m
glm_mini.train`` with the same flags (batch ramp-up, validation, bf16), an exact resume on DP2×TP2 and TP2×PP2, a run
with DP, TP and PP all above 1; impossible layouts and unimplemented options are refused."""

import dataclasses
import json
import math

import pytest

import scale_up.train as parallel
from glm_mini.train import TrainConfig, train
from scale_up.pipeline.launch import run_torchrun
from scale_up.train import micro_batch_counts, parse

FLAGS = ["--preset", "nano", "--max-steps", "3", "--batch-size", "4", "--seq-len", "32", "--batch-rampup-steps", "0",
         "--device", "cpu"]
# a ramp 4 -> 6 -> 8 sequences (more micro-batches of one sequence each), validation at steps 2 and 4
RAMP = ["--preset", "nano", "--max-steps", "4", "--batch-size", "8", "--batch-size-start", "4",
        "--batch-rampup-steps", "2", "--seq-len", "32", "--eval-every", "2", "--val-batches", "2", "--device", "cpu"]
COMPARED = ("loss", "grad_norm", "grad_norm_embedding", "grad_norm_rest", "grad_norm_layer_1", "update_norm", "lr",
            "batch_size", "val_loss")


def rows(folder):
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def single_process(flags, out):
    """glm_mini.train in this process with the same training flags."""
    cfg, _ = parse(flags + ["--out", str(out)])
    train(cfg, progress=False)
    return rows(out)


def assert_same_metrics(got, expected, rel):
    assert [r["step"] for r in got] == [r["step"] for r in expected]
    for g, e in zip(got, expected):
        for key in COMPARED:
            assert (key in g) == (key in e), (g["step"], key)
            if key in e:
                assert g[key] == pytest.approx(e[key], rel=rel), (g["step"], key)


def launch(nproc, out, flags, *layout, timeout=420):
    run_torchrun(nproc, "scale_up.train", *flags, "--out", str(out), *layout, "--no-progress", timeout=timeout)


@pytest.mark.slow
def test_bf16_pipeline_training_equals_single_process(tmp_path):
    """bf16 autocast around every stage's forward, as glm_mini.train wraps its forward (ZeRO-1 and fp32 DP, TP and PP
    are compared below)."""
    flags = FLAGS + ["--precision", "bf16"]
    expected = single_process(flags, tmp_path / "single")
    launch(2, tmp_path / "par", flags, "--pp", "2", "--micro-batches", "2")
    got = rows(tmp_path / "par")
    assert_same_metrics(got, expected, 2e-2)
    assert all((r["dp"], r["tp"], r["pp"]) == (1, 1, 2) for r in got)


@pytest.mark.slow
@pytest.mark.parametrize("layout", [["--dp", "2", "--tp", "2"], ["--tp", "2", "--pp", "2"]],
                         ids=["dp2xtp2", "tp2xpp2"])
def test_resume_is_exact_and_equals_one_process(layout, tmp_path):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    launch(4, straight, RAMP, *layout)
    expected = rows(straight)
    assert [r["batch_size"] for r in expected] == [4, 6, 8, 8]  # the ramp ran: 4, 6 and 8 micro-batches
    assert_same_metrics(expected, single_process(RAMP, tmp_path / "single"), 1e-5)

    launch(4, interrupted, RAMP, *layout, "--stop-after-step", "2")
    assert [r["step"] for r in rows(interrupted)] == [1, 2]
    launch(4, interrupted, RAMP, *layout, "--resume")
    resumed = rows(interrupted)
    for got, want in zip(resumed, expected):  # bit for bit: the same floats, not just close ones
        assert {k: got[k] for k in COMPARED if k in want} == {k: want[k] for k in COMPARED if k in want}
    assert len(resumed) == len(expected)
    assert sorted(p.name for p in (interrupted / "checkpoints").iterdir() if p.name.startswith("step_")) == \
        ["step_00000002", "step_00000004"]  # --keep-checkpoints 2 (the default)


@pytest.mark.slow
def test_dp_tp_pp_all_above_one_on_eight_processes(tmp_path):
    """DP2 × TP2 × PP2: ZeRO-1 over the replicas, vocab-parallel loss, 1F1B; equal to one process."""
    flags = ["--preset", "nano", "--max-steps", "2", "--batch-size", "8", "--seq-len", "16",
             "--batch-rampup-steps", "0", "--val-batches", "1", "--device", "cpu"]
    launch(8, tmp_path / "par", flags, "--dp", "2", "--tp", "2", "--pp", "2", timeout=600)
    got = rows(tmp_path / "par")
    assert all((r["dp"], r["tp"], r["pp"]) == (2, 2, 2) for r in got)
    assert_same_metrics(got, single_process(flags, tmp_path / "single"), 1e-5)


@pytest.mark.parametrize("extra,flag", [
    (["--pp", "4"], "world size"), (["--tp", "0"], "tp"), (["--micro-batches", "3"], "--batch-size"),
    (["--micro-batches", "0"], "--micro-batches"), (["--precision", "fp16"], "--precision fp16"),
    (["--batch-rampup-steps", "2", "--batch-size-start", "1", "--dp", "2", "--pp", "1"], "step 1 of the ramp-up"),
    (["--schedule", "interleaved-1f1b", "--micro-batches", "3"], "interleaved-1f1b"),
    (["--weight-decay", "inf"], "--weight-decay"), (["--spike-factor", "nan"], "--spike-factor"),
    (["--timeout-s", "0"], "--timeout-s")])
def test_parse_names_impossible_layouts_and_options(extra, flag, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")
    argv = FLAGS + ["--out", str(tmp_path), "--pp", "2"] + extra
    with pytest.raises(SystemExit):
        parse(argv)
    assert flag in capsys.readouterr().err


def test_a_train_config_field_it_does_not_implement_is_refused(monkeypatch, capsys, tmp_path):
    """A flag glm_mini's trainer gains later reaches scale_up.train through the shared parser: refused until done."""
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setattr(parallel, "IMPLEMENTED", parallel.IMPLEMENTED - {"spike_window"})
    assert parse(FLAGS + ["--out", str(tmp_path)])  # at its default: nothing to refuse
    with pytest.raises(SystemExit):
        parse(FLAGS + ["--out", str(tmp_path), "--spike-window", "5"])
    assert "--spike-window: not implemented by scale_up.train" in capsys.readouterr().err


def test_default_flags_run_past_twenty_steps(monkeypatch, tmp_path):
    """The default ramp starts at one sequence: one micro-batch of one sequence, then more (it failed above 20)."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    cfg, layout = parse(["--preset", "nano", "--max-steps", "100", "--out", str(tmp_path), "--pp", "2"])
    assert cfg.rampup == 2 and cfg.batch_start == 1
    assert layout["counts"] == {1: 1, 4: 4, 8: 8}


def test_micro_batch_counts_follow_the_ramp():
    cfg = TrainConfig(max_steps=10, batch_size=12, batch_size_start=4, batch_rampup_steps=2, out="unused")
    layout = {"dp": 2, "pp": 2, "micro_batches": 3, "schedule": "1f1b"}
    assert micro_batch_counts(cfg, layout) == {4: 1, 8: 2, 12: 3}  # 2 sequences per micro-batch, per replica
    with pytest.raises(ValueError, match="step 1 of the ramp-up has a batch of 4"):
        micro_batch_counts(cfg, {**layout, "micro_batches": 1})  # 6 sequences per micro-batch


def test_non_finite_loss_stops_the_run_naming_the_step(tmp_path):
    """The shared step: weights gone bad (NaN, as a diverged run saves them) give a NaN loss at the next step, and
    the run stops there with an error, its row written."""
    from safetensors.torch import load_file, save_file

    from glm_mini.training.checkpoint import latest_checkpoint, weights_path
    from glm_mini.training.step import NonFiniteLoss

    cfg = TrainConfig(preset="nano", max_steps=4, batch_size=2, seq_len=32, batch_rampup_steps=0,
                      out=str(tmp_path / "run"), stop_after_step=1)
    train(cfg, progress=False)
    weights = weights_path(latest_checkpoint(cfg.out))
    state = load_file(weights)
    state["transformer.word_embeddings.weight"].fill_(float("nan"))
    save_file(state, weights)
    with pytest.raises(NonFiniteLoss, match=r"step 2: the training loss is nan") as info:
        train(dataclasses.replace(cfg, stop_after_step=None, resume=True), progress=False)
    assert info.value.step == 2 and not math.isfinite(info.value.loss)
    assert [r["step"] for r in rows(tmp_path / "run")] == [1, 2]  # its row written
