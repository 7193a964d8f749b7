"""Decoding speed of glm_mini.generate on the mini preset: KV cache vs recomputing, and batch 8 vs batch 1.

Random mini weights (speed does not depend on what the weights say), a 64-token prompt with [gMASK], 32 new tokens
per prompt with the end tokens unreachable (their ids are outside what the prompt's special tokens name), so every
run decodes exactly the same number of tokens. Each configuration is timed ROUNDS times, alternating, and the ratio
of medians is reported: tokens/s with the cache ÷ without, and batch-8 tokens/s ÷ batch-1.
Run: ``make bench``.
"""

import statistics
import time
from glm_mini import SpecialTokens

import torch

from glm_mini import GLM, PRESETS
from glm_mini.generate import fill_blanks_batch_ids

ROUNDS, PROMPT, NEW = 3, 64, 32


def _special(vocab):
    # blank and end ids at the top of the vocabulary; the greedy random model does not reach them in 32 steps
    top = vocab - 1
    return SpecialTokens(mask=top - 7, gmask=top - 6, smask=top - 5, eod=top - 4, sop=top - 3, eop=top - 2,
                           eos=top - 1, pad=0)


def test_decode_speed():
    torch.manual_seed(0)
    cfg = PRESETS["mini"]
    model = GLM(cfg).eval()
    special = _special(cfg.vocab_size)
    with torch.no_grad():  # keep the random model from choosing the end ids, so every run decodes NEW tokens
        model.transformer.word_embeddings.weight[cfg.vocab_size - 8:] = 0
        model.transformer.final_layernorm.bias.zero_()
    g = torch.Generator().manual_seed(0)
    prompts = [torch.randint(10, cfg.vocab_size - 16, (PROMPT,), generator=g).tolist() for _ in range(8)]

    def run(batch, use_cache):
        start = time.perf_counter()
        out = fill_blanks_batch_ids(model, prompts[:batch], special, NEW, use_cache=use_cache)
        seconds = time.perf_counter() - start
        tokens = sum(len(a[0]) for a, _ in out)
        return tokens / seconds

    times = {k: [] for k in ("cache1", "nocache1", "cache8")}
    for _ in range(ROUNDS):
        times["cache1"].append(run(1, True))
        times["nocache1"].append(run(1, False))
        times["cache8"].append(run(8, True))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\nmini decode, prompt {PROMPT}, {NEW} new tokens, median of {ROUNDS} rounds (tokens/s):")
    for k, v in med.items():
        print(f"  {k:<9}{v:8.1f}")
    print(f"  KV cache speed-up (batch 1): {med['cache1'] / med['nocache1']:.2f}x")
    print(f"  batch 8 vs batch 1 throughput (cache): {med['cache8'] / med['cache1']:.2f}x")
    assert all(v > 0 for v in med.values())
