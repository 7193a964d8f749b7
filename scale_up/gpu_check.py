"""``python -m scale_up.gpu_check``: every CUDA path of the kit, checked against its reference, in one table.

How it works
------------
Each check runs a path that only a GPU exercises and compares it with the reference the CPU tests already pin:

1. ``int8 kernel`` / ``int4 kernel``: a ``QuantizedLinear`` on the ``aten`` backend (PyTorch's CUDA weight-only
   kernels, ``quantization/kernels.py``) against the ``reference`` backend (dequantize, then matmul) on the same
   official bytes and input; the kernels round activations and outputs to bf16, so the bound is bf16's, 2⁻⁷ relative.
2. ``int4 speed``: GLM-130B's widest layer, ``dense_h_to_4h`` ``[2·32768, 12288]``, FP16 against INT4 for 1 token
   (decoding, memory-bound) and 512 tokens (prefill), timed with CUDA events: a measurement, no verdict.
3. ``fp16 forward``: the ``mini`` preset in FP16 (the official attention: FP16 matmuls, FP32 softmax with query-key
   layer scaling) against the same weights in FP32; the logits agree within FP16 rounding (bound 2⁻⁶ relative).
4. ``tensor parallel``: ``torchrun --nproc-per-node N -m scale_up.tensor_parallel.check --device cuda`` (N = the
   GPUs present, NCCL, one GPU per rank): logits, loss and every gradient of the TP model against the same model in
   one process, FP32, bound 10⁻⁴ relative.
5. ``training steps``: ``torchrun --nproc-per-node N -m scale_up.pipeline --device cuda`` (N pipeline stages, one
   per GPU, NCCL), 2 SGD steps of the nano model on seeded GLM batches, against
   ``pipeline.reference.single_process_run`` on one GPU: every parameter within 10⁻⁴ relative.
6. ``generation``: the README's serving path on the nano model: an official-layout FP16 checkpoint at TP=N, read by
   ``torchrun --nproc-per-node N -m scale_up.generate --device cuda`` (``rank_loading``, NCCL), generates the tokens
   one process generates from the same weights; then the checkpoint converted to INT4 (``scale_up.convert``) is
   served the same way (its tokens are shown: per-shard INT4 scales differ from one process's, so no verdict).
7. ``int4 generation``: a random-weight GLM-130B of full width and 2 layers, INT4, generating a few tokens through
   ``glm_mini.generate.fill_blanks_ids``: time per token and peak memory, a measurement.

A check that raises becomes a FAIL row naming the error, so one broken path does not hide the others.

On one GPU the whole check takes well under 5 minutes (two torchrun launches dominate). The exit status is 0 when
every check passes, 1 when one fails, 2 without CUDA. ``--device cpu`` rehearses every check on the CPU (gloo, the
CPU kernels, bf16 in place of fp16, the ``mini`` width in place of GLM-130B's for the two measurements) so the script
itself is tested where no GPU is; the table says which device ran.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from glm_mini import GLM, PRESETS, SpecialTokens
from glm_mini.cli.vocabulary import hidden_alias
from glm_mini.generate import fill_blanks_ids
from glm_mini.init import init_weights_

from .icetk_tokenizer import ICETK_SPECIAL_TOKENS
from .pipeline.launch import read_rank_tensors, run_pipeline
from .pipeline.reference import single_process_run
from .quantization import QuantizedLinear, quantize_
from .tensor_parallel.check import launch_check, relative_error

OFFICIAL = ICETK_SPECIAL_TOKENS  # icetk ids, docs/glm130b_facts.md §1.2
BF16_BOUND, FP16_BOUND, FP32_BOUND = 2.0 ** -7, 2.0 ** -6, 1e-4


@dataclass
class Row:
    check: str
    passed: bool | None  # None: a measurement, no verdict
    measured: str
    bound: str
    seconds: float


def require_cuda() -> torch.device:
    if not torch.cuda.is_available():
        raise RuntimeError("scale_up.gpu_check needs a CUDA GPU, and torch.cuda.is_available() is False on this "
                           f"machine (torch {torch.__version__}, CUDA build {torch.version.cuda}); run it where "
                           "nvidia-smi lists a GPU (or rehearse it on the CPU with --device cpu)")
    return torch.device("cuda")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_ms(fn, device: torch.device, repeats: int = 20) -> float:
    """Median milliseconds of ``fn()`` after 3 warm-up calls (CUDA events on a GPU, the wall clock on the CPU)."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append(1000 * (time.perf_counter() - t0))
    return sorted(times)[len(times) // 2]


@torch.no_grad()
def check_quantized_kernels(device: torch.device, out_features: int = 512, in_features: int = 1024) -> list[Row]:
    """INT8 and INT4 ``aten`` kernels against the reference backend on the same bytes."""
    rows = []
    g = torch.Generator().manual_seed(0)
    linear = nn.Linear(in_features, out_features)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(out_features, in_features, generator=g) * 0.02)
    x = torch.randn(4, 7, in_features, generator=g).to(device)
    for bits in (8, 4):
        t0 = time.perf_counter()
        kernel = QuantizedLinear.from_linear(linear, bits, backend="aten").to(device)
        reference = QuantizedLinear.from_linear(linear, bits, backend="reference").to(device)
        err = relative_error(kernel(x).float(), reference(x).float())
        _sync(device)
        rows.append(Row(f"int{bits} kernel ({kernel.backend}) vs reference", err <= BF16_BOUND, f"{err:.2e}",
                        f"<= {BF16_BOUND:.1e}", time.perf_counter() - t0))
    return rows


