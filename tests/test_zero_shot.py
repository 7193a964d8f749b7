"""Zero-shot scoring of the evaluation splits (glm_mini/zero_shot.py): label bookkeeping, tokenization of candidates,
and bad records, on a small tokenizer and a model whose every logit is equal."""

import pytest
import torch

from glm_mini import GLM, PRESETS, GLMTokenizer
from glm_mini.zero_shot import _split_space, cloze_scores, format_scores, infill_scores, task_scores

TEXTS = ["Anna gave the red book to Tom, and Tom gave it to Lea. Now the book is with Lea.",
         "Ben went to the market. Lea went to the river. Tom went to the mill."] * 4


@pytest.fixture(scope="module")
def tokenizer():
    return GLMTokenizer.train(TEXTS, vocab_size=300)


@pytest.fixture(scope="module")
def uniform_model():
    """Zero embeddings give zero logits: every token costs ln V, so a candidate's score is -len(tokens)·ln V."""
    m = GLM(PRESETS["nano"]).eval()
    with torch.no_grad():
        m.transformer.word_embeddings.weight.zero_()
    return m


def test_split_space():
    assert _split_space("gave it to ", "Lea") == ("gave it to", " Lea")
    assert _split_space("交给了", "小明") == ("交给了", "小明")


def _cloze(target, candidates):
    return {"context": "Anna gave the red book to Tom. Now the book is with ", "target": target,
            "candidates": candidates}


def test_cloze_labels_follow_the_candidates(uniform_model, tokenizer):
    """With equal logits the shortest candidate wins, the first on ties: so accuracy counts exactly those items."""
    lens = {c: len(tokenizer.encode(" " + c, parse_special=False)) for c in ("Tom", "Lea", "Anna")}
    records = [_cloze("Tom", ["Tom", "Lea"]), _cloze("Lea", ["Tom", "Lea"]), _cloze("Anna", ["Anna", "Tom"])]
    def winner(cands):
        return min(cands, key=lambda c: (lens[c], cands.index(c)))
    expected = sum(winner(r["candidates"]) == r["target"] for r in records) / len(records)
    rows = cloze_scores(uniform_model, tokenizer, records, generation=False)
    assert [r.method for r in rows] == ["rank candidates, bidirectional [gMASK]",
                                        "rank candidates, unidirectional (causal)"]
    assert all(r.accuracy == pytest.approx(expected) and r.n == 3 for r in rows)


def test_infill_and_tasks_run_and_count(uniform_model, tokenizer):
    infill = [{"prefix": "Tom went to the ", "target": "mill", "suffix": ". Lea went to the river.",
               "candidates": ["market", "mill", "river"]}]
    rows = infill_scores(uniform_model, tokenizer, infill)
    assert len(rows) == 3 and all(r.n == 1 for r in rows)
    tasks = [{"prompt": "Is the book with Lea? ", "answer": a, "family": "entailment", "lang": "en"}
             for a in ("yes", "no", "yes")]
    rows = task_scores(uniform_model, tokenizer, tasks)
    assert [(r.method, r.n) for r in rows] == [("entailment: rank its labels", 3)]
    assert "entailment" in format_scores(rows)


@pytest.mark.parametrize("call,match", [
    (lambda m, t: cloze_scores(m, t, []), "cloze_test: expected at least one record"),
    (lambda m, t: cloze_scores(m, t, [{"context": "a"}]), r"cloze_test\[0\]: missing field"),
    (lambda m, t: infill_scores(m, t, [{"prefix": "a", "target": "b"}]), r"infill_test\[0\]: missing field"),
    (lambda m, t: task_scores(m, t, [{"prompt": "a"}]), r"mip_heldout\[0\]: missing field"),
])
def test_bad_records_are_named(uniform_model, tokenizer, call, match):
    with pytest.raises(ValueError, match=match):
        call(uniform_model, tokenizer)


def test_long_contexts_keep_their_last_tokens(uniform_model, tokenizer):
    """Contexts longer than the model are cut from the left (the official datasets' rule), never rejected."""
    long_story = "Ben went to the market. " * 60
    cloze = [{"context": long_story + "Now the book is with ", "target": "Lea", "candidates": ["Tom", "Lea"]}]
    assert cloze_scores(uniform_model, tokenizer, cloze)[0].n == 1
    infill = [{"prefix": long_story + "Tom went to the ", "target": "mill", "suffix": ". " + long_story,
               "candidates": ["market", "mill"]}]
    assert infill_scores(uniform_model, tokenizer, infill)[0].n == 1
    tasks = [{"prompt": long_story + "Is it so? ", "answer": a, "family": "entailment", "lang": "en"}
             for a in ("yes", "no")]  # two labels: a family with one answer cannot be ranked
    assert task_scores(uniform_model, tokenizer, tasks)[0].n == 2
