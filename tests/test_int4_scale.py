"""The INT4-scale family (data/reference/int4-scale/): the shipped models load, still measure what their manifests
record, their recipe retrains the recorded curve, and the lesson's rule decides as its docstring says.

Tolerances are the reference models' (tests/test_reference.py): the numbers were measured on the bf16 weights as
shipped, so reloading gives the same fp32 tensors and only the CPU's summation order can differ. Losses are checked at
rtol 1e-4, accuracies within 2 tokens, weight statistics (exact functions of the weights) at rtol 1e-6, and the
first 5 retrained steps at rtol 1e-3.
"""

import dataclasses

import pytest
import torch

from scale_up.quantization.scale_lesson import SizeGap, int4_scale_line, shrinks_with_size, size_gap
from scale_up.quantization.size_family import (SIZES, initial_model, load_member, measure_member, quality_batches,
                                               read_size_manifest, recipe, shipped_sizes)
from shipped_models import assert_recipe_retrains_the_curve

SHIPPED = shipped_sizes()
needs_shipped = pytest.mark.skipif(not SHIPPED, reason="no int4-scale model shipped in data/reference/int4-scale/")


@pytest.fixture(scope="module")
def batches():
    return quality_batches()


@needs_shipped
def test_every_size_is_shipped_with_two_seeds_or_more():
    assert SHIPPED == list(SIZES), "the lesson compares all three sizes"
    for size in SHIPPED:
        manifest = read_size_manifest(size)
        assert len(manifest["seeds"]) >= 2 and sorted(manifest["files"]) == [str(s) for s in
                                                                             range(len(manifest["seeds"]))]
        assert manifest["recipe"]["config_overrides"] == SIZES[size]
    quantized = [read_size_manifest(s)["parameters"]["quantized"] for s in SHIPPED]
    assert quantized == sorted(quantized) and quantized[-1] >= 10 * quantized[0], "a ~10x span in quantized weights"


@needs_shipped
@pytest.mark.parametrize("size", SHIPPED)
def test_shipped_members_still_measure_what_they_recorded(size, batches):
    val, chance = batches
    manifest = read_size_manifest(size)
    tol = manifest["check_tolerance"]
    assert manifest["chance"] == pytest.approx(chance, rel=1e-9)
    for seed, record in enumerate(manifest["seeds"]):
        model = load_member(size, seed)
        assert not model.training and all(p.dtype == torch.float32 for p in model.parameters())
        assert dataclasses.asdict(model.config) == manifest["model"]
        again, recorded = measure_member(model, initial_model(size, seed), val), record["metrics"]
        for fmt, row in recorded["quality"].items():
            assert again["quality"][fmt]["val_loss"] == pytest.approx(row["val_loss"], rel=tol["val_loss_rtol"])
            tokens = row["tokens"]
            assert abs(again["quality"][fmt]["token_accuracy"] - row["token_accuracy"]) <= \
                tol["accuracy_atol_tokens"] / tokens + 1e-12
        for part in ("weights", "weights_at_init"):
            for kind, stats in recorded[part].items():
                assert again[part][kind] == pytest.approx(stats, rel=tol["weights_rtol"]), (part, kind)
        assert again["moved_from_init"] == pytest.approx(recorded["moved_from_init"], rel=tol["weights_rtol"])


@needs_shipped
@pytest.mark.parametrize("size", SHIPPED)
def test_recipe_retrains_the_recorded_curve(size, tmp_path):
    assert_recipe_retrains_the_curve(read_size_manifest(size), recipe(size, 0, tmp_path))


def test_initial_model_is_the_one_the_trainer_starts_from(tmp_path):
    from glm_mini.train import load_model, train

    cfg = dataclasses.replace(recipe("h32", 3, tmp_path), stop_after_step=1)
    train(cfg, progress=False)
    after_one_step = load_model(cfg.out).state_dict()
    first_lr = cfg.lr / cfg.warmup  # AdamW's first step moves a weight by at most lr·(1 + wd·|w|): Adam's ±lr, decay
    start, other_seed = initial_model("h32", 3).state_dict(), initial_model("h32", 4).state_dict()
    for key, value in start.items():
        bound = first_lr * (1 + cfg.weight_decay * value.abs()) * 1.01  # 1%: Adam's ε-free bound, fp32 rounding
        assert ((after_one_step[key] - value).abs() <= bound).all(), key
    key = "transformer.layers.0.mlp.dense_4h_to_h.weight"
    assert (start[key] - other_seed[key]).abs().max() > 100 * first_lr
    assert torch.equal(initial_model("h32", 3).state_dict()[key], start[key])  # the caller's RNG is left alone


def test_a_missing_member_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="make int4-scale"):
        load_member("h32", 0, family_dir=tmp_path)
    with pytest.raises(ValueError, match="size"):
        recipe("h48")


