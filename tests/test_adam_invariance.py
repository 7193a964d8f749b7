"""glm_mini.stability.adam_invariance: Adam's update is invariant to a constant gradient scale (up to ε), on one
tensor and on the kit's model trained with EGS on both paths."""

import pytest
import torch

from glm_mini.stability.adam_invariance import adam_update, egs_path_difference


def test_adam_update_is_the_optimizer_equation():
    gen = torch.Generator().manual_seed(0)
    grads = torch.randn(6, 5, generator=gen)
    lr, (b1, b2), eps = 1e-2, (0.9, 0.95), 1e-8
    m = v = theta = torch.zeros(5)
    for t, g in enumerate(grads, start=1):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        theta = theta - lr * (m / (1 - b1 ** t)) / ((v / (1 - b2 ** t)).sqrt() + eps)
    torch.testing.assert_close(adam_update(grads, lr, (b1, b2), eps), theta, rtol=1e-5, atol=1e-7)


def test_a_constant_scale_is_undone_unless_the_gradient_is_near_eps():
    gen = torch.Generator().manual_seed(1)
    grads = torch.randn(10, 8, generator=gen)
    torch.testing.assert_close(adam_update(0.1 * grads), adam_update(grads), rtol=1e-5, atol=1e-9)
    tiny = 1e-8 * grads  # comparable to ε: now the scale shows
    assert (adam_update(0.1 * tiny) - adam_update(tiny)).abs().max() > 0.1 * adam_update(tiny).abs().max()
    with pytest.raises(ValueError, match="grads"):
        adam_update(torch.zeros(0, 3))


@pytest.mark.slow
def test_egs_on_both_paths_barely_moves_the_training_path_without_clipping(tmp_path):
    d = egs_path_difference(0.1, clip_grad=1e9, max_steps=4, config_overrides={"num_layers": 2}, out_root=tmp_path,
                            batch_size=2, seq_len=32)
    assert set(d) == {"total", "embedding", "rest"}
    assert 0 < d["total"] < 0.02  # up to ε and rounding
    again = egs_path_difference(0.1, clip_grad=1e9, max_steps=4, config_overrides={"num_layers": 2},
                                out_root=tmp_path, batch_size=2, seq_len=32)
    assert again == d  # the runs are reused
    input_only = egs_path_difference(0.1, clip_grad=1e9, max_steps=4, out_root=tmp_path, batch_size=2, seq_len=32,
                                     config_overrides={"num_layers": 2, "shrink_logit_embedding_gradient": False})
    assert input_only["embedding"] > 10 * d["embedding"]  # one path shrunk: the direction changes, Adam cannot undo it
    with pytest.raises(ValueError, match="alpha"):
        egs_path_difference(0.0, out_root=tmp_path)
