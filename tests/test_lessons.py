"""The lesson measurements of notebook 07 (glm_mini/lessons/): the rules they state, on small exact cases."""

import math

import pytest
import torch

from glm_mini import GLM, GLMConfig
from glm_mini.evaluate import continuation_log_probs
from glm_mini.lessons.generation import completion_scores, generate, prompt_layout
from glm_mini.lessons.right_context import (bigram_tables, left_rules, rank_scores, right_fixed_positions,
                                            single_token_fill)
from glm_mini.lessons.verdict import MARGIN, bidirectional_line, gmask_line, mip_line, spread
from glm_mini.objective import SpecialTokens


def test_right_fixed_positions_follow_the_stated_rule():
    # token 7 is always followed by 9 (and only 7 precedes 9): 7 is fixed by its right neighbour;
    # after 5 comes 7, 8 or 6 equally often, so the left neighbour does not fix it
    train = [[5, 7, 9], [5, 8, 4], [5, 6, 4]] * 25
    val = [[5, 7, 9, 1], [5, 8, 4, 1]]
    assert right_fixed_positions(train, val, 16) == [(0, 1)]
    # two tokens back fix it: after "3 5" always comes 7 (and "5" alone is still ambiguous)
    longer = [[3, 5, 7, 9]] * 25 + [[2, 5, 8, 4], [1, 5, 6, 4]] * 30
    assert (0, 2) not in right_fixed_positions(longer, [[3, 5, 7, 9]], 16)
    assert (0, 2) in right_fixed_positions(longer, [[4, 5, 7, 9]], 16)  # "4 5" never seen: "5" alone decides
    # ... but a left context seen fewer than 3 times is not evidence
    rare = [[3, 5, 7, 9]] * 2 + [[0, 5, 7, 9]] * 25 + [[2, 5, 8, 4], [1, 5, 6, 4]] * 30
    assert (0, 2) in right_fixed_positions(rare, [[3, 5, 7, 9]], 16)
    # once 5 is mostly followed by 7, the left neighbour fixes it too: no position qualifies
    assert right_fixed_positions(train + [[5, 7, 9]] * 40, val, 16) == []
    # a right neighbour seen fewer than 20 times is not evidence
    assert right_fixed_positions([[5, 7, 9], [5, 8, 4], [5, 6, 4]] * 5, val, 16) == []
    table = bigram_tables([[1, 2, 3]], 4)
    assert table[1, 2] == table[2, 3] == 1 and table.sum() == 2


def test_left_rules_read_only_the_prefix():
    records = [{"prefix": "the ", "target": "dog", "suffix": " barked.", "candidates": ["cat", "dog"]},
               {"prefix": "the ", "target": "cat", "suffix": " meowed.", "candidates": ["cat", "dog"]}]
    rules = left_rules(records, "the dog the dog the cat")
    assert rules["most frequent in train"] == 0.5  # always "dog": right once
    assert rules["most frequent after the last words"] == 0.5
    assert rules["first candidate"] == 0.5 and rules["random candidate (expected)"] == 0.5


def _tiny_model():
    torch.manual_seed(0)
    return GLM(GLMConfig(num_layers=1, hidden_size=32, num_attention_heads=2, vocab_size=64,
                         max_sequence_length=64)).eval()


class _Tok:
    """The kit's tokenizer interface over single characters a..z (ids 10..35), for exact small cases."""

    special = SpecialTokens(mask=50, gmask=51, smask=52, eod=53, sop=54, eop=55, eos=2, pad=0)
    vocab_size = 64

    def encode(self, text, parse_special=False):
        return [10 + ord(c) - ord("a") if c != " " else 40 for c in text]

    def decode(self, ids):
        return "".join(" " if i == 40 else chr(ord("a") + i - 10) for i in ids if 10 <= i < 36 or i == 40)


