"""Notebook 11's exercise checks: the references equal scale_up.plan's numbers, pass on themselves, and fail
(naming the case) on classic mistakes."""

import dataclasses

from glm_mini import PRESETS
from scale_up.exercises import nb11_full_scale as ex
from scale_up.plan import inference_plan, training_plan, weight_bytes_per_gpu

CFG = PRESETS["glm-130b"]


def test_references_equal_the_planner():
    for tp, bits in ((8, 16), (4, 4), (2, 8)):
        assert ex.weight_bytes_per_gpu(*ex.GLM130B, tp, bits) == weight_bytes_per_gpu(CFG, tp, bits)
    small = dataclasses.replace(PRESETS["nano"], num_layers=3)
    assert ex.weight_bytes_per_gpu(3, 64, 176, 1024, 2, 8) == weight_bytes_per_gpu(small, 2, 8)
    assert ex.kv_cache_bytes(70, 12288, 4, 2, 1024) == inference_plan(CFG, "rtx3090", 4, 4, 2, 1024).kv_cache
    plan = training_plan(CFG, dp=24, tp=4, pp=8, micro_batches=176, micro_batch_size=1, seq_len=2048, gpu="a100-40g")
    assert abs(ex.mfu(*ex.GLM130B, 4224, 2048, 88.5, 768, plan.gpu.peak_flops) - plan.mfu(88.5)) < 1e-12


def test_checks_pass_on_references_and_fail_on_mistakes(capsys):
    assert ex.check_weight_bytes(ex.weight_bytes_per_gpu)
    assert ex.check_kv_cache(ex.kv_cache_bytes)
    assert ex.check_mfu(ex.mfu)
    assert capsys.readouterr().out.count("PASS") == 3

    def no_scales(L, h, f, v, tp, bits):  # forgets the FP16 scale per quantized row
        return ex.weight_bytes_per_gpu(L, h, f, v, tp, 16) * bits // 16

    def keys_only(L, h, tp, b, s):  # forgets the values
        return L * b * s * (h // tp) * 2

    def forgets_attention(L, h, f, v, B, s, t, n, peak):  # drops the 2·s·h attention term
        return 6 * B * s * (L * (4 * h * h + 3 * h * f) + h * v) / (t * n * peak)

    assert not ex.check_weight_bytes(no_scales)
    assert not ex.check_kv_cache(keys_only)
    assert not ex.check_mfu(forgets_attention)
    out = capsys.readouterr().out
    fails = [line for line in out.splitlines() if line.startswith("Exercise")]
    assert fails[0].startswith("Exercise 11.1: FAIL on case 'GLM-130B TP=4 INT4': result: got")
    assert fails[1].startswith("Exercise 11.2: FAIL on case 'GLM-130B TP=4 1x2048'")
    assert fails[2].startswith("Exercise 11.3: FAIL on case 'GLM-130B on 768 A100s at 88.5 s'")
    assert "their FP16 scales, one per local row" in out, "11.1 names the term the mistake left out"
    assert "values, every layer (FP16)" in out and "model FLOPs: attention over the sequence" in out
    assert out.count("term by term") == 2 and out.count("step by step") == 1


def test_the_breakdowns_add_up_to_the_references():
    for tp, bits in ((8, 16), (4, 4), (2, 8)):
        assert sum(ex.weight_bytes_terms(*ex.GLM130B, tp, bits).values()) == ex.weight_bytes_per_gpu(*ex.GLM130B,
                                                                                                      tp, bits)
    assert sum(ex.weight_bytes_terms(3, 64, 176, 1024, 2, 8).values()) == ex.weight_bytes_per_gpu(3, 64, 176, 1024,
                                                                                                    2, 8)
    assert sum(ex.kv_cache_terms(70, 12288, 4, 2, 1024).values()) == ex.kv_cache_bytes(70, 12288, 4, 2, 1024)
    steps = dict(ex.mfu_steps(*ex.GLM130B, 4224, 2048, 88.5, 768, 312e12))
    flops = sum(v for k, v in steps.items() if k.startswith("model FLOPs:"))
    assert flops == steps["model FLOPs per iteration"]
    assert abs(steps["MFU"] - ex.mfu(*ex.GLM130B, 4224, 2048, 88.5, 768, 312e12)) < 1e-12
