"""Bad input to glm_mini.objective: every public function names the argument, what it expected and what it got."""

import random

import pytest
import torch

from glm_mini import SpecialTokens
from glm_mini.objective import (ObjectiveConfig, collate, gmask_sample, mask_sample, mip_pairs_from_records,
                                mip_sample, pack_samples, place_spans, sample_batch, sample_span_lengths)

SP = SpecialTokens(mask=1000, gmask=1001, smask=1002, eod=1003, sop=1004, eop=1005, eos=2, pad=0)
X = [11, 12, 13, 14, 15, 16]


@pytest.mark.parametrize("spans, words", [
    ([(2, 4), (3, 5)], ["spans[1]", "overlapping"]),
    ([(3, 5), (0, 2)], ["spans[1]", "sorted"]),
    ([(4, 7)], ["spans[0]", "len(tokens) = 6"]),
    ([(-1, 2)], ["spans[0]", "0 <= start"]),
    ([(2, 2)], ["spans[0]", "start < end"]),
    ([(1, 2, 3)], ["spans[0]", "(start, end)"]),
    ([], ["spans", "at least one"]),
])
def test_bad_spans(spans, words):
    with pytest.raises(ValueError) as err:
        mask_sample(X, spans, SP)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_empty_text():
    for call in (lambda: mask_sample([], [(0, 1)], SP), lambda: gmask_sample([], 0, SP),
                 lambda: mask_sample(torch.tensor([], dtype=torch.long), [(0, 1)], SP)):
        with pytest.raises(ValueError, match="tokens: expected a non-empty text"):
            call()


def test_bad_tokens():
    with pytest.raises(ValueError, match=r"tokens: expected a 1-D integer tensor.*shape \(2, 3\)"):
        mask_sample(torch.zeros(2, 3, dtype=torch.long), [(0, 1)], SP)
    with pytest.raises(ValueError, match="tokens: expected a 1-D integer tensor.*float"):
        mask_sample([1.0, 2.0], [(0, 1)], SP)


def test_bad_span_order():
    with pytest.raises(ValueError, match=r"span_order: expected a permutation of 0..1, got \[0, 0\]"):
        mask_sample(X, [(0, 1), (3, 4)], SP, span_order=[0, 0])


@pytest.mark.parametrize("prefix_len", [6, 7, -1, 2.5, True])
def test_gmask_suffix_longer_than_text_or_empty(prefix_len):
    with pytest.raises(ValueError, match=r"prefix_len: expected an int in \[0, len\(tokens\) - 1\] = \[0, 5\]"):
        gmask_sample(X, prefix_len, SP)


def test_special_must_be_special_tokens():
    with pytest.raises(TypeError, match="special: expected a SpecialTokens"):
        mask_sample(X, [(0, 1)], {"mask": 5})


@pytest.mark.parametrize("field, value", [("mask", -1), ("sop", 1.5), ("eop", True)])
def test_special_tokens_ids(field, value):
    kwargs = dict(mask=1000, gmask=1001, smask=1002, eod=1003, sop=1004, eop=1005, eos=2, pad=0)
    with pytest.raises(ValueError, match=f"SpecialTokens.{field}: expected a non-negative int id"):
        SpecialTokens(**{**kwargs, field: value})


def test_special_tokens_distinct():
    with pytest.raises(ValueError, match="must be distinct"):
        SpecialTokens(mask=5, gmask=5, smask=6, eod=7, sop=8, eop=9, eos=2, pad=0)


def test_mip_empty_answer():
    with pytest.raises(ValueError, match="answer: expected at least one token, got 0"):
        mip_sample([1, 2], [], SP)


def test_pack_too_long_and_mixed():
    s = gmask_sample(X, 2, SP)  # 7 tokens
    with pytest.raises(ValueError, match="samples: expected 1 or more samples of 10 tokens in all, got 2 samples "
                                         "of 14 tokens"):
        pack_samples([s, s], 10, SP)
    with pytest.raises(ValueError, match="samples: expected all 1-D or all 2-D position_ids"):
        pack_samples([s, gmask_sample(X, 2, SP, two_d=True)], 20, SP)


