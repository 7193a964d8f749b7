"""The recipe's pieces, each against its docstring equation: schedules, AdamW groups, grad norms and clipping,
spike detection, skip ranges, atomic checkpoints, metrics and the unigram baseline."""

import math
import random
import statistics

import pytest
import torch

from glm_mini import GLM, PRESETS
from glm_mini.training.checkpoint import (CheckpointError, latest_checkpoint, load_checkpoint, rng_state,
                                          save_checkpoint, set_rng_state)
from glm_mini.training.grad_norms import clip_gradients, grad_norms, group_of
from glm_mini.training.metrics import MetricsLog, read_metrics, unigram_cross_entropy
from glm_mini.training.optimizer import build_adamw, weight_decay_groups
from glm_mini.training.schedule import batch_size_at, egs_alpha_at, lr_at
from glm_mini.training.spikes import SpikeDetector, in_ranges, parse_skip_ranges


# --- schedule ----------------------------------------------------------------------------------------------------
def test_lr_warmup_then_cosine_to_ten_percent():
    peak, w, t = 1e-3, 10, 110
    assert lr_at(1, peak, w, t) == pytest.approx(peak / 10)
    assert lr_at(w, peak, w, t) == pytest.approx(peak)
    assert lr_at(t, peak, w, t) == pytest.approx(0.1 * peak)
    mid = w + (t - w) // 2  # cos(π/2) = 0: halfway between peak and floor
    assert lr_at(mid, peak, w, t) == pytest.approx(peak * (0.1 + 0.9 * 0.5))
    step = 37
    expected = peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - w) / (t - w))))
    assert lr_at(step, peak, w, t) == pytest.approx(expected)
    values = [lr_at(s, peak, w, t) for s in range(w, t + 1)]
    assert all(a >= b for a, b in zip(values, values[1:]))  # monotone after warm-up


def test_lr_bad_inputs():
    with pytest.raises(ValueError, match="step"):
        lr_at(0, 1e-3, 1, 10)
    with pytest.raises(ValueError, match="warmup_steps"):
        lr_at(1, 1e-3, 11, 10)


