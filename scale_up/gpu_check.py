"""GPU check for whoever has a CUDA GPU: ``python -m scale_up.gpu_check``. Prints INT4 vs FP16 speed of GLM-130B's
widest layer and a short blank filling on a random-weight, reduced-depth GLM-130B (full width, 2 layers).

How it works
------------
1. Layer speed: ``dense_h_to_4h`` of GLM-130B at TP=1 is an ``[2·32768, 12288]`` linear (docs/glm130b_facts.md §1.1).
   It is timed in FP16 (``nn.Linear``) and as the official INT4 format (``QuantizedLinear``, the CUDA weight-only
   kernel where this build has one) for 1 token (decoding, memory-bound: INT4 reads 4× fewer weight bytes) and 512
   tokens (prefill, compute-bound), with CUDA events after warm-up.
2. Generation: the ``glm-130b`` preset with ``num_layers=2`` is built on ``meta``, given storage on the GPU and
   initialized by ``glm_mini``'s DeepNorm init, quantized to INT4 (``quantize_``), and runs
   ``glm_mini.generate.fill_blanks_ids`` on a ``[gMASK]`` prompt with GLM-130B's special ids; it prints the answer's
   length, the time per token and the GPU memory peak. The weights are random, so the tokens mean nothing: this
   checks that the full-width kernels run and how fast.

On a machine without CUDA it stops at once with a message saying so (exit status 2).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import torch
from torch import nn

from glm_mini import GLM, PRESETS
from glm_mini.generate import fill_blanks_ids
from glm_mini.init import init_weights_

from .icetk_tokenizer import ICETK_SPECIAL_TOKENS
from .quantization import QuantizedLinear, quantize_

OFFICIAL = ICETK_SPECIAL_TOKENS  # icetk ids, docs/glm130b_facts.md §1.2


def require_cuda() -> torch.device:
    if not torch.cuda.is_available():
        raise RuntimeError("scale_up.gpu_check needs a CUDA GPU, and torch.cuda.is_available() is False on this "
                           f"machine (torch {torch.__version__}, CUDA build {torch.version.cuda}); run it where "
                           "nvidia-smi lists a GPU")
    return torch.device("cuda")


def time_ms(fn, repeats: int = 20) -> float:
    """Median milliseconds of ``fn()`` on the GPU (CUDA events, after 3 warm-up calls)."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return sorted(times)[len(times) // 2]


@torch.no_grad()
def layer_speed(device, tokens=(1, 512)) -> list[str]:
    cfg = PRESETS["glm-130b"]
    fp16 = nn.Linear(cfg.hidden_size, 2 * cfg.ffn_hidden_size, device=device, dtype=torch.float16)
    int4 = QuantizedLinear.from_linear(fp16, 4)
    lines = []
    for n in tokens:
        x = torch.randn(n, cfg.hidden_size, device=device, dtype=torch.float16)
        a, b = time_ms(lambda: fp16(x)), time_ms(lambda: int4(x))
        lines.append(f"dense_h_to_4h [{2 * cfg.ffn_hidden_size}, {cfg.hidden_size}], {n} tokens: FP16 {a:.3f} ms, "
                     f"INT4 ({int4.backend}) {b:.3f} ms, INT4/FP16 time {b / a:.2f}")
    return lines


@torch.no_grad()
def short_generation(device, num_layers: int = 2, new_tokens: int = 8) -> list[str]:
    cfg = dataclasses.replace(PRESETS["glm-130b"], num_layers=num_layers)
    with torch.device("meta"):
        model = GLM(cfg)
    model.to_empty(device=device)
    torch.manual_seed(0)
    init_weights_(model)
    model = quantize_(model.half().eval(), 4)
    prompt = [int(t) for t in torch.randint(100, 20000, (16,))] + [OFFICIAL.gmask]
    torch.cuda.reset_peak_memory_stats()
    torch.cuda.synchronize()
    start = time.perf_counter()
    answers, _ = fill_blanks_ids(model, prompt, OFFICIAL, new_tokens)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    n = max(len(answers[0]), 1)
    return [f"glm-130b width, {num_layers} layers, INT4, random weights: {len(answers[0])} tokens generated, "
            f"{1000 * seconds / n:.1f} ms/token (incl. prefill), peak GPU memory "
            f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="scale_up.gpu_check", description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=2, help="transformer layers of the reduced-depth model")
    ap.add_argument("--new-tokens", type=int, default=8, help="tokens to generate")
    args = ap.parse_args(argv)
    try:
        device = require_cuda()
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return 2
    print(f"device: {torch.cuda.get_device_name(device)}")
    for line in layer_speed(device) + short_generation(device, args.layers, args.new_tokens):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
