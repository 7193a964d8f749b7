"""Diversity measures and the default corpus's figures: frames, distinct-4-gram ratio, Chinese characters."""

import pytest

from glm_mini.data import CorpusConfig, load_corpus
from glm_mini.data.diversity import (char_coverage, chinese_frame, distinct_ngram_ratio, english_frame, frame_counts,
                                     tokens)


def test_frames_slot_names_numbers_and_word_lists():
    lower = {"at", "o", "clock", "went", "to", "the"}
    assert english_frame("At 9 o'clock, Li Wei went to the library.", lower) == \
        english_frame("At ten o'clock, Anna went to the park.", lower) == "At # o'clock, N went to the X."
    assert chinese_frame("九点钟，李伟去了图书馆。") == chinese_frame("10点钟，王芳去了公园。") == "#点钟，N去了X。"


def test_distinct_ngram_ratio_and_coverage_by_hand():
    assert distinct_ngram_ratio(list("abababab"), n=2) == pytest.approx(2 / 7)
    assert distinct_ngram_ratio(list("abcdef"), n=4, n_tokens=5) == 1.0
    assert tokens("Hi, Bob!", "en") == ["hi", ",", "bob", "!"] and tokens("你 好", "zh") == ["你", "好"]
    assert char_coverage("天气很好", "天气不好，天气") == pytest.approx(5 / 6)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="lang"):
        frame_counts(["x"], "fr")
    with pytest.raises(ValueError, match="n="):
        distinct_ngram_ratio(["a"], n=4)
    with pytest.raises(ValueError, match="n must be"):
        distinct_ngram_ratio(["a"], n=0)
    with pytest.raises(ValueError, match="reference"):
        char_coverage("天", "abc")


@pytest.mark.slow
def test_default_corpus_has_a_thousand_frames_per_language():
    train = load_corpus(CorpusConfig())["train"]
    for lang in ("en", "zh"):
        frames = frame_counts((r["text"] for r in train if r["lang"] == lang), lang)
        assert len(frames) >= 1000, (lang, len(frames))
