"""Notebook 05's exercise checks pass on the package's functions and fail, naming the mismatch, on wrong ones."""

import torch

from glm_mini.exercises.nb05_egs import adam_first_step, check_adam_update, check_shrink, check_spike_steps, spike_steps
from glm_mini.grad_shrink import shrink_gradient
from glm_mini.stability.adam_invariance import adam_update


def _printed(capsys):
    return capsys.readouterr().out.strip()


def test_shrink_check(capsys):
    assert check_shrink(shrink_gradient)
    assert _printed(capsys) == "Exercise 5.1: PASS (3 cases)"
    assert not check_shrink(lambda x, alpha: x * alpha)  # shrinks the gradient but also the value
    assert "Exercise 5.1: FAIL on case '(4, 8), alpha 0.1': result[0]" in _printed(capsys)
    assert not check_shrink(lambda x, alpha: x.detach() * alpha + x * (1 - alpha))  # gradient × (1 − α)
    assert "Exercise 5.1: FAIL on case '(4, 8), alpha 0.1': result[1]" in _printed(capsys)


def test_spike_check(capsys):
    assert spike_steps([9.0, 1.0, 20.0, float("nan"), 1.1, 5.0], 1.5, 2) == [3, 4, 6]
    assert check_spike_steps(spike_steps)
    assert _printed(capsys) == "Exercise 5.3: PASS (3 cases)"

    def keeps_spikes_in_the_window(losses, factor, window):  # the trainer leaves spikes out of the median
        import statistics
        flagged = []
        for t, x in enumerate(losses):
            past = losses[max(0, t - window):t]
            if x != x or (len(past) == window and x > factor * statistics.median(past)):
                flagged.append(t + 1)
        return flagged

    assert not check_spike_steps(keeps_spikes_in_the_window)
    assert "Exercise 5.3: FAIL on case" in _printed(capsys)


def test_adam_update_check(capsys):
    assert check_adam_update(adam_update)
    assert _printed(capsys) == "Exercise 5.2: PASS (3 cases)"

    def without_bias_correction(grads, lr, betas, eps):
        m = v = torch.zeros_like(grads[0])
        theta = torch.zeros_like(grads[0])
        for g in grads:
            m, v = betas[0] * m + (1 - betas[0]) * g, betas[1] * v + (1 - betas[1]) * g * g
            theta = theta - lr * m / (v.sqrt() + eps)
        return theta

    assert not check_adam_update(without_bias_correction)
    out = _printed(capsys)
    assert "Exercise 5.2: FAIL on case '5 steps of [4, 3], lr 1e-3'" in out
    assert "step by step" in out and "m_hat = m_1 / (1 - beta1^1)" in out


def test_adam_first_step_is_torchs_first_step():
    grads = torch.tensor([[0.3, -2.0], [1.0, 1.0]])
    steps = dict(adam_first_step(grads, 0.01, (0.9, 0.95), 1e-8))
    assert abs(steps["m_1 = (1 - beta1) g"] - 0.1 * 0.3) < 1e-7 and abs(steps["v_1 = (1 - beta2) g^2"] - 0.05 * 0.09) < 1e-7
    assert abs(steps["m_hat = m_1 / (1 - beta1^1)"] - 0.3) < 1e-6 and abs(steps["v_hat = v_1 / (1 - beta2^1)"] - 0.09) < 1e-6
    written, by_torch = steps["theta_1 = -lr m_hat / (sqrt(v_hat) + eps)"], steps["theta_1 by torch.optim.Adam"]
    assert abs(written - by_torch) < 1e-7 and abs(written + 0.01) < 1e-6  # the first step is -lr·sign(g)
