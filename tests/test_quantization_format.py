"""The official INT8/INT4 bytes: quantize_weight against an independent NumPy FP16 implementation, INT4 packing."""

import numpy as np
import pytest
import torch

from scale_up.quantization import dequantize_weight, pack_int4, q_max, quantize_weight, unpack_int4


def numpy_official(w16: np.ndarray, bits: int, clamp: bool = True):
    """The formula of THUDM/GLM-130B quantization/layers.py, written again in NumPy float16 arithmetic:
    scale = fp16(absmax / qmax), q = rint(fp16(w / scale)); with the kit's rules for scale 0 (q = 0) and overflow
    (clamp)."""
    qm = np.float16(2 ** (bits - 1) - 1)
    scale = (np.abs(w16).max(axis=1) / qm).astype(np.float16)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (w16 / scale[:, None]).astype(np.float16)
    q = np.rint(ratio)
    if clamp:
        q = np.where(scale[:, None] == 0, 0, np.clip(q, -qm, qm))
    return q, scale


def hard_rows() -> np.ndarray:
    rng = np.random.default_rng(0)
    rows = [rng.normal(0, 0.02, 64), np.zeros(64), np.full(64, -65504.0), rng.uniform(-65504, 65504, 64)]
    tiny = np.float16(2.0 ** -24)  # the smallest FP16 subnormal
    rows += [rng.integers(-20, 21, 64) * tiny, rng.integers(-1023, 1024, 64) * tiny,  # subnormal rows
             np.r_[65504.0, tiny, -tiny, np.zeros(61)], rng.normal(0, 1e-3, 64), rng.normal(0, 3.0, 64)]
    return np.stack(rows).astype(np.float16)  # [9, 64]


@pytest.mark.parametrize("bits", [8, 4])
def test_quantize_weight_bytes_equal_independent_fp16_formula(bits):
    w16 = hard_rows()
    q, scale = quantize_weight(torch.from_numpy(w16), bits)
    q_np, scale_np = numpy_official(w16, bits)
    assert q.dtype == torch.int8 and scale.dtype == torch.float16
    assert np.array_equal(scale.numpy().view(np.int16), scale_np.view(np.int16))  # bit for bit
    assert np.array_equal(q.numpy(), q_np.astype(np.int8))
    assert torch.isfinite(scale).all() and not q[1].any()  # the zero row: scale 0, q 0, no NaN
    assert q.abs().max() <= q_max(bits)


@pytest.mark.parametrize("bits", [8, 4])
def test_clamp_is_a_no_op_wherever_the_official_result_is_in_range(bits):
    rng = np.random.default_rng(1)
    w16 = np.concatenate([rng.normal(0, 0.02, (32, 128)), rng.normal(0, 50.0, (4, 128)),
                          np.full((1, 128), 65504.0)]).astype(np.float16)
    raw, _ = numpy_official(w16, bits, clamp=False)
    ours, _ = quantize_weight(torch.from_numpy(w16), bits)
    assert np.array_equal(ours.numpy(), raw.astype(np.int8))


def test_official_overflow_on_tiny_rows_is_clamped_not_wrapped():
    """With max|w| ~ 1e-3 the FP16 scale is subnormal and coarse, so w/scale can round to 128: int8 would wrap to
    -128 (a sign flip). The kit clamps to 127; such a row is found by scanning FP16 values."""
    values = np.arange(1, 16384, dtype=np.int32).astype(np.int16).view(np.float16)  # positive subnormals+small normals
    raw, scale = numpy_official(values[:, None], 8, clamp=False)
    overflowing = values[(raw[:, 0] > 127) & (scale > 0)]  # scale 0 (max|w| < 2^-18) gives q = 0, tested above
    assert overflowing.size > 0
    q, _ = quantize_weight(torch.from_numpy(overflowing[:, None]), 8)
    assert (q == 127).all()


@pytest.mark.parametrize("bits", [8, 4])
def test_error_is_at_most_half_a_step(bits):
    w = torch.randn(64, 256) * 0.02
    w[3] = 0.0
    q, scale = quantize_weight(w, bits)
    w16 = w.half().float()
    err = (w16 - dequantize_weight(q, scale)).abs()
    bound = scale.float()[:, None] * (0.5 + q_max(bits) * 2.0 ** -11)  # half a step + FP16 rounding of w/scale
    assert (err <= bound).all()
    assert err.max() > 0.4 * scale.float().max()  # the bound is nearly reached: not vacuous


def test_fp32_and_bf16_weights_are_first_rounded_to_fp16():
    w = torch.randn(8, 32)
    for dtype in (torch.float32, torch.bfloat16):
        q, scale = quantize_weight(w.to(dtype), 4)
        q16, scale16 = quantize_weight(w.to(dtype).half(), 4)
        assert torch.equal(q, q16) and torch.equal(scale, scale16)


def test_pack_unpack_all_256_nibble_pairs():
    values = list(range(-8, 8))
    pairs = [(a, b) for a in values for b in values]
    q = torch.tensor(pairs, dtype=torch.int8).view(1, -1)  # [1, 512]: columns (2i, 2i+1) = pair i
    packed = pack_int4(q)
    assert packed.shape == (1, 256) and packed.dtype == torch.int8
    expected = [((a << 4) | (b & 0x0F)) & 0xFF for a, b in pairs]  # even column -> high nibble
    assert packed.view(torch.uint8).tolist() == [expected]
    assert torch.equal(unpack_int4(packed), q)


def test_unpack_sign_extends_each_nibble():
    packed = torch.tensor([[0x7F - 256 + 128, 0x80 - 256, 0x08, 0xF7 - 256]], dtype=torch.int8)  # 0xFF,0x80,0x08,0xF7
    assert unpack_int4(packed).tolist() == [[-1, -1, -8, 0, 0, -8, -1, 7]]


def test_int4_row_packs_to_half_the_columns():
    q, _ = quantize_weight(torch.randn(6, 10), 4)
    assert pack_int4(q).shape == (6, 5)


@pytest.mark.parametrize("bad", [3, 16, 2, True, "4"])
def test_bad_bits(bad):
    with pytest.raises(ValueError, match="bits"):
        quantize_weight(torch.randn(2, 4), bad)


@pytest.mark.parametrize("bad", [torch.randn(4), torch.randint(0, 3, (2, 4)), torch.randn(2, 2, 2), [[1.0]]])
def test_bad_weight(bad):
    with pytest.raises(ValueError, match="weight"):
        quantize_weight(bad, 8)


def test_weight_beyond_fp16_range():
    with pytest.raises(ValueError, match="weight.*FP16"):
        quantize_weight(torch.tensor([[1e6, 1.0]]), 8)


def test_pack_bad_inputs():
    with pytest.raises(ValueError, match="q.*even"):
        pack_int4(torch.zeros(2, 3, dtype=torch.int8))
    with pytest.raises(ValueError, match=r"q.*\[-8, 7\].*\[-9, 0\]"):
        pack_int4(torch.tensor([[-9, 0]], dtype=torch.int8))
    with pytest.raises(ValueError, match="q.*int8"):
        pack_int4(torch.zeros(2, 4, dtype=torch.int32))
    with pytest.raises(ValueError, match="packed.*int8"):
        unpack_int4(torch.zeros(2, 4, dtype=torch.uint8))