def test_batch_ramp_follows_formula():
    full, start, inc, ramp = 4224, 192, 24, 100
    n = (full - start) // inc
    for step in (1, 2, 50, 99, 100, 101, 500):
        assert batch_size_at(step, full, start, ramp, inc) == min(full, start + inc * ((step - 1) * n // ramp))
    assert batch_size_at(1, 8, 1, 0) == 8  # no ramp
    with pytest.raises(ValueError, match="start"):
        batch_size_at(1, 8, 9, 5)
    with pytest.raises(ValueError, match="increment"):
        batch_size_at(1, 8, 1, 5, increment=3)


def test_egs_alpha_ramp():
    assert egs_alpha_at(5, 0.1, None) == 0.1
    assert egs_alpha_at(10, 0.1, (10, 20)) == 0.1
    assert egs_alpha_at(15, 0.1, (10, 20)) == pytest.approx(0.1 + 0.9 * 0.5)
    assert egs_alpha_at(25, 0.1, (10, 20)) == 1.0
    with pytest.raises(ValueError, match="egs ramp"):
        egs_alpha_at(1, 0.1, (5, 5))


# --- optimizer ---------------------------------------------------------------------------------------------------
def test_no_weight_decay_on_layernorms_and_biases():
    model = GLM(PRESETS["nano"])
    decay, no_decay = weight_decay_groups(model)
    assert "transformer.word_embeddings.weight" in decay
    assert "transformer.layers.0.attention.query_key_value.weight" in decay
    assert "transformer.layers.0.attention.query_key_value.bias" in no_decay
    assert "transformer.layers.1.input_layernorm.weight" in no_decay
    assert "transformer.final_layernorm.weight" in no_decay
    assert sorted(decay + no_decay) == sorted(n for n, _ in model.named_parameters())
    opt = build_adamw(model, 1e-3)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]
    assert opt.defaults["betas"] == (0.9, 0.95) and opt.defaults["eps"] == 1e-8


def test_adamw_step_matches_equation():
    """One step of the docstring's AdamW update, by hand, on a decayed weight."""
    w = torch.nn.Linear(3, 2, bias=False)
    theta0 = w.weight.detach().clone()
    g = torch.randn(2, 3)
    opt = build_adamw(w, lr=0.01)
    w.weight.grad = g.clone()
    opt.step()
    m, v = 0.1 * g, 0.05 * g * g
    m_hat, v_hat = m / (1 - 0.9), v / (1 - 0.95)
    expected = theta0 - 0.01 * (m_hat / (v_hat.sqrt() + 1e-8) + 0.1 * theta0)
    torch.testing.assert_close(w.weight.detach(), expected, rtol=1e-5, atol=1e-7)


# --- gradient norms and clipping ---------------------------------------------------------------------------------
def test_grad_norms_per_module_and_clipping():
    model = GLM(PRESETS["nano"])
    ids = torch.randint(0, 1000, (2, 16))
    model(ids).logits.square().mean().backward()
    norms = grad_norms(model)
    squares = {}
    for name, p in model.named_parameters():
        squares.setdefault(group_of(name), []).append(p.grad.pow(2).sum().item())
    assert set(squares) == {"embedding", "layer_0", "layer_1", "final_layernorm"}
    assert norms["embedding"] == pytest.approx(math.sqrt(sum(squares["embedding"])), rel=1e-5)
    assert norms["layer_1"] == pytest.approx(math.sqrt(sum(squares["layer_1"])), rel=1e-5)
    assert norms["total"] ** 2 == pytest.approx(norms["embedding"] ** 2 + norms["rest"] ** 2, rel=1e-5)
    max_norm = norms["total"] / 4
    factor = clip_gradients(model, max_norm, norms["total"])
    assert factor == pytest.approx(0.25, rel=1e-4)
    assert grad_norms(model)["total"] == pytest.approx(max_norm, rel=1e-4)
    with pytest.raises(ValueError, match="max_norm"):
        clip_gradients(model, 0.0, 1.0)


# --- spikes ------------------------------------------------------------------------------------------------------
def test_spike_detector_against_median():
    det = SpikeDetector(factor=1.5, window=5)
    losses = [3.0, 2.9, 3.1, 2.8, 3.0]
    assert not any(det.update(x) for x in losses)  # window filling
    assert det.update(1.5 * statistics.median(losses) + 0.01)
    assert not det.update(1.5 * statistics.median(losses) - 0.01)
    assert det.update(float("nan"))
    restored = SpikeDetector(1.5, 5)
    restored.load_state_dict(det.state_dict())
    assert restored.history == det.history
    with pytest.raises(ValueError, match="factor"):
        SpikeDetector(factor=1.0)
    with pytest.raises(ValueError, match="window"):
        SpikeDetector(window=0)


def test_skip_ranges():
    ranges = parse_skip_ranges("40701-40900, 42401-42600,7")
    assert ranges == ((40701, 40900), (42401, 42600), (7, 7))
    assert in_ranges(40701, ranges) and in_ranges(7, ranges) and not in_ranges(40901, ranges)
    assert parse_skip_ranges("") == ()
    for bad in ("a-b", "5-3", "0-2", "1-2-3"):
        with pytest.raises(ValueError, match="skip_steps"):
            parse_skip_ranges(bad)


# --- checkpoints -------------------------------------------------------------------------------------------------
def test_checkpoint_roundtrip_keeps_newest_and_rngs(tmp_path):
    rng = random.Random(3)
    rng.random()
    torch.manual_seed(5)
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, {"objective_rng": rng.getstate(), "rng": rng_state(),
                                         "w": torch.full((2,), float(step))}, keep=2)
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("step_*.pt")) == \
        ["step_00000002.pt", "step_00000003.pt"]
    expected_next = torch.rand(3)
    state = load_checkpoint(latest_checkpoint(tmp_path))
    assert state["step"] == 3 and state["w"].tolist() == [3.0, 3.0]
    set_rng_state(state["rng"])
    torch.testing.assert_close(torch.rand(3), expected_next)
    restored = random.Random()
    restored.setstate(state["objective_rng"])
    assert restored.random() == rng.random()
    assert not list((tmp_path / "checkpoints").glob(".*"))  # no temporary file left behind


def test_checkpoint_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="latest"):
        latest_checkpoint(tmp_path)
    path = save_checkpoint(tmp_path, 1, {"w": torch.zeros(2)})
    path.write_bytes(path.read_bytes()[:100])  # truncated, as a disk-full write would leave it
    with pytest.raises(CheckpointError, match=path.name):
        load_checkpoint(path)
    torch.save({"something": 1}, path)
    with pytest.raises(CheckpointError, match="format"):
        load_checkpoint(path)
    path.unlink()
    with pytest.raises(FileNotFoundError, match=path.name):
        latest_checkpoint(tmp_path)


# --- metrics -----------------------------------------------------------------------------------------------------
def test_metrics_log_truncates_on_resume(tmp_path):
    log = MetricsLog(tmp_path)
    for step in (1, 2, 3):
        log.write({"step": step, "loss": 1.0 / step})
    log.close()
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 4, "lo')  # a line cut short by kill -9
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3]
    MetricsLog(tmp_path, resume_step=2).close()
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2]
    with pytest.raises(FileNotFoundError, match="metrics"):
        read_metrics(tmp_path / "nowhere")


def test_unigram_cross_entropy_equation():
    counts = torch.tensor([3, 0, 1])
    targets = torch.tensor([0, 0, 2, 1])
    p = [(3 + 1) / 7, (0 + 1) / 7, (1 + 1) / 7]
    expected = -(2 * math.log(p[0]) + math.log(p[2]) + math.log(p[1])) / 4
    assert unigram_cross_entropy(counts, targets) == pytest.approx(expected)
    with pytest.raises(ValueError, match="counts"):
        unigram_cross_entropy(counts.view(1, 3), targets)
    with pytest.raises(ValueError, match="targets"):
        unigram_cross_entropy(counts, torch.tensor([3]))
    with pytest.raises(ValueError, match="targets"):
        unigram_cross_entropy(counts, torch.tensor([], dtype=torch.long))
