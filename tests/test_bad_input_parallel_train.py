"""Bad input to the parallel trainers, ``scale_up.train`` and the ``scale_up.pipeline`` demo: every accepted flag acts
(checkpoints, validation, ramp-up past 20 steps), impossible layouts and non-finite hyper-parameters are named before
a process group starts, a diverging run stops naming the step, and no run writes over another's files.

The runs here are in process, on a one-process gloo group (DP = TP = PP = 1): the same code path as torchrun's ranks,
without the launch; the multi-process layouts are in ``test_scale_up_train.py``."""

import json

import pytest
import torch.distributed as dist
from bad_input_cases import error, params, right, run
from hostile_files import CLIRefused, cli

from glm_mini.training.step import NonFiniteLoss
from scale_up.pipeline.__main__ import main as pipeline_main
from scale_up.pipeline.checkpoint import PipelineCheckpointError
from scale_up.train import parse, train_parallel

BASE = ["--preset", "nano", "--batch-size", "4", "--seq-len", "32", "--val-batches", "1", "--device", "cpu"]


@pytest.fixture(scope="module")
def world():
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


@pytest.fixture
def ctx(world, tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "1")
    return {"tmp": tmp_path, "out": tmp_path / "run", "monkeypatch": monkeypatch}


def parsed(*flags):
    return cli(lambda argv: (parse(argv), 0)[1], lambda ctx: [*BASE, "--max-steps", "4", "--out", ctx["out"], *flags])


def trained(*flags, steps=4):
    """scale_up.train's run in this process; returns the metrics rows."""
    def call(ctx):
        import torch

        cfg, layout = parse([*BASE, "--max-steps", str(steps), "--out", str(ctx["out"]), "--no-progress", *flags])
        train_parallel(cfg, layout, torch.device("cpu"))
        return [json.loads(line) for line in (ctx["out"] / "metrics.jsonl").read_text().splitlines()]
    return call


def then(first, second):
    def call(ctx):
        first(ctx)
        return second(ctx)
    return call


def with_world(size, call):
    def wrapped(ctx):
        ctx["monkeypatch"].setenv("WORLD_SIZE", str(size))
        return call(ctx)
    return wrapped


def foreign_metrics(ctx):
    ctx["out"].mkdir()
    (ctx["out"] / "metrics.jsonl").write_text('{"step": 1, "loss": 9.0}\n')
    try:
        return trained()(ctx)
    finally:
        assert (ctx["out"] / "metrics.jsonl").read_text() == '{"step": 1, "loss": 9.0}\n', "the user's file changed"


def diverged(ctx):
    """A run whose saved weights went NaN (as a diverged run saves them), resumed: step 2's loss is NaN. (A huge
    learning rate no longer makes one: every trainer refuses lr > 1.)"""
    import torch

    trained("--stop-after-step", "1")(ctx)
    path = next((ctx["out"] / "checkpoints").glob("step_*/rank_*.pt"))
    state = torch.load(path, weights_only=True)
    state["model"]["transformer.word_embeddings.weight"].fill_(float("nan"))
    torch.save(state, path)
    return trained("--resume")(ctx)


def pipeline(*flags):
    return cli(pipeline_main, lambda ctx: ["--out", ctx["out"], *flags])


CASES = [
    error("micro-batches-zero", parsed("--micro-batches", "0"), CLIRefused, "--micro-batches"),
    error("micro-batches-not-dividing", parsed("--micro-batches", "3"), CLIRefused, "--batch-size"),
    error("lr-nan", parsed("--lr", "nan"), CLIRefused, "--lr"),
    error("lr-inf", parsed("--lr", "inf"), CLIRefused, "--lr"),
    error("weight-decay-inf", parsed("--weight-decay", "inf"), CLIRefused, "--weight-decay"),
    error("weight-decay-nan", parsed("--weight-decay", "nan"), CLIRefused, "--weight-decay"),
    error("clip-grad-inf", parsed("--clip-grad", "inf"), CLIRefused, "--clip-grad"),
    error("spike-factor-nan", parsed("--spike-factor", "nan"), CLIRefused, "--spike-factor"),
    error("spike-factor-inf", parsed("--spike-factor", "inf"), CLIRefused, "--spike-factor"),
    error("min-lr-ratio-nan", parsed("--min-lr-ratio", "nan"), CLIRefused, "--min-lr-ratio"),
    error("timeout-nan", parsed("--timeout-s", "nan"), CLIRefused, "--timeout-s"),
    error("precision-fp16", parsed("--precision", "fp16"), CLIRefused, "--precision fp16"),
    error("pp-beyond-world", parsed("--pp", "2"), CLIRefused, "world size"),
    error("tp-not-dividing-heads", with_world(3, parsed("--tp", "3")), CLIRefused, "num_attention_heads"),
    error("pp-beyond-layers", with_world(3, parsed("--pp", "3")), CLIRefused, "--pp", "layers"),
    error("virtual-stages-without-interleaving", parsed("--virtual-stages", "2"), CLIRefused, "--virtual-stages"),
    error("ramp-not-multiple-of-dp", with_world(2, parsed("--dp", "2", "--batch-size-start", "1",
                                                          "--batch-rampup-steps", "2")),
          CLIRefused, "step 1 of the ramp-up"),
    error("existing-run-without-resume", then(trained(), trained()), FileExistsError, "--resume"),
    error("foreign-metrics-file", foreign_metrics, FileExistsError, "metrics.jsonl"),
    error("resume-without-run", trained("--resume"), FileNotFoundError, "config.json"),
    error("resume-on-another-layout", then(trained("--schedule", "gpipe", "--stop-after-step", "2"),
                                           trained("--schedule", "1f1b", "--resume")),
          PipelineCheckpointError, "layout", "gpipe"),
    error("diverged-weights-stop-the-run", diverged, NonFiniteLoss, "step 2", "nan"),
    error("pipeline-existing-run", then(lambda ctx: (ctx["out"].mkdir(), (ctx["out"] / "metrics.jsonl").write_text(
        '{"step": 1}\n')), pipeline("--max-steps", "2")), CLIRefused, "--resume"),
    error("pipeline-stop-after-beyond-steps", pipeline("--max-steps", "2", "--stop-after-step", "3"), CLIRefused,
          "--stop-after-step"),
    error("pipeline-lr-nan", pipeline("--lr", "nan"), CLIRefused, "--lr"),
    error("pipeline-save-every-negative", pipeline("--save-every", "-1"), CLIRefused, "--save-every"),
    right("max-steps-21-with-default-ramp", trained("--batch-size", "2", steps=21),
          lambda rows, ctx: len(rows) == 21 and rows[0]["batch_size"] == 1 and rows[-1]["batch_size"] == 2),
    right("save-every-and-keep-checkpoints-act", trained("--save-every", "1", "--keep-checkpoints", "2"),
          lambda rows, ctx: sorted(p.name for p in (ctx["out"] / "checkpoints").glob("step_*"))
          == ["step_00000003", "step_00000004"]),
    right("eval-every-acts", trained("--eval-every", "2"),
          lambda rows, ctx: [r["step"] for r in rows if "val_loss" in r] == [2, 4]),
    right("resume-continues-exactly", then(trained("--stop-after-step", "2"), trained("--resume")),
          lambda rows, ctx: [r["step"] for r in rows] == [1, 2, 3, 4]
          and [r["loss"] for r in rows][2:] == [r["loss"] for r in trained()({**ctx, "out": ctx["tmp"] / "twin"})][2:]),
]


@pytest.mark.parametrize("case", params(CASES))
def test_parallel_train_case(case, ctx):
    run(case, ctx)
