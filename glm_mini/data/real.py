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
``CorpusDecodeError`` (a text/JSON file that is not UTF-8: the byte offset; malformed JSON or parquet: the file's
line number), ``CorpusColumnError`` (the requested column is missing, not text, or null in some row: the columns that
exist, or the line). All but the first are ``ValueError`` subclasses; a folder where a file was expected is a
``CorpusError``.

``datasets`` keys its cache of a local file on the path and modification time only, so a file rewritten with the
same size and mtime would load stale rows. The loader therefore gives each file's cache a folder named by the
SHA-256 of its content (one extra read of the file): new content, new cache; unchanged content, the cached Arrow.
"""

from __future__ import annotations

import codecs
import json
import os
from pathlib import Path

import datasets
import pyarrow  # installed with datasets
import pyarrow.compute
import pyarrow.parquet

from glm_mini.manifest import file_sha256

BUILDERS = {".txt": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
SAMPLE_BY = ("line", "paragraph", "document")  # the datasets "text" builder's ways to cut a .txt file


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
    if path.is_dir():
        raise CorpusError(f"{path}: is a folder, expected a file (one of {', '.join(BUILDERS)})")
    builder = BUILDERS.get(path.suffix.lower())
    if builder is None:
        raise CorpusError(f"{path}: unsupported extension {path.suffix!r}, expected one of {', '.join(BUILDERS)}")
    if path.stat().st_size == 0:
        raise EmptyCorpusError(f"{path}: the file is empty (0 bytes); expected at least one document")
    if builder == "parquet":
        try:
            rows = pyarrow.parquet.ParquetFile(path).metadata.num_rows
        except (pyarrow.ArrowException, OSError) as err:
            raise CorpusDecodeError(f"{path}: expected a valid parquet file, got: {err}") from None
        if rows == 0:
            raise EmptyCorpusError(f"{path}: a valid parquet file with 0 rows; expected at least one document")
    else:
        _check_utf8(path)
        if builder == "json" and _only_whitespace(path):
            raise EmptyCorpusError(f"{path}: holds only whitespace; expected at least one JSON record")
    return builder


def _only_whitespace(path: Path) -> bool:
    with open(path, "rb") as f:
        while block := f.read(1 << 16):
            if block.strip():
                return False
    return True


def _json_problem(path: Path, column: str) -> str | None:
    """The first line of a JSON/JSONL file that is malformed, not an object, or whose ``column`` is not a string."""
    text = path.read_text(encoding="utf-8")
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    try:
        whole = json.loads(text)
    except ValueError as err:
        if lines and lines[0][1].lstrip().startswith("[") and not _parses(lines[0][1]):  # a multi-line JSON array
            return f"line {err.lineno} column {err.colno} is not valid JSON ({err.msg})"
        rows = []
        for number, line in lines:  # JSON lines
            try:
                rows.append((f"line {number}", json.loads(line)))
            except ValueError as line_err:
                return f"line {number} is not valid JSON ({line_err.msg})"
    else:
        rows = [(f"record {k}", r) for k, r in enumerate(whole)] if isinstance(whole, list) else [("line 1", whole)]
    for where, record in rows:
        if not isinstance(record, dict):
            return f"{where}: expected a JSON object, got {type(record).__name__}"
        value = record.get(column)
        if not isinstance(value, str):
            got = "no such key" if column not in record else f"{type(value).__name__} {value!r}"[:80]
            return f"{where}: expected a string in {column!r}, got {got}"
    return None


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _text_column(dataset: datasets.Dataset, column: str, source: str, path: Path | None) -> datasets.Dataset:
    if column not in dataset.column_names:
        raise CorpusColumnError(f"{source}: expected a column {column!r}, got columns {dataset.column_names}")
    feature = dataset.features[column]
    json_file = path is not None and BUILDERS.get(path.suffix.lower()) == "json"
    if getattr(feature, "dtype", None) not in ("string", "large_string"):
        where = f" ({_json_problem(path, column)})" if json_file else ""
        raise CorpusColumnError(f"{source}: expected column {column!r} to hold text (string), got {feature}{where}")
    if len(dataset) == 0:
        raise EmptyCorpusError(f"{source}: expected at least one row, got 0")
    values = dataset.data.column(column)
    if values.null_count:
        row = pyarrow.compute.index(pyarrow.compute.is_null(values), True).as_py()
        where = _json_problem(path, column) if json_file else f"row {row}"
        raise CorpusColumnError(f"{source}: {values.null_count} rows have no text in column {column!r} (null or "
                                f"missing), first at {where}; expected a string in every row")
    extra = [c for c in dataset.column_names if c != column]
    dataset = dataset.remove_columns(extra)
    return dataset.rename_column(column, "text") if column != "text" else dataset


def load_text_corpus(source: str | os.PathLike, column: str = "text", split: str = "train",
                     config: str | None = None, sample_by: str = "line") -> datasets.Dataset:
    """A ``datasets.Dataset`` whose only column is ``text``, from a local file or a Hub dataset name."""
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source: expected a file path or a Hub dataset name, got {type(source).__name__}")
    for name, value in (("column", column), ("split", split)):
        if not isinstance(value, str):
            raise TypeError(f"{name}: expected a str, got {type(value).__name__} {value!r}")
    if sample_by not in SAMPLE_BY:
        raise ValueError(f"sample_by: expected one of {SAMPLE_BY} (.txt files only), got {sample_by!r}")
    path = Path(source)
    if path.suffix.lower() in BUILDERS or path.exists():  # otherwise a Hub name such as "org/name"
        builder = _check_file(path)
        # utf-8-sig: a byte-order mark (Windows editors write one) is not text of the first document
        kwargs = {"sample_by": sample_by, "encoding": "utf-8-sig"} if builder == "text" else {}
        cache = Path(datasets.config.HF_DATASETS_CACHE) / "glm_kit_local" / file_sha256(path)[:32]  # content key
        try:
            dataset = datasets.load_dataset(builder, data_files={"train": str(path)}, split="train",
                                            cache_dir=str(cache), **kwargs)
        # malformed JSON lines, a broken parquet file
        except (datasets.exceptions.DatasetGenerationError, pyarrow.ArrowException) as err:
            where = _json_problem(path, column) if builder == "json" else None
            raise CorpusDecodeError(f"{path}: expected a valid {builder} file, got: "
                                    f"{where or err.__cause__ or err}") from err
    else:
        path = None
        try:
            dataset = datasets.load_dataset(str(source), config, split=split)
        except (FileNotFoundError, ConnectionError, ValueError) as err:
            raise CorpusFileNotFound(f"{source}: not a local file and not loadable from the Hub "
                                     f"(offline={os.environ.get('HF_DATASETS_OFFLINE', '0')}): {err}") from err
    return _text_column(dataset, column, str(source), path)
