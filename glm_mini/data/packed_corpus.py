"""A real corpus packed for training with no Python list of it: ``datasets.map`` tokenizes into Arrow, a streaming
packer writes the memory-mapped ``tokens.bin``, and both splits are cached by content.

How it works
------------
1. ``load_text_corpus`` opens the corpus (a ``save_to_disk`` folder, files, or a Hub dataset) as Arrow files that
   ``datasets`` memory-maps.
2. ``Dataset.map(batched=True)`` runs ``tokenizer.encode_batch(texts, parse_special=False)`` on ``batch_size``
   documents at a time and writes their ids to an Arrow file (``int32`` lists) in a temporary folder; rows that are
   empty or only whitespace are dropped in the same pass (a blank line of a .txt file is not a document). Only one
   batch is ever held as Python objects.
3. The validation split is the corpus's own ``validation`` split when it has one (a saved ``DatasetDict``, or a
   folder of data files with ``validation-*`` files), else the last ``validation_share`` (5%) of the documents, at
   least one: a contiguous ``select``, which copies nothing.
4. ``pack_token_dataset`` reads the ids batch by batch as numpy arrays (the Arrow list lengths and values), appends
   each document and its ``eod`` to ``tokens.bin`` with ``file.write`` and pads the last sequence with ``pad``:
   exactly the stream ``pack_documents`` builds in memory, cut every ``seq_len`` (tested equal). Only the start
   position of each document (one int64 per document) stays in memory, to compute the bounds
   (``packing.sequence_bounds``); the folder is written by ``packing.write_packed_folder`` (manifest last, then an
   atomic move), so a failed run never leaves a half-written cache.
5. The two folders live in ``<cache>/packed/<key>/{train,validation}``; the key hashes ``PACKER_VERSION``, the
   corpus and its content stamp (``real.corpus_stamp``), the column and split, the tokenizer's model bytes,
   ``seq_len`` and the validation rule. An intact cache is memory-mapped again without tokenizing anything; a
   damaged one is reported (``CacheRebuildWarning``) and rebuilt.

``python -m glm_mini.data.packed_corpus SOURCE --vocab-size V --seq-len T [--text-column C]`` prepares the cache
(tokenizer included, ``corpus_tokenizer``) before a training run and prints what it holds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import datasets
import numpy as np
import pyarrow.compute

from glm_mini.data.corpus import cache_dir
from glm_mini.data.packing import PackedDataError, PackedLayout, PackedSequences, sequence_bounds, write_packed_folder
from glm_mini.data.real import corpus_splits, corpus_stamp, load_text_corpus
from glm_mini.manifest import warn_rebuild

PACKER_VERSION = 1  # part of the cache key: bump when the packed result of the same input changes
VALIDATION_SHARE = 0.05  # of a corpus's documents, when it has no validation split of its own
IDS = datasets.Features({"ids": datasets.List(datasets.Value("int32"))})


def tokenize_dataset(dataset: datasets.Dataset, tokenizer, cache_file: Path, batch_size: int = 1000,
                     fingerprint: str | None = None) -> datasets.Dataset:
    """``dataset``'s ``text`` column as token ids (column ``ids``) in the Arrow file ``cache_file``; empty and
    whitespace-only rows are dropped."""
    def encode(batch: dict) -> dict:
        texts = [text for text in batch["text"] if text.strip()]
        return {"ids": tokenizer.encode_batch(texts, parse_special=False)}

    return dataset.map(encode, batched=True, batch_size=batch_size, remove_columns=dataset.column_names,
                       features=IDS, cache_file_name=str(cache_file), load_from_cache_file=False,
                       new_fingerprint=fingerprint, desc="tokenizing")


def pack_token_dataset(ids: datasets.Dataset, seq_len: int, eod_id: int, pad_id: int, vocab_size: int,
                       folder: str | Path, batch_size: int = 8192) -> PackedSequences:
    """Pack the ``ids`` column into ``folder`` (``PackedSequences``'s files), streaming: documents are appended to
    ``tokens.bin`` batch by batch, each followed by ``eod``; the last sequence is padded. Returns the folder
    memory-mapped."""
    if seq_len < 2:
        raise ValueError(f"seq_len must be at least 2, got {seq_len}")
    dtype = np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.int32)

    def write_tokens(path: Path) -> PackedLayout:
        starts, total = [], 0
        with open(path, "wb") as out:
            for table in ids.with_format("arrow").iter(batch_size=batch_size):
                lists = table.column("ids").combine_chunks()
                lengths = pyarrow.compute.list_value_length(lists).to_numpy().astype(np.int64) + 1  # + eod
                values = lists.flatten().to_numpy()
                if len(values) and (values.min() < 0 or values.max() >= vocab_size):
                    bad = values.min() if values.min() < 0 else values.max()
                    raise ValueError(f"ids: token id {bad} is outside [0, vocab_size={vocab_size})")
                ends = np.cumsum(lengths)  # end of each document, its eod included, within this batch
                stream = np.full(int(ends[-1]) if len(ends) else 0, eod_id, dtype=dtype)  # [tokens + eods]
                is_token = np.ones(len(stream), dtype=bool)
                is_token[ends - 1] = False
                stream[is_token] = values
                stream.tofile(out)
                starts.append(total + ends - lengths)
                total += len(stream)
            if total == 0:
                raise ValueError("ids: no documents to pack")
            np.full(-total % seq_len, pad_id, dtype=dtype).tofile(out)  # pad the last sequence
        bounds, offsets = sequence_bounds(np.concatenate(starts), total, seq_len)
        return PackedLayout((-(-total // seq_len), seq_len), dtype, bounds, offsets, eod_id, pad_id)

    write_packed_folder(folder, write_tokens)
    return PackedSequences.load(folder, verify_checksums=False)  # just written, manifest last


def packed_corpus_dir(source: str, tokenizer, seq_len: int, column: str = "text", split: str = "train",
                      validation_share: float = VALIDATION_SHARE) -> Path:
    """Where ``pack_real_corpus`` caches these arguments' two packed splits."""
    source_path = Path(source).expanduser()
    fields = [PACKER_VERSION, str(source_path.resolve()) if source_path.exists() else source, corpus_stamp(source),
              column, split, hashlib.sha256(tokenizer.model_proto).hexdigest(), seq_len, validation_share]
    key = hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16]
    return cache_dir() / "packed" / key


