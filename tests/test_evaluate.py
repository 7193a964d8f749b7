"""Evaluation (glm_mini/evaluate.py): windows score every token once, BPB on a known model, one-pass multiple choice
equals per-choice scoring, and the cloze layouts."""

import math
import random
from glm_mini import SpecialTokens

import pytest
import torch

from glm_mini import GLM, PRESETS, GLMTokenizer
from glm_mini.evaluate import (choice_log_probs, cloze_predictions, cloze_prompt, continuation_log_probs, first_word,
                               language_model_eval, lm_windows, multiple_choice_inputs, rank_accuracy)
from glm_mini.generate import fill_blanks_batch_ids

CFG = PRESETS["nano"]
SPECIAL = SpecialTokens(mask=1000, gmask=1001, smask=1002, eod=1003, sop=1004, eop=1005, eos=2, pad=0)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(3)
    m = GLM(CFG).eval()
    with torch.no_grad():
        m.transformer.word_embeddings.weight.mul_(4)
        m.transformer.word_embeddings.weight[[SPECIAL.mask, SPECIAL.gmask, SPECIAL.sop]] *= 0.01
    return m


@pytest.mark.parametrize("n,seq_len,stride", [(5, 16, 7), (40, 16, 7), (41, 12, 1), (100, 32, 30), (17, 18, 16)])
def test_windows_score_every_token_but_the_first_once(n, seq_len, stride):
    tokens = list(range(10, 10 + n))
    scored = []
    for w in lm_windows(tokens, seq_len, stride, SPECIAL):
        assert len(w["input_ids"]) <= seq_len
        p = int((~w["loss_mask"]).sum())  # prompt + [gMASK]
        assert torch.equal(w["input_ids"][p + 1:], w["targets"][p:-1])  # teacher forcing: input = target shifted
        scored += w["targets"][w["loss_mask"]].tolist()
        allowed = w["attention_mask"]
        assert allowed[:p, :p].all() and not allowed[:p, p:].any()  # the prompt is bidirectional, sees no text
        assert torch.equal(allowed[p:, p:], torch.ones(len(allowed) - p, len(allowed) - p).tril().bool())
    assert scored == tokens[1:]


def test_bits_per_byte_of_a_uniform_model():
    """Zero embeddings give zero logits, so every token costs ln V nats: BPB = n·ln V / (ln 2 · bytes)."""
    texts = ["The river ran past the mill, and the miller counted seven sacks of grain.",
             "Anna gave Tom the red book, then she walked home before noon."] * 5
    tok = GLMTokenizer.train(texts, vocab_size=300)
    m = GLM(CFG).eval()
    with torch.no_grad():
        m.transformer.word_embeddings.weight.zero_()
    result = language_model_eval(m, tok, texts[:2], seq_len=16, stride=5)
    ids = [tok.encode(t, parse_special=False) for t in texts[:2]]
    n = sum(len(i) - 1 for i in ids)
    n_bytes = sum(len(t.encode()) - len(tok.decode(i[:1]).encode()) for t, i in zip(texts[:2], ids))
    assert result.tokens == n and result.bytes == n_bytes
    assert result.nll == pytest.approx(n * math.log(CFG.vocab_size), rel=1e-5)
    assert result.bits_per_byte == pytest.approx(n * math.log(CFG.vocab_size) / (math.log(2) * n_bytes), rel=1e-5)
    assert result.perplexity == pytest.approx(CFG.vocab_size, rel=1e-4)


def test_multiple_choice_in_one_pass_equals_each_choice_alone(model):
    rng = random.Random(0)
    context = [rng.randrange(10, 900) for _ in range(9)]
    choices = [[rng.randrange(10, 900) for _ in range(k)] for k in (1, 3, 2, 4)]
    together = choice_log_probs(model, context, choices, SPECIAL)
    for choice, score in zip(choices, together):
        ids, pos, allowed, scored = multiple_choice_inputs(context, [choice], SPECIAL)
        logits = model(ids[None], position_ids=pos[None], attention_mask=allowed[None, None]).logits[0]
        rows, targets = scored[0]
        alone = float(torch.log_softmax(logits.detach(), -1)[rows, targets].sum())
        assert score == pytest.approx(alone, abs=1e-4)


