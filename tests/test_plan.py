"""The planner (scale_up/plan.py, gpus.py): its equations against independent counts, and the paper's figures."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from glm_mini import GLM, PRESETS, GLMConfig
from scale_up.gpus import GPU, GiB, get_gpu
from scale_up.memory import weight_bytes
from scale_up.plan import (OFFICIAL_SETUPS, hardware_table, inference_plan, model_flops, pipeline_bubble,
                           training_plan, weight_bytes_per_gpu)

GLM130B = PRESETS["glm-130b"]


@pytest.mark.parametrize("preset", ["nano", "glm-130b"])
@pytest.mark.parametrize("bits", [16, 8, 4])
def test_one_rank_holds_the_whole_model(preset, bits):
    with torch.device("meta"):
        model = GLM(PRESETS[preset])
    assert weight_bytes_per_gpu(PRESETS[preset], 1, bits) == weight_bytes(model, bits)


@pytest.mark.parametrize("tp", [2, 4, 8])
def test_tensor_parallel_shards_add_up(tp):
    """t ranks together hold the model once, plus (t − 1) extra copies of what is replicated."""
    c = GLM130B
    h, n = c.hidden_size, c.num_layers
    replicated = n * 2 * (h + h + 2 * 2 * h) + 2 * 2 * h  # row-parallel biases, LayerNorms, final LayerNorm (FP16)
    assert tp * weight_bytes_per_gpu(c, tp) == weight_bytes_per_gpu(c, 1) + (tp - 1) * replicated
    # quantized: each rank also keeps one scale per output row of its row-parallel shards ([h] each)
    extra_scales = (tp - 1) * n * 2 * (h + h)
    assert tp * weight_bytes_per_gpu(c, tp, 4) == weight_bytes_per_gpu(c, 1, 4) + (tp - 1) * replicated + extra_scales


def test_kv_cache_equals_the_models_own_cache():
    c = PRESETS["nano"]
    model = GLM(c).eval()
    b, s = 2, 24
    with torch.no_grad():
        out = model(torch.randint(0, c.vocab_size, (b, s)), use_cache=True)
    cached = sum(t.numel() for layer in out.past_key_values for t in layer) * 2  # as FP16
    assert inference_plan(c, "a100-40g", 1, 16, b, s).kv_cache == cached


def _flops_by_hand(c: GLMConfig, b: int, s: int, recompute: bool) -> int:
    """Independent tally: 2 FLOPs per multiply-add of every matmul, backward = 2 forwards, recompute = +1 forward."""
    h, f, v, n = c.hidden_size, c.ffn_hidden_size, c.vocab_size, c.num_layers
    per_token_layer = 2 * (3 * h * h + h * h + h * 2 * f + f * h) + 2 * 2 * s * h  # linears, QK^T and AV
    per_token_head = 2 * h * v
    passes = 4 if recompute else 3
    return b * s * (passes * n * per_token_layer + 3 * per_token_head)


@pytest.mark.parametrize("recompute", [False, True])
def test_flops_equation(recompute):
    c = GLMConfig(num_layers=3, hidden_size=96, num_attention_heads=4, inner_hidden_size=256, vocab_size=960,
                  max_sequence_length=128)  # f = 8h/3, so the closed form holds exactly
    b, s = 5, 64
    assert model_flops(c, b, s, recompute) == _flops_by_hand(c, b, s, recompute)
    h, n, v = 96, 3, 960
    closed = (96 * b * s * n * h * h * (1 + s / (6 * h) + v / (16 * h * n)) if recompute
              else 72 * b * s * n * h * h * (1 + s / (6 * h) + v / (12 * h * n)))
    assert model_flops(c, b, s, recompute) == pytest.approx(closed, rel=1e-12)


def test_bubble_formula():
    assert pipeline_bubble(1, 10) == 0
    assert pipeline_bubble(4, 1) == pytest.approx(3 / 4)
    assert pipeline_bubble(8, 176) == pytest.approx(7 / 183)


def test_paper_training_figures():
    """Paper §2.3 / App. B.4: bubble 3.8%; at the log's 88.5 s/iteration, MFU 32.5% and HFU 43.3% (each within 5%)."""
    plan = training_plan(GLM130B, 24, 4, 8, 176, 1, 2048, "a100-40g")
    assert plan.num_gpus == 768 and plan.global_batch == 4224
    assert round(plan.bubble_fraction, 3) == 0.038
    assert plan.mfu(88.5) == pytest.approx(0.325, rel=0.05)
    assert plan.hfu(88.5) == pytest.approx(0.433, rel=0.05)
    assert plan.fits