def width(device: torch.device) -> str:
    """The preset whose width the measurements use: GLM-130B's on a GPU, mini's in a CPU rehearsal."""
    return "glm-130b" if device.type == "cuda" else "mini"


@torch.no_grad()
def int4_speed(device: torch.device, tokens=(1, 512)) -> list[Row]:
    """FP16 (bf16 on the CPU) against INT4 on the widest layer, ``dense_h_to_4h``: a measurement."""
    cfg = PRESETS[width(device)]
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    dense = nn.Linear(cfg.hidden_size, 2 * cfg.ffn_hidden_size, device=device, dtype=dtype)
    int4 = QuantizedLinear.from_linear(dense, 4)
    rows = []
    for n in tokens:
        t0 = time.perf_counter()
        x = torch.randn(n, cfg.hidden_size, device=device, dtype=dtype)
        a, b = time_ms(lambda: dense(x), device), time_ms(lambda: int4(x), device)
        rows.append(Row(f"int4 speed, {width(device)} dense_h_to_4h, {n} token(s)", None,
                        f"{str(dtype)[6:]} {a:.3f} ms, INT4 ({int4.backend}) {b:.3f} ms, ratio {b / a:.2f}", "-",
                        time.perf_counter() - t0))
    return rows


@torch.no_grad()
def check_half_forward(device: torch.device) -> list[Row]:
    """The mini preset in FP16 (bf16 on the CPU) against FP32, same weights and batch."""
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = GLM(PRESETS["mini"]).to(device).eval()
    ids = torch.randint(0, model.config.vocab_size, (2, 64), device=device)
    full = model(ids).logits
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    bound = FP16_BOUND if dtype == torch.float16 else 2 * BF16_BOUND
    half = model.to(dtype)(ids).logits.float()
    err = relative_error(half, full)
    return [Row(f"{str(dtype)[6:]} forward vs fp32 (mini)", err <= bound, f"{err:.2e}", f"<= {bound:.1e}",
                time.perf_counter() - t0)]


