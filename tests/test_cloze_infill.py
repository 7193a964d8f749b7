"""Cloze and infill items: a reader of the events answers every item, the rules a skeptic tries stay low."""

import random

import pytest
from corpus_fixtures import small_corpus, small_tokenizer

from glm_mini.data import CorpusConfig, load_corpus
from glm_mini.data import cloze, infill
from glm_mini.data.baselines import lm_baselines, rule_baselines


def test_world_state_solver_answers_every_cloze_item():
    rng = random.Random(0)
    forms = set()
    for _ in range(300):
        case = cloze.cloze_case(rng)
        answer = cloze.answer_from_events(case.world, case.query)
        assert (case.items.en.target, case.items.zh.target) == answer
        forms.add(case.items.en.form)
    assert forms == set(cloze.FORMS)


def test_world_state_solver_answers_every_infill_item_from_the_other_events():
    rng = random.Random(0)
    forms = set()
    for _ in range(300):
        case = infill.infill_case(rng)
        form = case.items.en.form
        answer = infill.answer_from_events(case.world, case.blank_event, form)
        assert (case.items.en.target, case.items.zh.target) == answer
        forms.add(form)
    assert forms == set(infill.FORMS)


def test_infill_evidence_comes_after_the_blank():
    for item in small_corpus()["infill_test"]:
        if item["form"] == "count":
            assert item["target"] not in item["prefix"].split()[-3:]  # the number is not copied from nearby
        else:
            assert item["target"] in item["suffix"], item  # the later reference that fixes the blank


def test_answer_from_events_rejects_an_unknown_form():
    case = cloze.cloze_case(random.Random(1))
    with pytest.raises(ValueError, match="form"):
        cloze.answer_from_events(case.world, ("colour", None))
    case = infill.infill_case(random.Random(1))
    with pytest.raises(ValueError, match="form"):
        infill.answer_from_events(case.world, case.blank_event, "colour")


@pytest.mark.slow
def test_rule_baselines_stay_at_or_below_half_on_the_shipped_seed():
    corpus = load_corpus(CorpusConfig())  # the default corpus, seed 0, as notebooks use it
    rows = rule_baselines(corpus)
    cloze_rows = [r for r in rows if r.split == "cloze_test"]
    assert len(cloze_rows) >= 5 and all(r.n == 1000 for r in cloze_rows)
    for row in rows:
        if row.split in ("cloze_test", "infill_test"):
            assert row.accuracy <= 0.5, row


def test_bigram_rules_stay_at_or_below_half():
    corpus = small_corpus()
    tokenizer = small_tokenizer()
    rows = rule_baselines(corpus, tokenizer, lm_baselines(tokenizer, corpus).bigram)
    bigram_rows = [r for r in rows if "bigram" in r.baseline]
    assert {r.split for r in bigram_rows} == {"cloze_test", "infill_test"}
    for row in bigram_rows:
        assert row.accuracy <= 0.5, row
