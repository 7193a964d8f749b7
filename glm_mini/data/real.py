"""Real corpora through Hugging Face ``datasets``: local .txt/.jsonl/.json/.parquet files, or Hub datasets by name.

How it works
------------
``load_text_corpus(source)`` returns a ``datasets.Dataset`` with a ``text`` column, cached as Arrow by ``datasets``
(under ``$HF_HOME``, which the Makefile and tests point inside the repo):

- a local path picks the builder from its extension: ``.txt`` -> ``"text"`` (one example per line, or per file
  with ``sample_by="document"``), ``.jsonl``/``.json`` -> ``"json"``, ``.parquet`` -> ``"parquet"``;
- any other string is a Hub dataset name (``"wikitext"``, with ``config``), fetched only when online; with
  ``HF_DATASETS_OFFLINE=1`` (set in tests) ``datasets`` can only use its cache.

Before handing a file to ``datasets`` the loader checks it, so a bad input fails with an error that names the file
and says what was expected: ``CorpusFileNotFound`` (missing), ``EmptyCorpusError`` (no bytes, or no rows),
``CorpusDecodeError`` (a text/JSON file that is not UTF-8: the byte offset; malformed JSON or parquet),
``CorpusColumnError`` (the requested
column is missing or not text: the columns that exist). All but the first are ``ValueError`` subclasses.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path

import datasets
import pyarrow  # installed with datasets

BUILDERS = {".txt": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


class CorpusError(Exception):
    """Base class for every bad-corpus error."""


class CorpusFileNotFound(CorpusError, FileNotFoundError):
    pass


class EmptyCorpusError(CorpusError, ValueError):
    pass


class CorpusDecodeError(CorpusError, ValueError):
    pass


class CorpusColumnError(CorpusError, ValueError):
    pass


def _check_utf8(path: Path) -> None:
    """Decode the file in 1 MiB blocks so a bad byte is reported with its offset, without reading it all at once."""
    decoder_offset = 0
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as err:
                raise CorpusDecodeError(
                    f"{path}: expected UTF-8 text, got byte 0x{block[err.start]:02x} at offset "
                    f"{decoder_offset + err.start} that is not valid UTF-8 ({err.reason})") from None
            decoder_offset += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as err:
            raise CorpusDecodeError(f"{path}: expected UTF-8 text, got a truncated character at the end "
                                    f"({err.reason})") from None


def _check_file(path: Path) -> str:
    """Validate a local file and return its ``datasets`` builder name."""
    if not path.exists():
        raise CorpusFileNotFound(f"{path}: no such file (expected one of {', '.join(BUILDERS)})")
    builder = BUILDERS.get(path.suffix.lower())
    if builder is None:
        raise CorpusError(f"{path}: unsupported extension {path.suffix!r}, expected one of {', '.join(BUILDERS)}")
    if path.stat().st_size == 0:
        raise EmptyCorpusError(f"{path}: the file is empty (0 bytes); expected at least one document")
    if builder != "parquet":
        _check_utf8(path)
    return builder


def _text_column(dataset: datasets.Dataset, column: str, source: str) -> datasets.Dataset:
    if column not in dataset.column_names:
        raise CorpusColumnError(f"{source}: expected a column {column!r}, got columns {dataset.column_names}")
    feature = dataset.features[column]
    if getattr(feature, "dtype", None) not in ("string", "large_string"):
        raise CorpusColumnError(f"{source}: expected column {column!r} to hold text (string), got {feature}")
    if len(dataset) == 0:
        raise EmptyCorpusError(f"{source}: expected at least one row, got 0")
    extra = [c for c in dataset.column_names if c != column]
    dataset = dataset.remove_columns(extra)
    return dataset.rename_column(column, "text") if column != "text" else dataset


def load_text_corpus(source: str | os.PathLike, column: str = "text", split: str = "train",
                     config: str | None = None, sample_by: str = "line") -> datasets.Dataset:
    """A ``datasets.Dataset`` whose only column is ``text``, from a local file or a Hub dataset name."""
    path = Path(source)
    if path.suffix.lower() in BUILDERS or path.exists():  # otherwise a Hub name such as "org/name"
        builder = _check_file(path)
        kwargs = {"sample_by": sample_by} if builder == "text" else {}
        try:
            dataset = datasets.load_dataset(builder, data_files={"train": str(path)}, split="train", **kwargs)
        # malformed JSON lines, a broken parquet file
        except (datasets.exceptions.DatasetGenerationError, pyarrow.ArrowException) as err:
            raise CorpusDecodeError(f"{path}: expected a valid {builder} file, got: {err.__cause__ or err}") from err
    else:
        try:
            dataset = datasets.load_dataset(str(source), config, split=split)
        except (FileNotFoundError, ConnectionError, ValueError) as err:
            raise CorpusFileNotFound(f"{source}: not a local file and not loadable from the Hub "
                                     f"(offline={os.environ.get('HF_DATASETS_OFFLINE', '0')}): {err}") from err
    return _text_column(dataset, column, str(source))
