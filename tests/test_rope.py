"""RoPE: rotate-half pairing (i, i + r/2), base 10000, relative-position property, 2-D halves, fp16 tables."""

import math

import torch

from glm_mini.rope import RotaryEmbedding, apply_rope, rotate_half


def test_rotate_half_pairs_channel_i_with_i_plus_half():
    x = torch.arange(1.0, 9.0)  # [1..8]
    assert rotate_half(x).tolist() == [-5.0, -6.0, -7.0, -8.0, 1.0, 2.0, 3.0, 4.0]


def test_rotation_angles_are_position_times_base_power():
    d, pos = 8, 5
    rope = RotaryEmbedding(d)
    x = torch.zeros(1, 1, 1, d)
    x[..., 1] = 1.0  # unit vector on channel 1, which pairs with channel 1 + d/2 = 5
    y = apply_rope(x, rope(torch.tensor([[pos]]), torch.float32))[0, 0, 0]
    angle = pos * 10000.0 ** (-2 * 1 / d)
    assert math.isclose(y[1].item(), math.cos(angle), abs_tol=1e-6)
    assert math.isclose(y[5].item(), math.sin(angle), abs_tol=1e-6)
    assert y[[0, 2, 3, 4, 6, 7]].abs().max() == 0


def test_scores_depend_only_on_relative_position():
    d = 16
    rope = RotaryEmbedding(d)
    q, k = torch.randn(1, 1, 1, d), torch.randn(1, 1, 1, d)

    def score(m, n):
        qm = apply_rope(q, rope(torch.tensor([[m]]), torch.float32))
        kn = apply_rope(k, rope(torch.tensor([[n]]), torch.float32))
        return (qm * kn).sum().item()

    assert math.isclose(score(3, 1), score(10, 8), rel_tol=1e-5)
    assert math.isclose(score(7, 7), (q * k).sum().item(), rel_tol=1e-5)


def test_2d_rope_rotates_each_half_by_its_own_position():
    d = 16
    rope = RotaryEmbedding(d, two_d=True)
    assert rope.rotary_dim == 8
    x = torch.randn(2, 3, 4, d)
    positions = torch.randint(0, 50, (2, 2, 3))  # [b, 2, s]
    y = apply_rope(x, rope(positions, torch.float32))
    half = RotaryEmbedding(d // 2)
    assert torch.allclose(y[..., :8], apply_rope(x[..., :8], half(positions[:, 0], torch.float32)), atol=1e-6)
    assert torch.allclose(y[..., 8:], apply_rope(x[..., 8:], half(positions[:, 1], torch.float32)), atol=1e-6)


def test_fp16_tables_are_built_in_fp16_like_sat():
    rope = RotaryEmbedding(128)
    positions = torch.arange(2048).view(1, -1)
    cos16, _ = rope.tables(positions, torch.float16)
    freqs = positions.half().unsqueeze(-1) * rope.inv_freq.half()  # SAT: fp16 inv_freq and fp16 positions
    assert torch.equal(cos16, torch.cat([freqs, freqs], -1).cos())
    cos32, _ = rope.tables(positions, torch.float32)
    assert (cos16.float() - cos32).abs().max() > 1e-3, "fp16 tables differ visibly from fp32 at long positions"
