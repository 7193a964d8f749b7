"""``torchrun --nproc-per-node N -m scale_up.train``: glm_mini's GLM-130B training recipe on DP × TP × PP processes.

How it works
------------
The recipe is the single-process trainer's (``glm_mini.train``; docs/glm130b_facts.md §2.1–2.6), taken piece by
piece from ``glm_mini.train`` and ``glm_mini.training``: the same flags and ``TrainConfig`` validation, data
(``load_train_data``, ``DataCursor``, ``sample_batch`` with the [MASK]/[gMASK]/MIP mixture, the same RNG streams),
the learning-rate schedule (``lr_at``), the EGS α ramp, AdamW with its weight-decay groups (``build_adamw``),
clipping (``clip_gradients``), skipped step ranges, spike detection and ``metrics.jsonl`` (``MetricsLog``).
What changes is where the model runs: every rank builds the same model from the same seed and keeps its share on the
(pp, dp, tp) mesh (``scale_up.pipeline.build_parallel_pipeline``: pipeline stages, each a tensor-parallel shard,
data-parallel replicas), so one step is

    pipe.step(batch)                # micro-batched schedule, tied-embedding sum, DP gradient sum; the batch loss
    ‖g‖ = pipeline_grad_norms(...)  # the whole model's norm, each element once
    clip to --clip-grad, AdamW step (ZeRO-1 over the data-parallel group when dp > 1)

and its losses equal ``python -m glm_mini.train``'s with the same flags (tested). Not yet here: batch-size ramp-up
(micro-batch shapes are fixed; run with a constant batch: ``--batch-rampup-steps 0``), bf16/fp16, validation
loss, and checkpoints/resume (``python -m scale_up.pipeline`` has per-stage checkpoints; ``scale_up.
sharded_checkpoint`` TP ones).
"""

from __future__ import annotations

import math
import os
import random
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.optim import ZeroRedundancyOptimizer

from glm_mini.model import GLM
from glm_mini.train import TrainConfig, build_parser as single_process_parser
from glm_mini.training.grad_norms import clip_gradients
from glm_mini.training.metrics import MetricsLog
from glm_mini.training.optimizer import build_adamw
from glm_mini.training.schedule import batch_size_at, egs_alpha_at, lr_at
from glm_mini.training.spikes import SpikeDetector, in_ranges, parse_skip_ranges

from .pipeline.grad_norm import pipeline_grad_norms
from .pipeline.mesh import build_parallel_pipeline, check_layout
from .pipeline.schedule import SCHEDULES

LAYOUT_FLAGS = ("dp", "tp", "pp", "schedule", "microbatches", "virtual_stages")


def build_parser():
    p = single_process_parser()
    p.prog = "torchrun --nproc-per-node N -m scale_up.train"
    p.description = __doc__.split("\n")[0]
    g = p.add_argument_group("parallel layout (dp x tp x pp must equal the number of processes)")
    g.add_argument("--dp", type=int, default=1, help="data-parallel replicas (each takes batch/dp samples)")
    g.add_argument("--tp", type=int, default=1, help="tensor-parallel degree (divides heads, vocab, GeGLU width)")
    g.add_argument("--pp", type=int, default=1, help="pipeline stages (at most num_layers)")
    g.add_argument("--schedule", default="1f1b", choices=sorted(SCHEDULES), help="pipeline schedule")
    g.add_argument("--microbatches", type=int, default=4, help="micro-batches per step (divides batch/dp)")
    g.add_argument("--virtual-stages", type=int, default=None, help="stages per rank for interleaved-1f1b")
    return p


