"""Checks for notebook 11's exercises: the three numbers that decide whether GLM-130B runs on your GPUs and how well
it trains: weight bytes per GPU, KV-cache bytes per GPU, and model FLOPs utilization.

The references are the planner's own formulas (``scale_up.plan``; docs/glm130b_facts.md §3.1, §4; paper §2.3), called
with the plain numbers the exercises use: a DeepNorm GLM of the given sizes. Each answer is one number, so a mismatch
also prints what the expected number is made of: the weight bytes by term (linear weights, their FP16 scales,
biases, LayerNorms, the embedding's rows, the final LayerNorm), the KV cache's keys and values, and the MFU's FLOPs
by term beside what the GPUs could do. ``tests/test_exercises_nb11.py`` checks that the terms add up to the planner's
numbers.
"""

from __future__ import annotations

import random

from glm_mini import GLMConfig
from glm_mini.exercises.harness import Case, run_check

from .. import plan
from ..plan import FP16


def _config(num_layers: int, hidden: int, ffn: int, vocab: int, heads: int) -> GLMConfig:
    return GLMConfig(num_layers=num_layers, hidden_size=hidden, num_attention_heads=heads, inner_hidden_size=ffn,
                     vocab_size=vocab)


def weight_bytes_per_gpu(num_layers: int, hidden: int, ffn: int, vocab: int, tp: int, bits: int) -> int:
    """One tensor-parallel rank's weight bytes (DeepNorm GLM): the four block linears at ``bits`` (plus one FP16
    scale per local output row when quantized), their biases, two LayerNorms per layer, the vocab-parallel
    embedding and the final LayerNorm in FP16 (``plan.weight_bytes_per_gpu``)."""
    return plan.weight_bytes_per_gpu(_config(num_layers, hidden, ffn, vocab, heads=tp), tp, bits)


kv_cache_bytes = plan.kv_cache_bytes  # FP16 keys and values of every layer, one rank's heads


def mfu(num_layers: int, hidden: int, ffn: int, vocab: int, sequences: int, seq_len: int, seconds: float,
        num_gpus: int, peak_flops: float) -> float:
    """Model FLOPs of one iteration, 6·B·s·(L·(4h² + 3hf + 2sh) + hV), over what the GPUs could do in ``seconds``
    (``plan.model_flops`` and ``plan.utilization``)."""
    flops = plan.model_flops(_config(num_layers, hidden, ffn, vocab, heads=1), sequences, seq_len)
    return plan.utilization(flops, seconds, num_gpus, peak_flops)


GLM130B = (70, 12288, 32768, 150528)  # layers, hidden, GeGLU width, vocab


def weight_bytes_terms(num_layers: int, hidden: int, ffn: int, vocab: int, tp: int, bits: int) -> dict[str, int]:
    """``weight_bytes_per_gpu`` term by term (they add up to it)."""
    shapes = plan.local_linear_shapes(_config(num_layers, hidden, ffn, vocab, heads=tp), tp).values()
    h, f = hidden, ffn
    return {"4 block linears per layer, weights": num_layers * sum(r * c * bits // 8 for r, c in shapes),
            "their FP16 scales, one per local row": num_layers * sum(FP16 * r for r, _ in shapes) if bits < 16 else 0,
            "block biases (FP16)": num_layers * FP16 * (3 * h // tp + h + 2 * f // tp + h),
            "2 LayerNorms per layer, weight and bias (FP16)": num_layers * FP16 * 2 * 2 * h,
            "word embedding, V/t rows (FP16)": FP16 * (vocab // tp) * h,
            "final LayerNorm (FP16)": FP16 * 2 * h}


def kv_cache_terms(num_layers: int, hidden: int, tp: int, batch: int, seq_len: int) -> dict[str, int]:
    """``kv_cache_bytes`` as its keys and its values (they add up to it)."""
    half = num_layers * batch * seq_len * (hidden // tp) * FP16
    return {"keys, every layer (FP16)": half, "values, every layer (FP16)": half}


def mfu_steps(num_layers: int, hidden: int, ffn: int, vocab: int, sequences: int, seq_len: int, seconds: float,
              num_gpus: int, peak_flops: float) -> list[tuple[str, float]]:
    """The model FLOPs of one iteration by term, what the GPUs could do in ``seconds``, and their ratio."""
    tokens_x3x2 = 6 * sequences * seq_len  # forward + backward = 3 forwards, 2 FLOPs per multiply-add
    terms = [("model FLOPs: the block linears", tokens_x3x2 * num_layers * (4 * hidden**2 + 3 * hidden * ffn)),
             ("model FLOPs: attention over the sequence", tokens_x3x2 * num_layers * 2 * seq_len * hidden),
             ("model FLOPs: the tied output layer", tokens_x3x2 * hidden * vocab)]
    total, possible = sum(v for _, v in terms), seconds * num_gpus * peak_flops
    return [*terms, ("model FLOPs per iteration", total), ("FLOPs the GPUs could do in that time", possible),
            ("MFU", total / possible)]


def check_weight_bytes(student_fn) -> bool:
    """Exercise 11.1: ``student_fn(num_layers, hidden, ffn, vocab, tp, bits)`` -> bytes on one GPU; a mismatch
    prints ``weight_bytes_terms``."""
    rng = random.Random(111)
    cases = [Case("GLM-130B TP=8 FP16", (*GLM130B, 8, 16)), Case("GLM-130B TP=4 INT4", (*GLM130B, 4, 4))]
    for _ in range(2):
        tp = rng.choice((1, 2, 4))
        cases.append(Case(f"small TP={tp}", (rng.randint(1, 6), 64 * tp, 48 * tp, 256 * tp, tp, rng.choice((16, 8)))))
    return run_check("Exercise 11.1", student_fn, weight_bytes_per_gpu, cases, breakdown=weight_bytes_terms)


def check_kv_cache(student_fn) -> bool:
    """Exercise 11.2: ``student_fn(num_layers, hidden, tp, batch, seq_len)`` -> KV-cache bytes on one GPU; a mismatch
    prints ``kv_cache_terms``."""
    rng = random.Random(112)
    cases = [Case("GLM-130B TP=4 1x2048", (70, 12288, 4, 1, 2048)), Case("one token", (1, 64, 1, 1, 1))]
    cases += [Case(f"random {i}", (rng.randint(1, 80), 128 * 8, rng.choice((1, 2, 8)), rng.randint(1, 16),
                                   rng.randint(1, 2048))) for i in range(2)]
    return run_check("Exercise 11.2", student_fn, kv_cache_bytes, cases, breakdown=kv_cache_terms)


def check_mfu(student_fn) -> bool:
    """Exercise 11.3: ``student_fn(num_layers, hidden, ffn, vocab, sequences, seq_len, seconds, num_gpus,
    peak_flops)`` -> model FLOPs utilization as a fraction; a mismatch prints ``mfu_steps``."""
    rng = random.Random(113)
    cases = [Case("GLM-130B on 768 A100s at 88.5 s", (*GLM130B, 4224, 2048, 88.5, 768, 312e12))]
    cases += [Case(f"random {i}", (rng.randint(1, 12), 256, 683, 1024, rng.randint(1, 64), 512,
                                   rng.uniform(0.1, 10.0), rng.choice((1, 8)), 1e12)) for i in range(3)]
    return run_check("Exercise 11.3", student_fn, mfu, cases, rtol=1e-9, breakdown=mfu_steps)
