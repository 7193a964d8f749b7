"""Notebook 04's exercise checks pass on the package's functions and fail, naming the mismatch, on wrong ones."""

import math

from glm_mini.exercises.nb04_deepnorm import (check_deepnorm_constants, check_divergence_steps, check_init_stds,
                                              deepnorm_constants)
from glm_mini.experiments import divergence_steps
from glm_mini.stability import expected_init_stds


def _printed(capsys):
    return capsys.readouterr().out.strip()


def test_constants_check(capsys):
    assert deepnorm_constants(70) == (math.sqrt(140), 140 ** -0.5)
    assert check_deepnorm_constants(deepnorm_constants)
    assert _printed(capsys) == "Exercise 4.1: PASS (4 cases)"
    assert not check_deepnorm_constants(lambda n: ((2 * n) ** 0.25, (8 * n) ** -0.25))  # DeepNet's decoder values
    assert "Exercise 4.1: FAIL on case 'N = 2': result[0]: got" in _printed(capsys)


def test_init_stds_check(capsys):
    assert check_init_stds(expected_init_stds)
    assert _printed(capsys) == "Exercise 4.2: PASS (4 cases)"

    def beta_on_qk_too(config):  # β on every QKV row
        stds = expected_init_stds(config)
        return {**stds, "qk": stds["v"]}

    assert not check_init_stds(beta_on_qk_too)
    assert "Exercise 4.2: FAIL on case 'nano (2 layers, h=64)': result['qk']: got" in _printed(capsys)


def test_divergence_check(capsys):
    assert check_divergence_steps(divergence_steps)
    assert _printed(capsys) == "Exercise 4.3: PASS (3 cases)"

    def against_first_loss(steps, losses, factor):  # compares with the first loss, not the running minimum
        return [s for s, x in zip(steps, losses) if not math.isfinite(x) or x > factor * losses[0]]

    assert not check_divergence_steps(against_first_loss)
    assert "Exercise 4.3: FAIL on case '60 noisy steps, factor 1.5'" in _printed(capsys)
