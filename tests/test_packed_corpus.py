"""Real corpora through `datasets` into the memory-mapped training cache (glm_mini.data.packed_corpus), offline:
saved datasets, file globs and JSONL with another text column; the streaming packer against the in-memory one; the
cache; bad input; and the trainer's command line on a saved dataset."""

import json
import os
import subprocess
import sys

import datasets
import numpy as np
import pytest

from corpus_fixtures import small_corpus, small_tokenizer
from glm_mini.data import CorpusColumnError, CorpusError, CorpusFileNotFound, load_text_corpus, pack_documents
from glm_mini.data import packed_corpus as pc
from glm_mini.data.packed_corpus import IDS, pack_real_corpus, pack_token_dataset
from glm_mini.data.real import corpus_splits, corpus_stamp, saved_splits
from glm_mini.manifest import CacheRebuildWarning
from conftest import REPO_ROOT


def _texts(n=120):
    texts = [r["text"] for r in small_corpus()["train"][:n]]
    texts[3] = ""  # an empty row and a blank one: not documents
    texts[7] = "  \n "
    return texts


def _expected(tokenizer, texts, seq_len, n_val=None):
    """The in-memory path on the same documents: encode every non-empty text, pack with pack_documents."""
    docs = tokenizer.encode_batch([t for t in texts if t.strip()], parse_special=False)
    n_val = max(1, round(0.05 * len(docs))) if n_val is None else n_val
    args = (seq_len, tokenizer.eod_id, tokenizer.pad_id, len(tokenizer))
    return pack_documents(docs[:len(docs) - n_val], *args), pack_documents(docs[len(docs) - n_val:], *args)


def _same(packed, expected):
    assert packed.tokens.dtype == expected.tokens.dtype
    assert np.array_equal(packed.tokens, expected.tokens)
    assert np.array_equal(packed.bounds, expected.bounds) and np.array_equal(packed.offsets, expected.offsets)
    assert (packed.eod_id, packed.pad_id) == (expected.eod_id, expected.pad_id)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_KIT_DATA_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.mark.parametrize("seq_len", [2, 16, 37])
def test_streaming_packer_writes_what_pack_documents_builds_in_memory(tmp_path, seq_len):
    rng = np.random.default_rng(seq_len)
    docs = [rng.integers(0, 500, rng.integers(0, 40)).tolist() for _ in range(60)]  # some empty
    docs[0] = list(range(seq_len - 1))  # doc + eod fills the first sequence exactly
    ids = datasets.Dataset.from_dict({"ids": docs}, features=IDS)
    packed = pack_token_dataset(ids, seq_len, 501, 0, 502, tmp_path / "packed", batch_size=7)  # across batches
    _same(packed, pack_documents(docs, seq_len, 501, 0, 502))
    assert isinstance(packed.tokens, np.memmap)
    big = pack_token_dataset(ids, seq_len, 70_000, 1, 70_001, tmp_path / "big")  # ids past uint16
    _same(big, pack_documents(docs, seq_len, 70_000, 1, 70_001))


def test_a_saved_dataset_with_another_text_column_packs_like_the_in_memory_path(tmp_path, cache):
    texts = _texts()
    folder = tmp_path / "saved"
    datasets.Dataset.from_dict({"body": texts, "id": list(range(len(texts)))}).save_to_disk(str(folder))
    assert saved_splits(folder) == []
    tokenizer = small_tokenizer()
    train, validation = pack_real_corpus(str(folder), tokenizer, 64, column="body")
    expected_train, expected_val = _expected(tokenizer, texts, 64)
    _same(train, expected_train)
    _same(validation, expected_val)


def test_a_saved_dataset_dict_keeps_its_own_validation_split(tmp_path, cache):
    texts = _texts()
    folder = tmp_path / "dict"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": texts[:100]}),
                          "validation": datasets.Dataset.from_dict({"text": texts[100:]})}).save_to_disk(str(folder))
    assert sorted(saved_splits(folder)) == ["train", "validation"]
    tokenizer = small_tokenizer()
    train, validation = pack_real_corpus(str(folder), tokenizer, 48)
    args = (48, tokenizer.eod_id, tokenizer.pad_id, len(tokenizer))
    _same(train, pack_documents(tokenizer.encode_batch([t for t in texts[:100] if t.strip()], False), *args))
    _same(validation, pack_documents(tokenizer.encode_batch(texts[100:], False), *args))


