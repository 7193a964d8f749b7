"""Bad input to packing: nothing of the user's is deleted or overwritten, damaged folders are named, no silent loss."""

import json

import datasets
import numpy as np
import pytest
import torch
from bad_input_cases import error, mode, params, right, run, umask
from corpus_fixtures import small_tokenizer

from glm_mini.data import PackedDataset, PackedSequences, pack_corpus, pack_documents
from glm_mini.data.packing import PackedDataError

EOD, PAD = 99, 98
DOCS = [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10]]
USER_FILES = {"notes.txt": "my notes", "results.csv": "a,b\n1,2\n"}


@pytest.fixture
def ctx(tmp_path):
    """A packed corpus, the user's own files (a folder with notes, a regular file, a link), a damaged copy maker."""
    (tmp_path / "mine").mkdir()
    for name, text in USER_FILES.items():
        (tmp_path / "mine" / name).write_text(text)
    (tmp_path / "report.txt").write_text("my report")
    (tmp_path / "link").symlink_to(tmp_path / "mine")
    (tmp_path / "empty").mkdir()
    packed = pack_documents(DOCS, 4, EOD, PAD)
    packed.save(tmp_path / "good")
    return {"tmp": tmp_path, "packed": packed, "tok": small_tokenizer()}


def damaged(edit):
    """Save a copy, apply ``edit(folder)``, then load it."""
    def call(ctx):
        folder = ctx["tmp"] / "damaged"
        ctx["packed"].save(folder)
        edit(folder)
        return PackedSequences.load(folder)
    return call


def cut(name, n_bytes):
    def edit(folder):
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[:n_bytes] if n_bytes >= 0 else data[:len(data) + n_bytes])
    return edit


def flip_byte(name):
    def edit(folder):
        data = bytearray((folder / name).read_bytes())
        data[-1] ^= 1
        (folder / name).write_bytes(bytes(data))
    return edit


def shorter_bounds(folder):
    np.save(folder / "bounds.npy", np.load(folder / "bounds.npy")[:-1])


def packs(call_docs, **kwargs):
    return lambda ctx: pack_documents(call_docs(ctx) if callable(call_docs) else call_docs, 4, EOD, PAD, **kwargs)


def users_files(ctx):
    """``keeps``: the user's folder and report, which no save may change."""
    return [ctx["tmp"] / "mine", ctx["tmp"] / "report.txt"]


def saved_under_umask(ctx):
    """Save under umask 027: the folder gets 0750 and its files 0640, as mkdir() and open() would give them."""
    with umask(0o027):
        ctx["packed"].save(ctx["tmp"] / "shared")
    folder = ctx["tmp"] / "shared"
    return [mode(p) for p in (folder, *sorted(folder.iterdir()))]


def same_as_list(packed, ctx):
    return np.array_equal(packed.tokens, ctx["packed"].tokens) and np.array_equal(packed.bounds, ctx["packed"].bounds)


