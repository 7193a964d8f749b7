"""Peak memory of packing a real corpus: Python lists of the whole corpus (the earlier path) vs the kit's streaming
path (``datasets.map`` into Arrow, then ``pack_token_dataset`` into a memory-mapped cache), at three corpus sizes.

Each run is a fresh process measured by ``scale_up.peak_rss``: the peak resident memory the packing adds on top of
the high-water mark of a process that has imported torch and datasets (so a path that never rises above that mark
shows 0). The corpus is the kit's generated training text repeated k times with a numbered suffix, written as one
parquet file; its Arrow file cache and the tokenizer are built first, outside the measurement. Wall time is printed
for reference (it includes tokenizing; other work on the machine inflates it).
Run: ``make bench``.
"""

import os
import sys
import time
from pathlib import Path

import datasets

from corpus_fixtures import small_corpus, small_tokenizer
from glm_mini.data import load_text_corpus
from scale_up.peak_rss import peak_rss

REPEATS = (8, 32, 64)
TESTS = Path(__file__).resolve().parents[1]


def test_peak_memory_of_packing_a_real_corpus(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_KIT_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PYTHONPATH", str(TESTS))  # corpus_memory.main
    tokenizer_file = tmp_path / "tokenizer.model"
    small_tokenizer().save(tokenizer_file)
    base = [r["text"] for r in small_corpus()["train"]]
    rows = []
    for k in REPEATS:
        texts = [f"{t} ({i})" for i in range(k) for t in base]
        path = tmp_path / f"corpus-{k}.parquet"
        datasets.Dataset.from_dict({"text": texts}).to_parquet(str(path))
        load_text_corpus(path)
        row = [k, len(texts), sum(len(t.encode()) for t in texts) / 1e6]
        for mode in ("lists", "stream"):
            start = time.perf_counter()
            rss = peak_rss("corpus_memory", [mode, str(path), str(tokenizer_file), "128"])
            row += [(rss["peak"] - rss["baseline"]) / 2**20, time.perf_counter() - start]
        rows.append(row)
    print(f"\npeak memory added by packing (MiB), {sys.platform}, {os.cpu_count()} CPUs")
    print(f"{'k':>4}{'documents':>11}{'text MB':>9}{'lists MiB':>11}{'lists s':>9}{'stream MiB':>12}{'stream s':>10}")
    for k, n, mb, lists, t_lists, stream, t_stream in rows:
        print(f"{k:>4}{n:>11}{mb:>9.1f}{lists:>11.1f}{t_lists:>9.1f}{stream:>12.1f}{t_stream:>10.1f}")
    assert all(r[3] >= 0 and r[5] >= 0 for r in rows)
