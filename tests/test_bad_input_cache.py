"""Damaged corpus and tokenizer caches are noticed, reported ("rebuilding ... because ...") and rebuilt, never used.

Each case copies a freshly built cache, damages it the way a crash, a full disk or a curious user would, and loads
again: the result must equal the undamaged corpus/tokenizer and a ``CacheRebuildWarning`` must say why.
"""

import json
import os
import resource
import shutil
import signal

import pytest
from bad_input_cases import error, mode, params, right, run, umask

from glm_mini.data import CorpusConfig, generate_corpus, load_corpus
from glm_mini.data.corpus import REPO_ROOT, cache_dir, corpus_path, read_jsonl
from glm_mini.manifest import CacheRebuildWarning
from glm_mini.data.corpus_tokenizer import default_tokenizer

TINY = CorpusConfig(seed=3, size_mb=0.03, cloze_items=5, parallel_items=5, mip_eval_items=2)
VOCAB = 1024


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A complete cache (corpus + tokenizer), built once, and what loading it gives."""
    root = tmp_path_factory.mktemp("cache-template")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GLM_KIT_DATA_CACHE", str(root))
        tok = default_tokenizer(VOCAB, TINY)
        return {"root": root, "corpus": load_corpus(TINY), "proto": tok.model_proto}


@pytest.fixture
def ctx(template, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    shutil.copytree(template["root"], cache)
    monkeypatch.setenv("GLM_KIT_DATA_CACHE", str(cache))
    corpus = corpus_path(TINY)
    (model,) = (cache / "tokenizer").glob("*.model")
    return {**template, "cache": cache, "folder": corpus, "model": model,
            "tok_manifest": model.with_suffix(".manifest.json")}


def half_lines(name):
    def edit(ctx):
        path = ctx["folder"] / name
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(lines[: len(lines) // 2]), encoding="utf-8")
    return edit


def flip_last_byte(key_or_name):
    def edit(ctx):
        path = ctx[key_or_name] if key_or_name in ctx else ctx["folder"] / key_or_name
        data = bytearray(path.read_bytes())
        data[-2] ^= 1
        path.write_bytes(bytes(data))
    return edit


def delete(key_or_name):
    return lambda ctx: (ctx[key_or_name] if key_or_name in ctx else ctx["folder"] / key_or_name).unlink()


def overwrite(key, data: bytes):
    return lambda ctx: ctx[key].write_bytes(data)


def rebuilt_corpus(damage, because):
    def call(ctx):
        damage(ctx)
        with pytest.warns(CacheRebuildWarning, match=because):
            corpus = load_corpus(TINY)
        return corpus
    return call


def rebuilt_tokenizer(damage, because):
    def call(ctx):
        damage(ctx)
        with pytest.warns(CacheRebuildWarning, match=because):
            return default_tokenizer(VOCAB, TINY)
    return call


def same_corpus(corpus, ctx):
    return corpus == ctx["corpus"] and load_corpus(TINY) == ctx["corpus"]  # and the rebuilt cache is whole


def same_tokenizer(tok, ctx):
    return tok.model_proto == ctx["proto"] == default_tokenizer(VOCAB, TINY).model_proto


def no_warning(call):
    def wrapped(ctx):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("error", CacheRebuildWarning)
            return call(ctx)
    return wrapped


def stale_corpus_key(ctx):
    record = json.loads(ctx["tok_manifest"].read_text())
    record["corpus_manifest_sha256"] = "0" * 64
    ctx["tok_manifest"].write_text(json.dumps(record))


def users_file_in_damaged_cache(ctx):
    (ctx["folder"] / "my-notes.txt").write_text("mine")
    half_lines("train.jsonl")(ctx)
    with pytest.warns(CacheRebuildWarning, match="train.jsonl has"):
        load_corpus(TINY)


def bad_jsonl_line(ctx):
    path = ctx["cache"] / "x.jsonl"
    path.write_text('{"text": "a"}\n{"text": \n', encoding="utf-8")
    return read_jsonl(path)


def corpus_damaged_tokenizer_kept(ctx):
    stamp = ctx["model"].stat().st_mtime_ns
    half_lines("train.jsonl")(ctx)
    with pytest.warns(CacheRebuildWarning, match="corpus cache"):
        tok = default_tokenizer(VOCAB, TINY)
    return tok, ctx["model"].stat().st_mtime_ns == stamp


def cache_env_file(*below):
    """``keeps``: a user's file, with $GLM_KIT_DATA_CACHE pointing at it (or at a path below it)."""
    def write(ctx):
        path = ctx["cache"].parent / "notes.txt"
        path.write_text("the user's notes")
        os.environ["GLM_KIT_DATA_CACHE"] = str(path.joinpath(*below))
        return [path]
    return write


