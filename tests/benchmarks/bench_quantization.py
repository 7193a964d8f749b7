"""INT8/INT4 weight-only quantization: weight bytes, matmul time and decode speed, as ratios within one run.

1. Weight bytes of the four block linears in FP16 / INT8 / INT4 (scales included): the 130B preset analytically on
   ``meta``, and the mini model's real quantized state dict (plus the aten INT4 kernel copy it also holds).
2. One linear layer, batch 1 and 16, 4096² and 12288²: INT4 through the aten kernel vs INT4 reference (unpack,
   dequantize, matmul: the official recipe) vs bf16 vs fp32 ``F.linear``. Target (issue 9): INT4-aten batch-1 ≥ 3×
   faster than fp32.
3. Greedy decoding with the KV cache on the mini model: tokens/s for fp32, bf16, INT8 and INT4.
Run with ``make bench``. The machine may be shared: every ratio compares contenders timed in alternation.
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn

from glm_mini import GLM, PRESETS
from scale_up.quantization import QUANTIZED_LINEARS, QuantizedLinear, quantize_
from scale_up.quantization.measure import greedy_decode, linear_weight_bytes, median_times, tensor_bytes

SIZES = (4096, 12288)
BATCHES = (1, 16)
THREADS = (1, 2)  # on a shared machine, 2 OpenMP threads can wait on each other: 1 thread shows the kernels alone


def test_weight_bytes():
    with torch.device("meta"):
        big = GLM(PRESETS["glm-130b"])
    mini = GLM(PRESETS["mini"]).eval()
    print("\nWeight bytes of the four block linears (scales included)")
    print(f"{'model':<28}{'FP16 GiB':>10}{'INT8/FP16':>11}{'INT4/FP16':>11}")
    for name, model in (("glm-130b (analytic, meta)", big), ("mini (analytic)", mini)):
        fp16, int8, int4 = (linear_weight_bytes(model, f, QUANTIZED_LINEARS) for f in ("fp16", "int8", "int4"))
        print(f"{name:<28}{fp16 / 2**30:>10.3f}{int8 / fp16:>11.4f}{int4 / fp16:>11.4f}")
    fp16 = linear_weight_bytes(mini, "fp16", QUANTIZED_LINEARS)
    for bits in (8, 4):
        q = quantize_(copy.deepcopy(mini), bits)
        layers = [m for m in q.modules() if isinstance(m, QuantizedLinear)]
        stored = tensor_bytes(t for m in layers for t in (m.weight, m.weight_scale))
        kernel = tensor_bytes(m.kernel_layout()["weight"] for m in layers if m.backend == "aten" and bits == 4)
        assert stored == linear_weight_bytes(mini, f"int{bits}", QUANTIZED_LINEARS)
        print(f"{f'mini INT{bits} (real state dict)':<28}{'':>10}{stored / fp16:>11.4f}"
              f"   + aten INT4 kernel copy {kernel / fp16:.4f} of FP16")


def _contenders(n: int, batch: int):
    lin = nn.Linear(n, n)
    x32 = torch.randn(batch, n)
    x16 = x32.bfloat16()
    w16, b16 = lin.weight.detach().bfloat16(), lin.bias.detach().bfloat16()
    int4 = QuantizedLinear.from_linear(lin, 4, backend="aten")
    ref4 = QuantizedLinear.from_linear(lin, 4, backend="reference")
    int8 = QuantizedLinear.from_linear(lin, 8, backend="aten")
    with torch.no_grad():
        return {
            "fp32 F.linear": lambda: lin(x32),
            "bf16 F.linear": lambda: F.linear(x16, w16, b16),
            "INT8 aten (bf16 act.)": lambda: int8(x16),
            "INT4 aten (bf16 act.)": lambda: int4(x16),
            "INT4 reference (bf16 act.)": lambda: ref4(x16),
        }


@torch.no_grad()
def test_matmul_speed():
    for threads in THREADS:
        torch.set_num_threads(threads)
        print(f"\nOne linear layer, {threads} thread(s): median ms, speed-up vs fp32 (alternating rounds)")
        for n in SIZES:
            for batch in BATCHES:
                fns = _contenders(n, batch)
                times = median_times(fns, rounds=3 if n > 4096 else 11)
                print(f"-- [{batch} x {n}] @ [{n} x {n}]")
                for name, t in times.items():
                    print(f"   {name:<28}{t * 1e3:>9.2f} ms{times['fp32 F.linear'] / t:>8.2f}x")
                del fns


@torch.no_grad()
def test_decode_speed():
    torch.set_num_threads(1)
    fp32 = GLM(PRESETS["mini"]).eval()
    models = {"fp32": fp32, "bf16": copy.deepcopy(fp32).to(torch.bfloat16),
              "INT8 aten": quantize_(copy.deepcopy(fp32), 8), "INT4 aten": quantize_(copy.deepcopy(fp32), 4),
              "INT4 aten, bf16 rest": quantize_(copy.deepcopy(fp32).to(torch.bfloat16), 4),
              "INT4 reference": quantize_(copy.deepcopy(fp32), 4, backend="reference")}
    prompt, new = torch.randint(0, PRESETS["mini"].vocab_size, (1, 16)), 16
    times = median_times({k: (lambda m=m: greedy_decode(m, prompt, new)) for k, m in models.items()}, rounds=3)
    print(f"\nGreedy decode, mini preset, 1 thread, batch 1, prompt 16, {new} new tokens, KV cache")
    for name, t in times.items():
        print(f"   {name:<24}{new / t:>9.1f} tok/s{times['fp32'] / t:>8.2f}x fp32")
