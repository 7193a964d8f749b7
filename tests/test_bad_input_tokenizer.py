"""Bad input to GLMTokenizer and default_tokenizer: named before sentencepiece sees it; edge inputs give right ids."""

import numpy as np
import pytest
import torch
from bad_input_cases import error, mode, params, right, run, umask
from corpus_fixtures import small_tokenizer

from glm_mini.data.corpus_tokenizer import default_tokenizer
from glm_mini.tokenizer import GLMTokenizer

TEXTS = ["a small training text about cats and dogs.", "小猫和小狗的一段中文。"] * 20


@pytest.fixture
def ctx(tmp_path):
    tok = small_tokenizer()
    folder = tmp_path
    (folder / "empty.model").write_bytes(b"")
    (folder / "garbage.model").write_bytes(b"this is not a protobuf at all")
    (folder / "half.model").write_bytes(tok.model_proto[: len(tok.model_proto) // 2])
    (folder / "a-folder.model").mkdir()
    (folder / "notes.txt").write_text("my notes")
    return {"tok": tok, "dir": folder}


def tok_call(method, *args, **kwargs):
    return lambda ctx: getattr(ctx["tok"], method)(*args, **kwargs)


def saved_under_umask(ctx):
    """Save under umask 027: the model file gets 0640, as open() would give it (not mkstemp's 0600)."""
    with umask(0o027):
        ctx["tok"].save(ctx["dir"] / "shared.model")
    return mode(ctx["dir"] / "shared.model")


def from_file(name):
    return lambda ctx: GLMTokenizer.from_file(ctx["dir"] / name)


CASES = [
    error("encode-none", tok_call("encode", None), TypeError, "text", "NoneType"),
    error("encode-bytes", tok_call("encode", b"bytes"), TypeError, "text", "bytes"),
    error("encode-int", tok_call("encode", 123), TypeError, "text"),
    error("encode-list", tok_call("encode", ["a", "b"]), TypeError, "text", "encode_batch"),
    error("encode-lone-surrogate", tok_call("encode", "a\ud800b"), ValueError, "text", "U+D800", "index 1"),
    error("batch-lone-surrogate", tok_call("encode_batch", ["ok", "x\udfffy"]), ValueError, "texts[1]", "U+DFFF"),
    error("batch-given-one-string", tok_call("encode_batch", "one string"), TypeError, "texts", "encode()"),
    error("batch-with-none", tok_call("encode_batch", ["ok", None]), TypeError, "texts[1]"),
    error("parse-special-no", tok_call("encode", "x", parse_special="no"), TypeError, "parse_special"),
    error("decode-float-id", tok_call("decode", [1.7]), TypeError, "ids[0]", "float"),
    error("decode-bool-id", tok_call("decode", [5, True]), TypeError, "ids[1]", "bool"),
    error("decode-negative", tok_call("decode", [-1]), ValueError, "ids[0]", "-1"),
    error("decode-beyond-vocab", tok_call("decode", [2048]), ValueError, "ids[0]", "[0, 2048)"),
    error("decode-nested", tok_call("decode", [[1, 2]]), TypeError, "ids[0]", "decode_batch"),
    error("decode-float-tensor", tok_call("decode", torch.tensor([1.0, 2.0])), TypeError, "ids[0]", "float"),
    error("decode-string", tok_call("decode", "hello"), TypeError, "ids"),
    error("skip-special-yes", tok_call("decode", [1], skip_special_tokens="yes"), TypeError, "skip_special_tokens"),
    error("token-unknown", tok_call("token_to_id", "no-such-piece"), ValueError, "no-such-piece", "not in the vocab"),
    error("token-int", tok_call("token_to_id", 5), TypeError, "token"),
    error("id-to-token-negative", tok_call("id_to_token", -1), ValueError, "id", "-1"),
    error("id-to-token-float", tok_call("id_to_token", 1.0), TypeError, "id"),
    error("proto-empty", lambda ctx: GLMTokenizer(b""), ValueError, "model_proto", "0 bytes"),
    error("proto-garbage", lambda ctx: GLMTokenizer(b"garbage"), ValueError, "model_proto"),
    error("proto-as-path", lambda ctx: GLMTokenizer("tok.model"), TypeError, "model_proto", "from_file"),
    error("file-empty", from_file("empty.model"), ValueError, "empty.model"),
    error("file-garbage", from_file("garbage.model"), ValueError, "garbage.model"),
    error("file-truncated", from_file("half.model"), ValueError, "half.model"),
    error("file-missing", from_file("missing.model"), FileNotFoundError, "missing.model"),
    error("file-is-folder", from_file("a-folder.model"), IsADirectoryError, "a-folder.model"),
    right("saved-model-follows-the-umask", saved_under_umask, lambda mode, ctx: mode == 0o640),
    error("save-over-users-file", lambda ctx: ctx["tok"].save(ctx["dir"] / "notes.txt"), FileExistsError,
          "notes.txt", keeps=lambda ctx: [ctx["dir"] / "notes.txt"]),
    error("save-onto-folder", lambda ctx: ctx["tok"].save(ctx["dir"] / "a-folder.model"), FileExistsError,
          "a-folder.model"),
    error("train-one-string", lambda ctx: GLMTokenizer.train("one document", 300), TypeError, "texts"),
    error("train-vocab-too-large", lambda ctx: GLMTokenizer.train(TEXTS, 4096), ValueError, "vocab_size=4096",
          "at most"),
    error("train-vocab-too-small", lambda ctx: GLMTokenizer.train(TEXTS, 100), ValueError, "vocab_size=100"),
    error("train-vocab-bool", lambda ctx: GLMTokenizer.train(TEXTS, True), TypeError, "vocab_size"),
    error("train-vocab-float", lambda ctx: GLMTokenizer.train(TEXTS, 300.0), TypeError, "vocab_size"),
    error("train-vocab-six", lambda ctx: GLMTokenizer.train(TEXTS, 6), ValueError, "vocab_size"),
    error("train-no-text", lambda ctx: GLMTokenizer.train(["", "\n"], 300), ValueError, "texts"),
    error("train-ints", lambda ctx: GLMTokenizer.train([1, 2], 300), TypeError, "texts[0]"),
    error("train-surrogate", lambda ctx: GLMTokenizer.train(["ok", "a\ud800"], 300), ValueError, "texts[1]"),
    error("train-coverage-zero", lambda ctx: GLMTokenizer.train(TEXTS, 300, character_coverage=0.5), ValueError,
          "character_coverage"),
    error("train-model-type", lambda ctx: GLMTokenizer.train(TEXTS, 300, model_type="bigram"), ValueError,
          "model_type"),
    error("default-vocab-string", lambda ctx: default_tokenizer("8192"), TypeError, "vocab_size"),
    error("default-corpus-string", lambda ctx: default_tokenizer(8192, "default"), TypeError, "corpus"),
    right("prompt-parses-mask", tok_call("encode", "[MASK]"), lambda ids, ctx: ids == [ctx["tok"].mask_id]),
    right("corpus-text-keeps-mask-plain", tok_call("encode", "a[MASK]b<eod>", parse_special=False),
          lambda ids, ctx: not {ctx["tok"].mask_id, ctx["tok"].eod_id} & set(ids)
          and ctx["tok"].decode(ids) == "a[MASK]b<eod>"),
    right("token-unk-itself", tok_call("token_to_id", "<unk>"), lambda i, ctx: i == ctx["tok"].sp.unk_id()),
    right("decode-numpy-int32", tok_call("decode", np.array([5, 6], dtype=np.int32)),
          lambda s, ctx: s == ctx["tok"].decode([5, 6])),
    right("decode-long-tensor", tok_call("decode", torch.tensor([5, 6])),
          lambda s, ctx: s == ctx["tok"].decode([5, 6])),
    right("decode-numpy-scalar-ids", tok_call("decode", [np.int64(5), 6]),
          lambda s, ctx: s == ctx["tok"].decode([5, 6])),
    right("decode-empty", tok_call("decode", ()), lambda s, ctx: s == ""),
    right("encode-empty", tok_call("encode", ""), lambda ids, ctx: ids == []),
    right("id-to-token-numpy", tok_call("id_to_token", np.int64(5)),
          lambda t, ctx: t == ctx["tok"].id_to_token(5)),
    right("round-trip-emoji-cjk-controls", tok_call("encode", "🙂 龘 \t\r\n x"),
          lambda ids, ctx: ctx["tok"].decode(ids) == "🙂 龘 \t\r\n x"),
    right("train-at-largest-supported-vocab", lambda ctx: _largest_trainable(), lambda tok, ctx: tok is not None),
]


def _largest_trainable():
    """The size the 'too large' error names is one that trains."""
    try:
        GLMTokenizer.train(TEXTS, 4096)
    except ValueError as err:
        largest = int(str(err).split("at most ")[1].split()[0])
    tok = GLMTokenizer.train(TEXTS, largest)
    return tok if len(tok) == largest else None


@pytest.mark.parametrize("case", params(CASES))
def test_tokenizer_case(case, ctx):
    run(case, ctx)
    assert (ctx["dir"] / "notes.txt").read_text() == "my notes"  # no case touches the user's file
