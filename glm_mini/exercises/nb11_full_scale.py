"""Checks for notebook 11's exercises: the three numbers that decide whether GLM-130B runs on your GPUs and how well
it trains: weight bytes per GPU, KV-cache bytes per GPU, and model FLOPs utilization.

The references are the planner's formulas written out on plain ints (docs/glm130b_facts.md §3.1, §4; paper §2.3),
because glm_mini never imports scale_up; tests check that they equal ``scale_up.plan``'s.
"""

from __future__ import annotations

import random

from glm_mini.exercises.harness import Case, run_check

FP16 = 2  # bytes


def weight_bytes_per_gpu(num_layers: int, hidden: int, ffn: int, vocab: int, tp: int, bits: int) -> int:
    """One tensor-parallel rank's weight bytes (DeepNorm GLM): the four block linears at ``bits`` (plus one FP16
    scale per local output row when quantized), their biases, two LayerNorms per layer, the vocab-parallel
    embedding and the final LayerNorm in FP16."""
    shapes = ((3 * hidden // tp, hidden), (hidden, hidden // tp), (2 * ffn // tp, hidden), (hidden, ffn // tp))
    linears = sum(rows * cols * bits // 8 + (FP16 * rows if bits < 16 else 0) for rows, cols in shapes)
    biases = FP16 * (3 * hidden // tp + hidden + 2 * ffn // tp + hidden)
    norms = FP16 * 2 * hidden * 2
    return num_layers * (linears + biases + norms) + FP16 * (vocab // tp) * hidden + FP16 * 2 * hidden


def kv_cache_bytes(num_layers: int, hidden: int, tp: int, batch: int, seq_len: int) -> int:
    """FP16 keys and values of every layer for ``batch`` sequences of ``seq_len`` tokens, one rank's heads."""
    return 2 * num_layers * batch * seq_len * (hidden // tp) * FP16


def mfu(num_layers: int, hidden: int, ffn: int, vocab: int, sequences: int, seq_len: int, seconds: float,
        num_gpus: int, peak_flops: float) -> float:
    """Model FLOPs of one iteration, 6·B·s·(L·(4h² + 3hf + 2sh) + hV), over what the GPUs could do in ``seconds``."""
    per_token = num_layers * (4 * hidden**2 + 3 * hidden * ffn + 2 * seq_len * hidden) + hidden * vocab
    return 6 * sequences * seq_len * per_token / (seconds * num_gpus * peak_flops)


GLM130B = (70, 12288, 32768, 150528)  # layers, hidden, GeGLU width, vocab


def check_weight_bytes(student_fn) -> bool:
    """Exercise 11.1: ``student_fn(num_layers, hidden, ffn, vocab, tp, bits)`` -> bytes on one GPU."""
    rng = random.Random(111)
    cases = [Case("GLM-130B TP=8 FP16", (*GLM130B, 8, 16)), Case("GLM-130B TP=4 INT4", (*GLM130B, 4, 4))]
    for _ in range(2):
        tp = rng.choice((1, 2, 4))
        cases.append(Case(f"small TP={tp}", (rng.randint(1, 6), 64 * tp, 48 * tp, 256 * tp, tp, rng.choice((16, 8)))))
    return run_check("Exercise 11.1", student_fn, weight_bytes_per_gpu, cases)


def check_kv_cache(student_fn) -> bool:
    """Exercise 11.2: ``student_fn(num_layers, hidden, tp, batch, seq_len)`` -> KV-cache bytes on one GPU."""
    rng = random.Random(112)
    cases = [Case("GLM-130B TP=4 1x2048", (70, 12288, 4, 1, 2048)), Case("one token", (1, 64, 1, 1, 1))]
    cases += [Case(f"random {i}", (rng.randint(1, 80), 128 * 8, rng.choice((1, 2, 8)), rng.randint(1, 16),
                                   rng.randint(1, 2048))) for i in range(2)]
    return run_check("Exercise 11.2", student_fn, kv_cache_bytes, cases)


def check_mfu(student_fn) -> bool:
    """Exercise 11.3: ``student_fn(num_layers, hidden, ffn, vocab, sequences, seq_len, seconds, num_gpus,
    peak_flops)`` -> model FLOPs utilization as a fraction."""
    rng = random.Random(113)
    cases = [Case("GLM-130B on 768 A100s at 88.5 s", (*GLM130B, 4224, 2048, 88.5, 768, 312e12))]
    cases += [Case(f"random {i}", (rng.randint(1, 12), 256, 683, 1024, rng.randint(1, 64), 512,
                                   rng.uniform(0.1, 10.0), rng.choice((1, 8)), 1e12)) for i in range(3)]
    return run_check("Exercise 11.3", student_fn, mfu, cases, rtol=1e-9)