def test_multiple_choice_layout_matches_the_official_one():
    ids, pos, allowed, scored = multiple_choice_inputs([7, 8], [[20, 21], [30]], SPECIAL)
    s = SPECIAL
    assert ids.tolist() == [7, 8, s.mask, s.sop, 20, s.sop]
    assert pos.tolist() == [0, 1, 2, 2, 2, 2]
    assert scored == [([3, 4], [20, 21]), ([5], [30])]
    expected = torch.tensor([[1, 1, 1, 0, 0, 0],
                             [1, 1, 1, 0, 0, 0],
                             [1, 1, 1, 0, 0, 0],
                             [1, 1, 1, 1, 0, 0],
                             [1, 1, 1, 1, 1, 0],
                             [1, 1, 1, 0, 0, 1]], dtype=torch.bool)
    assert torch.equal(allowed, expected)


def test_cloze_bidirectional_equals_gmask_generation(model):
    contexts = [[11, 12, 13, 14], [50, 60, 70, 80, 90, 99]]
    bidirectional = cloze_predictions(model, contexts, SPECIAL, 4)
    generated = fill_blanks_batch_ids(model, [c + [SPECIAL.gmask] for c in contexts], SPECIAL, 4)
    assert bidirectional == [answers[0] for answers, _ in generated]
    ids, pos, prefix = cloze_prompt([11, 12], SPECIAL, unidirectional=True)
    assert ids == [SPECIAL.gmask, SPECIAL.sop, 11, 12] and pos == [0, 1, 2, 3] and prefix == 0
    assert len(cloze_predictions(model, contexts, SPECIAL, 4, unidirectional=True)) == 2


def test_first_word():
    assert first_word("  Mary went home.") == "Mary"
    assert first_word("Tom, then") == "Tom"
    assert first_word("小明。他") == "小明"
    assert first_word("") == ""


@pytest.mark.parametrize("call,match", [
    (lambda: lm_windows([1, 2, 3], 2, 1, SPECIAL), "seq_len"),
    (lambda: lm_windows([1, 2, 3], 8, 7, SPECIAL), "stride"),
    (lambda: lm_windows([1], 8, 3, SPECIAL), "tokens: expected at least 2"),
    (lambda: multiple_choice_inputs([1, 2], [], SPECIAL), "choices"),
    (lambda: multiple_choice_inputs([1, 2], [[3], []], SPECIAL), "choices"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_bad_texts_are_named(model):
    with pytest.raises(ValueError, match="texts"):
        language_model_eval(model, None, "just a string")
    with pytest.raises(ValueError, match=r"seq_len: at most"):
        language_model_eval(model, None, ["a"], seq_len=10_000)


def test_continuation_scores_equal_the_generation_layout(model):
    """Greedy generation's first token is the best-scoring one-token continuation, in both layouts."""
    context = [21, 22, 23, 24, 25]
    for unidirectional in (False, True):
        first = cloze_predictions(model, [context], SPECIAL, 1, unidirectional)[0][0]
        candidates = [[t] for t in range(100, 900, 40) if t != first] + [[first]]
        scores = continuation_log_probs(model, context, candidates, SPECIAL, unidirectional)
        assert candidates[max(range(len(scores)), key=scores.__getitem__)] == [first]


def test_continuation_of_several_tokens_is_the_chain_rule(model):
    context, choice = [31, 32, 33], [40, 41, 42]
    total = continuation_log_probs(model, context, [choice], SPECIAL)[0]
    ids, pos, prefix = cloze_prompt(context, SPECIAL)
    parts = 0.0
    for j, token in enumerate(choice):  # p(c_j | context, c_<j), one position at a time
        full = ids + choice[:j]
        n = len(full)
        allowed = torch.ones(n, n).tril().bool()
        allowed[:, :prefix] = True
        with torch.no_grad():
            logits = model(torch.tensor([full]), position_ids=torch.arange(n)[None],
                           attention_mask=allowed[None, None]).logits[0, -1]
        parts += float(torch.log_softmax(logits, -1)[token])
    assert total == pytest.approx(parts, abs=1e-4)


def test_multiple_choice_continue_positions_match_the_mip_layout():
    from glm_mini.objective import mip_sample
    ids, pos, allowed, scored = multiple_choice_inputs([7, 8, 9], [[20, 21, 22]], SPECIAL, positions="continue")
    sample = mip_sample([7, 8, 9], [20, 21, 22], SPECIAL)
    n = len(ids)
    assert ids.tolist() == sample.input_ids[:n].tolist() and pos.tolist() == sample.position_ids[:n].tolist()
    assert torch.equal(allowed, sample.attention_mask[:n, :n])
    rows, targets = scored[0]
    assert sample.targets[rows].tolist() == targets


def test_rank_accuracy():
    assert rank_accuracy([[0.1, 0.5], [2.0, 1.0], [0.0, 0.0]], [1, 0, 1]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="labels"):
        rank_accuracy([[0.1, 0.5]], [])
