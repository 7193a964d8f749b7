"""The tokenizer of a corpus: the kit's default one (trained on the generated corpus) and one trained on *your* corpus
(TinyStories, WikiText-103, a CLUE corpus, a local file), each cached by content.

How it works
------------
``default_tokenizer`` trains a ``GLMTokenizer`` on the generated corpus's train split once and caches it under
``data/cache/tokenizer/`` with a manifest (size, SHA-256, and which corpus cache it was trained on); a missing,
damaged or stale model is reported and trained again. Real text needs its own pieces. ``corpus_tokenizer``
reads ``source`` with ``load_text_corpus`` (a ``save_to_disk`` folder, a local ``.txt``/``.jsonl``/``.json``/
``.parquet`` file or glob pattern, or a Hub dataset name when online), trains a ``GLMTokenizer`` (sentencepiece
unigram + GLM's specials, as for the default corpus) on at most ``max_chars`` characters of it, and caches the model
under ``data/cache/tokenizer/corpus-v<vocab>-<key>.model``. The key hashes the source name, its column/config/split,
its content stamp (``real.corpus_stamp``: each file's size and modification time, or a saved dataset's
fingerprints), ``max_chars`` and the tokenizer trainer version, so editing the file retrains and the same file is
read from the cache. A corpus too small for ``vocab_size`` pieces gets the largest vocabulary sentencepiece can build
from it, with a warning (a model's extra embedding rows stay unused).

One command::

    python -m glm_mini.data.corpus_tokenizer my_corpus.txt --vocab-size 4096

prints the cached model's path and a few statistics (documents, characters per token, byte-fallback share).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import warnings
from pathlib import Path

from glm_mini.cli.vocabulary import hidden_alias, refused_alias
from glm_mini.data.corpus import CorpusConfig, cache_dir, corpus_path, load_corpus
from glm_mini.data.real import corpus_stamp, load_text_corpus
from glm_mini.manifest import (atomic_write_bytes, file_sha256, manifest_problem, read_manifest, warn_rebuild,
                               write_manifest)
from glm_mini.tokenizer import TRAINER_VERSION, GLMTokenizer, VocabularyTooLarge


def default_tokenizer(vocab_size: int = 8192, corpus: CorpusConfig | None = None) -> GLMTokenizer:
    """The kit's tokenizer for the default corpus, trained on first use and cached under ``data/cache/tokenizer/``
    with a manifest (size, SHA-256, and which corpus cache it was trained on); a missing, damaged or stale cached
    model is reported (``CacheRebuildWarning``) and trained again."""
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        raise TypeError(f"vocab_size: expected an int, got {type(vocab_size).__name__} {vocab_size!r}")
    corpus = corpus or CorpusConfig()
    if not isinstance(corpus, CorpusConfig):
        raise TypeError(f"corpus: expected a CorpusConfig, got {type(corpus).__name__}")
    path = cache_dir() / "tokenizer" / f"glm-mini-v{vocab_size}-t{TRAINER_VERSION}-{corpus.key()}.model"
    manifest = path.with_suffix(".manifest.json")
    source = file_sha256(corpus_path(corpus) / "manifest.json")  # the corpus content (checked) it is trained on
    problem = manifest_problem(manifest, (path.name,))
    if problem is None and read_manifest(manifest).get("corpus_manifest_sha256") != source:
        problem = "it was trained on a different corpus cache"
    if problem is None:
        try:
            return GLMTokenizer.from_file(path)
        except ValueError as err:
            problem = str(err)
    if path.exists() or manifest.exists():
        warn_rebuild("the tokenizer", path, problem)
    tokenizer = GLMTokenizer.train((r["text"] for r in load_corpus(corpus)["train"]), vocab_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, tokenizer.model_proto)  # the kit's own cache file: replaced even when damaged
    write_manifest(manifest, [path], corpus_manifest_sha256=source)  # last: the model is complete
    return tokenizer


def tokenizer_path(source: str, vocab_size: int, column: str = "text", config: str | None = None,
                   split: str = "train", max_chars: int = 20_000_000) -> Path:
    """Where ``corpus_tokenizer`` caches the model for these arguments."""
    path = Path(source).expanduser()
    fields = [str(path.resolve()) if path.exists() else source, column, config, split, max_chars, TRAINER_VERSION,
              *corpus_stamp(source)]
    key = hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:12]
    return cache_dir() / "tokenizer" / f"corpus-v{vocab_size}-{key}.model"


def corpus_texts(source: str, column: str = "text", config: str | None = None, split: str = "train",
                 max_chars: int = 20_000_000) -> list[str]:
    """The non-empty texts of ``source``, up to ``max_chars`` characters in all (read 1000 rows at a time, so a
    large corpus is never turned into Python strings past that)."""
    if max_chars <= 0:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    texts, size = [], 0
    for batch in load_text_corpus(source, column=column, split=split, config=config).iter(batch_size=1000):
        for text in batch["text"]:
            if text and text.strip():
                texts.append(text)
                size += len(text)
                if size >= max_chars:
                    break
        if size >= max_chars:
            break
    if not texts:
        raise ValueError(f"{source}: expected some non-empty text in column {column!r}, got only empty rows")
    return texts


def corpus_tokenizer(source: str, vocab_size: int = 4096, column: str = "text", config: str | None = None,
                     split: str = "train", max_chars: int = 20_000_000) -> GLMTokenizer:
    """A tokenizer of ``vocab_size`` ids trained on ``source`` (cached; see the module docstring)."""
    if not isinstance(vocab_size, int) or vocab_size < 300:
        raise ValueError(f"vocab_size must be an int >= 300 (256 byte pieces + specials + pieces), got {vocab_size!r}")
    path = tokenizer_path(str(source), vocab_size, column, config, split, max_chars)
    if path.is_file():
        return GLMTokenizer.from_file(path)
    texts = corpus_texts(str(source), column, config, split, max_chars)
    try:
        tokenizer = GLMTokenizer.train(texts, vocab_size)
    except VocabularyTooLarge as err:
        warnings.warn(f"{source}: too little text for vocab_size={vocab_size}; trained {err.largest} ids instead (the "
                      "model's extra embedding rows stay unused)", stacklevel=2)
        tokenizer = GLMTokenizer.train(texts, err.largest)
    except ValueError as err:
        raise ValueError(f"{source}: cannot train a tokenizer with vocab_size={vocab_size} on this corpus: "
                         f"{err}") from err
    tokenizer.save(path)
    return tokenizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m glm_mini.data.corpus_tokenizer",
                                     description="Train (or load from the cache) a GLM tokenizer on a real corpus.")
    parser.add_argument("source", help="a .txt/.jsonl/.json/.parquet file, or a Hub dataset name (online only)")
    parser.add_argument("--vocab-size", type=int, default=4096, help="ids in all, specials included")
    parser.add_argument("--text-column", default="text", help="the text column of a JSON/parquet/Hub dataset")
    parser.add_argument("--dataset-config", default=None, help="the Hub dataset's config, e.g. wikitext-103-raw-v1")
    parser.add_argument("--split", default="train", help="the Hub dataset's split")
    parser.add_argument("--max-chars", type=int, default=20_000_000, help="train on at most this many characters")
    hidden_alias(parser, "--column", "--text-column")
    refused_alias(parser, "--config", "--dataset-config", "--config names a TOML file of flags in the kit's tools")
    args = parser.parse_args(argv)
    try:
        tokenizer = corpus_tokenizer(args.source, args.vocab_size, args.text_column, args.dataset_config, args.split,
                                     args.max_chars)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    texts = corpus_texts(args.source, args.text_column, args.dataset_config, args.split,
                         min(args.max_chars, 1_000_000))
    ids = [i for t in texts for i in tokenizer.encode(t)]
    n_bytes = sum(tokenizer.sp.is_byte(i) for i in ids if i < tokenizer.sp_vocab_size)
    path = tokenizer_path(args.source, args.vocab_size, args.text_column, args.dataset_config, args.split,
                          args.max_chars)
    print(f"tokenizer: {path}")
    print(f"{len(texts)} documents, {sum(map(len, texts)) / max(len(ids), 1):.2f} characters per token, "
          f"{100 * n_bytes / max(len(ids), 1):.2f}% byte-fallback tokens, vocabulary {len(tokenizer)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