CASES = [
    # --- saving never deletes or overwrites the user's files ---------------------------------------------------
    error("save-into-users-folder", lambda ctx: ctx["packed"].save(ctx["tmp"] / "mine"), FileExistsError,
          "mine", "notes.txt", keeps=users_files),
    error("save-over-regular-file", lambda ctx: ctx["packed"].save(ctx["tmp"] / "report.txt"), FileExistsError,
          "report.txt", "not a folder", keeps=users_files),
    error("save-onto-symlink", lambda ctx: ctx["packed"].save(ctx["tmp"] / "link"), FileExistsError, "link",
          keeps=users_files),
    error("save-under-a-file", lambda ctx: ctx["packed"].save(ctx["tmp"] / "report.txt" / "sub"),
          (FileExistsError, NotADirectoryError), "report.txt", keeps=users_files),
    error("pack-corpus-into-users-folder", lambda ctx: pack_corpus(ctx["tok"], ["a text"], 8,
                                                                    folder=ctx["tmp"] / "mine"),
          FileExistsError, "mine", keeps=users_files),
    right("saved-folder-follows-the-umask", saved_under_umask,
          lambda modes, ctx: modes == [0o750] + [0o640] * 5),
    right("save-into-empty-folder", lambda ctx: (ctx["packed"].save(ctx["tmp"] / "empty"),
                                                 PackedSequences.load(ctx["tmp"] / "empty"))[1], same_as_list),
    right("save-again-replaces-own-copy", lambda ctx: (pack_documents([[1]], 4, EOD, PAD).save(ctx["tmp"] / "good"),
                                                       PackedSequences.load(ctx["tmp"] / "good"))[1],
          lambda p, ctx: p.tokens.tolist() == [[1, EOD, PAD, PAD]]),
    # --- loading a damaged folder names it and the file ----------------------------------------------------------
    error("load-missing-folder", lambda ctx: PackedSequences.load(ctx["tmp"] / "nope"), FileNotFoundError, "nope"),
    error("load-users-folder", lambda ctx: PackedSequences.load(ctx["tmp"] / "mine"), PackedDataError, "mine",
          "manifest.json"),
    error("load-truncated-tokens", damaged(cut("tokens.bin", -2)), PackedDataError, "damaged", "tokens.bin"),
    error("load-shorter-bounds", damaged(shorter_bounds), PackedDataError, "damaged", "bounds.npy"),
    error("load-truncated-meta", damaged(cut("meta.json", 10)), PackedDataError, "damaged", "meta.json"),
    error("load-edited-offsets-same-size", damaged(flip_byte("offsets.npy")), PackedDataError, "offsets.npy",
          "SHA-256"),
    error("load-truncated-without-checksums", lambda ctx: (cut("tokens.bin", -2)(ctx["tmp"] / "good"),
                                                            PackedSequences.load(ctx["tmp"] / "good",
                                                                                 verify_checksums=False)),
          PackedDataError, "good", "tokens.bin"),
    right("load-without-checksums", lambda ctx: PackedSequences.load(ctx["tmp"] / "good", verify_checksums=False),
          same_as_list),
    error("load-no-manifest", damaged(lambda f: (f / "manifest.json").unlink()), PackedDataError, "manifest.json"),
    error("load-consistent-manifest-bad-layout", damaged(lambda f: _rewrite_manifest_after(f, shorter_bounds)),
          PackedDataError, "damaged", "offsets"),
    error("arrays-inconsistent", lambda ctx: PackedSequences(ctx["packed"].tokens, ctx["packed"].bounds[:-1],
                                                             ctx["packed"].offsets, EOD, PAD),
          PackedDataError, "offsets"),
    # --- pack_documents / pack_corpus arguments -------------------------------------------------------------------
    error("seq-len-one", lambda ctx: pack_documents(DOCS, 1, EOD, PAD), ValueError, "seq_len"),
    error("seq-len-bool", lambda ctx: pack_documents(DOCS, True, EOD, PAD), TypeError, "seq_len"),
    error("seq-len-float", lambda ctx: pack_documents(DOCS, 16.0, EOD, PAD), TypeError, "seq_len"),
    error("eod-negative", lambda ctx: pack_documents(DOCS, 4, -1, PAD), ValueError, "eod_id"),
    error("pad-beyond-vocab", lambda ctx: pack_documents(DOCS, 4, EOD, 5000, vocab_size=1000), ValueError, "pad_id"),
    error("id-beyond-vocab", packs([[1, 2, 1500]], vocab_size=1000), ValueError, "docs[0]", "1500"),
    error("id-beyond-uint16", packs([[1, 70000]], vocab_size=1000), ValueError, "docs[0]", "70000"),
    error("id-negative", packs([[3], [-1]]), ValueError, "docs[1]", "-1"),
    error("id-float", packs([[1.5]]), TypeError, "docs[0]", "float"),
    error("doc-is-text", packs(["hello"]), TypeError, "docs[0]", "tokenize"),
    error("doc-nested", packs([[1, [2, 3]]]), TypeError, "docs[0]"),
    error("docs-one-string", packs("hello"), TypeError, "docs"),
    error("no-documents", packs([]), ValueError, "no documents"),
    error("empty-generator", packs(iter([])), ValueError, "no documents"),
    error("texts-one-string", lambda ctx: pack_corpus(ctx["tok"], "one document", 16), TypeError, "texts"),
    error("texts-with-none", lambda ctx: pack_corpus(ctx["tok"], ["ok", None], 16), TypeError, "texts[1]"),
    error("texts-surrogate-in-second-batch", lambda ctx: pack_corpus(ctx["tok"], ["ok", "fine", "bad\ud800"], 16,
                                                                      batch=2),
          ValueError, "texts[2]", "U+D800"),
    error("texts-a-dataset", lambda ctx: pack_corpus(ctx["tok"], datasets.Dataset.from_dict({"text": ["a", "b"]}),
                                                     16), TypeError, "texts[0]", "dataset['text']"),
    error("tokenizer-none", lambda ctx: pack_corpus(None, ["a"], 16), TypeError, "tokenizer"),
    error("batch-zero", lambda ctx: pack_corpus(ctx["tok"], ["a"], 16, batch=0), ValueError, "batch"),
    # --- indexing ---------------------------------------------------------------------------------------------------
    error("index-past-end", lambda ctx: ctx["packed"].segments(4), IndexError, "4", "4 sequences"),
    error("index-before-start", lambda ctx: ctx["packed"].segment_ids(-5), IndexError, "-5"),
    error("index-float", lambda ctx: ctx["packed"].segments(1.0), TypeError, "index"),
    error("index-bool", lambda ctx: ctx["packed"].segment_ids(True), TypeError, "index"),
    error("dataset-index-past-end", lambda ctx: PackedDataset(ctx["packed"])[10], IndexError, "10"),
    right("negative-index-is-last", lambda ctx: ctx["packed"].segment_ids(-1),
          lambda ids, ctx: ids.tolist() == ctx["packed"].segment_ids(3).tolist() == [0, -1, -1, -1]),
    right("dataset-negative-index", lambda ctx: PackedDataset(ctx["packed"])[-3],
          lambda item, ctx: item["segment_ids"].tolist() == [0, 0, 0, 1]),
    right("numpy-index", lambda ctx: ctx["packed"].segments(np.int64(1)),
          lambda segs, ctx: [s.tolist() for s in segs] == [[4, 5, EOD], [6]]),
    right("generator-docs", packs(lambda ctx: (d for d in DOCS)), same_as_list),
    right("tensor-and-array-docs", packs([torch.tensor(DOCS[0]), np.array(DOCS[1]), DOCS[2]]), same_as_list),
    right("generator-texts", lambda ctx: pack_corpus(ctx["tok"], (t for t in ["one", "two"]), 8),
          lambda p, ctx: np.array_equal(p.tokens, pack_corpus(ctx["tok"], ["one", "two"], 8).tokens)),
    right("literal-specials-stay-text", lambda ctx: pack_corpus(ctx["tok"], ["a <eod> b [MASK] c", "d"], 64),
          lambda p, ctx: (p.tokens == ctx["tok"].eod_id).sum() == 2 and not (p.tokens == ctx["tok"].mask_id).any()
          and ctx["tok"].decode(p.segments(0)[0]) == "a <eod> b [MASK] c<eod>"),
    right("empty-document-is-one-eod", packs([[], [1]]),
          lambda p, ctx: p.tokens.tolist() == [[EOD, 1, EOD, PAD]] and len(p.segments(0)) == 2),
]