def test_a_glob_of_parquet_files_is_one_corpus_in_sorted_order(tmp_path, cache):
    texts = _texts()
    for k, part in enumerate((texts[:50], texts[50:])):
        datasets.Dataset.from_dict({"text": part}).to_parquet(str(tmp_path / f"train-{k:05d}-of-00002.parquet"))
    pattern = str(tmp_path / "train-*.parquet")
    assert load_text_corpus(pattern)["text"] == texts
    assert len(corpus_stamp(pattern)) == 2
    tokenizer = small_tokenizer()
    train, validation = pack_real_corpus(pattern, tokenizer, 64)
    expected_train, expected_val = _expected(tokenizer, texts, 64)
    _same(train, expected_train)
    _same(validation, expected_val)


def _wikitext_layout(folder, texts):
    """A stand-in with the file layout of the Hub's Salesforce/wikitext wikitext-103-raw-v1/ folder (kit text)."""
    folder.mkdir()
    parts = {"train-00000-of-00002": texts[:60], "train-00001-of-00002": texts[60:100],
             "validation-00000-of-00001": texts[100:110], "test-00000-of-00001": texts[110:]}
    for name, part in parts.items():
        datasets.Dataset.from_dict({"text": part}).to_parquet(str(folder / f"{name}.parquet"))
    return folder


def test_a_folder_of_data_files_is_split_by_file_name_as_the_hub_ships_them(tmp_path, cache):
    texts = _texts()
    folder = _wikitext_layout(tmp_path / "wikitext-103-raw-v1", texts)
    assert corpus_splits(folder) == ["test", "train", "validation"]
    assert load_text_corpus(folder)["text"] == texts[:100]
    assert load_text_corpus(folder, split="validation")["text"] == texts[100:110]
    with pytest.raises(CorpusError, match=r"has no 'dev' files; its data files make the splits \['test', 'train'"):
        load_text_corpus(folder, split="dev")
    tokenizer = small_tokenizer()
    train, validation = pack_real_corpus(str(folder), tokenizer, 64)
    args = (64, tokenizer.eod_id, tokenizer.pad_id, len(tokenizer))
    _same(train, pack_documents(tokenizer.encode_batch([t for t in texts[:100] if t.strip()], False), *args))
    _same(validation, pack_documents(tokenizer.encode_batch(texts[100:110], False), *args))


def test_the_cache_is_reused_and_a_damaged_one_rebuilt(tmp_path, cache, monkeypatch):
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in _texts()), encoding="utf-8")
    tokenizer = small_tokenizer()
    first, _ = pack_real_corpus(str(path), tokenizer, 64)
    folder = pc.packed_corpus_dir(str(path), tokenizer, 64)
    assert str(first.tokens.filename) == str(folder / "train" / "tokens.bin")

    def no_tokenizing(*args, **kwargs):
        raise AssertionError("an intact cache must not be tokenized again")

    with monkeypatch.context() as m:
        m.setattr(pc, "tokenize_dataset", no_tokenizing)
        again, _ = pack_real_corpus(str(path), tokenizer, 64)
    _same(again, first)
    tokens = folder / "train" / "tokens.bin"
    tokens.write_bytes(tokens.read_bytes()[:-2])  # cut
    with pytest.warns(CacheRebuildWarning, match="packed corpus"):
        rebuilt, _ = pack_real_corpus(str(path), tokenizer, 64)
    _same(rebuilt, _expected(tokenizer, _texts(), 64)[0])
    assert pc.packed_corpus_dir(str(path), tokenizer, 32) != folder, "seq_len is part of the key"


def test_bad_corpora_are_named(tmp_path, cache):
    tokenizer = small_tokenizer()
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"text": "a single document"}) + "\n" + json.dumps({"text": " "}) + "\n")
    with pytest.raises(ValueError, match="one.jsonl.*at least 2 documents .* got 1 non-empty"):
        pack_real_corpus(str(one), tokenizer, 32)
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(CorpusError, match="plain: is a folder, but neither a dataset saved with save_to_disk"):
        load_text_corpus(plain)
    with pytest.raises(CorpusFileNotFound, match=r"nothing-\*\.parquet: no file matches"):
        load_text_corpus(str(tmp_path / "nothing-*.parquet"))
    saved = tmp_path / "saved"
    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"body": ["x", "y"]})}).save_to_disk(str(saved))
    with pytest.raises(CorpusError, match=r"has no split 'test'; its splits are \['train'\]"):
        load_text_corpus(saved, column="body", split="test")
    with pytest.raises(CorpusColumnError, match=r"expected a column 'text', got columns \['body'\]"):
        load_text_corpus(saved)
    datasets.Dataset.from_dict({"text": ["x"]}).to_parquet(str(tmp_path / "mix-0.parquet"))
    (tmp_path / "mix-1.jsonl").write_text(json.dumps({"text": "y"}) + "\n")
    with pytest.raises(CorpusError, match="expected files of one format"):
        load_text_corpus(str(tmp_path / "mix-*"))