@needs_shipped
def test_equation_2_the_loss_grows_with_the_square_of_the_weight_error(batches):
    """Moving the block weights a fraction t of the way to their INT4 values, W + t·(Ŵ − W), costs about t² times
    what INT4 costs (a linear law would give t): the basis of S = ΔL / e² (scale_lesson.py)."""
    from scale_up.quantization import QUANTIZED_LINEARS, dequantize_weight, quantize_weight
    from scale_up.quantization.quality import loss_and_accuracy

    val = batches[0][:4]
    model = load_member(SHIPPED[0], 0)
    base = loss_and_accuracy(model, val)[0]

    def cost(t):
        twin = load_member(SHIPPED[0], 0)
        with torch.no_grad():
            for name, m in twin.named_modules():
                if name.endswith(QUANTIZED_LINEARS):
                    w = m.weight.half().float()
                    m.weight.copy_(w + t * (dequantize_weight(*quantize_weight(w, 4)) - w))
        return loss_and_accuracy(twin, val)[0] - base

    ratio = cost(1.0) / cost(0.5)
    assert 3.0 < ratio < 6.0, f"INT4's cost / half of it = {ratio:.2f}: expected about 4 (quadratic), not 2 (linear)"


# --- the lesson's rule, on gaps made up to sit on each side of it ----------------------------------------------------

def _gap(size, quantized, loss_gaps):
    n = len(loss_gaps)
    return SizeGap(size, quantized, 10 * quantized, list(loss_gaps), [-0.001] * n, [0.0] * n, [2.0] * n, [0.4] * n,
                   [2.6] * n, [-0.1] * n, [0.002] * n, [0.1] * n)


def test_lesson_shown_when_the_gap_falls_beyond_the_seed_noise():
    gaps = [_gap("a", 1_000, [0.030, 0.034]), _gap("b", 4_000, [0.020, 0.022]), _gap("c", 16_000, [0.010, 0.012])]
    shown, fall, noise = shrinks_with_size(gaps)
    assert shown and fall == pytest.approx(0.021) and noise == pytest.approx(0.003)
    line = int4_scale_line(gaps[::-1])  # any order: sizes are sorted by quantized weights
    assert line.startswith("lesson int4-scale: shown (the gap falls by 0.0210 nats over a 16x span")
    # every size has e = 0.1 here, so the whole fall is in S = ΔL / e² (equation (2))
    assert "loss per unit e² falls (3.20 -> 1.10): the larger change is the loss per unit e², x0.34" in line


@pytest.mark.parametrize("loss_gaps", [
    ([0.030, 0.034], [0.031, 0.033], [0.028, 0.030]),  # falls, but less than the seeds' noise
    ([0.010, 0.012], [0.020, 0.022], [0.030, 0.034]),  # grows with size
    ([0.030, 0.034], [0.010, 0.012], [0.020, 0.022]),  # falls overall but not at every step
])
def test_lesson_not_shown_otherwise(loss_gaps):
    gaps = [_gap(s, q, g) for s, q, g in zip("abc", (1_000, 4_000, 16_000), loss_gaps)]
    assert not shrinks_with_size(gaps)[0]
    assert int4_scale_line(gaps).startswith("lesson int4-scale: not shown (the gap does not fall with size")


def test_lesson_needs_two_seeds_per_size():
    gaps = [_gap("a", 1_000, [0.030]), _gap("b", 4_000, [0.020]), _gap("c", 16_000, [0.010])]
    assert not shrinks_with_size(gaps)[0]
    assert int4_scale_line(gaps).startswith("lesson int4-scale: not shown (1 seed per size has no spread")


def test_size_gap_reads_measure_member_results():
    members = [{"quality": {"fp32": {"val_loss": 2.0, "token_accuracy": 0.40}, "int8": {"val_loss": 2.001,
                                                                                      "token_accuracy": 0.40},
                            "int4": {"val_loss": 2.02, "token_accuracy": 0.39}},
                "weights": {"all": {"peak_to_sigma": 2.5, "excess_kurtosis": -0.2, "outlier_share": 0.001,
                                    "int4_error": 0.1}}}]
    g = size_gap("h32", {"quantized": 24_000, "total": 90_000}, members)
    assert g.loss_gap == [pytest.approx(0.02)] and g.accuracy_gap == [pytest.approx(-0.01)]
    assert g.sensitivity == [pytest.approx(0.02 / 0.1 ** 2)]  # equation (2): S = ΔL / e²
    assert g.int8_loss_gap == [pytest.approx(0.001)] and g.peak_to_sigma == [2.5]
    with pytest.raises(ValueError, match="members"):
        size_gap("h32", {"quantized": 1, "total": 1}, [])
