"""Notebook 07's checks pass on the package's functions and fail, naming the mismatch, on wrong ones."""

import torch

from glm_mini.decoding import nucleus_mask, penalized_score
from glm_mini.evaluate import choice_mask
from glm_mini.exercises.nb07_generation import (check_choice_mask, check_generation_layout, check_nucleus_mask,
                                                check_penalized_score, check_prompt_layout,
                                                check_right_context_share, penalty_steps, share_steps)
from glm_mini.lessons.generation import prompt_layout
from glm_mini.objective import right_context_share
from glm_mini.generate import generation_layout


def test_checks_pass_on_the_package(capsys):
    assert check_generation_layout(generation_layout)
    assert check_nucleus_mask(nucleus_mask)
    assert check_penalized_score(penalized_score)
    assert check_choice_mask(choice_mask)
    assert check_right_context_share(right_context_share)
    assert check_prompt_layout(prompt_layout)
    assert capsys.readouterr().out.count("PASS") == 6


def test_checks_fail_on_wrong_functions(capsys):
    def positions_from_sop(prefix_len, total, mask_position):  # [sop] keeps its own index: the gMASK rule always
        return generation_layout(prefix_len, total, None)

    assert not check_generation_layout(positions_from_sop)
    assert "Exercise 7.1: FAIL" in capsys.readouterr().out

    def drops_the_crossing_token(logits, top_p):
        probs = torch.softmax(logits.float(), -1)
        sorted_p, order = probs.sort(-1, descending=True)
        keep = sorted_p.cumsum(-1) <= top_p
        return torch.zeros_like(keep).scatter(-1, order, keep)

    assert not check_nucleus_mask(drops_the_crossing_token)
    assert "Exercise 7.2: FAIL" in capsys.readouterr().out

    assert not check_penalized_score(lambda s, n, p: s / n ** p)
    assert "Exercise 7.3: FAIL" in capsys.readouterr().out

    def choices_see_each_other(division, lengths):
        total = division + sum(lengths)
        allowed = torch.ones(total, total).tril().bool()
        allowed[:, :division] = True
        return allowed

    assert not check_choice_mask(choices_see_each_other)
    out = capsys.readouterr().out
    assert "Exercise 7.4: FAIL" in out and "got True, expected False" in out


def test_nucleus_mask_keeps_the_smallest_set_reaching_top_p():
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    logits = probs.log()
    assert nucleus_mask(logits, 0.5).tolist() == [[True, False, False, False]]
    assert nucleus_mask(logits, 0.6).tolist() == [[True, True, False, False]]
    assert nucleus_mask(logits, 0.95).tolist() == [[True, True, True, False]]
    assert nucleus_mask(logits, 1.0).all()


def test_penalized_score_equation():
    assert penalized_score(-6.0, 7, 1.0) == -6.0 / 2.0  # ((5 + 7) / 6) ** 1 = 2
    assert penalized_score(-6.0, 13, 0.5) == -6.0 / 3.0 ** 0.5


def test_lesson_checks_fail_on_wrong_functions(capsys):
    def counts_every_later_key(batch):  # forgets the attention mask: a [gMASK] suffix token "sees" later positions
        pos = batch["position_ids"][:, 0] if batch["position_ids"].dim() == 3 else batch["position_ids"]
        later = (pos[:, None, :] > pos[:, :, None]).any(-1)
        m = batch["loss_mask"]
        return float((later & m).sum()) / int(m.sum())

    assert not check_right_context_share(counts_every_later_key)
    assert "Exercise 7.5: FAIL" in capsys.readouterr().out

    def mip_without_the_mask(ids, special, layout):  # the answer follows [sop] directly after the prompt
        if layout == "mip":
            full = list(ids) + [special.sop]
            return full, list(range(len(full))), len(ids)
        return prompt_layout(ids, special, layout)

    assert not check_prompt_layout(mip_without_the_mask)
    assert "Exercise 7.6: FAIL" in capsys.readouterr().out


def test_scalar_checks_print_their_breakdown_on_a_mismatch(capsys):
    assert not check_penalized_score(lambda s, n, p: s / n ** p)  # the raw length: the usual slip
    out = capsys.readouterr().out
    assert "smoothed length (5 + |y|) / 6" in out and "raw |y| ** length_penalty" in out

    def forgets_the_attention_mask(batch):
        return right_context_share({**batch, "attention_mask": torch.ones_like(batch["attention_mask"])})

    assert not check_right_context_share(forgets_the_attention_mask)
    out = capsys.readouterr().out
    assert "Exercise 7.5: FAIL" in out and "share with the attention mask ignored (a slip)" in out


def test_the_breakdowns_compute_the_reference_values():
    steps = dict(penalty_steps(-6.0, 7, 1.0))
    assert steps["smoothed length (5 + |y|) / 6"] == 2.0 and steps["score / that"] == penalized_score(-6.0, 7, 1.0)
    assert steps["summed log-probability"] / steps["smoothed ** length_penalty"] == steps["score / that"]
    # a hand-made batch: positions 0 1 2; only token 0 may see a later one (token 2); token 2 is not supervised
    allowed = torch.tensor([[True, True, True], [True, True, False], [True, True, True]])
    batch = {"position_ids": torch.tensor([[0, 1, 2]]), "attention_mask": allowed.view(1, 1, 3, 3),
             "loss_mask": torch.tensor([[True, True, False]])}
    terms = dict(share_steps(batch))
    assert terms["supervised tokens (loss mask)"] == 2 and terms["of them, allowed to attend to a later position"] == 1
    assert terms["share"] == 0.5 == right_context_share(batch)
    assert terms["share with the attention mask ignored (a slip)"] == 1.0
    assert terms["share over every token, loss mask ignored (a slip)"] == 1 / 3
