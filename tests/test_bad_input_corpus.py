"""Bad input to load_text_corpus: every bad file is named with what was expected (and the line, for JSON); no stale
rows from the ``datasets`` cache; right results for the odd-but-valid files."""

import json
import os

import datasets
import pytest
from bad_input_cases import error, params, right, run

from glm_mini.data import (CorpusColumnError, CorpusDecodeError, CorpusError, CorpusFileNotFound, EmptyCorpusError,
                           load_text_corpus)

DOCS = ["First line of English.", "第二行是中文。", "mixed 中英 text 🙂"]


def jsonl(*records) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records)


FILES = {  # name -> content (str written as UTF-8, bytes as is)
    "good.txt": "\n".join(DOCS) + "\n",
    "bom.txt": "\ufeff" + "\n".join(DOCS) + "\n",  # a byte-order mark, as Windows Notepad writes
    "good.jsonl": jsonl(*({"text": d, "id": i} for i, d in enumerate(DOCS))),
    "array.json": json.dumps([{"text": d} for d in DOCS], ensure_ascii=False),
    "empty.jsonl": "",
    "blank.jsonl": "\n  \n\n",
    "null-text.jsonl": jsonl({"text": "a"}, {"text": None}, {"text": "c"}),
    "missing-key.jsonl": jsonl({"text": "a"}, "", {"body": "b"}),
    "bad-line.jsonl": jsonl({"text": "a"}, {"text": "b"}, '{"text": "c"'),
    "number-text.jsonl": jsonl({"text": "a"}, {"text": 5}),
    "not-objects.jsonl": jsonl(["a"], ["b"]),
    "bad-array.json": '[{"text": "a"},\n {"text" "b"}]',
    "array-number.json": '[{"text": "a"},\n {"text": 7}]',
    "latin1.txt": "café\n".encode("latin-1"),
    "cut-utf8.txt": "好".encode("utf-8")[:2],
    "corpus.csv": "text\nx\n",
    "broken.parquet": b"PAR1 not really",
    "wrong-column.jsonl": jsonl({"body": "x"}),
}


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpora")
    for name, content in FILES.items():
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    (folder / "folder.txt").mkdir()
    datasets.Dataset.from_dict({"text": DOCS, "n": [1, 2, 3]}).to_parquet(str(folder / "good.parquet"))
    empty = datasets.Dataset.from_dict({"text": []}, features=datasets.Features({"text": datasets.Value("string")}))
    empty.to_parquet(str(folder / "empty.parquet"))
    datasets.Dataset.from_dict({"text": ["a", None]}).to_parquet(str(folder / "null.parquet"))
    return {"dir": folder}


def load(name, **kwargs):
    return lambda ctx: load_text_corpus(ctx["dir"] / name, **kwargs)


def texts(expected):
    return lambda dataset, ctx: dataset.column_names == ["text"] and dataset["text"] == expected


def rewritten_same_size_and_mtime(ctx):
    """A file rewritten in place with the same size and modification time must not load the old rows."""
    path = ctx["dir"] / "rewritten.txt"
    path.write_text("aaa\nbbb\n")
    stat = path.stat()
    first = load_text_corpus(path)["text"]
    path.write_text("ccc\nddd\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return first, load_text_corpus(path)["text"]


CASES = [
    error("missing-file", load("nope.txt"), CorpusFileNotFound, "nope.txt", "no such file"),
    error("folder-named-txt", load("folder.txt"), CorpusError, "folder.txt", "is a folder"),
    error("empty-file", load("empty.jsonl"), EmptyCorpusError, "empty.jsonl", "0 bytes"),
    error("whitespace-only-jsonl", load("blank.jsonl"), EmptyCorpusError, "blank.jsonl"),
    error("null-text", load("null-text.jsonl"), CorpusColumnError, "null-text.jsonl", "line 2", "null"),
    error("missing-key", load("missing-key.jsonl"), CorpusColumnError, "missing-key.jsonl", "line 3", "no such key"),
    error("bad-json-line", load("bad-line.jsonl"), CorpusDecodeError, "bad-line.jsonl", "line 3"),
    error("number-in-text", load("number-text.jsonl"), CorpusColumnError, "number-text.jsonl", "line 2", "int 5"),
    error("lines-not-objects", load("not-objects.jsonl"), CorpusDecodeError, "not-objects.jsonl", "line 1",
          "JSON object"),
    error("bad-json-array", load("bad-array.json"), CorpusDecodeError, "bad-array.json", "line 2"),
    error("number-in-json-array", load("array-number.json"), CorpusColumnError, "array-number.json", "record 1"),
    error("latin1-text", load("latin1.txt"), CorpusDecodeError, "latin1.txt", "offset 3"),
    error("cut-utf8-character", load("cut-utf8.txt"), CorpusDecodeError, "cut-utf8.txt", "truncated"),
    error("unsupported-extension", load("corpus.csv"), CorpusError, "corpus.csv", "'.csv'"),
    error("broken-parquet", load("broken.parquet"), CorpusDecodeError, "broken.parquet", "parquet"),
    error("empty-parquet", load("empty.parquet"), EmptyCorpusError, "empty.parquet", "0 rows"),
    error("null-in-parquet", load("null.parquet"), CorpusColumnError, "null.parquet", "row 1"),
    error("wrong-column", load("wrong-column.jsonl"), CorpusColumnError, "wrong-column.jsonl", "['body']"),
    error("column-not-text", load("good.jsonl", column="id"), CorpusColumnError, "good.jsonl", "'id'"),
    error("source-none", lambda ctx: load_text_corpus(None), TypeError, "source"),
    error("source-int", lambda ctx: load_text_corpus(3), TypeError, "source"),
    error("column-none", load("good.txt", column=None), TypeError, "column"),
    error("sample-by-unknown", load("good.txt", sample_by="sentence"), ValueError, "sample_by", "'sentence'"),
    error("hub-name-offline", lambda ctx: load_text_corpus("kit-test/no-such-dataset"), CorpusFileNotFound,
          "kit-test/no-such-dataset"),
    right("txt-lines", load("good.txt"), texts(DOCS)),
    right("txt-document", load("good.txt", sample_by="document"), texts(["\n".join(DOCS) + "\n"])),
    right("txt-byte-order-mark-dropped", load("bom.txt"), texts(DOCS)),
    right("txt-document-byte-order-mark-dropped", load("bom.txt", sample_by="document"),
          texts(["\n".join(DOCS) + "\n"])),
    right("jsonl-extra-columns-dropped", load("good.jsonl"), texts(DOCS)),
    right("json-array", load("array.json"), texts(DOCS)),
    right("parquet-extra-columns-dropped", load("good.parquet"), texts(DOCS)),
    right("path-as-str", lambda ctx: load_text_corpus(str(ctx["dir"] / "good.txt")), texts(DOCS)),
    right("no-stale-rows-after-rewrite", rewritten_same_size_and_mtime,
          lambda out, ctx: out == (["aaa", "bbb"], ["ccc", "ddd"])),
]


@pytest.mark.parametrize("case", params(CASES))
def test_corpus_case(case, ctx):
    run(case, ctx)
