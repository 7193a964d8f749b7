"""The shipped baselines: Kneser-Ney and unigram are proper distributions, the equations hold, the rules behave."""

import math

import numpy as np
import pytest
from corpus_fixtures import small_corpus, small_tokenizer

from glm_mini.data.baselines import (BaselineRow, KneserNeyBigram, UnigramLM, baseline_table, format_table,
                                     lm_baselines, rule_baselines)

TOY = [np.array([0, 1, 2, 1, 2, 0]), np.array([0, 2, 2, 3, 0])]  # vocab of 5: id 4 never occurs


def test_kneser_ney_rows_sum_to_one_and_give_every_id_mass():
    lm = KneserNeyBigram(TOY, vocab_size=5)
    for prev in range(5):  # seen contexts and the unseen context 4
        p = lm.prob(np.full(5, prev), np.arange(5))
        assert p.sum() == pytest.approx(1.0, abs=1e-12)
        assert (p > 0).all()


def test_kneser_ney_matches_the_docstring_formula_by_hand():
    lm = KneserNeyBigram(TOY, vocab_size=5, discount=0.5)
    # pairs: (0,1) (1,2) (2,1) (1,2) (2,0) (0,2) (2,2) (2,3) (3,0): 8 distinct, c(1,2) = 2, c(1) = 2, N1+(1 .) = 1
    # N1+(. 2) = 3 (after 0, 1, 2); T = 4 ids seen as continuation (0, 1, 2, 3)
    p_cont_2 = (3 - 0.5 + 0.5 * 4 / 5) / 8
    expected = (2 - 0.5) / 2 + 0.5 * 1 / 2 * p_cont_2
    assert lm.prob(np.array([1]), np.array([2]))[0] == pytest.approx(expected, rel=1e-12)
    assert lm.prob(np.array([4]), np.array([2]))[0] == pytest.approx(p_cont_2, rel=1e-12)  # unseen context


def test_unigram_is_add_one_smoothed():
    lm = UnigramLM(TOY, vocab_size=5)
    assert np.exp(lm.log_p).sum() == pytest.approx(1.0)
    assert np.exp(lm.log_p[2]) == pytest.approx((4 + 1) / (9 + 5))  # id 2 is predicted 4 times of 9
    assert lm.nats_per_token([np.array([0, 4])]) == pytest.approx(-math.log(1 / 14))


def test_bigram_beats_unigram_on_validation():
    lm = lm_baselines(small_tokenizer(), small_corpus())
    assert lm.bigram_nats < lm.unigram_nats < math.log(len(small_tokenizer()))


def test_table_lists_every_evaluation_split_and_formats():
    rows = baseline_table(small_corpus(), small_tokenizer())
    assert {r.split for r in rows} == {"validation", "cloze_test", "infill_test", "mip_validation", "mip_heldout"}
    families = {r.baseline.split(":")[0] for r in rows if r.split == "mip_heldout"}
    assert families == {"topic", "entailment"}
    text = format_table(rows)
    assert "Kneser-Ney bigram (nats/token)" in text and text.count("\n") == len(rows)


def test_majority_is_the_best_constant_answer_per_language():
    records = [{"family": "f", "lang": "en", "answer": a} for a in "yyn"] + \
              [{"family": "f", "lang": "zh", "answer": a} for a in "是否否否"]
    rows = rule_baselines({"train": [{"text": "y 否"}], "mip_heldout": records})
    assert rows[0] == BaselineRow("mip_heldout", "f: majority answer", 5 / 7, 7)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="discount"):
        KneserNeyBigram(TOY, 5, discount=1.5)
    with pytest.raises(ValueError, match="at least one document"):
        KneserNeyBigram([], 5)
    with pytest.raises(ValueError, match="tokenizer"):
        rule_baselines(small_corpus(), tokenizer=small_tokenizer())
    with pytest.raises(ValueError, match=r"corpus\['train'\]"):
        rule_baselines({"cloze_test": small_corpus()["cloze_test"]})
    with pytest.raises(ValueError, match=r"corpus\['validation'\]"):
        lm_baselines(small_tokenizer(), {"train": small_corpus()["train"]})
    broken = {"train": small_corpus()["train"], "cloze_test": [dict(small_corpus()["cloze_test"][0], candidates=[])]}
    with pytest.raises(ValueError, match="no candidates"):
        rule_baselines(broken)
