"""The real-text path, offline: a tokenizer trained on a local file by one command, cached by content."""

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from glm_mini.data.corpus_tokenizer import corpus_tokenizer, corpus_texts, tokenizer_path
from glm_mini.data.documents import join
from glm_mini.data.world import world_story

REPO = Path(__file__).resolve().parents[1]
LINES = ["Once upon a time a little fox found a red ball in the garden.",
         "The fox rolled the ball to the river and watched it float away.",
         "小狐狸在花园里找到了一个红色的球。", "它把球滚到河边，看着球漂走了。"]


def _write_corpus(path: Path, repeat: int = 60) -> Path:
    """``4 * repeat`` lines: the lines above, then stories from the kit's generator, one per line (no newlines)."""
    stories = [side.replace("\n", " ") for seed in range(repeat) for side in join(world_story(random.Random(seed)))]
    lines = [f"{line} ({i})" for i in range(repeat) for line in LINES[:2]] + stories
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_one_command_trains_and_caches_a_tokenizer(tmp_path):
    corpus = _write_corpus(tmp_path / "stories.txt")
    env = {**os.environ, "PYTHONPATH": str(REPO), "GLM_KIT_DATA_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "glm_mini.data.corpus_tokenizer", str(corpus), "--vocab-size", "1500"]
    run = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    model = Path(run.stdout.split("tokenizer: ")[1].split("\n")[0])
    assert model.is_file() and model.parent == tmp_path / "cache" / "tokenizer"
    assert "240 documents" in run.stdout and "byte-fallback" in run.stdout


def test_cached_by_content_and_round_trips(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_KIT_DATA_CACHE", str(tmp_path / "cache"))
    corpus = _write_corpus(tmp_path / "stories.txt")
    tokenizer = corpus_tokenizer(str(corpus), vocab_size=1500)
    first = tokenizer_path(str(corpus), 1500)
    assert first.is_file() and len(tokenizer) >= 1500
    for line in LINES:
        assert tokenizer.decode(tokenizer.encode(line)) == line
    assert corpus_tokenizer(str(corpus), vocab_size=1500).model_proto == tokenizer.model_proto  # from the cache
    _write_corpus(corpus, repeat=61)  # the file changed: a new cache key
    assert tokenizer_path(str(corpus), 1500) != first


def test_bad_input_names_the_argument(tmp_path):
    with pytest.raises(ValueError, match="vocab_size"):
        corpus_tokenizer(str(tmp_path / "x.txt"), vocab_size=10)
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        corpus_tokenizer(str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="max_chars"):
        corpus_texts(str(_write_corpus(tmp_path / "a.txt")), max_chars=0)
    blank = tmp_path / "blank.txt"
    blank.write_text("\n \n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="non-empty text"):
        corpus_texts(str(blank))
    env = {**os.environ, "PYTHONPATH": str(REPO), "GLM_KIT_DATA_CACHE": str(tmp_path / "cache")}
    run = subprocess.run([sys.executable, "-m", "glm_mini.data.corpus_tokenizer", str(tmp_path / "nope.txt")],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "nope.txt" in run.stderr


@pytest.mark.slow
def test_trainer_trains_on_a_local_file_with_its_own_tokenizer(tmp_path):
    stories = [join(world_story(random.Random(seed))).en.replace("\n", " ") for seed in range(400)]
    corpus = tmp_path / "stories.txt"
    corpus.write_text("\n".join(stories) + "\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "GLM_KIT_DATA_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "glm_mini.train", "--corpus", str(corpus), "--preset", "nano", "--max-steps", "2",
           "--batch-size", "2", "--seq-len", "32", "--out", str(tmp_path / "run"), "--no-progress"]
    run = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "run" / "metrics.jsonl").is_file()
    assert len(list((tmp_path / "cache" / "tokenizer").glob("corpus-v1024-*.model"))) == 1  # trained on the file


def test_a_corpus_too_small_for_the_vocabulary_gets_a_smaller_one_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_KIT_DATA_CACHE", str(tmp_path / "cache"))
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("".join(f"line {i} of a small user corpus, with some words.\n" for i in range(300)))
    with pytest.warns(UserWarning, match="vocab_size=1024"):
        tokenizer = corpus_tokenizer(str(corpus), vocab_size=1024)
    assert 300 <= len(tokenizer) < 1024