def disk_full(ctx):
    """Build a new 0.5 MB corpus while files may not grow past 200 kB (``RLIMIT_FSIZE``: the write fails as on a
    full disk, with EFBIG instead of ENOSPC)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # else the kernel's signal ends the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, hard))
    try:
        return load_corpus(CorpusConfig(**{**TINY.__dict__, "seed": 11, "size_mb": 0.5}))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)


def modes_under_umask(ctx):
    """Build a new corpus and tokenizer under umask 027: every new folder and file gets the mode the umask gives."""
    config = CorpusConfig(**{**TINY.__dict__, "seed": 12})
    with umask(0o027):
        folder = corpus_path(config)
        default_tokenizer(VOCAB, config)
    tokenizer = [p for p in (ctx["cache"] / "tokenizer").iterdir() if config.key() in p.name]
    return {p.name: mode(p) for p in [folder, *folder.iterdir(), *tokenizer]}


def umask_modes(modes, ctx):
    # the corpus folder, its files (whatever splits the corpus version writes) and the tokenizer's model + manifest
    made = {"config.json", "manifest.json", "train.jsonl", "validation.jsonl"} <= set(modes)
    tokenizer = sum(name.startswith("glm-mini-") for name in modes) == 2
    return made and tokenizer and all(mode == (0o750 if name.startswith("seed") else 0o640)
                                      for name, mode in modes.items())


def corpus(**changes):
    return lambda ctx: load_corpus(CorpusConfig(**{**TINY.__dict__, **changes}))


CASES = [
    error("config-not-a-config", lambda ctx: load_corpus("default"), TypeError, "config", "CorpusConfig"),
    error("size-negative", corpus(size_mb=-1.0), ValueError, "CorpusConfig.size_mb"),
    error("generate-not-a-config", lambda ctx: generate_corpus("default"), TypeError, "config", "CorpusConfig"),
    error("generate-size-negative", lambda ctx: generate_corpus(CorpusConfig(**{**TINY.__dict__, "size_mb": -1.0})),
          ValueError, "CorpusConfig.size_mb"),
    error("size-zero", corpus(size_mb=0), ValueError, "CorpusConfig.size_mb"),
    error("size-inf", corpus(size_mb=float("inf")), ValueError, "CorpusConfig.size_mb"),
    error("size-as-string", corpus(size_mb="4"), TypeError, "CorpusConfig.size_mb"),
    error("seed-as-float", corpus(seed=1.5), TypeError, "CorpusConfig.seed"),
    error("items-bool", corpus(cloze_items=True), TypeError, "CorpusConfig.cloze_items"),
    error("items-negative", corpus(parallel_items=-5), ValueError, "CorpusConfig.parallel_items"),
    error("fraction-nan", corpus(validation_fraction=float("nan")), ValueError, "CorpusConfig.validation_fraction"),
    error("mixture-unknown-kind", corpus(mixture=(("poem", 1.0),)), ValueError, "CorpusConfig.mixture", "poem"),
    error("mixture-all-zero", corpus(mixture=(("story", 0.0),)), ValueError, "CorpusConfig.mixture"),
    error("mixture-as-dict", corpus(mixture={"story": 1.0}), ValueError, "CorpusConfig.mixture"),
    right("int-size-for-float", corpus(size_mb=1, cloze_items=2, parallel_items=2, mip_eval_items=1,
                                       validation_fraction=0.001, mip_fraction=0.001),
          lambda c, ctx: len(c["cloze_test"]) == 4),
    right("corpus-train-cut-to-half", rebuilt_corpus(half_lines("train.jsonl"), "train.jsonl has"), same_corpus),
    right("corpus-byte-flipped-same-size", rebuilt_corpus(flip_last_byte("validation.jsonl"), "SHA-256"),
          same_corpus),
    right("corpus-split-deleted", rebuilt_corpus(delete("cloze_test.jsonl"), "cloze_test.jsonl is missing"),
          same_corpus),
    right("corpus-config-deleted", rebuilt_corpus(delete("config.json"), "config.json is missing"), same_corpus),
    right("corpus-manifest-deleted", rebuilt_corpus(delete("manifest.json"), "manifest.json is missing"),
          same_corpus),
    right("corpus-manifest-garbage", rebuilt_corpus(lambda ctx: (ctx["folder"] / "manifest.json").write_text("{"),
                                                    "not a valid manifest"), same_corpus),
    right("corpus-folder-emptied", rebuilt_corpus(
        lambda ctx: [p.unlink() for p in ctx["folder"].iterdir()], "manifest.json is missing"), same_corpus),
    right("corpus-intact-used-as-is", no_warning(lambda ctx: load_corpus(TINY)), same_corpus),
    error("corpus-damaged-with-users-file", users_file_in_damaged_cache, FileExistsError, "my-notes.txt"),
    error("jsonl-bad-line", bad_jsonl_line, ValueError, "x.jsonl", "line 2"),
    right("tokenizer-model-garbage", rebuilt_tokenizer(overwrite("model", b"garbage"), "model"), same_tokenizer),
    right("tokenizer-model-truncated", rebuilt_tokenizer(
        lambda ctx: ctx["model"].write_bytes(ctx["proto"][:100]), "has 100 bytes"), same_tokenizer),
    right("tokenizer-model-byte-flipped", rebuilt_tokenizer(flip_last_byte("model"), "SHA-256"), same_tokenizer),
    right("tokenizer-model-deleted", rebuilt_tokenizer(delete("model"), "is missing"), same_tokenizer),
    right("tokenizer-manifest-deleted", rebuilt_tokenizer(delete("tok_manifest"), "manifest.json is missing"),
          same_tokenizer),
    right("tokenizer-from-another-corpus", rebuilt_tokenizer(stale_corpus_key, "different corpus"),
          same_tokenizer),
    right("tokenizer-intact-used-as-is", no_warning(lambda ctx: default_tokenizer(VOCAB, TINY)), same_tokenizer),
    right("corpus-damaged-tokenizer-still-valid", corpus_damaged_tokenizer_kept,
          lambda out, ctx: out[0].model_proto == ctx["proto"] and out[1]),
    error("cache-variable-names-a-file", lambda ctx: load_corpus(TINY), NotADirectoryError, "GLM_KIT_DATA_CACHE",
          "notes.txt", keeps=cache_env_file()),
    error("cache-variable-below-a-file", lambda ctx: default_tokenizer(VOCAB, TINY), NotADirectoryError,
          "GLM_KIT_DATA_CACHE", "is a file", keeps=cache_env_file("cache")),
    right("cache-variable-empty-means-default", lambda ctx: (os.environ.update(GLM_KIT_DATA_CACHE=""), cache_dir())[1],
          lambda path, ctx: path == REPO_ROOT / "data" / "cache"),
    error("disk-full-while-writing", disk_full, OSError, "writing the corpus cache", "seed11"),
    right("new-cache-files-follow-the-umask", modes_under_umask, umask_modes),
]


@pytest.mark.parametrize("case", params(CASES))
def test_cache_case(case, ctx):
    run(case, ctx)
    assert not [p for p in ctx["cache"].rglob(".*")]  # no temporary or set-aside folder left behind
