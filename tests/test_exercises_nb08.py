"""Notebook 08's exercise checks pass on the package's functions and fail, naming the mismatch, on wrong ones."""

import torch

from scale_up.exercises import nb08_quantization as ex
from scale_up.quantization import dequantize_weight, pack_int4, quantize_weight, unpack_int4
from scale_up.quantization.weight_stats import row_peak_to_sigma


def test_checks_pass_on_the_package_functions(capsys):
    assert ex.check_absmax_scale(lambda w, bits: quantize_weight(w, bits)[1])
    assert ex.check_pack_int4(pack_int4)
    assert ex.check_dequantize_int4(lambda p, s: dequantize_weight(unpack_int4(p), s))
    assert ex.check_peak_to_sigma(lambda w: row_peak_to_sigma(w).float())
    assert capsys.readouterr().out.count("PASS") == 4


def test_absmax_scale_in_fp32_is_caught(capsys):
    # dividing in FP32 and rounding once more gives the same FP16 nearly always; dividing by 2^bits - 1 never does
    assert not ex.check_absmax_scale(lambda w, bits: (w.abs().amax(-1) / (2 ** bits - 1)).half())
    assert "Exercise 8.1: FAIL on case 'INT4, 4x8': result[0]" in capsys.readouterr().out


def test_swapped_nibbles_are_caught(capsys):
    def low_first(q):
        pairs = q.view(q.shape[0], -1, 2)
        return (pairs[..., 1] << 4) | (pairs[..., 0] & 0x0F)

    assert not ex.check_pack_int4(low_first)
    assert "Exercise 8.2: FAIL on case 'one row, 2 columns': result[0, 0]: got -29, expected 62" in \
        capsys.readouterr().out


def test_unsigned_nibbles_are_caught(capsys):
    def no_sign_extension(packed, scale):
        u = packed.view(torch.uint8).to(torch.int16)
        q = torch.stack((u >> 4, u & 0x0F), -1).view(packed.shape[0], -1)
        return q.float() * scale.float()[:, None]

    assert not ex.check_dequantize_int4(no_sign_extension)
    assert "Exercise 8.3: FAIL on case '4x8'" in capsys.readouterr().out


def test_not_yet_implemented(capsys):
    def stub(*args):
        raise NotImplementedError("Exercise 8.2: even column in the high nibble")

    assert not ex.check_pack_int4(stub)
    assert "Exercise 8.2: not yet implemented" in capsys.readouterr().out


def test_peak_to_sigma_in_plain_fp32_passes(capsys):
    assert ex.check_peak_to_sigma(lambda w: w.float().abs().amax(-1) / w.float().pow(2).mean(-1).sqrt())
    assert "Exercise 8.4: PASS" in capsys.readouterr().out


def test_peak_to_sigma_with_torch_std_is_caught(capsys):
    assert not ex.check_peak_to_sigma(lambda w: w.float().abs().amax(-1) / w.float().std(-1))
    assert "Exercise 8.4: FAIL on case 'Gaussian 4x16'" in capsys.readouterr().out
    # without Bessel's n − 1 the row's mean is still subtracted: σ about the mean is not what a symmetric grid sees
    assert not ex.check_peak_to_sigma(lambda w: w.float().abs().amax(-1) / w.float().std(-1, correction=0))
    assert "Exercise 8.4: FAIL on case" in capsys.readouterr().out
