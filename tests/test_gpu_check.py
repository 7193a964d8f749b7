"""scale_up.gpu_check: every CUDA path against its reference where a GPU is present; without one it stops with a
clear message, and its checks are rehearsed on the CPU (the same code, gloo and the CPU kernels) so the script
itself is tested here."""

import pytest
import torch

from scale_up.gpu_check import format_table, main, require_cuda, run_checks

NO_CUDA = "no CUDA device here (torch.cuda.is_available() is False): the GPU paths cannot run"


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_every_cuda_path_passes_on_the_gpus(capsys):
    assert main([]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    for check in ("int8 kernel (aten)", "int4 kernel (aten)", "float16 forward vs fp32", "(nccl) vs one process",
                  "training: 2 steps", "generate: official FP16", "int4 generation, glm-130b width"):
        assert check in out, check


@pytest.mark.skipif(not torch.cuda.is_available(), reason=NO_CUDA)
def test_scale_up_train_runs_on_cuda(tmp_path):
    """The trainer's GPU path: one rank on cuda:0 with NCCL, bf16, two steps, equal to glm_mini.train on the GPU."""
    import json

    from glm_mini.train import TrainConfig, train
    from scale_up.pipeline.launch import run_torchrun

    flags = ["--preset", "nano", "--max-steps", "2", "--batch-size", "4", "--seq-len", "32", "--batch-rampup-steps",
             "0", "--device", "cuda", "--precision", "bf16"]
    run_torchrun(1, "scale_up.train", *flags, "--out", str(tmp_path / "par"), "--no-progress", timeout=300)
    single = train(TrainConfig(preset="nano", max_steps=2, batch_size=4, seq_len=32, batch_rampup_steps=0,
                               device="cuda", precision="bf16", out=str(tmp_path / "single")), progress=False)
    rows = [json.loads(line) for line in (tmp_path / "par" / "metrics.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in rows] == pytest.approx(single.losses, rel=2e-2)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present: the check runs for real above")
def test_without_cuda_it_stops_with_a_clear_message(capsys):
    assert main([]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="torch.cuda.is_available\\(\\) is False"):
        require_cuda()


@pytest.mark.slow
def test_every_check_runs_in_a_cpu_rehearsal():
    rows = run_checks(torch.device("cpu"), nproc=2)
    table = format_table(rows, "cpu")
    print(table)
    assert [r.passed for r in rows if r.passed is not None] == [True] * 6, table
    names = {r.check.split(" ")[0].rstrip(":") for r in rows}
    assert names >= {"int8", "int4", "bfloat16", "tensor", "training", "generate"}


def test_a_failing_check_is_a_fail_row_not_a_crash():
    from scale_up.gpu_check import _guarded

    def broken(device):
        raise ValueError("backend 'aten' is unavailable for this layer")

    (row,) = _guarded("quantized kernels", broken, torch.device("cpu"))
    assert row.passed is False and "ValueError: backend 'aten' is unavailable" in row.measured
    assert "| quantized kernels | FAIL |" in format_table([row], "cpu")