def check_tensor_parallel(device: torch.device, nproc: int, work: Path) -> list[Row]:
    """``scale_up.tensor_parallel.check`` on ``nproc`` ranks (NCCL on CUDA) against one process."""
    t0 = time.perf_counter()
    result = launch_check(nproc, work / "tp", device=device.type, timeout_s=240.0)
    worst = max(result["max_rel_error"].values())
    return [Row(f"tensor parallel TP={nproc} ({result['backend']}) vs one process", worst <= FP32_BOUND,
                f"{worst:.2e}", f"<= {FP32_BOUND:.0e}", time.perf_counter() - t0)]


def check_training(device: torch.device, nproc: int, work: Path) -> list[Row]:
    """Two SGD steps of ``scale_up.pipeline`` on ``nproc`` ranks against the same steps in one process."""
    t0 = time.perf_counter()
    flags = ["--num-layers", str(max(2, nproc)), "--batch-size", "8", "--seq-len", "16", "--micro-batches", "4",
             "--lr", "1e-2", "--max-steps", "2", "--optimizer", "sgd", "--device", device.type]
    out = run_pipeline(nproc, work / "pipeline", *flags, "--dump", timeout=240)
    _, _, expected = single_process_run(flags)
    got = read_rank_tensors(out, "params", nproc)
    worst = max(relative_error(got[n], t) for n, t in expected.items())
    return [Row(f"training: 2 steps on PP={nproc} vs one process", worst <= FP32_BOUND, f"{worst:.2e}",
                f"<= {FP32_BOUND:.0e}", time.perf_counter() - t0)]


def check_generation(device: torch.device, nproc: int, work: Path) -> list[Row]:
    """``scale_up.generate`` on ``nproc`` ranks from an official-layout checkpoint, FP16 then INT4."""
    import json

    from .convert import SHARD, convert
    from .generate import greedy_continuation
    from .pipeline.launch import run_torchrun
    from .tp_layout import shard_state_dict

    t0 = time.perf_counter()
    config, prompt = PRESETS["nano"], [5, 17, 42, 7]
    torch.manual_seed(0)
    model = GLM(config).half()
    folder = work / "official"
    (folder / "1").mkdir(parents=True)
    for r in range(nproc):
        torch.save({"module": shard_state_dict(model.state_dict(), nproc, r, config)}, folder / "1" / SHARD.format(r))
    (folder / "latest").write_text("1")
    expected = greedy_continuation(model.float().to(device).eval(), prompt, 8)

    def served(checkpoint: Path, *flags: str) -> list[int]:
        out = work / f"{checkpoint.name}.json"
        run_torchrun(nproc, "scale_up.generate", "--checkpoint", str(checkpoint), "--preset", "nano", "--device",
                     device.type, "--prompt-ids", ",".join(map(str, prompt)), "--max-new-tokens", "8", "--out",
                     str(out), *flags, timeout=240)
        return json.loads(out.read_text())["output_ids"]

    got = served(folder, "--precision", "fp32", "--mode", "greedy")
    rows = [Row(f"generate: official FP16 checkpoint at TP={nproc} vs one process", got == expected,
                f"{sum(a == b for a, b in zip(got, expected))}/{len(expected)} tokens equal", "all equal",
                time.perf_counter() - t0)]
    t1 = time.perf_counter()
    convert(folder, work / "int4", nproc, 4, num_attention_heads=config.num_attention_heads)
    int4 = served(work / "int4", "--bits", "4", "--mode", "greedy")
    rows.append(Row(f"generate: converted INT4 checkpoint at TP={nproc}", None, f"tokens {int4}", "-",
                    time.perf_counter() - t1))
    return rows


