"""Trainer throughput on 2 CPU threads: fp32 vs bf16 autocast, and the objective's share of a step.

One training step exactly as ``glm_mini.train`` runs it (``sample_batch`` on real windows of the default corpus,
forward under the precision's autocast, the masked loss, backward, per-module gradient norms, clipping, AdamW) on
``PRESETS["mini"]`` at sequence 256, batch 8. fp32 and bf16 steps alternate so machine noise hits both alike; the
ratio is the median over rounds of fp32 time / bf16 time in the same round. The objective's share is the median
time of ``sample_batch`` for one batch over the median fp32 step time (issue 6 target: < 5%).
Run: ``make bench`` (or ``.venv/bin/python -m pytest -q -s -o python_files='bench_*.py'
tests/benchmarks/bench_trainer.py``); ``GLM_BENCH_THREADS=1`` measures on one thread.
"""

import os
import random
import statistics
import time

import torch

from glm_mini import GLM, PRESETS
from glm_mini.objective import ObjectiveConfig, sample_batch
from glm_mini.train import forward_loss
from glm_mini.training.data import DataCursor, load_train_data, window
from glm_mini.training.grad_norms import clip_gradients, grad_norms
from glm_mini.training.optimizer import build_adamw

SEQ, BATCH, ROUNDS = 256, 8, 8
THREADS = int(os.environ.get("GLM_BENCH_THREADS", "2"))  # 1 gives steadier numbers on an oversubscribed machine


def test_trainer_tokens_per_second_fp32_vs_bf16():
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    config = PRESETS["mini"]
    data = load_train_data("default", config.vocab_size, SEQ, True)
    special, rng, objective = data.tokenizer.special, random.Random(0), ObjectiveConfig()
    cursor = DataCursor(len(data.train), 0)
    device = torch.device("cpu")

    def next_batch():
        windows = [window(data.train, i) for i in cursor.next_indices(BATCH)]
        return sample_batch(windows, SEQ, special, rng, objective, data.mip_pairs)

    models = {p: GLM(config) for p in ("fp32", "bf16")}
    optimizers = {p: build_adamw(m, 1e-3) for p, m in models.items()}

    def step(precision, batch):
        model, opt = models[precision], optimizers[precision]
        loss = forward_loss(model, batch, precision, device)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(model, 1.0, grad_norms(model)["total"])
        opt.step()

    for precision in models:  # warm-up
        step(precision, next_batch())
    times = {"fp32": [], "bf16": [], "sample_batch": []}
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        batch = next_batch()
        times["sample_batch"].append(time.perf_counter() - t0)
        for precision in ("fp32", "bf16"):
            t0 = time.perf_counter()
            step(precision, batch)
            times[precision].append(time.perf_counter() - t0)
    ratios = [a / b for a, b in zip(times["fp32"], times["bf16"])]
    fp32, bf16 = statistics.median(times["fp32"]), statistics.median(times["bf16"])
    share = statistics.median(times["sample_batch"]) / fp32
    tokens = BATCH * SEQ
    print(f"\ntrainer step, PRESETS['mini'] ({sum(p.numel() for p in models['fp32'].parameters()) / 1e6:.1f} M "
          f"params), batch {BATCH} x seq {SEQ}, {THREADS} thread(s), median of {ROUNDS} rounds")
    print(f"  fp32            {fp32 * 1e3:8.1f} ms/step  {tokens / fp32:8.0f} tokens/s")
    print(f"  bf16 autocast   {bf16 * 1e3:8.1f} ms/step  {tokens / bf16:8.0f} tokens/s")
    print(f"  bf16 speed-up (fp32 time / bf16 time, same round): {statistics.median(ratios):.2f}x")
    print(f"  sample_batch    {statistics.median(times['sample_batch']) * 1e3:8.2f} ms/batch = {share:.1%} of an "
          "fp32 step (target < 5%)")
    assert fp32 > 0 and bf16 > 0
