"""Bad input to ``scale_up.convert``: nothing outside the output folder is written or removed, the input is never
overwritten, a crafted shard runs nothing, a checkpoint with a missing weight or a wrong head count is refused."""

import json
import os
import shutil
import stat

import pytest
import torch
from bad_input_cases import error, params, right, run
from convert_fixtures import ITERATION, SMALL, make_checkpoint, official_state, read_shards, write_official
from hostile_files import CLIRefused, cli, crafted_pickle, refused_safely

from scale_up.convert import MARKER, ConversionError, convert, main

HEADS = SMALL.num_attention_heads


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("convert-template")
    make_checkpoint(root / "tp2", tp=2)
    return root


@pytest.fixture
def ctx(template, tmp_path):
    src = tmp_path / "src"
    shutil.copytree(template / "tp2", src)
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file")
    return {"src": src, "tmp": tmp_path, "victim": victim, "marker": tmp_path / "code_ran"}


def converted(ctx, out="out", **kw):
    return convert(ctx["src"], ctx["tmp"] / out, kw.pop("target_tp", 2), num_attention_heads=kw.pop("heads", HEADS),
                   **kw)


def with_marker(files):
    """A previous conversion in ctx['tmp']/out whose marker lists ``files`` (then convert into it again)."""
    def call(ctx):
        out = ctx["tmp"] / "out"
        out.mkdir()
        (out / MARKER).write_text(json.dumps({"files": files(ctx)}))
        return converted(ctx)
    return call


def victim_intact(call):
    def wrapped(ctx):
        try:
            return call(ctx)
        finally:
            assert ctx["victim"].read_text() == "the user's file", "a file outside the output folder was touched"
    return wrapped


def set_latest(text):
    def call(ctx):
        (ctx["src"] / "latest").write_text(text(ctx) if callable(text) else text)
        return converted(ctx)
    return call


def edit_shards(change):
    def call(ctx):
        shards = read_shards(ctx["src"])
        shutil.rmtree(ctx["src"])
        write_official(ctx["src"], [change(dict(s)) for s in shards])
        return converted(ctx)
    return call


def without(*suffixes):
    return edit_shards(lambda s: {k: v for k, v in s.items() if not k.endswith(suffixes)})


def symlink_escape(ctx):
    """A marker listing out/link/victim.txt, where out/link points outside out/."""
    out = ctx["tmp"] / "out"
    out.mkdir()
    (out / "link").symlink_to(ctx["tmp"], target_is_directory=True)
    (out / MARKER).write_text(json.dumps({"files": ["link/victim.txt"]}))
    return converted(ctx)


def crafted_shard(ctx):
    crafted_pickle(ctx["src"] / ITERATION / "mp_rank_01_model_states.pt", ctx["marker"])
    return refused_safely(lambda: converted(ctx), ctx["marker"])


def crafted_single_file(ctx):
    path = ctx["tmp"] / "model.pt"
    crafted_pickle(path, ctx["marker"], wrap=lambda payload: {"transformer.word_embeddings.weight": payload})
    return refused_safely(lambda: convert(path, ctx["tmp"] / "out", 1, num_attention_heads=HEADS), ctx["marker"])


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def readable_like_ordinary_files(out, ctx):
    umask = os.umask(0)
    os.umask(umask)
    files = [p for p in out.rglob("*") if p.is_file()]
    folders = [out] + [p for p in out.rglob("*") if p.is_dir()]
    return files and all(mode(p) == 0o666 & ~umask for p in files) and all(mode(p) == 0o777 & ~umask
                                                                            for p in folders)


def reconvert_beside_user_file(ctx):
    out = converted(ctx, target_tp=1)
    (out / "notes.txt").write_text("mine")
    return converted(ctx, target_tp=2)