@torch.no_grad()
def int4_generation(device: torch.device, num_layers: int = 2, new_tokens: int = 8) -> list[Row]:
    """A random GLM-130B of full width and ``num_layers`` layers, INT4, generating ``new_tokens``: a measurement."""
    t0 = time.perf_counter()
    cfg = dataclasses.replace(PRESETS[width(device)], num_layers=num_layers)
    with torch.device("meta"):
        model = GLM(cfg)
    model.to_empty(device=device)
    torch.manual_seed(0)
    init_weights_(model)
    model = quantize_(model.to(torch.float16 if device.type == "cuda" else torch.bfloat16).eval(), 4)
    special = OFFICIAL if cfg.vocab_size > OFFICIAL.mask else SpecialTokens(*range(cfg.vocab_size - 8, cfg.vocab_size))
    prompt = [int(t) for t in torch.randint(100, min(20000, special.mask), (16,))] + [special.gmask]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    _sync(device)
    start = time.perf_counter()
    answers, _ = fill_blanks_ids(model, prompt, special, new_tokens)
    _sync(device)
    seconds = time.perf_counter() - start
    n = max(len(answers[0]), 1)
    memory = f", peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if device.type == "cuda" else ""
    return [Row(f"int4 generation, {width(device)} width, {num_layers} layers", None,
                f"{len(answers[0])} tokens, {1000 * seconds / n:.1f} ms/token{memory}", "-",
                time.perf_counter() - t0)]


def _guarded(name: str, check, *args) -> list[Row]:
    t0 = time.perf_counter()
    try:
        return check(*args)
    except Exception as err:  # a broken path is a FAIL row, and the other checks still run
        return [Row(name, False, f"{type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}", "-",
                    time.perf_counter() - t0)]


def run_checks(device: torch.device, nproc: int, generation_layers: int = 2) -> list[Row]:
    """Every check on ``device`` with ``nproc`` processes for the multi-process ones."""
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
        work = Path(tmp)
        checks = [("quantized kernels", check_quantized_kernels, device), ("int4 speed", int4_speed, device),
                  ("half-precision forward", check_half_forward, device),
                  ("tensor parallel", check_tensor_parallel, device, nproc, work),
                  ("training steps", check_training, device, nproc, work),
                  ("generation", check_generation, device, nproc, work),
                  ("int4 generation", int4_generation, device, generation_layers)]
        return [row for name, fn, *args in checks for row in _guarded(name, fn, *args)]


def format_table(rows: list[Row], device_name: str) -> str:
    verdict = {True: "PASS", False: "FAIL", None: "info"}
    lines = [f"device: {device_name}", "| check | result | measured | bound | seconds |", "|---|---|---|---|---|"]
    lines += [f"| {r.check} | {verdict[r.passed]} | {r.measured} | {r.bound} | {r.seconds:.1f} |" for r in rows]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="scale_up.gpu_check", description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                    help="cuda (the check); cpu rehearses the same checks on the CPU with gloo")
    ap.add_argument("--nproc-per-node", dest="nproc", type=int, default=None,
                    help="processes for the tensor-parallel and training checks (default: the GPUs present; 2 on "
                         "the CPU)")
    ap.add_argument("--generation-layers", type=int, default=2, help="layers of the full-width INT4 model")
    hidden_alias(ap, "--nproc", "--nproc-per-node")
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.device == "cuda":
        try:
            device = require_cuda()
        except RuntimeError as err:
            print(err, file=sys.stderr)
            return 2
        available, name = torch.cuda.device_count(), torch.cuda.get_device_name(device)
    else:
        device, available, name = torch.device("cpu"), 2, "cpu (a rehearsal: gloo, CPU kernels, bf16 for fp16)"
    nproc = args.nproc or available
    if nproc < 1 or (device.type == "cuda" and nproc > available):
        ap.error(f"--nproc-per-node: expected 1..{available} (one process per GPU), got {nproc}")
    if args.generation_layers < 1:
        ap.error(f"--generation-layers: expected >= 1, got {args.generation_layers}")
    start = time.perf_counter()
    rows = run_checks(device, nproc, args.generation_layers)
    print(format_table(rows, name))
    failed = [r.check for r in rows if r.passed is False]
    print(f"{len(rows) - len(failed)} of {len(rows)} rows fine, {time.perf_counter() - start:.0f} s in all"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
