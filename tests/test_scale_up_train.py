"""``python -m scale_up.train`` (the glm_mini recipe on a parallel layout) logs the same losses and gradient norms as
``python -m glm_mini.train`` with the same flags; impossible layouts and unsupported options are named."""

import json

import pytest

from glm_mini.train import TrainConfig, train
from scale_up.pipeline.launch import run_torchrun
from scale_up.train import parse

FLAGS = ["--preset", "nano", "--max-steps", "3", "--batch-size", "4", "--seq-len", "32", "--batch-rampup-steps", "0"]


@pytest.mark.slow
@pytest.mark.parametrize("nproc,layout", [(2, ["--pp", "2"]), (4, ["--pp", "2", "--tp", "2"]),
                                          (4, ["--pp", "2", "--dp", "2"])], ids=["pp2", "tp2xpp2", "dp2xpp2_zero1"])
def test_parallel_training_equals_single_process(nproc, layout, tmp_path):
    single = train(TrainConfig(preset="nano", max_steps=3, batch_size=4, seq_len=32, batch_rampup_steps=0,
                               out=str(tmp_path / "single")), progress=False)
    run_torchrun(nproc, "scale_up.train", *FLAGS, "--out", str(tmp_path / "par"), *layout, "--microbatches", "2",
                 "--no-progress", timeout=300)
    rows = [json.loads(line) for line in (tmp_path / "par" / "metrics.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in rows] == pytest.approx(single.losses, rel=1e-5)
    single_rows = [json.loads(line) for line in (tmp_path / "single" / "metrics.jsonl").read_text().splitlines()]
    for key in ("grad_norm", "grad_norm_embedding", "grad_norm_rest", "lr"):
        assert [r[key] for r in rows] == pytest.approx([r[key] for r in single_rows], rel=1e-5), key


@pytest.mark.parametrize("extra,flag", [(["--pp", "4"], "world size"), (["--tp", "0"], "tp"),
                                        (["--microbatches", "3"], "--batch-size"), (["--resume"], "--resume"),
                                        (["--batch-rampup-steps", "2", "--batch-size-start", "1"],
                                         "--batch-rampup-steps")])
def test_parse_names_impossible_layouts(extra, flag, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")
    argv = FLAGS + ["--out", str(tmp_path), "--pp", "2"] + extra
    with pytest.raises(SystemExit):
        parse(argv)
    assert flag in capsys.readouterr().err


def test_parse_accepts_a_valid_layout(monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "4")
    cfg, layout = parse(FLAGS + ["--out", str(tmp_path), "--tp", "2", "--pp", "2", "--microbatches", "2"])
    assert (layout["dp"], layout["tp"], layout["pp"]) == (1, 2, 2) and cfg.batch_size == 4
