"""weight_stats.py: each statistic against its definition, and equation (1) of its docstring on real rows."""

import math

import pytest
import torch

from glm_mini import GLM, PRESETS
from scale_up.quantization import dequantize_weight, quantize_weight
from scale_up.quantization.weight_stats import (GAUSSIAN_OUTLIER_SHARE, INT4_ERROR_PER_PEAK, OUTLIER_SIGMAS,
                                                distance_from, gaussian_row_stats, gaussian_twin_stats,
                                                model_weight_stats,
                                                pooled_row_stats, row_stats)

NANO = PRESETS["nano"]


def test_each_statistic_on_a_row_worked_by_hand():
    w = torch.tensor([[1.0, -1.0] * 10 + [-10.0]])  # twenty weights of size 1 and one far out
    sigma = math.sqrt((20 + 100) / 21)  # 2.39: the outlier sits 4.2 σ out
    s = row_stats(w)
    assert s.sigma == pytest.approx(sigma) and s.weights == 21
    assert s.peak_to_sigma == pytest.approx(10 / sigma)
    assert s.excess_kurtosis == pytest.approx((20 * sigma ** -4 + 10 ** 4 * sigma ** -4) / 21 - 3)
    assert 10 / sigma > OUTLIER_SIGMAS > 1 / sigma and s.outlier_share == pytest.approx(1 / 21)
    w_hat = dequantize_weight(*quantize_weight(w, 4))
    assert s.int4_error == pytest.approx(float((w - w_hat).norm() / w.norm()), rel=1e-6)


def test_pooled_rows_are_weighted_by_their_length():
    a, b = torch.randn(3, 8), torch.randn(2, 32) * 5
    pooled = pooled_row_stats([a, b])
    sa, sb = row_stats(a), row_stats(b)
    assert pooled.weights == 24 + 64
    assert pooled.peak_to_sigma == pytest.approx((sa.peak_to_sigma * 24 + sb.peak_to_sigma * 64) / 88)
    assert pooled.excess_kurtosis == pytest.approx((sa.excess_kurtosis * 24 + sb.excess_kurtosis * 64) / 88)


def test_gaussian_rows_match_the_normal_distribution():
    s = gaussian_row_stats(256, rows=2048)
    assert s.excess_kurtosis == pytest.approx(0.0, abs=0.03)
    assert s.outlier_share == pytest.approx(GAUSSIAN_OUTLIER_SHARE, rel=0.1)
    # the expected largest of n |z| draws grows with n (about sqrt(2 ln n)): wider rows have a larger peak
    assert gaussian_row_stats(32).peak_to_sigma < gaussian_row_stats(128).peak_to_sigma < s.peak_to_sigma
    twin = gaussian_twin_stats(GLM(NANO))  # nano's rows: 64 or 176 long, Gaussian
    assert twin.weights == model_weight_stats(GLM(NANO))["all"].weights
    assert gaussian_row_stats(64).peak_to_sigma < twin.peak_to_sigma < gaussian_row_stats(176).peak_to_sigma


@pytest.mark.parametrize("shape", ["gaussian", "laplace", "uniform"])
def test_equation_1_relative_int4_error_is_peak_to_sigma_over_7_sqrt12(shape):
    gen = torch.Generator().manual_seed(0)
    if shape == "gaussian":
        w = torch.randn(512, 344, generator=gen)
    elif shape == "laplace":  # heavy tails: excess kurtosis 3, a larger peak, a larger error
        w = -torch.log(torch.rand(512, 344, generator=gen)) * torch.sign(torch.rand(512, 344, generator=gen) - 0.5)
    else:
        w = torch.rand(512, 344, generator=gen) * 2 - 1
    s = row_stats(w * 0.02)
    assert s.int4_error == pytest.approx(s.peak_to_sigma * INT4_ERROR_PER_PEAK, rel=0.03)
    if shape == "laplace":
        assert s.excess_kurtosis == pytest.approx(3.0, abs=0.5) and s.peak_to_sigma > 4.5


def test_model_weight_stats_and_distance_from_init():
    model = GLM(NANO)
    stats = model_weight_stats(model)
    assert set(stats) == {"attention.query_key_value", "attention.dense", "mlp.dense_h_to_4h", "mlp.dense_4h_to_h",
                          "all"}
    assert stats["all"].weights == sum(s.weights for k, s in stats.items() if k != "all")
    twin = GLM(NANO)
    twin.load_state_dict(model.state_dict())
    assert distance_from(twin, model) == {k: 0.0 for k in stats if k != "all"}
    with torch.no_grad():
        twin.transformer.layers["0"].attention.dense.weight.mul_(2)  # one of two layers' dense weights doubles
    w = [model.transformer.layers[i].attention.dense.weight.detach() for i in ("0", "1")]
    expected = float(w[0].norm() / torch.cat([w[0].flatten(), w[1].flatten()]).norm())
    assert distance_from(twin, model)["attention.dense"] == pytest.approx(expected)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="all zeros"):
        row_stats(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="2-D floating-point"):
        row_stats(torch.ones(4))
    with pytest.raises(ValueError, match="no nn.Linear"):
        model_weight_stats(torch.nn.Sequential(torch.nn.Linear(2, 2)))