def test_training_memory_terms():
    plan = training_plan(GLM130B, 24, 4, 8, 176, 1, 2048, "a100-40g")
    assert plan.gradients == plan.parameters
    assert plan.optimizer == -(-12 * (plan.parameters // 2) // 24)  # FP32 master + two Adam moments over DP
    more_dp = training_plan(GLM130B, 48, 4, 8, 176, 1, 2048, "a100-40g")
    assert more_dp.optimizer < plan.optimizer and more_dp.parameters == plan.parameters
    no_ckpt = training_plan(GLM130B, 24, 4, 8, 176, 1, 2048, "a100-40g", recompute=False)
    assert no_ckpt.activations > 10 * plan.activations and not no_ckpt.fits
    assert no_ckpt.hardware_flops_per_iteration == no_ckpt.flops_per_iteration


@pytest.mark.parametrize("gpu,n,bits,official", OFFICIAL_SETUPS)
def test_official_hardware_table(gpu, n, bits, official):
    """docs/glm130b_facts.md §4.4: which official serving setups fit without offloading."""
    assert inference_plan(GLM130B, gpu, n, bits).fits is official


def test_inference_terms_scale_as_stated():
    one = inference_plan(GLM130B, "a100-80g", 8, 16, 1, 1024)
    two = inference_plan(GLM130B, "a100-80g", 8, 16, 2, 1024)
    assert two.kv_cache == 2 * one.kv_cache and two.activations == 2 * one.activations
    assert two.weights == one.weights
    assert inference_plan(GLM130B, "rtx3090", 4, 4).workspace > get_gpu("rtx3090").context_bytes  # dequant buffer
    assert inference_plan(GLM130B, "a100-40g", 8, 16).workspace == get_gpu("a100-40g").context_bytes
    assert len(hardware_table(GLM130B)) == len(OFFICIAL_SETUPS)


def test_a_gpu_given_by_numbers():
    mine = GPU("my-card", 48 * GiB, 150e12)
    assert inference_plan(GLM130B, mine, 8, 8).gpu is mine


@pytest.mark.parametrize("call,match", [
    (lambda: inference_plan(GLM130B, "rtx4090", 8, 16), "gpu: expected one of"),
    (lambda: inference_plan(GLM130B, "a100-40g", 3, 16), "num_gpus=3"),
    (lambda: inference_plan(GLM130B, "a100-40g", 0, 16), "num_gpus: expected a positive int"),
    (lambda: inference_plan(GLM130B, "a100-40g", True, 16), "num_gpus: expected a positive int"),
    (lambda: inference_plan(GLM130B, "a100-40g", 8, 3), "bits: expected one of"),
    (lambda: inference_plan(GLM130B, "a100-40g", 8, 16, seq_len=4096), "seq_len: at most"),
    (lambda: inference_plan(GLM130B, "a100-40g", 8, 16, batch_size=1.5), "batch_size"),
    (lambda: training_plan(GLM130B, 24, 5, 8, 176, 1, 2048, "a100-40g"), "tp=5"),
    (lambda: training_plan(GLM130B, 24, 4, 80, 176, 1, 2048, "a100-40g"), "pp=80"),
    (lambda: training_plan(GLM130B, 0, 4, 8, 176, 1, 2048, "a100-40g"), "dp: expected a positive int"),
    (lambda: training_plan(GLM130B, 24, 4, 8, 176, 1, 2048, "a100-40g").mfu(0), "iteration_seconds"),
    (lambda: training_plan(GLM130B, 24, 4, 8, 176, 1, 2048, "a100-40g").hfu(float("nan")), "iteration_seconds"),
    (lambda: GPU("x", -1, 1e12), "GPU.memory_bytes"),
    (lambda: GPU("x", GiB, float("inf")), "GPU.peak_flops"),
    (lambda: GPU("x", GiB, 1e12, context_bytes=2 * GiB), "GPU.context_bytes"),
])
def test_bad_input_is_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_cli():
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    run = lambda *a: subprocess.run([sys.executable, "-m", "scale_up.plan", *a], capture_output=True, text=True,
                                    cwd=root, env=env)
    out = run("hardware")
    assert out.returncode == 0 and out.stdout.count("agrees") == len(OFFICIAL_SETUPS), out.stdout + out.stderr
    out = run("training", "--iteration-seconds", "88.5")
    assert out.returncode == 0 and "bubble 3.8%" in out.stdout and "MFU 32.4%" in out.stdout, out.stdout
    out = run("inference", "--gpu", "rtx3090", "--tp", "4", "--bits", "4")
    assert out.returncode == 0 and "fits" in out.stdout
    bad = run("inference", "--gpu", "rtx3090", "--tp", "3")
    assert bad.returncode == 2 and "num_gpus=3" in bad.stderr
