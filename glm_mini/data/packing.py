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

``save`` writes ``tokens.bin`` (raw, for ``np.memmap``), ``bounds.npy``, ``offsets.npy``, ``meta.json`` and, last,
``manifest.json`` (sizes and SHA-256, ``manifest.py``) into a temporary folder, then renames it into place. It never
deletes or overwrites anything of the user's: an existing target is replaced only if it holds nothing but these five
files (a previous save); a regular file, a link, or a folder with anything else in it raises ``FileExistsError``
before a byte is written. ``PackedSequences.load`` checks the manifest and the layout (offsets and bounds agree with
the tokens) and then memory-maps the tokens, so a corpus larger than RAM is read lazily and a cut, edited or
half-copied folder raises ``PackedDataError`` naming the folder and the file. ``PackedDataset`` is the
``torch.utils.data.Dataset`` a trainer iterates: each item is ``input_ids`` (a LongTensor ``[T]``) and
``segment_ids`` (``[T]``: 0, 1, ... per segment, -1 on padding); indices follow Python's rules (-1 is the last
sequence, out of range raises ``IndexError``).

``pack_corpus`` encodes documents as plain text (``parse_special=False``): the string "<eod>" or "[MASK]" inside a
document stays those characters and can never fake a document boundary or a blank.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from glm_mini.manifest import check_replaceable, manifest_problem, open_permissions, replace_folder, write_manifest
from glm_mini.tokenizer import check_text

# Dimension names: N sequences, T tokens per sequence, M bounds in all.


PACKED_FILES = ("tokens.bin", "bounds.npy", "offsets.npy", "meta.json", "manifest.json")


class PackedDataError(ValueError):
    """A packed folder or array that is damaged or inconsistent (names the folder or the array)."""


@dataclass
class PackedSequences:
    tokens: np.ndarray  # [N, T]
    bounds: np.ndarray  # [M] int64
    offsets: np.ndarray  # [N + 1] int64
    eod_id: int
    pad_id: int

    def __post_init__(self):
        problem = _layout_problem(self.tokens, self.bounds, self.offsets)
        if problem:
            raise PackedDataError(f"PackedSequences: {problem}")

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def seq_len(self) -> int:
        return self.tokens.shape[1]

    def _index(self, i) -> int:
        """Python's indexing rules: -1 is the last sequence; out of range or not an int raises."""
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"sequence index: expected an int, got {type(i).__name__} {i!r}")
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"sequence index {i} out of range for {n} sequences")
        return int(i) % n

    def segments(self, i: int) -> list[np.ndarray]:
        """The document pieces of sequence ``i`` (each ends with ``eod`` unless the document goes on in ``i + 1``)."""
        i = self._index(i)
        b = self.bounds[self.offsets[i]:self.offsets[i + 1]]
        return [self.tokens[i, start:end] for start, end in zip(b[:-1], b[1:])]

    def segment_ids(self, i: int) -> np.ndarray:
        """``[T]``: the index of the segment each position belongs to, -1 on padding."""
        i = self._index(i)
        b = self.bounds[self.offsets[i]:self.offsets[i + 1]]
        ids = np.full(self.seq_len, -1, dtype=np.int64)
        for j, (start, end) in enumerate(zip(b[:-1], b[1:])):
            ids[start:end] = j
        return ids

    def save(self, folder: str | Path) -> None:
        """Write the four files and, last, ``manifest.json`` (sizes, SHA-256) into a temporary folder, then move it
        to ``folder``. An existing ``folder`` is replaced only if it holds nothing but a packed corpus's files: a
        regular file, or a folder with anything else in it, raises ``FileExistsError`` and is left untouched."""
        def write_tokens(path: Path) -> PackedLayout:
            np.ascontiguousarray(self.tokens).tofile(path)
            return PackedLayout(self.tokens.shape, self.tokens.dtype, self.bounds, self.offsets, self.eod_id,
                                self.pad_id)

        write_packed_folder(folder, write_tokens)

    @classmethod
    def load(cls, folder: str | Path, verify_checksums: bool = True) -> "PackedSequences":
        """Memory-map a saved folder after checking its manifest (sizes always; SHA-256 unless
        ``verify_checksums=False``, which skips one read of the files) and its layout."""
        folder = Path(folder)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no packed corpus folder there")
        problem = manifest_problem(folder / "manifest.json", PACKED_FILES[:4], checksums=verify_checksums)
        if problem:
            raise PackedDataError(f"{folder}: damaged packed corpus: {problem}; pack it again")
        try:
            meta = json.loads((folder / "meta.json").read_text())
            tokens = np.memmap(folder / "tokens.bin", dtype=meta["dtype"], mode="r", shape=tuple(meta["shape"]))
            return cls(tokens, np.load(folder / "bounds.npy"), np.load(folder / "offsets.npy"), meta["eod_id"],
                       meta["pad_id"])
        except (ValueError, KeyError, TypeError) as err:  # a manifest matching inconsistent files
            raise PackedDataError(f"{folder}: damaged packed corpus: {err}") from None


