"""Bad input to the trainer (``python -m glm_mini.train`` and ``glm_mini.train.train``): a folder that is not the
trainer's is refused and left byte for byte, a run is never appended to without ``--resume``, a corrupt metrics line
is named (only a cut-off last line is tolerated), a moved run resumes exactly, hyper-parameters that cannot train are
refused, and a non-finite loss stops the run naming the step.

Every run here is the nano preset on the kit's corpus, 4 steps of 2 x 32 tokens with dropout on (so an exact resume
also needs torch's generator back); the template run stops after step 2 with a checkpoint, as if interrupted.
"""

import contextlib
import io
import shutil
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file, save_file
from bad_input_cases import error, params, right, run

from glm_mini.train import TrainConfig, main, train
from glm_mini.training.checkpoint import CheckpointError, latest_checkpoint, weights_path
from glm_mini.training.metrics import read_metrics

TINY = TrainConfig(preset="nano", max_steps=4, seq_len=32, batch_size=2, batch_size_start=2, val_batches=1, seed=0,
                   config_overrides={"hidden_dropout": 0.1, "attention_dropout": 0.1})


class ExitedWithError(Exception):
    """The CLI returned a non-zero status; the message is what it printed on stderr."""


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A run stopped after step 2 (checkpoint at 2, rows 1-2) and the losses of the same run done in one go."""
    root = tmp_path_factory.mktemp("train-template")
    train(replace(TINY, out=str(root / "stopped"), stop_after_step=2), progress=False)
    full = train(replace(TINY, out=str(root / "full")), progress=False)
    return {"stopped": root / "stopped", "full_losses": full.losses}


@pytest.fixture
def ctx(template, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(template["stopped"], run_dir)
    return {**template, "dir": tmp_path, "run": run_dir, "out": tmp_path / "out"}


def argv(out, *extra):
    """The CLI flags of TINY (so a resume matches the template run), into ``out``."""
    return ["--preset", "nano", "--max-steps", "4", "--seq-len", "32", "--batch-size", "2", "--batch-size-start", "2",
            "--val-batches", "1", "--set", "hidden_dropout=0.1", "--set", "attention_dropout=0.1", "--out", str(out),
            "--no-progress", *extra]


def cli(folder, *extra):
    """Run the CLI into ``ctx[folder]``; a non-zero exit becomes ``ExitedWithError`` carrying stderr."""
    def call(ctx):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                code = main(argv(ctx[folder], *extra))
            except SystemExit as exit_:
                code = exit_.code
        if code:
            raise ExitedWithError(err.getvalue())
        return code
    return call


def train_into(folder, **changes):
    return lambda ctx: train(replace(TINY, out=str(ctx[folder]), **changes), progress=False)


def users(folder, *names):
    """``keeps``: the user's files ``names`` (a name ending in / is a folder holding one file) in ``ctx[folder]``."""
    def write(ctx):
        paths = []
        for name in names:
            path = ctx[folder] / name
            if name.endswith("/"):
                path.mkdir(parents=True, exist_ok=True)
                (path / "mine.bin").write_bytes(b"the user's bytes")
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(f"the user's own {name}\n".encode())
            paths.append(path)
        return paths
    return write


def whole_run(ctx):
    return [ctx["run"]]


def edit_metrics(edit):
    """``keeps``: edit the template run's metrics.jsonl, then protect the whole run folder."""
    def write(ctx):
        path = ctx["run"] / "metrics.jsonl"
        path.write_text(edit(path.read_text()))
        return [ctx["run"]]
    return write


def then(prepare, call):
    """Edit the run (``prepare(ctx)``), then make the call."""
    def both(ctx):
        prepare(ctx)
        return call(ctx)
    return both


def edit_checkpoint(edit):
    """Edit the latest checkpoint's state, its weights (the safetensors file beside it) under ``"model"``."""
    def prepare(ctx):
        path = latest_checkpoint(ctx["run"])
        state = torch.load(path, weights_only=True)
        state["model"] = load_file(weights_path(path))
        edit(state)
        save_file(state.pop("model"), weights_path(path))
        torch.save(state, path)
    return prepare


