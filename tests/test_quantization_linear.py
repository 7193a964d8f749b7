"""QuantizedLinear and quantize_: official state dict, reference vs aten backends, the quantized GLM vs FP32."""

import copy
import io

import numpy as np
import pytest
import torch
from torch import nn

from glm_mini import GLM, PRESETS
from scale_up.quantization import QUANTIZED_LINEARS, QuantizedLinear, pack_int4, quantize_, quantize_weight

NANO = PRESETS["nano"]  # dense_4h_to_h has in_features 176: no INT4 kernel for it, so "auto" mixes both backends


def linear(out_features=48, in_features=128, bias=True):
    layer = nn.Linear(in_features, out_features, bias=bias)
    with torch.no_grad():
        layer.weight[5] = 0.0  # a zero row
    return layer


def bf16_bound(x, w):
    """What bf16 activations and a bf16 kernel output may cost: a few bf16 ulps of Σ|x|·|w| per output."""
    return 2.0 ** -7 * (x.float().abs() @ w.abs().t()) + 1e-6


@pytest.mark.parametrize("bits", [8, 4])
def test_state_dict_is_the_official_layout(bits):
    lin = linear()
    layer = QuantizedLinear.from_linear(lin, bits)
    sd = layer.state_dict()
    assert list(sorted(sd)) == ["bias", "weight", "weight_scale"]
    q, scale = quantize_weight(lin.weight, bits)
    assert sd["weight"].dtype == torch.int8 and sd["weight"].shape == (48, 128 * bits // 8)
    assert torch.equal(sd["weight"], pack_int4(q) if bits == 4 else q)
    assert sd["weight_scale"].dtype == torch.float16 and torch.equal(sd["weight_scale"], scale)
    assert torch.equal(sd["bias"], lin.bias)


@pytest.mark.parametrize("bits", [8, 4])
def test_aten_equals_reference(bits):
    lin = linear()
    ref = QuantizedLinear.from_linear(lin, bits, backend="reference")
    fast = QuantizedLinear.from_linear(lin, bits, backend="aten")
    assert (ref.backend, fast.backend) == ("reference", "aten")
    w = ref.dequantized_weight()
    assert torch.equal(fast.dequantized_weight(), w)  # the kernel layout holds exactly the official integers
    for dtype in (torch.float32, torch.bfloat16):
        x = torch.randn(3, 7, 128).to(dtype)
        exact = x.float() @ w.t() + lin.bias.detach()
        got = fast(x)
        assert got.dtype == dtype and got.shape == (3, 7, 48)
        assert ((got.float() - exact).abs() <= bf16_bound(x, w) + 2.0 ** -8 * exact.abs()).all()
    x = torch.randn(4, 128)
    assert torch.allclose(ref(x), x @ w.t() + lin.bias, atol=1e-5)  # reference in fp32: the exact product


def test_auto_picks_the_kernel_where_it_serves_the_shape():
    assert QuantizedLinear.from_linear(linear(48, 128), 4).backend == "aten"
    assert QuantizedLinear.from_linear(linear(48, 176), 4).backend == "reference"  # 176 % 32 != 0
    assert QuantizedLinear.from_linear(linear(40, 128), 4).backend == "reference"  # 40 % 16 != 0 on CPU
    assert QuantizedLinear.from_linear(linear(40, 176), 8).backend == "aten"
    assert QuantizedLinear.from_linear(linear(48, 344), 8).backend == "reference"  # 344 % 16 != 0


def test_aten_int8_runs_a_large_batch():  # the CPU kernel crashes for in_features % 16 != 0, which is refused
    layer = QuantizedLinear.from_linear(linear(40, 176), 8, backend="aten")
    x = torch.randn(2048, 176, dtype=torch.bfloat16)
    assert torch.isfinite(layer(x)).all()


def test_aten_where_unavailable_names_backend_and_reason():
    with pytest.raises(ValueError, match=r"backend 'aten'.*in_features divisible by 32, got 176"):
        QuantizedLinear.from_linear(linear(48, 176), 4, backend="aten")
    with pytest.raises(ValueError, match=r"backend 'aten'.*out_features divisible by 16, got 40"):
        QuantizedLinear.from_linear(linear(40, 128), 4, backend="aten")
    with pytest.raises(ValueError, match=r"backend 'aten'.*INT8 kernel needs in_features divisible by 16, got 344"):
        QuantizedLinear.from_linear(linear(48, 344), 8, backend="aten")


def test_bad_inputs():
    with pytest.raises(TypeError, match="linear"):
        QuantizedLinear.from_linear(nn.Conv1d(4, 4, 1), 4)
    with pytest.raises(ValueError, match="bits"):
        QuantizedLinear.from_linear(linear(), 2)
    with pytest.raises(ValueError, match="backend.*'fast'"):
        QuantizedLinear.from_linear(linear(), 4, backend="fast")
    with pytest.raises(ValueError, match="in_features.*even"):
        QuantizedLinear(7, 16, 4)
    with pytest.raises(ValueError, match="linear.*meta"):
        QuantizedLinear.from_linear(nn.Linear(4, 4, device="meta"), 8)
    with pytest.raises(ValueError, match=r"x: expected last dimension 128"):
        QuantizedLinear.from_linear(linear(), 8)(torch.randn(2, 64))


def test_scale_stays_fp16_through_dtype_casts():
    layer = QuantizedLinear.from_linear(linear(), 4)
    scale = layer.weight_scale.clone()
    layer.to(torch.bfloat16)
    assert layer.weight_scale.dtype == torch.float16 and torch.equal(layer.weight_scale, scale)
    assert layer.bias.dtype == torch.bfloat16 and layer.weight.dtype == torch.int8
    assert layer(torch.randn(2, 128, dtype=torch.bfloat16)).dtype == torch.bfloat16


# --- the whole model ---------------------------------------------------------------------------------------------
def test_quantize_swaps_exactly_the_four_block_linears_and_nothing_else():
    model = GLM(NANO).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    quantize_(model, 4)
    swapped = [n for n, m in model.named_modules() if isinstance(m, QuantizedLinear)]
    assert swapped == [f"transformer.layers.{i}.{name}" for i in range(NANO.num_layers) for name in QUANTIZED_LINEARS]
    assert not any(isinstance(m, nn.Linear) for m in model.modules())
    after = model.state_dict()
    for key, value in before.items():
        if key.endswith(".weight") and key.rsplit(".", 1)[0] in swapped:
            continue
        assert after[key].dtype == value.dtype and torch.equal(after[key], value), key  # embedding, LNs, biases
    assert sorted(after) == sorted(list(before) + [f"{n}.weight_scale" for n in swapped])


def test_quantize_bad_inputs():
    with pytest.raises(TypeError, match="model"):
        quantize_("GLM", 4)
    with pytest.raises(ValueError, match="model: found no"):
        quantize_(nn.Sequential(nn.Linear(4, 4)), 4)
    with pytest.raises(ValueError, match="bits"):
        quantize_(GLM(NANO), 5)
    with pytest.raises(ValueError, match="backend"):
        quantize_(GLM(NANO), 4, backend="cuda")
    with pytest.raises(ValueError, match="model: already quantized"):
        quantize_(quantize_(GLM(NANO), 8), 4)


def official_quantized_state_dict(fp32_model, bits):
    """An official TP=1 quantized state dict, built without the kit's quantization code: FP16 everything, the four
    block weights quantized with NumPy FP16 arithmetic and packed with Python's integer bit operations."""
    sd = {k: v.half() for k, v in fp32_model.state_dict().items()}
    for key in list(sd):
        if not key.endswith(tuple(f"{name}.weight" for name in QUANTIZED_LINEARS)):
            continue
        w16 = sd[key].numpy()
        scale = (np.abs(w16).max(axis=1) / np.float16(2 ** (bits - 1) - 1)).astype(np.float16)
        q = np.rint((w16 / scale[:, None]).astype(np.float16)).astype(np.int8)
        if bits == 4:
            q = (((q[:, 0::2].astype(np.int16) << 4) | (q[:, 1::2] & 0x0F)) & 0xFF).astype(np.uint8).view(np.int8)
        sd[key], sd[key[: -len("weight")] + "weight_scale"] = torch.from_numpy(q), torch.from_numpy(scale)
    return sd


@pytest.mark.parametrize("bits", [8, 4])
def test_official_state_dict_loads_strictly_and_round_trips(bits):
    fp32 = GLM(NANO).eval()
    official = official_quantized_state_dict(fp32, bits)
    ours = quantize_(copy.deepcopy(fp32), bits)
    loaded = quantize_(GLM(NANO), bits)  # quantizes fresh random weights, then the official ones replace them
    loaded.load_state_dict(official, strict=True)
    ids = torch.randint(0, NANO.vocab_size, (2, 12))
    for key, value in ours.state_dict().items():
        if key.endswith(("weight_scale", ".weight")) and value.dtype in (torch.int8, torch.float16):
            assert torch.equal(loaded.state_dict()[key], value), key  # the same bytes as the official converter
    buffer = io.BytesIO()
    torch.save({"module": loaded.state_dict()}, buffer)
    buffer.seek(0)
    again = quantize_(GLM(NANO), bits)
    again.load_state_dict(torch.load(buffer)["module"], strict=True)
    assert torch.equal(again(ids).logits, loaded(ids).logits)


def test_loading_fp16_weights_into_a_quantized_model_is_refused():
    model = quantize_(GLM(NANO), 8)
    sd = model.state_dict()
    key = "transformer.layers.0.attention.dense.weight"
    sd[key] = sd[key].half()
    before = model.state_dict()[key].clone()
    with pytest.raises(RuntimeError, match=f"{key}: expected dtype torch.int8"):
        model.load_state_dict(sd)
    assert torch.equal(model.state_dict()[key], before)  # nothing was overwritten


@pytest.mark.parametrize("bits,bound", [(8, 0.01), (4, 0.05)])
def test_quantized_logits_stay_close_to_fp32(bits, bound):
    """Documented bound: max |Δlogit| ≤ 1% (INT8) / 5% (INT4) of max |logit| for the nano model at init, where the
    per-weight error is at most scale/2 = absmax/254 (INT8) or absmax/14 (INT4). Measured: about 0.03% and 0.6%."""
    fp32 = GLM(NANO).eval()
    ids = torch.randint(0, NANO.vocab_size, (2, 16))
    ref = fp32(ids).logits
    for backend in ("reference", "auto"):
        out = quantize_(copy.deepcopy(fp32), bits, backend)(ids).logits
        rel = ((out - ref).abs().max() / ref.abs().max()).item()
        assert 0 < rel <= bound


@pytest.mark.parametrize("bits", [8, 4])
def test_loading_new_weights_rebuilds_the_kernel_layout(bits):
    a = QuantizedLinear.from_linear(linear(), bits, backend="aten")
    b = QuantizedLinear.from_linear(linear(), bits, backend="aten")
    x = torch.randn(2, 128)
    before = a(x)  # builds a's kernel layout from its own weights
    a.load_state_dict(b.state_dict())
    assert not torch.equal(a(x), before) and torch.equal(a(x), b(x))
    assert torch.equal(a.dequantized_weight(), b.dequantized_weight())