def parse(argv=None) -> tuple[TrainConfig, dict]:
    """(TrainConfig, layout) from the command line, with every impossible layout named."""
    parser = build_parser()
    args = parser.parse_args(argv)
    layout = {k: getattr(args, k) for k in LAYOUT_FLAGS}
    options = {k: v for k, v in vars(args).items() if k not in LAYOUT_FLAGS + ("no_progress",)}
    options["config_overrides"] = dict(options["config_overrides"])
    options["egs_ramp"] = tuple(options["egs_ramp"]) if options["egs_ramp"] else None
    try:
        cfg = TrainConfig(**options)
        check_layout(layout["dp"], layout["tp"], layout["pp"], int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError as err:
        parser.error(str(err))
    if cfg.resume or cfg.precision != "fp32":
        parser.error("--resume and --precision bf16/fp16 are not supported by scale_up.train yet (see --help)")
    if cfg.rampup and cfg.batch_start != cfg.batch_size:
        parser.error(f"--batch-rampup-steps: the batch ramps from {cfg.batch_start} to {cfg.batch_size} over "
                     f"{cfg.rampup} steps, but pipeline micro-batch shapes are fixed; pass --batch-rampup-steps 0")
    per_replica = cfg.batch_size // layout["dp"]
    if cfg.batch_size % layout["dp"] or per_replica % layout["microbatches"]:
        parser.error(f"--batch-size {cfg.batch_size} must be divisible by --dp x --microbatches "
                     f"= {layout['dp'] * layout['microbatches']}")
    return cfg, layout


def zero1(adamw: torch.optim.AdamW, dp_group) -> ZeroRedundancyOptimizer:
    """The same AdamW (same groups and hyper-parameters) with its state sharded over the data-parallel group."""
    first, *others = adamw.param_groups
    hyper = {k: first[k] for k in ("lr", "betas", "eps", "weight_decay")}
    zero = ZeroRedundancyOptimizer(first["params"], optimizer_class=torch.optim.AdamW, process_group=dp_group,
                                   **hyper)
    for group in others:
        zero.add_param_group(dict(group))
    return zero


def train_parallel(cfg: TrainConfig, layout: dict) -> list[float]:
    """Train on this rank's share of the layout; returns the loss of every trained step (on every rank)."""
    from glm_mini.objective import ObjectiveConfig, sample_batch
    from glm_mini.training.data import DataCursor, load_train_data, window

    out = Path(cfg.out)
    model_config = cfg.model_config()
    data = load_train_data(cfg.corpus, model_config.vocab_size, cfg.seq_len, cfg.use_mip)
    objective = ObjectiveConfig(two_d=model_config.position_encoding_2d)
    torch.manual_seed(cfg.seed)
    model = GLM(model_config)
    pipe, mesh = build_parallel_pipeline(model, layout["dp"], layout["tp"], layout["pp"], layout["schedule"],
                                         layout["microbatches"], virtual_stages=layout["virtual_stages"])
    del model
    stages = nn.ModuleList(pipe.modules)
    optimizer = build_adamw(stages, cfg.lr, cfg.weight_decay)
    if layout["dp"] > 1:
        optimizer = zero1(optimizer, mesh["dp"].get_group())
    tp_group = mesh["tp"].get_group() if layout["tp"] > 1 else None
    cursor = DataCursor(len(data.train), cfg.seed)
    objective_rng = random.Random(f"{cfg.seed}/objective")
    detector = SpikeDetector(cfg.spike_factor, cfg.spike_window)
    skip_ranges = parse_skip_ranges(cfg.skip_steps)
    log = MetricsLog(out) if dist.get_rank() == 0 else None
    losses = []
    for step in range(1, (cfg.stop_after_step or cfg.max_steps) + 1):
        t0 = time.perf_counter()
        b = batch_size_at(step, cfg.batch_size, cfg.batch_start, cfg.rampup)
        windows = [window(data.train, i) for i in cursor.next_indices(b)]
        batch = sample_batch(windows, cfg.seq_len, data.tokenizer.special, objective_rng, objective, data.mip_pairs)
        if in_ranges(step, skip_ranges):
            continue
        lr = lr_at(step, cfg.lr, cfg.warmup, cfg.max_steps, cfg.min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = lr
        alpha = egs_alpha_at(step, model_config.embedding_gradient_shrink_alpha, cfg.egs_ramp)
        for stage in pipe.modules:
            stage.config = stage.config.replace(embedding_gradient_shrink_alpha=alpha)
        pipe.zero_grad()
        loss = pipe.step(**batch)
        norms = pipeline_grad_norms(pipe, tp_group)
        spike = detector.update(loss)
        skipped = (spike and cfg.spike_action == "skip") or not math.isfinite(norms["total"])
        if not skipped:
            clip_gradients(stages, cfg.clip_grad, norms["total"])
            optimizer.step()
        losses.append(loss)
        if log is not None:
            log.write({"step": step, "loss": loss, "lr": lr, "batch_size": b, "tokens": b * cfg.seq_len,
                       "loss_tokens": int(batch["loss_mask"].sum()), "seconds": time.perf_counter() - t0,
                       "grad_norm": norms["total"], "grad_norm_embedding": norms["embedding"],
                       "grad_norm_rest": norms["rest"], "egs_alpha": alpha, "spike": spike, "skipped": skipped,
                       **{k: layout[k] for k in ("dp", "tp", "pp")}})
    if log is not None:
        log.close()
    return losses


def main(argv=None) -> int:
    cfg, layout = parse(argv)
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    dist.init_process_group("nccl" if torch.cuda.is_available() and cfg.device != "cpu" else "gloo")
    try:
        losses = train_parallel(cfg, layout)
        rank = dist.get_rank()
    finally:
        dist.destroy_process_group()
    if losses and rank == 0:
        print(f"{cfg.out}: {len(losses)} steps on dp{layout['dp']} x tp{layout['tp']} x pp{layout['pp']}, "
              f"loss {losses[-1]:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