CASES = [
    error("marker-lists-parent-file", victim_intact(with_marker(lambda ctx: ["../victim.txt"])), ConversionError,
          MARKER, "../victim.txt", "nothing was removed"),
    error("marker-lists-absolute-path", victim_intact(with_marker(lambda ctx: [str(ctx["victim"])])),
          ConversionError, "victim.txt", "not a file inside"),
    error("marker-lists-symlink-escape", victim_intact(symlink_escape), ConversionError, "link/victim.txt"),
    error("marker-not-json", lambda ctx: (ctx["tmp"].joinpath("out").mkdir(),
                                          ctx["tmp"].joinpath("out", MARKER).write_text("{"), converted(ctx)),
          ConversionError, MARKER, "not a conversion marker"),
    error("latest-names-parent", victim_intact(set_latest("../x")), ConversionError, "latest", "'../x'"),
    error("latest-absolute", victim_intact(set_latest(lambda ctx: str(ctx["tmp"]))), ConversionError, "latest",
          "absolute"),
    error("latest-empty", set_latest(""), ConversionError, "latest"),
    error("output-is-input", lambda ctx: convert(ctx["src"], ctx["src"], 2, 4, num_attention_heads=HEADS),
          ConversionError, "--output-folder", "--input-folder"),
    error("output-inside-input", lambda ctx: convert(ctx["src"], ctx["src"] / "int4", 2, 4, num_attention_heads=HEADS),
          ConversionError, "--output-folder", "inside"),
    error("input-inside-output", lambda ctx: convert(ctx["src"], ctx["tmp"], 2, num_attention_heads=HEADS),
          ConversionError, "--output-folder"),
    error("layer-weight-missing", without("layers.1.mlp.dense_4h_to_h.weight"), ConversionError, "layer 1",
          "mlp.dense_4h_to_h.weight"),
    error("whole-layer-missing", without(*(f"layers.0.{n}" for n in (
        "input_layernorm.weight", "input_layernorm.bias", "attention.query_key_value.weight",
        "attention.query_key_value.bias", "attention.dense.weight", "attention.dense.bias",
        "post_attention_layernorm.weight", "post_attention_layernorm.bias", "mlp.dense_h_to_4h.weight",
        "mlp.dense_h_to_4h.bias", "mlp.dense_4h_to_h.weight", "mlp.dense_4h_to_h.bias",
        "attention.rotary_emb.inv_freq"))), ConversionError, "layers 0..N-1"),
    error("embedding-missing", without("word_embeddings.weight"), ConversionError, "word_embeddings"),
    error("unknown-key", edit_shards(lambda s: {**s, "transformer.layers.0.lora.weight": torch.zeros(2)}),
          ConversionError, "transformer.layers.0.lora.weight"),
    error("zero-heads", lambda ctx: converted(ctx, heads=0), ConversionError, "--num-attention-heads",
          "positive int"),
    error("heads-wrong-but-divisible", lambda ctx: converted(ctx, heads=2), ConversionError, "--num-attention-heads",
          "inv_freq"),
    error("crafted-shard", crafted_shard, ConversionError, "mp_rank_01", "could run code"),
    error("crafted-single-file", crafted_single_file, ConversionError, "model.pt", "could run code"),
    error("cli-zero-heads", cli(main, lambda ctx: ["--input-folder", ctx["src"], "--output-folder", ctx["tmp"] / "o",
                                                   "--target-tp", 2, "--num-attention-heads", 0]),
          CLIRefused, "--num-attention-heads"),
    error("cli-output-is-input", cli(main, lambda ctx: ["--input-folder", ctx["src"], "--output-folder", ctx["src"],
                                                        "--target-tp", 2, "--quantization-bit-width", 4,
                                                        "--num-attention-heads", HEADS]),
          CLIRefused, "--output-folder"),
    right("files-and-folders-readable-like-ordinary-ones", lambda ctx: converted(ctx),
          readable_like_ordinary_files),
    right("reconversion-keeps-the-users-file", reconvert_beside_user_file,
          lambda out, ctx: (out / "notes.txt").read_text() == "mine" and len(read_shards(out)) == 2),
    right("input-untouched-by-a-refused-in-place-int4", lambda ctx: (
        pytest.raises(ConversionError, convert, ctx["src"], ctx["src"], 2, 4, num_attention_heads=HEADS),
        read_shards(ctx["src"]))[1],
          lambda shards, ctx: all(t.dtype == torch.float16 for s in shards for t in s.values())),
    right("kit-file-heads-unchecked-without-inv-freq", lambda ctx: (
        torch.save({k: v for k, v in official_state().items() if not k.endswith("inv_freq")}, ctx["tmp"] / "k.pt"),
        convert(ctx["tmp"] / "k.pt", ctx["tmp"] / "out", 2, num_attention_heads=HEADS))[1],
          lambda out, ctx: read_shards(out)[0]["transformer.word_embeddings.weight"].shape[0]
          == SMALL.vocab_size // 2),
]


@pytest.mark.parametrize("case", params(CASES))
def test_convert_case(case, ctx):
    run(case, ctx)
