"""Building a batch of the GLM objective vs one training step, in the same process: it must not be the bottleneck.

For the ``nano`` and ``mini`` presets: ``sample_batch`` (the [MASK]/[gMASK]/MIP mixture with packing, masks and
positions) against one fp32 training step of the model on such a batch (forward, loss on the loss mask, backward,
AdamW). Rounds alternate between the two so machine noise hits both; the share is the median over rounds of
batch time / step time, by the wall clock and by this process's CPU time (on a machine shared with other jobs the
wall clock of a single-threaded Python loop stretches with the load; CPU time much less). The step runs on one
thread: on a shared, loaded 2-core machine a 2-thread step was measured several times slower than a 1-thread one
(threads waiting for each other), and a slower step would flatter the share.
Run: ``make bench``. Target (issue 6): share < 5%.
"""

import random
import statistics
import time

import torch
import torch.nn.functional as F

from glm_mini import GLM, PRESETS, SpecialTokens
from glm_mini.objective import ObjectiveConfig, sample_batch

ROUNDS = 6
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}  # cpu: this process's CPU time, less load-sensitive
CASES = (("nano", 8, 256), ("mini", 8, 256), ("mini", 4, 512))  # preset, batch, seq_len


def _special(vocab: int) -> SpecialTokens:
    top = vocab - 6  # the kit's layout: the six GLM specials come last
    return SpecialTokens(mask=top, gmask=top + 1, smask=top + 2, eod=top + 3, sop=top + 4, eop=top + 5, eos=2, pad=0)


def _measure(preset: str, batch_size: int, seq_len: int) -> dict[str, tuple[float, float, float]]:
    config = PRESETS[preset].replace(max_sequence_length=max(seq_len, PRESETS[preset].max_sequence_length))
    model = GLM(config).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    special = _special(config.vocab_size)
    gen = torch.Generator().manual_seed(0)
    windows = [torch.randint(3, config.vocab_size - 6, (seq_len,), generator=gen) for _ in range(batch_size)]
    mip = [(torch.randint(3, 500, (20,), generator=gen).tolist(), torch.randint(3, 500, (5,), generator=gen).tolist())
           for _ in range(64)]
    rng = random.Random(0)
    cfg = ObjectiveConfig(max_sequence_length=config.max_sequence_length)

    def step(batch):
        logits = model(batch["input_ids"], batch["position_ids"], batch["attention_mask"]).logits
        loss = F.cross_entropy(logits[batch["loss_mask"]], batch["targets"][batch["loss_mask"]])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    times = {clock: ([], []) for clock in CLOCKS}  # clock -> (batch times, step times)
    for rep in range(ROUNDS + 2):
        start = {clock: fn() for clock, fn in CLOCKS.items()}
        batch = sample_batch(windows, seq_len, special, rng, cfg, mip)
        mid = {clock: fn() for clock, fn in CLOCKS.items()}
        step(batch)
        end = {clock: fn() for clock, fn in CLOCKS.items()}
        if rep >= 2:  # two warm-up rounds
            for clock in CLOCKS:
                times[clock][0].append(mid[clock] - start[clock])
                times[clock][1].append(end[clock] - mid[clock])
    return {clock: (statistics.median(b), statistics.median(s), statistics.median(x / y for x, y in zip(b, s)))
            for clock, (b, s) in times.items()}


def test_objective_share_of_a_training_step():
    torch.manual_seed(0)
    torch.set_num_threads(1)  # see the module docstring
    print(f"\nsample_batch vs one fp32 training step (fwd + bwd + AdamW), {torch.get_num_threads()} thread, "
          f"{ROUNDS} rounds; target share < 5%")
    print(f"{'preset':<8}{'batch':>6}{'seq':>6}{'clock':>6}{'sample_batch ms':>17}{'step ms':>10}{'share':>9}")
    shares = []
    for preset, b, s in CASES:
        for clock, (batch_s, step_s, share) in _measure(preset, b, s).items():
            shares.append(share)
            print(f"{preset:<8}{b:>6}{s:>6}{clock:>6}{batch_s * 1e3:>17.2f}{step_s * 1e3:>10.1f}{share:>9.2%}")
    assert all(0 < x for x in shares)