@dataclass
class PackedLayout:
    """What a packed folder records beside ``tokens.bin``: its shape and dtype, the bounds and offsets, the ids."""
    shape: tuple[int, int]  # [N, T]
    dtype: np.dtype
    bounds: np.ndarray  # [M]
    offsets: np.ndarray  # [N + 1]
    eod_id: int
    pad_id: int


def write_packed_folder(folder: str | Path, write_tokens: Callable[[Path], PackedLayout]) -> None:
    """The save protocol of ``PackedSequences.save`` for any writer of ``tokens.bin``: refuse a foreign ``folder``
    before writing anything, let ``write_tokens(path)`` write the raw tokens to ``path`` and return the layout, then
    write the other files and, last, the manifest in a temporary folder, and move it into place."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    check_replaceable(folder, set(PACKED_FILES))  # refuse before writing anything
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        open_permissions(tmp)  # mkdtemp makes 0700: the saved folder gets the mode the umask gives
        layout = write_tokens(tmp / "tokens.bin")
        np.save(tmp / "bounds.npy", layout.bounds)
        np.save(tmp / "offsets.npy", layout.offsets)
        meta = {"shape": [int(n) for n in layout.shape], "dtype": str(np.dtype(layout.dtype)),
                "eod_id": int(layout.eod_id), "pad_id": int(layout.pad_id)}
        (tmp / "meta.json").write_text(json.dumps(meta))
        write_manifest(tmp / "manifest.json", [tmp / name for name in PACKED_FILES[:4]])
        replace_folder(tmp, folder, set(PACKED_FILES))
    finally:
        if tmp.exists():  # not moved into place: remove what this call wrote, by name
            for name in PACKED_FILES:
                (tmp / name).unlink(missing_ok=True)
            tmp.rmdir()


def _layout_problem(tokens, bounds, offsets) -> str | None:
    """What is inconsistent between tokens ``[N, T]``, bounds ``[M]`` and offsets ``[N + 1]``, or ``None``."""
    for name, array, dims in (("tokens", tokens, 2), ("bounds", bounds, 1), ("offsets", offsets, 1)):
        if not isinstance(array, np.ndarray) or array.ndim != dims or array.dtype.kind not in "iu":
            got = f"{array.ndim}-D {array.dtype}" if isinstance(array, np.ndarray) else type(array).__name__
            return f"{name}: expected a {dims}-D integer numpy array, got {got}"
    n, t = tokens.shape
    if len(offsets) != n + 1 or offsets[0] != 0 or offsets[-1] != len(bounds):
        return (f"offsets: expected {n + 1} entries from 0 to len(bounds)={len(bounds)}, got {len(offsets)} "
                f"entries from {offsets[0] if len(offsets) else None} to {offsets[-1] if len(offsets) else None}")
    if n and (np.diff(offsets) < 2).any():
        return "offsets: every sequence needs at least two bounds (0 and its length)"
    if len(bounds) and (bounds.min() < 0 or bounds.max() > t):
        return f"bounds: expected positions in [0, {t}], got values from {bounds.min()} to {bounds.max()}"
    inner = np.ones(len(bounds) - 1, dtype=bool)  # pairs of bounds inside one sequence must increase
    inner[offsets[1:-1] - 1] = False
    if n and ((bounds[offsets[:-1]] != 0).any() or (np.diff(bounds)[inner] <= 0).any()):
        return "bounds: each sequence's bounds must start at 0 and increase"
    return None


def pack_documents(docs: Iterable[Sequence[int]], seq_len: int, eod_id: int, pad_id: int,
                   vocab_size: int | None = None) -> PackedSequences:
    """Concatenate ``doc + [eod]`` for every document and cut into ``[N, seq_len]``. ``docs`` may be any iterable
    (a generator is read once); every id must be an int in ``[0, vocab_size)``."""
    for name, value in (("seq_len", seq_len), ("eod_id", eod_id), ("pad_id", pad_id), ("vocab_size", vocab_size)):
        if not (_is_int(value) or (name == "vocab_size" and value is None)):
            raise TypeError(f"{name}: expected an int, got {type(value).__name__} {value!r}")
    if seq_len < 2:
        raise ValueError(f"seq_len must be at least 2, got {seq_len}")
    if isinstance(docs, (str, bytes)):
        raise TypeError(f"docs: expected a sequence of documents (lists of token ids), got one {type(docs).__name__}")
    docs = [_document_ids(d, k) for k, d in enumerate(docs)]
    if not docs:
        raise ValueError("pack_documents got no documents")
    top = vocab_size if vocab_size is not None else max(eod_id, pad_id, *(int(d.max(initial=0)) for d in docs)) + 1
    for name, value in (("eod_id", eod_id), ("pad_id", pad_id)):
        if not 0 <= value < top:
            raise ValueError(f"{name}: expected an id in [0, vocab_size={top}), got {value}")
    for k, d in enumerate(docs):
        if len(d) and (d.min() < 0 or d.max() >= top):
            bad = d.min() if d.min() < 0 else d.max()
            raise ValueError(f"docs[{k}]: token id {bad} is outside [0, vocab_size={top})")
    dtype = np.uint16 if top <= 1 << 16 else np.int32
    lengths = np.array([len(d) + 1 for d in docs], dtype=np.int64)  # +1: the eod
    eod = np.array([eod_id], dtype=np.int64)
    flat = np.concatenate([part for d in docs for part in (d, eod)]).astype(dtype)
    total = len(flat)
    n_seq = -(-total // seq_len)
    padded = np.full(n_seq * seq_len, pad_id, dtype=dtype)
    padded[:total] = flat
    tokens = padded.reshape(n_seq, seq_len)  # [N*T] -> [N, T]

    starts = np.cumsum(lengths) - lengths  # global position of each document's first token
    bounds, offsets = sequence_bounds(starts, total, seq_len)
    return PackedSequences(tokens, bounds, offsets, eod_id, pad_id)


def sequence_bounds(starts: np.ndarray, total: int, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """``bounds [M]`` and ``offsets [N + 1]`` of a stream of ``total`` tokens cut every ``seq_len``, whose documents
    start at the stream positions ``starts`` (int64, increasing, the first 0)."""
    n_seq = -(-total // seq_len)
    seq_index = np.arange(n_seq)
    valid = np.minimum(seq_len, total - seq_index * seq_len)  # non-pad tokens per sequence
    # (sequence, position) pairs of every bound; position 0 and `valid` always, inner document starts in between
    inner = starts % seq_len != 0
    seq_of = np.concatenate([seq_index, starts[inner] // seq_len, seq_index])
    pos = np.concatenate([np.zeros(n_seq, dtype=np.int64), starts[inner] % seq_len, valid])
    order = np.lexsort((pos, seq_of))
    bounds = pos[order]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(seq_of, minlength=n_seq))])
    return bounds, offsets


class PackedDataset(torch.utils.data.Dataset):
    """Packed sequences as ``{"input_ids": LongTensor[T], "segment_ids": LongTensor[T]}``."""

    def __init__(self, packed: PackedSequences):
        self.packed = packed

    def __len__(self) -> int:
        return len(self.packed)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        i = self.packed._index(i)
        return {"input_ids": torch.from_numpy(self.packed.tokens[i].astype(np.int64)),
                "segment_ids": torch.from_numpy(self.packed.segment_ids(i))}


def pack_corpus(tokenizer, texts: Iterable[str], seq_len: int, folder: str | Path | None = None,
                batch: int = 2048) -> PackedSequences:
    """Tokenize ``texts`` (any iterable of str, read once, in batches) and pack them; with ``folder``, save there and
    return the memory-mapped copy.

    Corpus text is plain text: it is encoded with ``parse_special=False``, so a document that contains the string
    ``<eod>`` or ``[MASK]`` gets the ids of those characters, never a control id that would fake a document boundary
    or a blank. Only prompts (``tokenizer.encode``) parse special-token strings."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"texts: expected an iterable of documents (str), got one {type(texts).__name__}; "
                        "wrap it in a list")
    if not callable(getattr(tokenizer, "encode_batch", None)):
        raise TypeError(f"tokenizer: expected a GLMTokenizer, got {type(tokenizer).__name__}")
    if not _is_int(batch) or batch < 1:
        raise ValueError(f"batch: expected a positive int, got {batch!r}")
    docs, stream, start = [], iter(texts), 0
    while chunk := list(itertools.islice(stream, batch)):
        for k, text in enumerate(chunk):
            check_text(text, f"texts[{start + k}]")
        docs += tokenizer.encode_batch(chunk, parse_special=False)
        start += len(chunk)
    packed = pack_documents(docs, seq_len, tokenizer.eod_id, tokenizer.pad_id, tokenizer.vocab_size)
    if folder is None:
        return packed
    packed.save(folder)
    return PackedSequences.load(folder)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _document_ids(doc, k: int) -> np.ndarray:
    """Document ``k`` as an int64 array, after checking it is a flat sequence of int ids."""
    if isinstance(doc, (str, bytes)):
        raise TypeError(f"docs[{k}]: expected a sequence of token ids, got {type(doc).__name__} (tokenize it first)")
    try:
        array = np.asarray(doc.numpy() if isinstance(doc, torch.Tensor) else doc)
    except (ValueError, TypeError) as err:
        raise TypeError(f"docs[{k}]: expected a flat sequence of int token ids ({err})") from None
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        raise TypeError(f"docs[{k}]: expected a flat sequence of int token ids, got {array.ndim}-D {array.dtype}")
    return array.astype(np.int64, copy=False)
