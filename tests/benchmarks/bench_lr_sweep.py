"""The stability lab's sweep cost: runs per second of a sweep cell against bare training steps, in the same process.

A notebook 04/05 cell (``glm_mini.stability.lr_sweep.run_cell``: the kit's trainer with its per-step gradient and
update norms, an ``AttentionLogitProbe``, metrics.jsonl, a validation pass, a checkpoint, the summary) is timed
against the floor it rests on: the same number of bare steps of the same model on the same objective batches
(``sample_batch``, forward, masked loss, backward, clip, AdamW) with nothing recorded. Both run on one thread, as the
sweep's workers do, alternating so machine noise hits both alike; the reported ratio is the median over rounds of
cell time / bare time in the same round, so a change that makes the lab slower shows up as a larger ratio whatever
the machine. A second pair times the trainer with and without the probe (the probe's own cost).
Run: ``make bench`` (or ``.venv/bin/python -m pytest -q -s -o python_files='bench_*.py'
tests/benchmarks/bench_lr_sweep.py``).
"""

import dataclasses
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from glm_mini.experiments import get_sweep
from glm_mini.objective import ObjectiveConfig, sample_batch
from glm_mini.stability.attention_logits import AttentionLogitProbe
from glm_mini.stability.lr_sweep import Cell, Sweep, run_cell, train_config
from glm_mini.train import forward_loss, train
from glm_mini.training.data import DataCursor, load_train_data, window
from glm_mini.training.grad_norms import clip_gradients, grad_norms
from glm_mini.training.optimizer import build_adamw

STEPS, ROUNDS = 30, 3


def _bare_steps(cfg, steps):
    """``steps`` optimizer steps of ``cfg``'s model with nothing but the step itself."""
    model_config = cfg.model_config()
    data = load_train_data(cfg.corpus, model_config.vocab_size, cfg.seq_len, cfg.use_mip)
    torch.manual_seed(cfg.seed)
    from glm_mini import GLM

    model = GLM(model_config)
    optimizer = build_adamw(model, cfg.lr, cfg.weight_decay)
    cursor, rng, device = DataCursor(len(data.train), cfg.seed), random.Random(0), torch.device("cpu")
    for _ in range(steps):
        windows = [window(data.train, i) for i in cursor.next_indices(cfg.batch_size)]
        batch = sample_batch(windows, cfg.seq_len, data.tokenizer.special, rng, ObjectiveConfig(), data.mip_pairs)
        loss = forward_loss(model, batch, "fp32", device)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_gradients(model, 1.0, grad_norms(model)["total"])
        optimizer.step()


def test_sweep_cell_cost_against_bare_steps():
    torch.set_num_threads(1)
    full = get_sweep("deepnorm", "full")
    sweep = Sweep(**{**dataclasses.asdict(full), "schemes": ("deepnorm",), "train": {**full.train, "max_steps": STEPS}})
    cell = Cell("deepnorm", 6, 5e-3, 0)
    cfg = train_config(sweep, cell)
    times = {"sweep cell (run_cell)": [], "bare steps": [], "trainer, no probe": [], "trainer + probe": []}
    for rnd in range(ROUNDS + 1):  # round 0 warms up (imports, corpus cache)
        root = Path(tempfile.mkdtemp())
        try:
            runs = {
                "sweep cell (run_cell)": lambda: run_cell(sweep, cell, root / "cell"),
                "bare steps": lambda: _bare_steps(cfg, STEPS),
                "trainer, no probe": lambda: train(dataclasses.replace(cfg, out=str(root / "a")), progress=False,
                                                   plots=False),
                "trainer + probe": lambda: train(dataclasses.replace(cfg, out=str(root / "b")), progress=False,
                                                 probes=[AttentionLogitProbe()], plots=False),
            }
            for name, fn in runs.items():
                start = time.perf_counter()
                fn()
                if rnd:
                    times[name].append(time.perf_counter() - start)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def ratio(a, b):
        return statistics.median(x / y for x, y in zip(times[a], times[b]))

    print(f"\nsweep cell: 6 layers x 64, {STEPS} steps of {cfg.batch_size} x {cfg.seq_len} tokens, 1 thread, "
          f"median of {ROUNDS} alternating rounds")
    print(f"{'':26s}{'median s':>10s}{'runs/s':>9s}{'steps/s':>9s}")
    for name, t in times.items():
        med = statistics.median(t)
        print(f"{name:26s}{med:10.2f}{1 / med:9.3f}{STEPS / med:9.1f}")
    print(f"sweep cell / bare steps (same round): {ratio('sweep cell (run_cell)', 'bare steps'):.2f}x")
    print(f"probe overhead, trainer + probe / trainer: {ratio('trainer + probe', 'trainer, no probe'):.2f}x")
    cells = len(get_sweep("deepnorm", "fast").cells())
    per_cell = statistics.median(times["sweep cell (run_cell)"]) * full.train["max_steps"] / STEPS
    print(f"notebook 04 FAST trains {cells} cells of {full.train['max_steps']} steps: about {cells * per_cell:.0f} s "
          f"of one core here, {cells * per_cell / 2:.0f} s on 2 workers")
    assert all(x > 0 for t in times.values() for x in t)
