"""Real corpora through Hugging Face ``datasets``: a dataset saved with ``save_to_disk``, local .txt/.jsonl/.json/
.parquet files (one, or a glob pattern of several), or Hub datasets by name.

How it works
------------
``load_text_corpus(source)`` returns a ``datasets.Dataset`` with a ``text`` column, backed by Arrow files that
``datasets`` memory-maps (so the corpus is never read into Python objects as a whole; the file caches go under
``$HF_HOME``, which the Makefile and tests point inside the repo):

- a folder written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk`` is opened with ``load_from_disk``
  (``split`` picks one split of a ``DatasetDict``);
- a folder of data files, as the Hub ships them (``wikitext-103-raw-v1/train-00000-of-00002.parquet``,
  ``validation-00000-of-00001.parquet``, ...), is split by file name: a file belongs to split S when its name is S
  followed by a non-letter (``train-``, ``validation.``); a folder where no name starts with a split is all ``train``.
  ``corpus_splits`` lists the splits of either kind of folder;
- a local path picks the builder from its extension: ``.txt`` -> ``"text"`` (one example per line, or per file
  with ``sample_by="document"``), ``.jsonl``/``.json`` -> ``"json"``, ``.parquet`` -> ``"parquet"``; a glob pattern
  (``wikitext-103-raw-v1/train-*.parquet``) reads every matching file, in sorted order, as one corpus;
- any other string is a Hub dataset name (``"wikitext"``, with ``config``), fetched only when online; with
  ``HF_DATASETS_OFFLINE=1`` (set in tests) ``datasets`` can only use its cache.

``corpus_stamp(source)`` is a cheap version of a local corpus's content for cache keys: each file's size and
modification time, or a saved dataset's own fingerprints (``state.json``).

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
import glob
import hashlib
import json
import os
import re
from pathlib import Path

import datasets
import pyarrow  # installed with datasets
import pyarrow.compute
import pyarrow.parquet

from glm_mini.manifest import file_sha256

BUILDERS = {".txt": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
SAMPLE_BY = ("line", "paragraph", "document")  # the datasets "text" builder's ways to cut a .txt file
SAVED_DATASET = ("dataset_info.json", "state.json")  # what Dataset.save_to_disk writes beside its Arrow files
SAVED_DATASET_DICT = "dataset_dict.json"  # what DatasetDict.save_to_disk writes beside one folder per split
GLOB_CHARS = "*?["
SPLIT_NAMES = ("train", "validation", "test")  # the split names a folder of data files may use as file prefixes


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


def saved_splits(path: str | os.PathLike) -> list[str] | None:
    """The splits of a ``DatasetDict`` saved at ``path``, ``[]`` for a saved ``Dataset``, ``None`` for anything
    else (a file, a plain folder, a Hub name)."""
    path = Path(path)
    if (path / SAVED_DATASET_DICT).is_file():
        try:
            return list(json.loads((path / SAVED_DATASET_DICT).read_text(encoding="utf-8"))["splits"])
        except (ValueError, KeyError, TypeError) as err:
            raise CorpusError(f"{path / SAVED_DATASET_DICT}: expected the file DatasetDict.save_to_disk writes, "
                              f"got {type(err).__name__}: {err}") from None
    if all((path / name).is_file() for name in SAVED_DATASET):
        return []
    return None


def folder_files(path: str | os.PathLike) -> dict[str, list[Path]]:
    """The data files directly in folder ``path`` (supported extensions), grouped by split as the file names say."""
    files = sorted(p for p in Path(path).iterdir() if p.is_file() and p.suffix.lower() in BUILDERS)
    by_split: dict[str, list[Path]] = {}
    for f in files:
        split = re.match(r"[A-Za-z]+", f.name)
        name = split.group(0).lower() if split and split.group(0).lower() in SPLIT_NAMES else None
        by_split.setdefault(name, []).append(f)
    if set(by_split) == {None}:
        return {"train": by_split[None]}
    by_split.pop(None, None)  # files named for no split, beside files that are: not part of any split
    return by_split


def corpus_splits(source: str | os.PathLike) -> list[str] | None:
    """The splits of a local folder corpus (a saved ``DatasetDict``, or a folder of data files); ``None`` for a
    single saved ``Dataset``, a file, a pattern or a Hub name."""
    path = Path(source).expanduser()
    if not path.is_dir():
        return None
    saved = saved_splits(path)
    if saved is not None:
        return saved or None
    return sorted(folder_files(path)) or None


def corpus_stamp(source: str | os.PathLike) -> list:
    """A cheap version of a local corpus's content for cache keys ([] for a Hub name): per file its resolved path,
    size and modification time; for a saved dataset the fingerprints ``datasets`` keeps in each ``state.json``."""
    path = Path(source).expanduser()
    if path.is_dir() and saved_splits(path) is not None:
        states = sorted(path.glob("state.json")) + sorted(path.glob("*/state.json"))
        return [(str(s.relative_to(path)), json.loads(s.read_text(encoding="utf-8")).get("_fingerprint"))
                for s in states]
    if path.is_dir():
        files = [f for split in folder_files(path).values() for f in split]
    else:
        files = _glob_files(str(source)) if _is_pattern(str(source)) else [path] if path.is_file() else []
    return [(str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns) for f in files]


def _is_pattern(source: str) -> bool:
    return any(c in source for c in GLOB_CHARS) and not Path(source).exists()


def _glob_files(pattern: str) -> list[Path]:
    return [Path(p) for p in sorted(glob.glob(os.path.expanduser(pattern), recursive=True)) if not Path(p).is_dir()]


def _load_saved(path: Path, split: str) -> datasets.Dataset:
    """A split of a ``save_to_disk`` folder (memory-mapped Arrow)."""
    try:
        saved = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError, pyarrow.ArrowException) as err:
        raise CorpusDecodeError(f"{path}: expected a dataset saved with save_to_disk, got: {err}") from err
    if isinstance(saved, datasets.DatasetDict):
        if split not in saved:
            raise CorpusError(f"{path}: has no split {split!r}; its splits are {sorted(saved)}")
        saved = saved[split]
    return saved


def _load_files(paths: list[Path], source: str, column: str, sample_by: str) -> datasets.Dataset:
    """One or more local files of one format, through the ``datasets`` builder their extension names."""
    builders = {p: _check_file(p) for p in paths}
    if len(set(builders.values())) > 1:
        kinds = ", ".join(f"{p.name} ({b})" for p, b in builders.items())
        raise CorpusError(f"{source}: expected files of one format, got {kinds}")
    builder = builders[paths[0]]
    # utf-8-sig: a byte-order mark (Windows editors write one) is not text of the first document
    kwargs = {"sample_by": sample_by, "encoding": "utf-8-sig"} if builder == "text" else {}
    key = hashlib.sha256("".join(file_sha256(p) for p in paths).encode()).hexdigest()[:32]  # content key
    cache = Path(datasets.config.HF_DATASETS_CACHE) / "glm_kit_local" / key
    try:
        return datasets.load_dataset(builder, data_files={"train": [str(p) for p in paths]}, split="train",
                                     cache_dir=str(cache), **kwargs)
    # malformed JSON lines, a broken parquet file
    except (datasets.exceptions.DatasetGenerationError, pyarrow.ArrowException) as err:
        problems = [(p, w) for p in paths if builder == "json" and (w := _json_problem(p, column))]
        where = None if not problems else problems[0][1] if len(paths) == 1 else f"{problems[0][0]}: {problems[0][1]}"
        file = paths[0] if len(paths) == 1 else source
        raise CorpusDecodeError(f"{file}: expected a valid {builder} file, got: "
                                f"{where or err.__cause__ or err}") from err


def load_text_corpus(source: str | os.PathLike, column: str = "text", split: str = "train",
                     config: str | None = None, sample_by: str = "line") -> datasets.Dataset:
    """A ``datasets.Dataset`` whose only column is ``text``, from a saved dataset folder, a local file or glob
    pattern of files, or a Hub dataset name."""
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"source: expected a file path or a Hub dataset name, got {type(source).__name__}")
    for name, value in (("column", column), ("split", split)):
        if not isinstance(value, str):
            raise TypeError(f"{name}: expected a str, got {type(value).__name__} {value!r}")
    if sample_by not in SAMPLE_BY:
        raise ValueError(f"sample_by: expected one of {SAMPLE_BY} (.txt files only), got {sample_by!r}")
    path = Path(source).expanduser()
    if path.is_dir() and saved_splits(path) is not None:
        return _text_column(_load_saved(path, split), column, str(source), None)
    if path.is_dir() and folder_files(path):
        splits = folder_files(path)
        if split not in splits:
            raise CorpusError(f"{path}: has no {split!r} files; its data files make the splits {sorted(splits)}")
        paths = splits[split]
        dataset = _load_files(paths, str(path), column, sample_by)
        return _text_column(dataset, column, str(source), paths[0] if len(paths) == 1 else None)
    if _is_pattern(str(source)):
        paths = _glob_files(str(source))
        if not paths:
            raise CorpusFileNotFound(f"{source}: no file matches this pattern (expected one or more of "
                                     f"{', '.join(BUILDERS)})")
        dataset = _load_files(paths, str(source), column, sample_by)
        path = paths[0] if len(paths) == 1 else None
    elif path.suffix.lower() in BUILDERS or path.exists():  # otherwise a Hub name such as "org/name"
        if path.is_dir():
            raise CorpusError(f"{path}: is a folder, but neither a dataset saved with save_to_disk (no "
                              f"{SAVED_DATASET_DICT}, no {' + '.join(SAVED_DATASET)}) nor a folder of data files "
                              f"(none of {', '.join(BUILDERS)}); expected one of those, a file or a glob pattern")
        dataset = _load_files([path], str(path), column, sample_by)
    else:
        path = None
        try:
            dataset = datasets.load_dataset(str(source), config, split=split)
        except (FileNotFoundError, ConnectionError, ValueError) as err:
            raise CorpusFileNotFound(f"{source}: not a local file and not loadable from the Hub "
                                     f"(offline={os.environ.get('HF_DATASETS_OFFLINE', '0')}): {err}") from err
    return _text_column(dataset, column, str(source), path)