def pack_real_corpus(source: str, tokenizer, seq_len: int, column: str = "text", split: str = "train",
                     validation_share: float = VALIDATION_SHARE) -> tuple[PackedSequences, PackedSequences]:
    """The train and validation splits of ``source`` tokenized by ``tokenizer`` and packed into ``seq_len`` windows,
    memory-mapped from the cache (built on first use; see the module docstring)."""
    if not 0 < validation_share < 1:
        raise ValueError(f"validation_share: expected a share in (0, 1), got {validation_share!r}")
    folder = packed_corpus_dir(source, tokenizer, seq_len, column, split, validation_share)
    problem = None
    if folder.exists():
        try:
            return PackedSequences.load(folder / "train"), PackedSequences.load(folder / "validation")
        except (FileNotFoundError, PackedDataError) as err:
            problem = str(err)
            warn_rebuild("the packed corpus", folder, problem)
    work = Path(tempfile.mkdtemp(prefix="glm-kit-tokens-"))
    try:
        docs = tokenize_dataset(load_text_corpus(source, column=column, split=split), tokenizer,
                                work / "train.arrow")
        own_validation = "validation" in (corpus_splits(source) or []) and split != "validation"
        if own_validation:
            val_docs = tokenize_dataset(load_text_corpus(source, column=column, split="validation"), tokenizer,
                                        work / "validation.arrow")
        else:
            n = len(docs)
            if n < 2:
                raise ValueError(f"corpus {source!r}: expected at least 2 documents (train + validation), got {n} "
                                 "non-empty ones")
            n_val = max(1, round(validation_share * n))
            docs, val_docs = docs.select(range(n - n_val)), docs.select(range(n - n_val, n))
        if len(docs) == 0 or len(val_docs) == 0:
            raise ValueError(f"corpus {source!r}: expected documents in both splits, got {len(docs)} for training "
                             f"and {len(val_docs)} for validation (empty rows are dropped)")
        vocab = len(tokenizer)
        train = pack_token_dataset(docs, seq_len, tokenizer.eod_id, tokenizer.pad_id, vocab, folder / "train")
        validation = pack_token_dataset(val_docs, seq_len, tokenizer.eod_id, tokenizer.pad_id, vocab,
                                        folder / "validation")
        del docs, val_docs  # release the Arrow files before their folder goes
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return train, validation


def main(argv: list[str] | None = None) -> int:
    from glm_mini.data.corpus_tokenizer import corpus_tokenizer

    parser = argparse.ArgumentParser(prog="python -m glm_mini.data.packed_corpus",
                                     description="Tokenize and pack a real corpus into the training cache.")
    parser.add_argument("source", help="a save_to_disk folder, a .txt/.jsonl/.json/.parquet file or glob pattern, "
                                       "or a Hub dataset name (online only)")
    parser.add_argument("--vocab-size", type=int, default=4096, help="tokenizer ids in all, specials included")
    parser.add_argument("--seq-len", type=int, default=128, help="tokens per training sequence")
    parser.add_argument("--text-column", default="text", help="the column holding the text")
    parser.add_argument("--split", default="train", help="the split to train on (saved DatasetDict or Hub)")
    parser.add_argument("--tokenizer-chars", type=int, default=20_000_000,
                        help="train the tokenizer on at most this many characters")
    args = parser.parse_args(argv)
    try:
        tokenizer = corpus_tokenizer(args.source, args.vocab_size, args.text_column, split=args.split,
                                     max_chars=args.tokenizer_chars)
        train, validation = pack_real_corpus(args.source, tokenizer, args.seq_len, args.text_column, args.split)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    folder = packed_corpus_dir(args.source, tokenizer, args.seq_len, args.text_column, args.split)
    for name, packed in (("train", train), ("validation", validation)):
        print(f"{name}: {len(packed)} sequences of {packed.seq_len} tokens ({packed.tokens.dtype}), "
              f"{packed.tokens.nbytes / 2**20:.1f} MiB memory-mapped")
    print(f"cache: {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