@pytest.mark.slow
def test_the_trainer_trains_on_a_saved_dataset_from_the_command_line(tmp_path):
    texts = [r["text"] for r in small_corpus()["train"][:300]]
    folder = tmp_path / "my_dataset"
    datasets.Dataset.from_dict({"content": texts}).save_to_disk(str(folder))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "GLM_KIT_DATA_CACHE": str(tmp_path / "cache"),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "glm_mini.train", "--corpus", str(folder), "--text-column", "content",
           "--preset", "nano", "--max-steps", "2", "--batch-size", "2", "--seq-len", "32", "--out",
           str(tmp_path / "run"), "--no-progress"]
    run = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2] and "val_loss" in metrics[-1]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["text_column"] == "content"
    assert len(list((tmp_path / "cache" / "packed").iterdir())) == 1  # packed once, memory-mapped from there


@pytest.mark.slow
def test_streaming_memory_grows_far_less_with_the_corpus_than_python_lists_do(tmp_path, monkeypatch):
    """Peak resident memory each path adds on top of a process that has imported torch and datasets
    (scale_up.peak_rss), for the kit's training text repeated 8 and 32 times (2.4 and 9.7 MB of UTF-8, as parquet),
    the tokenizer and the Arrow file cache built beforehand. Python lists grow with the corpus (an int object per
    token); the streaming path grows only by the memory-mapped Arrow pages it reads (page cache, counted as resident).
    tests/benchmarks/bench_real_corpus.py prints the same measurement at three sizes."""
    from scale_up.peak_rss import peak_rss

    monkeypatch.setenv("GLM_KIT_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT / "tests"))  # corpus_memory.main
    tokenizer_file = tmp_path / "tokenizer.model"
    small_tokenizer().save(tokenizer_file)
    base = [r["text"] for r in small_corpus()["train"]]
    added = {}
    for k in (8, 32):
        path = tmp_path / f"corpus-{k}.parquet"
        datasets.Dataset.from_dict({"text": [f"{t} ({i})" for i in range(k) for t in base]}).to_parquet(str(path))
        load_text_corpus(path)  # the Arrow file cache, shared by both runs
        for mode in ("lists", "stream"):
            rss = peak_rss("corpus_memory", [mode, str(path), str(tokenizer_file), "128"])
            added[mode, k] = (rss["peak"] - rss["baseline"]) / 2**20
    growth = {mode: added[mode, 32] - added[mode, 8] for mode in ("lists", "stream")}
    print(f"\npeak memory added, MiB (k=8 -> k=32): Python lists {added['lists', 8]:.1f} -> {added['lists', 32]:.1f}, "
          f"streaming {added['stream', 8]:.1f} -> {added['stream', 32]:.1f}")
    assert growth["lists"] > 40, f"the measurement must see the lists grow ({added})"
    assert growth["stream"] < growth["lists"] / 4, added
    assert added["stream", 32] < added["lists", 32] / 2, added


def _readme_command(marker):
    """The shell command of README.md's code block line that starts with ``marker``, continuation lines joined."""
    lines = (REPO_ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith(marker))
    command = lines[start]
    while command.endswith("\\"):
        start += 1
        command = command[:-1] + lines[start].strip()
    return command


@pytest.mark.slow
def test_the_readme_wikitext_103_recipe_runs_on_a_folder_with_its_file_layout(tmp_path):
    command = _readme_command("python -m glm_mini.train --corpus data/external/wikitext-103-raw-v1")
    assert "--max-steps 2000" in command and "--out build/runs/wikitext103" in command
    folder = _wikitext_layout(tmp_path / "wikitext-103-raw-v1", _texts())
    argv = (command.replace("python", sys.executable, 1).replace("data/external/wikitext-103-raw-v1", str(folder))
            .replace("--max-steps 2000", "--max-steps 2").replace("build/runs/wikitext103", str(tmp_path / "run")))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "GLM_KIT_DATA_CACHE": str(tmp_path / "cache"),
           "OMP_NUM_THREADS": "1"}
    run = subprocess.run(argv.split() + ["--no-progress"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2] and "val_loss" in metrics[-1]
