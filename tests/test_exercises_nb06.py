"""Notebook 06's exercise checks pass on the package's functions and fail, naming the mismatch, on wrong ones; the
training-step check's reference is one step of the real `train()` loop."""

import math

import pytest
import torch
import torch.nn.functional as F

import glm_mini.train as train_module
import glm_mini.training.step as step_module
from glm_mini.exercises.nb06_training import (check_clip_gradients, check_masked_loss, check_train_step,
                                              clip_reference, reference_train_step)
from glm_mini.train import TrainConfig, masked_cross_entropy
from glm_mini.training.optimizer import build_adamw
from glm_mini.training.schedule import lr_at


def test_masked_loss_check(capsys):
    assert check_masked_loss(masked_cross_entropy)
    assert "Exercise 6.1: PASS" in capsys.readouterr().out

    def mean_over_all_positions(logits, targets, loss_mask):  # ignores the loss mask
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    assert not check_masked_loss(mean_over_all_positions)
    out = capsys.readouterr().out
    assert "Exercise 6.1: FAIL on case 'one row'" in out and "row 0 (" in out and "= expected" in out


def test_the_loss_breakdown_adds_up():
    from glm_mini.exercises.nb06_training import loss_by_row

    g = torch.Generator().manual_seed(0)
    logits, targets = torch.randn(3, 5, 7, generator=g), torch.randint(0, 7, (3, 5), generator=g)
    mask = torch.rand(3, 5, generator=g) < 0.5
    mask[0, 0] = True
    assert sum(loss_by_row(logits, targets, mask).values()) == pytest.approx(
        float(masked_cross_entropy(logits, targets, mask)), rel=1e-6)


def test_clip_check(capsys):
    def clip(grads, max_norm):
        total = math.sqrt(sum(float(g.pow(2).sum()) for g in grads))
        return [g * min(1.0, max_norm / (total + 1e-6)) for g in grads]

    assert check_clip_gradients(clip)
    assert "Exercise 6.2: PASS (4 cases)" in capsys.readouterr().out

    def clip_each(grads, max_norm):  # clips each tensor on its own instead of the total norm
        return [g * min(1.0, max_norm / (float(g.norm()) + 1e-6)) for g in grads]

    assert not check_clip_gradients(clip_each)
    assert "FAIL on case 'norm above the limit'" in capsys.readouterr().out
    reference = clip_reference([torch.full((4,), 3.0)], 1.0)[0]  # norm 6 -> scaled by 1/6
    torch.testing.assert_close(reference, torch.full((4,), 0.5), rtol=1e-5, atol=1e-6)


def _step(clip=True, zero_grad=True, set_lr=True):
    """A training step written the way a student would, with one mistake chosen by the arguments."""
    def step(model, optimizer, batch, lr, max_norm):
        if set_lr:
            for group in optimizer.param_groups:
                group["lr"] = lr
        logits = model(batch["input_ids"], position_ids=batch["position_ids"],
                       attention_mask=batch["attention_mask"]).logits
        loss = F.cross_entropy(logits[batch["loss_mask"]], batch["targets"][batch["loss_mask"]])
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        optimizer.step()
        return loss.item()
    return step


@pytest.mark.slow
def test_train_step_check(capsys):
    assert check_train_step(reference_train_step)
    assert capsys.readouterr().out.strip() == "Exercise 6.3: PASS (3 cases)"
    assert check_train_step(_step()), "clip_grad_norm_ and the loop's clipping agree within the check's tolerance"
    capsys.readouterr()
    for wrong, case in [(_step(clip=False), "three steps, gradients clipped hard"),
                        (_step(zero_grad=False), "three steps, warm-up learning rates"),
                        (_step(set_lr=False), "three steps, warm-up learning rates")]:
        assert not check_train_step(wrong)
        assert f"Exercise 6.3: FAIL on case '{case}'" in capsys.readouterr().out


@pytest.mark.slow
def test_reference_step_is_one_step_of_the_training_loop(tmp_path, monkeypatch):
    """train() for one step, its batch and initial weights captured, against reference_train_step from the same."""
    seen = {}
    real_forward_loss = step_module.forward_loss

    def capture(model, batch, precision, device):  # records what the loop's step 1 sees, then does the real work
        if not seen:
            seen["batch"] = {k: v.clone() for k, v in batch.items()}
            seen["weights"] = {k: v.clone() for k, v in model.state_dict().items()}
            seen["config"] = model.config
        return real_forward_loss(model, batch, precision, device)

    monkeypatch.setattr(step_module, "forward_loss", capture)  # the one training step both trainers share
    cfg = TrainConfig(preset="nano", max_steps=1, batch_size=2, seq_len=64, val_batches=1, lr=3e-3, device="cpu",
                      out=str(tmp_path / "run"))
    result = train_module.train(cfg, progress=False)
    trained = train_module.load_model(tmp_path / "run")

    model = train_module.GLM(seen["config"])
    model.load_state_dict(seen["weights"])
    model.train()
    lr = lr_at(1, cfg.lr, cfg.warmup, cfg.max_steps, cfg.min_lr_ratio)
    loss = reference_train_step(model, build_adamw(model, 0.0, cfg.weight_decay), seen["batch"], lr, cfg.clip_grad)
    assert loss == pytest.approx(result.losses[0], rel=1e-6)
    for name, p in trained.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], p, rtol=1e-5, atol=1e-7, msg=name)


def test_student_edition_stub_reports_not_implemented(capsys):
    def stub(*args):
        raise NotImplementedError("Exercise 6.3: zero the gradients")

    assert not check_train_step(stub)
    assert "Exercise 6.3: not yet implemented" in capsys.readouterr().out