def test_rescoring_is_the_log_probability_of_candidate_plus_suffix_from_the_left():
    model, tok = _tiny_model(), _Tok()
    record = {"prefix": "ab ", "target": "c", "suffix": " de", "candidates": ["c", "f"], "text": "ab c de"}
    got = rank_scores(model, tok, [record], "causal, rescoring")[0]
    prefix = tok.encode("ab")
    for score, cand in zip(got, ("c", "f")):
        full = tok.encode(" " + cand + " de")
        assert score == pytest.approx(continuation_log_probs(model, prefix, [full], tok.special, True)[0])
    # the GLM one-pass scores are log-probabilities of each candidate: at most 0, finite
    glm = rank_scores(model, tok, [record], "GLM, one pass")[0]
    assert all(s <= 0 and math.isfinite(s) for s in glm)
    with pytest.raises(ValueError, match="method"):
        rank_scores(model, tok, [record], "bert")


def test_single_token_fill_methods_read_what_they_say():
    model, tok = _tiny_model(), _Tok()
    docs = [[10, 11, 12, 13, 14, 15]]
    for method in ("GLM [MASK]", "GLM [MASK], right removed", "causal"):
        assert 0.0 <= single_token_fill(model, docs, [(0, 2)], tok.special, method) <= 1.0
    # the [MASK] fill is the argmax after [sop] in the one-pass multiple-choice layout
    from glm_mini.evaluate import multiple_choice_inputs
    ids, pos, allowed, scored = multiple_choice_inputs([10, 11, tok.special.mask, 13, 14, 15], [[12]], tok.special)
    logits = model(ids[None], position_ids=pos[None], attention_mask=allowed[None, None]).logits[0, scored[0][0][0]]
    assert single_token_fill(model, docs, [(0, 2)], tok.special, "GLM [MASK]") == float(int(logits.argmax()) == 12)


def test_prompt_layouts_and_generation_stop_at_end_tokens():
    tok = _Tok()
    s = tok.special
    assert prompt_layout([7, 8], s, "mip") == ([7, 8, s.mask, s.sop], [0, 1, 2, 3], 3)
    assert prompt_layout([7, 8], s, "gmask") == ([7, 8, s.gmask, s.sop], [0, 1, 2, 3], 3)
    assert prompt_layout([7, 8], s, "causal") == ([s.gmask, s.sop, 7, 8], [0, 1, 2, 3], 0)
    model = _tiny_model()
    outs = generate(model, tok, ["abc", "de"], "gmask", max_new_tokens=4)
    for ids, ended in outs:
        assert len(ids) <= 4 and not any(i in (s.eop, s.eos, s.eod) for i in ids)
    scores = completion_scores(model, tok, [{"prompt": "ab", "target": "cd"}], "gmask")
    assert scores.n == 1 and scores.completed <= scores.stopped


def test_verdicts_are_computed_from_the_numbers():
    assert spread([0.5, 0.6]) == "55.0% ± 5.0 (2 seeds)"
    shown = bidirectional_line([0.9, 0.8], [0.1, 0.1], 0.07, "first candidate", [0.8, 0.7], [0.3, 0.4])
    assert shown.startswith("lesson bidirectional: shown (")
    short = bidirectional_line([0.9, 0.8], [0.1, 0.1], 0.07, "first candidate", [0.5, 0.5], [0.4, 0.4])
    assert short.startswith("lesson bidirectional: not shown (")  # the fill margin is 10 points < 15
    assert mip_line({"format": [0.9, 0.8]}, {"format": [0.1, 0.2]}).startswith("lesson mip: shown")
    assert mip_line({"format": [0.3, 0.3]}, {"format": [0.2, 0.2]}).startswith("lesson mip: not shown")
    assert gmask_line([0.9, 0.9], [0.0, 0.1], [0.95, 0.95]).startswith("lesson gmask: shown")
    assert gmask_line([0.3, 0.3], [0.0, 0.0], [0.95, 0.95]).startswith("lesson gmask: not shown")  # below 50%
    assert gmask_line([0.9, 0.9], [0.8, 0.8], [0.95, 0.95]).startswith("lesson gmask: not shown")  # +10 < 15
    assert MARGIN == 0.15
