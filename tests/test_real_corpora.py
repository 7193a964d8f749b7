"""Real corpora through `datasets`: every supported local format, and a clear error for every bad input (offline)."""

import json

import datasets
import pytest

from glm_mini.data import (CorpusColumnError, CorpusDecodeError, CorpusError, CorpusFileNotFound, EmptyCorpusError,
                           load_text_corpus)

DOCS = ["First line of English.", "第二行是中文。", "mixed 中英 text"]


def test_txt_by_line_and_by_document(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("\n".join(DOCS) + "\n", encoding="utf-8")
    assert load_text_corpus(path)["text"] == DOCS
    assert load_text_corpus(path, sample_by="document")["text"] == ["\n".join(DOCS) + "\n"]


def test_jsonl_with_another_column_name(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"body": d, "id": i}, ensure_ascii=False) + "\n" for i, d in enumerate(DOCS)),
                    encoding="utf-8")
    dataset = load_text_corpus(path, column="body")
    assert dataset.column_names == ["text"] and dataset["text"] == DOCS


def test_parquet(tmp_path):
    path = tmp_path / "c.parquet"
    datasets.Dataset.from_dict({"text": DOCS}).to_parquet(str(path))
    assert load_text_corpus(path)["text"] == DOCS


def test_missing_file(tmp_path):
    with pytest.raises(CorpusFileNotFound, match="c.txt: no such file") as err:
        load_text_corpus(tmp_path / "c.txt")
    assert isinstance(err.value, FileNotFoundError)


def test_empty_file(tmp_path):
    path = tmp_path / "c.jsonl"
    path.touch()
    with pytest.raises(EmptyCorpusError, match=r"c.jsonl: the file is empty \(0 bytes\)") as err:
        load_text_corpus(path)
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("suffix", [".txt", ".jsonl"])
def test_undecodable_bytes(tmp_path, suffix):
    path = tmp_path / f"c{suffix}"
    path.write_bytes("好的\n".encode("utf-8") + b"\xff\xfe bad\n")
    with pytest.raises(CorpusDecodeError, match=rf"c\{suffix}: expected UTF-8 text, got byte 0xff at offset 7"):
        load_text_corpus(path)


def test_gbk_encoded_chinese_is_reported(tmp_path):
    path = tmp_path / "gbk.txt"
    path.write_bytes("中文文本".encode("gbk"))
    with pytest.raises(CorpusDecodeError, match="gbk.txt: expected UTF-8"):
        load_text_corpus(path)


def test_malformed_json_and_parquet(tmp_path):
    bad_json = tmp_path / "c.jsonl"
    bad_json.write_text('{"text": "ok"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(CorpusDecodeError, match="c.jsonl: expected a valid json file"):
        load_text_corpus(bad_json)
    bad_parquet = tmp_path / "c.parquet"
    bad_parquet.write_bytes(b"not a parquet file")
    with pytest.raises(CorpusDecodeError, match="c.parquet: expected a valid parquet file"):
        load_text_corpus(bad_parquet)


def test_wrong_column(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"body": "x"}\n', encoding="utf-8")
    with pytest.raises(CorpusColumnError, match=r"c.jsonl: expected a column 'text', got columns \['body'\]"):
        load_text_corpus(path)
    numbers = tmp_path / "n.jsonl"
    numbers.write_text('{"text": 1}\n{"text": 2}\n', encoding="utf-8")
    with pytest.raises(CorpusColumnError, match="expected column 'text' to hold text"):
        load_text_corpus(numbers)


def test_unsupported_extension(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("text\nx\n")
    with pytest.raises(CorpusError, match="unsupported extension '.csv'"):
        load_text_corpus(path)


def test_hub_name_offline_fails_clearly(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(CorpusFileNotFound, match="kit-test/no-such-dataset: not a local file and not loadable"):
        load_text_corpus("kit-test/no-such-dataset")
