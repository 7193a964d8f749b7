"""Packing tokenized documents into fixed-length training sequences, keeping document boundaries.

How it works
------------
Documents are concatenated, each followed by ``eod`` (GLM-130B's end-of-document id, SAT ``ice_tokenizer.py``),
and the stream is cut every ``T`` tokens; the last sequence is filled with ``pad``. A document may run across a
cut, and its rest then starts the next sequence. GLM-130B builds its blank-infilling samples per document and
packs several into one window (docs/glm130b_facts.md §2.1-2.2), so the boundaries are kept next to the tokens, CSR
style:

    tokens   [N, T]      the ids (uint16 when the vocabulary fits, else int32)
    bounds   [M]         for each sequence: 0, every in-sequence position where a document starts, then the number
                         of non-pad tokens; so segment j of sequence i is tokens[i, b[j]:b[j+1]]
    offsets  [N + 1]     sequence i's bounds are bounds[offsets[i]:offsets[i+1]]

``save`` writes ``tokens.bin`` (raw, for ``np.memmap``), ``bounds.npy``, ``offsets.npy`` and ``meta.json`` into a
temporary folder, then renames it; ``PackedSequences.load`` memory-maps the tokens, so a corpus larger than RAM is
read lazily. ``PackedDataset`` is the ``torch.utils.data.Dataset`` a trainer iterates: each item is
``input_ids`` (a LongTensor ``[T]``) and ``segment_ids`` (``[T]``: 0, 1, ... per segment, -1 on padding).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

# Dimension names: N sequences, T tokens per sequence, M bounds in all.


@dataclass
class PackedSequences:
    tokens: np.ndarray  # [N, T]
    bounds: np.ndarray  # [M] int64
    offsets: np.ndarray  # [N + 1] int64
    eod_id: int
    pad_id: int

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def seq_len(self) -> int:
        return self.tokens.shape[1]

    def segments(self, i: int) -> list[np.ndarray]:
        """The document pieces of sequence ``i`` (each ends with ``eod`` unless the document goes on in ``i + 1``)."""
        b = self.bounds[self.offsets[i]:self.offsets[i + 1]]
        return [self.tokens[i, start:end] for start, end in zip(b[:-1], b[1:])]

    def segment_ids(self, i: int) -> np.ndarray:
        """``[T]``: the index of the segment each position belongs to, -1 on padding."""
        b = self.bounds[self.offsets[i]:self.offsets[i + 1]]
        ids = np.full(self.seq_len, -1, dtype=np.int64)
        for j, (start, end) in enumerate(zip(b[:-1], b[1:])):
            ids[start:end] = j
        return ids

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
        np.ascontiguousarray(self.tokens).tofile(tmp / "tokens.bin")
        np.save(tmp / "bounds.npy", self.bounds)
        np.save(tmp / "offsets.npy", self.offsets)
        meta = {"shape": list(self.tokens.shape), "dtype": str(self.tokens.dtype), "eod_id": self.eod_id,
                "pad_id": self.pad_id}
        (tmp / "meta.json").write_text(json.dumps(meta))
        if not folder.exists():
            os.replace(tmp, folder)
            return
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        os.replace(folder, old)  # the previous copy stays on disk until the new one is in place
        os.replace(tmp, folder)
        shutil.rmtree(old)

    @classmethod
    def load(cls, folder: str | Path) -> "PackedSequences":
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text())
        tokens = np.memmap(folder / "tokens.bin", dtype=meta["dtype"], mode="r", shape=tuple(meta["shape"]))
        return cls(tokens, np.load(folder / "bounds.npy"), np.load(folder / "offsets.npy"), meta["eod_id"],
                   meta["pad_id"])


def pack_documents(docs: Sequence[Sequence[int]], seq_len: int, eod_id: int, pad_id: int,
                   vocab_size: int | None = None) -> PackedSequences:
    """Concatenate ``doc + [eod]`` for every document and cut into ``[N, seq_len]``."""
    if seq_len < 2:
        raise ValueError(f"seq_len must be at least 2, got {seq_len}")
    if not docs:
        raise ValueError("pack_documents got no documents")
    top = vocab_size if vocab_size is not None else max(eod_id, pad_id, *(max(d, default=0) for d in docs)) + 1
    dtype = np.uint16 if top <= 1 << 16 else np.int32
    lengths = np.array([len(d) + 1 for d in docs], dtype=np.int64)  # +1: the eod
    flat = np.fromiter((t for d in docs for t in (*d, eod_id)), dtype=dtype, count=int(lengths.sum()))
    total = len(flat)
    n_seq = -(-total // seq_len)
    padded = np.full(n_seq * seq_len, pad_id, dtype=dtype)
    padded[:total] = flat
    tokens = padded.reshape(n_seq, seq_len)  # [N*T] -> [N, T]

    starts = np.cumsum(lengths) - lengths  # global position of each document's first token
    seq_index = np.arange(n_seq)
    valid = np.minimum(seq_len, total - seq_index * seq_len)  # non-pad tokens per sequence
    # (sequence, position) pairs of every bound; position 0 and `valid` always, inner document starts in between
    inner = starts % seq_len != 0
    seq_of = np.concatenate([seq_index, starts[inner] // seq_len, seq_index])
    pos = np.concatenate([np.zeros(n_seq, dtype=np.int64), starts[inner] % seq_len, valid])
    order = np.lexsort((pos, seq_of))
    bounds = pos[order]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(seq_of, minlength=n_seq))])
    return PackedSequences(tokens, bounds, offsets, eod_id, pad_id)


class PackedDataset(torch.utils.data.Dataset):
    """Packed sequences as ``{"input_ids": LongTensor[T], "segment_ids": LongTensor[T]}``."""

    def __init__(self, packed: PackedSequences):
        self.packed = packed

    def __len__(self) -> int:
        return len(self.packed)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": torch.from_numpy(self.packed.tokens[i].astype(np.int64)),
                "segment_ids": torch.from_numpy(self.packed.segment_ids(i))}


def pack_corpus(tokenizer, texts: Sequence[str], seq_len: int, folder: str | Path | None = None,
                batch: int = 2048) -> PackedSequences:
    """Tokenize ``texts`` (in batches) and pack them; with ``folder``, save there and return the memory-mapped copy."""
    docs = [ids for k in range(0, len(texts), batch) for ids in tokenizer.encode_batch(texts[k:k + batch])]
    packed = pack_documents(docs, seq_len, tokenizer.eod_id, tokenizer.pad_id, tokenizer.vocab_size)
    if folder is None:
        return packed
    packed.save(folder)
    return PackedSequences.load(folder)