def nan_checkpoint(ctx):
    """``keeps``: the run's checkpoint with NaN weights (as a run that diverged saves it), then its folder."""
    def nan_weights(state):
        state["model"]["transformer.word_embeddings.weight"].fill_(float("nan"))

    edit_checkpoint(nan_weights)(ctx)
    return [ctx["run"] / "checkpoints"]


def moved(ctx):
    target = ctx["dir"] / "elsewhere" / "run"
    target.parent.mkdir()
    shutil.move(ctx["run"], target)
    ctx["run"] = target


def same_losses_as_one_go(result, ctx):
    rows = read_metrics(result.out_dir)
    return [r["step"] for r in rows] == [1, 2, 3, 4] and result.losses == ctx["full_losses"]


def cut_off_last_line(ctx):
    with open(ctx["run"] / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "lo')  # a kill in the middle of writing step 3's row


def foreign_json_config(ctx):
    """``keeps``: a folder with the user's own (valid JSON) config.json and a data file."""
    out = ctx["out"]
    out.mkdir()
    (out / "config.json").write_text('{"name": "my experiment", "lr": 0.1}\n')
    (out / "data.csv").write_text("a,b\n1,2\n")
    return [out]


def metrics_file(text):
    def call(ctx):
        (ctx["dir"] / "metrics.jsonl").write_text(text)
        return read_metrics(ctx["dir"])
    return call


ROW = '{"step": %d, "loss": 5.0}\n'

CASES = [
    # a folder that is not the trainer's: refused, named, untouched
    error("out-holds-users-plots", cli("out"), ExitedWithError, "plots.png", keeps=users("out", "plots.png")),
    error("out-holds-users-metrics", train_into("out"), FileExistsError, "metrics.jsonl",
          keeps=users("out", "metrics.jsonl")),
    error("out-holds-users-checkpoints", train_into("out"), FileExistsError, "checkpoints/",
          keeps=users("out", "checkpoints/")),
    error("out-holds-users-config-json", train_into("out", resume=True), FileExistsError, "config.json",
          keeps=users("out", "config.json", "notes.txt")),
    error("out-holds-users-json-config-resume", cli("out", "--resume"), ExitedWithError, "config.json",
          "not a glm_mini.train run config", keeps=foreign_json_config),
    error("out-holds-users-json-config", train_into("out"), FileExistsError, "config.json", keeps=foreign_json_config),
    error("out-holds-users-notes", train_into("out"), FileExistsError, "notes.txt", keeps=users("out", "notes.txt")),
    error("out-is-a-file", train_into("out"), NotADirectoryError, "is a file", keeps=users("dir", "out")),
    error("out-holds-another-run", cli("run"), ExitedWithError, "--resume", keeps=whole_run),
    # resuming: only a cut-off last metrics line is tolerated; a moved run resumes
    error("resume-corrupt-first-metrics-line", train_into("run", resume=True), ValueError, "metrics.jsonl",
          "line 1", keeps=edit_metrics(lambda t: "{broken\n" + t.split("\n", 1)[1])),
    error("resume-metrics-row-without-step", train_into("run", resume=True), ValueError, "metrics.jsonl",
          "line 1", "'step'", keeps=edit_metrics(lambda t: '{"loss": 1.0}\n' + t.split("\n", 1)[1])),
    error("resume-metrics-row-not-an-object", cli("run", "--resume"), ExitedWithError, "metrics.jsonl", "line 2",
          keeps=edit_metrics(lambda t: t.split("\n", 1)[0] + "\n[1, 2]\n")),
    error("resume-metrics-missing", then(lambda ctx: (ctx["run"] / "metrics.jsonl").unlink(),
                                         train_into("run", resume=True)), FileNotFoundError, "metrics.jsonl"),
    right("resume-cut-off-last-line", then(cut_off_last_line, train_into("run", resume=True)), same_losses_as_one_go),
    right("resume-after-moving-the-run", then(moved, train_into("run", resume=True)), same_losses_as_one_go),
    # checkpoints that cannot be resumed from
    error("resume-checkpoint-without-spikes", then(edit_checkpoint(lambda s: s.pop("spikes")),
                                                   train_into("run", resume=True)), CheckpointError, "'spikes'"),
    error("resume-checkpoint-without-step", then(edit_checkpoint(lambda s: s.pop("step")),
                                                 cli("run", "--resume")), ExitedWithError, "'step'", "step_"),
    error("resume-latest-names-a-file-elsewhere", then(
        lambda ctx: (ctx["run"] / "checkpoints" / "latest").write_text("../../victim.pt\n"),
        train_into("run", resume=True)), CheckpointError, "latest", "victim.pt"),
    # hyper-parameters that cannot train
    error("cli-weight-decay-inf", cli("out", "--weight-decay", "inf"), ExitedWithError, "--weight-decay"),
    error("cli-lr-1e30", cli("out", "--lr", "1e30"), ExitedWithError, "--lr", "1e30"),
    error("cli-seed-huge", cli("out", "--seed", "99999999999999999999"), ExitedWithError, "--seed"),
    error("cli-spike-factor-nan", cli("out", "--spike-factor", "nan"), ExitedWithError, "--spike-factor"),
    error("cli-every-step-skipped", cli("out", "--skip-steps", "1-4"), ExitedWithError, "skip_steps"),
    error("config-seed-huge", train_into("out", seed=2**64), ValueError, "TrainConfig.seed"),
    error("config-seed-float", train_into("out", seed=1.5), ValueError, "TrainConfig.seed"),
    error("config-weight-decay-inf", train_into("out", weight_decay=float("inf")), ValueError,
          "TrainConfig.weight_decay"),
    error("config-lr-times-weight-decay-1", train_into("out", lr=0.01, weight_decay=100.0), ValueError,
          "TrainConfig.weight_decay", "lr x weight_decay"),
    error("config-lr-1e30", train_into("out", lr=1e30), ValueError, "TrainConfig.lr"),
    error("config-clip-grad-inf", train_into("out", clip_grad=float("inf")), ValueError, "TrainConfig.clip_grad"),
    error("config-stop-inside-skipped-range", train_into("out", stop_after_step=2, skip_steps="2-3"), ValueError,
          "TrainConfig.skip_steps", "step 2"),
    error("config-last-step-skipped", train_into("out", skip_steps="3-4"), ValueError, "TrainConfig.skip_steps"),
    # a loss that is not finite stops the run, naming the step; the checkpoints before it stay
    error("non-finite-loss-stops-the-run", cli("run", "--resume"), ExitedWithError, "step 3", "nan",
          keeps=nan_checkpoint),
    # reading metrics
    error("read-metrics-bad-middle-line", metrics_file(ROW % 1 + "{oops\n" + ROW % 3), ValueError,
          "metrics.jsonl", "line 2"),
    error("read-metrics-bad-complete-last-line", metrics_file(ROW % 1 + "garbage\n"), ValueError, "line 2"),
    right("read-metrics-cut-off-last-line", metrics_file(ROW % 1 + ROW % 2 + '{"step": 3'),
          lambda rows, ctx: [r["step"] for r in rows] == [1, 2]),
]


@pytest.mark.parametrize("case", params(CASES))
def test_train_case(case, ctx):
    run(case, ctx)


def test_why_lr_times_weight_decay_must_stay_below_1():
    """The refusal's reason, measured: with zero gradients one AdamW step multiplies every decayed weight by exactly
    1 - lr x weight_decay, so at lr x weight_decay = 1 the weights are zeroed and above 1 their sign flips."""
    from glm_mini.training.optimizer import build_adamw

    for lr, weight_decay in ((0.01, 50.0), (0.01, 100.0), (0.02, 100.0)):
        layer = torch.nn.Linear(4, 4, bias=False)
        before = layer.weight.detach().clone()
        optimizer = build_adamw(layer, lr, weight_decay)
        layer.weight.grad = torch.zeros_like(layer.weight)
        optimizer.step()
        assert torch.allclose(layer.weight, before * (1 - lr * weight_decay), atol=1e-7)