def test_collate_bad():
    with pytest.raises(ValueError, match="samples: expected at least one GLMSample"):
        collate([])
    with pytest.raises(ValueError, match=r"samples: expected equal lengths .* got lengths \[7, 8\]"):
        collate([gmask_sample(X, 2, SP), gmask_sample(X + [1], 2, SP)])


def _windows(n=2, length=64):
    return [torch.arange(3, 3 + length) for _ in range(n)]


def test_sample_batch_sequence_longer_than_the_model():
    with pytest.raises(ValueError, match="seq_len: 64 is longer than the model's maximum .*max_sequence_length = 32"):
        sample_batch(_windows(), 64, SP, random.Random(0), ObjectiveConfig(max_sequence_length=32))


def test_sample_batch_bad_arguments():
    rng = random.Random(0)
    with pytest.raises(ValueError, match=r"windows\[1\]: expected at least seq_len = 64 tokens, got 10"):
        sample_batch([torch.arange(64), torch.arange(10)], 64, SP, rng)
    with pytest.raises(ValueError, match=r"windows\[0\]: expected a 1-D integer tensor"):
        sample_batch([torch.zeros(64)], 64, SP, rng)
    with pytest.raises(ValueError, match="windows: expected a non-empty list"):
        sample_batch([], 64, SP, rng)
    with pytest.raises(ValueError, match="seq_len: expected an int >= 16"):
        sample_batch(_windows(), 8, SP, rng)
    with pytest.raises(TypeError, match="rng: expected a random.Random"):
        sample_batch(_windows(), 64, SP, torch.Generator())
    with pytest.raises(TypeError, match="cfg: expected an ObjectiveConfig"):
        sample_batch(_windows(), 64, SP, rng, cfg={"mask_ratio": 0.15})
    with pytest.raises(ValueError, match=r"mip_pairs\[0\]: expected a \(prompt_ids, answer_ids\) pair"):
        sample_batch(_windows(), 64, SP, rng, ObjectiveConfig(mip_ratio=1.0), mip_pairs=[([1, 2], [])])
    with pytest.raises(ValueError, match="mip_pairs: expected None or a list"):
        sample_batch(_windows(), 64, SP, rng, mip_pairs="qa")


@pytest.mark.parametrize("field, value, what", [
    ("mask_ratio", 0.0, "a ratio in (0, 1)"), ("gmask_prob", 1.5, "a probability"), ("mip_ratio", -0.1, "a prob"),
    ("min_gmask_ratio", 2.0, "a ratio in [0, 1]"), ("span_lambda", 0.0, "a positive Poisson mean"),
    ("max_span_length", 0, "an int >= 1"), ("mask_samples_per_sequence", 2.0, "an int >= 1"),
    ("two_d", 1, "a bool"), ("max_sequence_length", 0, "None or a positive int"),
])
def test_objective_config_validation(field, value, what):
    with pytest.raises(ValueError) as err:
        ObjectiveConfig(**{field: value})
    assert f"ObjectiveConfig.{field}" in str(err.value) and what in str(err.value), str(err.value)


def test_span_helpers_bad():
    with pytest.raises(ValueError, match="budget: expected room for at least one span"):
        sample_span_lengths(random.Random(0), 2, tokens_per_span=2)
    with pytest.raises(ValueError, match="lengths: expected >= 1 positive lengths that fit 5 tokens"):
        place_spans([3, 3], 5, random.Random(0))


def test_mip_pairs_from_records_bad():  # records are checked before the tokenizer is used
    with pytest.raises(ValueError, match=r"records\[1\]: expected a dict with a str 'answer' field"):
        mip_pairs_from_records(None, [{"prompt": "a", "answer": "b"}, {"prompt": "c"}])
    with pytest.raises(ValueError, match=r"records\[0\]: expected a non-empty 'answer'"):
        mip_pairs_from_records(None, [{"prompt": "a", "answer": ""}])
