"""Notebook 06's exercise checks pass on the package's functions and fail, naming the mismatch, on wrong ones."""

import math

import torch
import torch.nn.functional as F

from glm_mini.exercises.nb06_training import _clip_reference, check_clip_gradients, check_lr_schedule, \
    check_masked_loss
from glm_mini.train import masked_cross_entropy
from glm_mini.training.schedule import lr_at


def test_lr_schedule_check(capsys):
    assert check_lr_schedule(lr_at)
    assert "Exercise 6.1: PASS" in capsys.readouterr().out

    def cosine_to_zero(step, peak, warmup, total, min_ratio):  # forgets the 10% floor
        return lr_at(step, peak, warmup, total, 0.0)

    assert not check_lr_schedule(cosine_to_zero)
    assert "FAIL on case 'last step: the floor'" in capsys.readouterr().out


def test_masked_loss_check(capsys):
    assert check_masked_loss(masked_cross_entropy)
    assert "PASS" in capsys.readouterr().out

    def mean_over_all_positions(logits, targets, loss_mask):  # ignores the loss mask
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    assert not check_masked_loss(mean_over_all_positions)
    assert "Exercise 6.2: FAIL on case 'one row'" in capsys.readouterr().out


def test_clip_check(capsys):
    def clip(grads, max_norm):
        total = math.sqrt(sum(float(g.pow(2).sum()) for g in grads))
        return [g * min(1.0, max_norm / (total + 1e-6)) for g in grads]

    assert check_clip_gradients(clip)
    assert "Exercise 6.3: PASS (4 cases)" in capsys.readouterr().out

    def clip_each(grads, max_norm):  # clips each tensor on its own instead of the total norm
        return [g * min(1.0, max_norm / (float(g.norm()) + 1e-6)) for g in grads]

    assert not check_clip_gradients(clip_each)
    assert "FAIL on case 'norm above the limit'" in capsys.readouterr().out
    reference = _clip_reference([torch.full((4,), 3.0)], 1.0)[0]  # norm 6 -> scaled by 1/6
    torch.testing.assert_close(reference, torch.full((4,), 0.5), rtol=1e-5, atol=1e-6)


def test_student_edition_stub_reports_not_implemented(capsys):
    def stub(*args):
        raise NotImplementedError("Exercise 6.1: warm-up, then cosine")

    assert not check_lr_schedule(stub)
    assert "not yet implemented" in capsys.readouterr().out
