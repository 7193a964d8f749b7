"""Notebook 04's exercise checks pass on the package's functions and fail, naming the mismatch, on wrong ones."""

import math

from glm_mini.exercises.nb04_deepnorm import (check_deepnorm_constants, check_init_stds, check_usable_range,
                                              deepnorm_constants)
from glm_mini.stability import expected_init_stds
from glm_mini.stability.lr_sensitivity import usable_range


def _printed(capsys):
    return capsys.readouterr().out.strip()


def test_constants_check(capsys):
    assert deepnorm_constants(70) == (math.sqrt(140), 140 ** -0.5)
    assert check_deepnorm_constants(deepnorm_constants)
    assert _printed(capsys) == "Exercise 4.1: PASS (4 cases)"
    assert not check_deepnorm_constants(lambda n: ((2 * n) ** 0.25, (8 * n) ** -0.25))  # DeepNet's decoder values
    out = _printed(capsys)
    assert "Exercise 4.1: FAIL on case 'N = 2': result[0]: got" in out
    assert "step by step" in out and "alpha, DeepNet decoder (not asked)" in out and "= expected" not in out


def test_init_stds_check(capsys):
    assert check_init_stds(expected_init_stds)
    assert _printed(capsys) == "Exercise 4.2: PASS (4 cases)"

    def beta_on_qk_too(config):  # β on every QKV row
        stds = expected_init_stds(config)
        return {**stds, "qk": stds["v"]}

    assert not check_init_stds(beta_on_qk_too)
    assert "Exercise 4.2: FAIL on case 'nano (2 layers, h=64)': result['qk']: got" in _printed(capsys)


def test_usable_range_check(capsys):
    assert usable_range({1e-3: [4.0, float("nan")], 3e-3: [4.1, 4.25], 1e-2: [3.1, 4.6]}, 4.7, 0.3) == [3e-3]
    assert check_usable_range(usable_range)
    assert _printed(capsys) == "Exercise 4.3: PASS (3 cases)"

    def mean_below(losses, unigram, trained_below):  # a good mean can hide a collapsed seed
        return sorted(lr for lr, v in losses.items() if sum(v) / len(v) <= unigram - trained_below)

    assert not check_usable_range(mean_below)
    assert "Exercise 4.3: FAIL on case" in _printed(capsys)

    def in_dict_order(losses, unigram, trained_below):  # right set, wrong order
        return [lr for lr, v in losses.items() if all(x <= unigram - trained_below for x in v)]

    assert not check_usable_range(in_dict_order)
    assert "Exercise 4.3: FAIL on case '7 rates, 2 seeds'" in _printed(capsys)
