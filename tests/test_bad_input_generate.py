"""Bad input to ``scale_up.generate``: a crafted checkpoint runs nothing (the README's own command loads downloaded
files), a ``latest`` cannot point outside its folder, NCCL on the CPU and other impossible flags are named before any
process group starts."""

import pytest
import torch
from bad_input_cases import error, params, right, run
from convert_fixtures import ITERATION, make_checkpoint
from hostile_files import CLIRefused, cli, crafted_pickle, refused_safely

from glm_mini import GLM, PRESETS
from scale_up.generate import greedy_continuation, is_kit_checkpoint, main
from scale_up.safe_load import UnreadableTensorFile
from scale_up.sharded_checkpoint import SHARD, save_sharded_checkpoint

NANO = PRESETS["nano"]


@pytest.fixture
def ctx(tmp_path):
    return {"tmp": tmp_path, "marker": tmp_path / "code_ran"}


def generate(*flags):
    return cli(main, lambda ctx: ["--prompt-ids", "5,17,42", *[f(ctx) if callable(f) else f for f in flags]])


def crafted_official(ctx):
    """An official-layout folder whose shard 0 is a crafted pickle: the file the README tells users to download."""
    folder = ctx["tmp"] / "download"
    make_checkpoint(folder, tp=1)
    crafted_pickle(folder / ITERATION / SHARD.format(0), ctx["marker"])
    return folder


def crafted_kit(ctx):
    folder = ctx["tmp"] / "kit"
    save_sharded_checkpoint(folder, 0, GLM(NANO))
    crafted_pickle(folder / "0" / SHARD.format(0), ctx["marker"], wrap=lambda p: {"module": {}, "rng": p})
    return folder


def latest_outside(ctx):
    folder = ctx["tmp"] / "download"
    make_checkpoint(folder, tp=1)
    (folder / "latest").write_text("../elsewhere")
    return folder


def safely(call):
    return lambda ctx: refused_safely(lambda: call(ctx), ctx["marker"])


CASES = [
    error("crafted-official-shard", safely(generate("--checkpoint", crafted_official)), CLIRefused, "--checkpoint",
          SHARD.format(0), "could run code"),
    error("crafted-kit-shard", safely(generate("--checkpoint", crafted_kit)), CLIRefused, "could run code"),
    error("is-kit-checkpoint-crafted", safely(lambda ctx: is_kit_checkpoint(crafted_official(ctx))),
          UnreadableTensorFile, SHARD.format(0)),
    error("latest-outside-folder", generate("--checkpoint", latest_outside), CLIRefused, "latest", "../elsewhere"),
    error("checkpoint-missing", generate("--checkpoint", lambda ctx: ctx["tmp"] / "nothing"), CLIRefused,
          "--checkpoint: no such folder"),
    error("checkpoint-without-latest", generate("--checkpoint", lambda ctx: ctx["tmp"]), CLIRefused, "latest"),
    error("nccl-on-cpu", generate("--device", "cpu", "--backend", "nccl"), CLIRefused, "--backend nccl", "CUDA"),
    error("timeout-zero", generate("--timeout-s", "0"), CLIRefused, "--timeout-s"),
    error("timeout-inf", generate("--timeout-s", "inf"), CLIRefused, "--timeout-s"),
    error("zero-heads-override", generate("--num-attention-heads", "0"), CLIRefused, "num_attention_heads"),
    error("heads-not-dividing-hidden", generate("--num-attention-heads", "3"), CLIRefused, "num_attention_heads"),
    error("negative-new-tokens", generate("--max-new-tokens", "-1"), CLIRefused, "--max-new-tokens"),
    error("id-beyond-vocab", cli(main, lambda ctx: ["--prompt-ids", "1,5000"]), CLIRefused, "--prompt-ids"),
    error("special-ids-short", generate("--mode", "fill-blanks", "--special-ids", "1,2"), CLIRefused,
          "--special-ids"),
    error("empty-prompt", lambda ctx: greedy_continuation(GLM(NANO), [], 3), ValueError, "prompt"),
    error("new-tokens-bool", lambda ctx: greedy_continuation(GLM(NANO), [1], True), ValueError, "max_new_tokens"),
    *([] if torch.cuda.is_available() else [
        error("cuda-without-gpu", generate("--device", "cuda"), CLIRefused, "cuda")]),
    right("kit-checkpoint-recognised-by-keys", lambda ctx: (save_sharded_checkpoint(ctx["tmp"] / "k", 0, GLM(NANO)),
                                                           is_kit_checkpoint(ctx["tmp"] / "k"))[1],
          lambda kit, ctx: kit is True),
    right("official-checkpoint-recognised", lambda ctx: (make_checkpoint(ctx["tmp"] / "o", tp=1),
                                                         is_kit_checkpoint(ctx["tmp"] / "o"))[1],
          lambda kit, ctx: kit is False),
    right("zero-new-tokens", lambda ctx: greedy_continuation(GLM(NANO).eval(), [5, 17], 0),
          lambda out, ctx: out == []),
    right("greedy-equals-argmax-of-full-forward", lambda ctx: (torch.manual_seed(1), GLM(NANO).eval())[1],
          lambda model, ctx: greedy_continuation(model, [5, 17, 42], 1)
          == [int(model(torch.tensor([[5, 17, 42]]), attention_mask=torch.ones(1, 1, 3, 3, dtype=torch.bool))
                  .logits[0, -1].argmax())]),
]


@pytest.mark.parametrize("case", params(CASES))
def test_generate_case(case, ctx):
    run(case, ctx)