def _rewrite_manifest_after(folder, edit):
    """A careful vandal: edit a file, then rewrite the manifest to match, so only the layout check can notice."""
    from glm_mini.manifest import write_manifest

    edit(folder)
    write_manifest(folder / "manifest.json", [folder / n for n in ("tokens.bin", "bounds.npy", "offsets.npy",
                                                                    "meta.json")])


@pytest.mark.parametrize("case", params(CASES))
def test_packing_case(case, ctx):
    run(case, ctx)
    tmp = ctx["tmp"]
    for name, text in USER_FILES.items():  # every save path leaves the user's files as they were
        assert (tmp / "mine" / name).read_text() == text
    assert (tmp / "report.txt").read_text() == "my report" and (tmp / "link").resolve() == tmp / "mine"
    assert sorted(p.name for p in (tmp / "mine").iterdir()) == sorted(USER_FILES)
    assert not [p.name for p in tmp.iterdir() if p.name.startswith(".")]  # no temporary folder left behind


def test_meta_json_is_valid_after_save(tmp_path):
    pack_documents(DOCS, 4, EOD, PAD).save(tmp_path / "p")
    meta = json.loads((tmp_path / "p" / "meta.json").read_text())
    assert meta == {"shape": [4, 4], "dtype": "uint16", "eod_id": EOD, "pad_id": PAD}
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == sorted(
        ["tokens.bin", "bounds.npy", "offsets.npy", "meta.json", "manifest.json"])
