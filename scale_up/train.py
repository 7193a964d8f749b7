"""``torchrun --nproc-per-node N -m scale_up.train``: glm_mini's trainer on DP × TP × PP processes.

How it works
------------
It is ``python -m glm_mini.train`` plus a parallel plan. The same flags and ``TrainConfig``, the same data
(``load_train_data``, ``DataCursor``, ``sample_batch`` with its RNG streams, the fixed validation batches) and the
same step, ``glm_mini.training.step.train_step`` (lr and EGS schedules, loss, backward, clipping, spike check, the
metrics row; docs/glm130b_facts.md §2.1–2.6), run on a pipeline instead of one model:

- every rank builds the same model from the same seed and keeps its share of the (pp, dp, tp) mesh
  (``pipeline.build_parallel_pipeline``): pipeline stages (the model with modules deleted), each a tensor-parallel
  shard, on ``--device`` (gloo on the CPU, NCCL with ``cuda:LOCAL_RANK``);
- ``PipelineModel`` is the step's model: forward and backward through the schedule (under bf16 autocast with
  ``--precision bf16``), the replicas' gradients summed by a bucketed all-reduce, the norms summed over the ranks
  with each element counted once (``pipeline.grad_norm``);
- AdamW with glm_mini's weight-decay groups; with ``--dp`` > 1 its state is sharded over the replicas by ZeRO-1
  (torch's ``ZeroRedundancyOptimizer``), as GLM-130B trained;
- batch-size ramp-up as Megatron does it: the micro-batch size stays ``batch_size / (dp · micro_batches)`` and the
  number of micro-batches follows the batch, so every batch of the ramp must be a multiple of dp × micro-batch
  size (checked before the run starts);
- validation loss every ``--eval-every`` steps and at the last (forwards only, eval mode);
- checkpoints every ``--save-every`` steps, at the end and at ``--stop-after-step``: each rank writes its own file
  (``pipeline/checkpoint.py``: its model shard, its optimizer share, the trainer's data position, random generators
  and spike history), ``--keep-checkpoints`` prunes; ``--resume`` continues exactly on the same layout.
- rank 0 writes ``metrics.jsonl`` and shows the progress bar (``--progress/--no-progress``; by default only when
  stderr is a terminal); ``--config FILE`` reads the flags from a TOML file (``glm_mini.cli.config_file``).

So its losses and gradient norms equal ``python -m glm_mini.train``'s with the same flags (tested), and a resumed
run equals an uninterrupted one. ``--precision fp16`` is refused (its dynamic loss scaler would need the ranks to
agree on every overflow), and so is any ``TrainConfig`` field this trainer does not know (a flag added to
glm_mini's trainer later is refused here until it is implemented, never ignored).
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import sys
import time

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributed.optim import ZeroRedundancyOptimizer

from glm_mini.model import GLM
from glm_mini.cli.config_file import parse_args
from glm_mini.cli.progress import progress_bar
from glm_mini.cli.vocabulary import hidden_alias
from glm_mini.train import (TrainConfig, _check_out_dir, _check_same_run, _positive_float, _positive_int,
                            _write_config, build_parser as single_process_parser, train_options)
from glm_mini.training.checkpoint import CheckpointError, rng_state, set_rng_state
from glm_mini.training.grad_norms import clip_gradients
from glm_mini.training.metrics import MetricsLog, read_metrics
from glm_mini.training.optimizer import build_adamw
from glm_mini.training.precision import check_precision, grad_scaler
from glm_mini.training.schedule import batch_size_at
from glm_mini.training.spikes import SpikeDetector, in_ranges, parse_skip_ranges
from glm_mini.training.step import NonFiniteLoss, next_batch, train_step

from .devices import backend_for, rank_device
from .fault_tolerance import end_worker, fail_fast, init_distributed, shutdown_distributed
from .pipeline.checkpoint import PipelineCheckpointError, load_pipeline_checkpoint, save_pipeline_checkpoint
from .pipeline.grad_norm import counted_parameters, pipeline_grad_norms, pipeline_update_norms
from .pipeline.mesh import build_parallel_pipeline, check_layout
from .pipeline.schedule import SCHEDULES, Pipeline
from .tp_layout import check_tp_degree

LAYOUT_FLAGS = ("dp", "tp", "pp", "schedule", "micro_batches", "virtual_stages", "timeout_s")
# every TrainConfig field this trainer acts on; any other field set away from its default is refused
IMPLEMENTED = {"preset", "max_steps", "out", "resume", "save_every", "stop_after_step", "eval_every", "seed", "corpus",
               "precision", "batch_size", "seq_len", "lr", "min_lr_ratio", "warmup_steps", "batch_size_start",
               "batch_rampup_steps", "weight_decay", "clip_grad", "egs_ramp", "skip_steps", "spike_factor",
               "spike_window", "spike_action", "mip", "val_batches", "keep_checkpoints", "device",
               "config_overrides", "objective", "mask_share", "mask_ratio", "mip_ratio", "text_column"}


def build_parser():
    p = single_process_parser()
    p.prog = "torchrun --nproc-per-node N -m scale_up.train"
    p.description = __doc__.split("\n")[0]
    g = p.add_argument_group("parallel layout (dp x tp x pp must equal the number of processes)")
    g.add_argument("--dp", type=int, default=1, help="data-parallel replicas (each takes batch/dp samples)")
    g.add_argument("--tp", type=int, default=1, help="tensor-parallel degree (divides heads, vocab, GeGLU width)")
    g.add_argument("--pp", type=int, default=1, help="pipeline stages (at most num_layers)")
    g.add_argument("--schedule", default="1f1b", choices=sorted(SCHEDULES), help="pipeline schedule")
    g.add_argument("--micro-batches", dest="micro_batches", type=_positive_int, default=None,
                   help="micro-batches per step at the full batch size (default: batch/dp, one sequence each)")
    g.add_argument("--virtual-stages", type=int, default=None, help="stages per rank for interleaved-1f1b")
    g.add_argument("--timeout-s", type=_positive_float, default=300.0,
                   help="seconds a collective may wait before the run stops, naming the silent ranks")
    hidden_alias(p, "--microbatches", "--micro-batches")
    return p


def micro_batch_counts(cfg: TrainConfig, layout: dict) -> dict[int, int]:
    """Batch size -> micro-batches, for every batch size the run meets; ValueError naming an impossible one."""
    dp, pp = layout["dp"], layout["pp"]
    total = layout["micro_batches"] or max(1, cfg.batch_size // dp)
    if cfg.batch_size % (dp * total):
        raise ValueError(f"--batch-size {cfg.batch_size} must be divisible by --dp x --micro-batches = "
                         f"{dp} x {total} = {dp * total}")
    size = cfg.batch_size // (dp * total)  # sequences per micro-batch, fixed for the whole run
    counts = {}
    for step in range(1, min(cfg.max_steps, cfg.rampup + 1) + 1):
        b = batch_size_at(step, cfg.batch_size, cfg.batch_start, cfg.rampup)
        if b % (dp * size):
            raise ValueError(f"--batch-size-start/--batch-rampup-steps: step {step} of the ramp-up has a batch of {b} "
                             f"sequences, not a multiple of dp x micro-batch size = {dp} x {size}; pass "
                             f"--batch-size-start as a multiple of {dp * size} and a --batch-size that keeps "
                             "the ramp on such multiples, or --batch-rampup-steps 0")
        counts[b] = b // (dp * size)
    counts[cfg.batch_size] = total
    if layout["schedule"] == "interleaved-1f1b":  # torch's rule: m divisible by its number of rounds, max(1, m // pp)
        bad = [m for m in counts.values() if m % max(1, m // pp)]
        if bad:
            raise ValueError(f"--schedule interleaved-1f1b: {bad[0]} micro-batches is not a multiple of its "
                             f"{max(1, bad[0] // pp)} rounds of pp={pp}; choose --micro-batches (and a ramp) "
                             "whose counts are multiples of pp")
    return counts


def parse(argv=None) -> tuple[TrainConfig, dict]:
    """(TrainConfig, layout) from the command line, with every impossible layout and unsupported option named."""
    parser = build_parser()
    args = parse_args(parser, argv, "scale_up.train")
    layout = {k: getattr(args, k) for k in LAYOUT_FLAGS}
    layout["progress"] = args.progress
    options = train_options(args, skip=LAYOUT_FLAGS)
    try:
        cfg = TrainConfig(**options)
        check_layout(layout["dp"], layout["tp"], layout["pp"], int(os.environ.get("WORLD_SIZE", "1")))
        check_tp_degree(cfg.model_config(), layout["tp"])
        layout["counts"] = micro_batch_counts(cfg, layout)
    except ValueError as err:
        parser.error(str(err))
    defaults = TrainConfig()
    unknown = sorted(f.name for f in dataclasses.fields(TrainConfig) if f.name not in IMPLEMENTED
                     and getattr(cfg, f.name) != getattr(defaults, f.name))
    if unknown:
        parser.error(f"{', '.join('--' + n.replace('_', '-') for n in unknown)}: not implemented by scale_up.train "
                     "yet (refused rather than ignored); train with python -m glm_mini.train")
    if cfg.precision == "fp16":
        parser.error("--precision fp16: not implemented by scale_up.train (its dynamic loss scaler would need every "
                     "rank to agree on each overflow); use --precision bf16 or fp32")
    pp, v = layout["pp"], layout["virtual_stages"]
    interleaved = layout["schedule"] == "interleaved-1f1b"
    if v is not None and (v < 2 if interleaved else v != 1):
        expected = ("at least 2 stages per rank for interleaved-1f1b" if interleaved
                    else "1 (only interleaved-1f1b holds several stages per rank)")
        parser.error(f"--virtual-stages: expected {expected}, got {v}")
    stages = pp * ((v or 2) if interleaved else 1)
    if cfg.model_config().num_layers < stages:
        parser.error(f"--pp: {stages} pipeline stages need at least as many layers, the model has "
                     f"{cfg.model_config().num_layers}")
    return cfg, layout


class PipelineModel:
    """The training step's model (``glm_mini.training.step.StepModel``): this rank's share of the pipeline."""

    def __init__(self, pipe: Pipeline, tp_group, counts: dict[int, int]):
        self.pipe, self.tp_group, self.counts = pipe, tp_group, counts

    def set_egs_alpha(self, alpha: float) -> None:
        for stage in self.pipe.modules:
            if alpha != stage.config.embedding_gradient_shrink_alpha:
                stage.config = stage.config.replace(embedding_gradient_shrink_alpha=alpha)

    def forward_backward(self, batch: dict[str, Tensor], optimizer, scaler) -> float:
        self.pipe.zero_grad()
        return self.pipe.step(**batch, n_microbatches=self.counts[len(batch["input_ids"])])

    def grad_norms(self) -> dict[str, float]:
        return pipeline_grad_norms(self.pipe, self.tp_group)

    def clip(self, max_norm: float, total_norm: float) -> None:
        clip_gradients(nn.ModuleList(self.pipe.modules), max_norm, total_norm)

    def snapshot(self) -> dict[str, Tensor]:
        return {n: p.detach().clone() for n, p in counted_parameters(self.pipe, self.tp_group)}

    def update_norms(self, before: dict[str, Tensor]) -> dict[str, float]:
        return pipeline_update_norms(self.pipe, self.tp_group, before)

    def validation_loss(self, batches: list[dict[str, Tensor]]) -> float:
        """Loss-token mean over ``batches``, as ``glm_mini.train.evaluate`` computes it (forwards only)."""
        total, count = 0.0, 0
        for batch in batches:
            n = int(batch["loss_mask"].sum())
            total += self.pipe.evaluate(batch, self.counts[len(batch["input_ids"])]) * n
            count += n
        return total / count


def zero1(adamw: torch.optim.AdamW, dp_group) -> ZeroRedundancyOptimizer:
    """The same AdamW (same groups and hyper-parameters) with its state sharded over the data-parallel group."""
    first, *others = adamw.param_groups
    hyper = {k: first[k] for k in ("lr", "betas", "eps", "weight_decay")}
    zero = ZeroRedundancyOptimizer(first["params"], optimizer_class=torch.optim.AdamW, process_group=dp_group,
                                   **hyper)
    for group in others:
        zero.add_param_group(dict(group))
    return zero


def train_parallel(cfg: TrainConfig, layout: dict, device: torch.device) -> list[float]:
    """Train (or continue) the run in ``cfg.out`` on this rank's share of the layout; the losses of this call's
    steps (on every rank)."""
    from glm_mini.training.data import DataCursor, load_train_data, validation_batches

    out = _check_out_dir(cfg)  # every rank checks the same folder (a foreign one too), so every rank refuses alike
    dist.barrier()  # ... before rank 0 writes into it
    model_config = cfg.model_config()
    data = load_train_data(cfg.corpus, model_config.vocab_size, cfg.seq_len, cfg.use_mip, cfg.text_column)
    special = data.tokenizer.special
    objective = cfg.objective_config()
    val = validation_batches(data, cfg.val_batches, cfg.batch_size, cfg.seq_len, special, cfg.seed, objective)
    torch.manual_seed(cfg.seed)
    pipe, mesh = build_parallel_pipeline(GLM(model_config), layout["dp"], layout["tp"], layout["pp"],
                                         layout["schedule"], layout["counts"][cfg.batch_size],
                                         virtual_stages=layout["virtual_stages"], device=device,
                                         precision=cfg.precision)
    tp_group = mesh["tp"].get_group() if layout["tp"] > 1 else None
    model = PipelineModel(pipe, tp_group, layout["counts"])
    optimizer = build_adamw(nn.ModuleList(pipe.modules), cfg.lr, cfg.weight_decay)
    if layout["dp"] > 1:
        optimizer = zero1(optimizer, mesh["dp"].get_group())
    scaler = grad_scaler(cfg.precision, device)  # disabled: fp32 and bf16 need no loss scaling
    detector = SpikeDetector(cfg.spike_factor, cfg.spike_window)
    cursor = DataCursor(len(data.train), cfg.seed)
    objective_rng = random.Random(f"{cfg.seed}/objective")
    skip_ranges = parse_skip_ranges(cfg.skip_steps)
    coords = {dim: mesh.get_local_rank(dim) for dim in ("pp", "dp", "tp")} | {"tp_size": layout["tp"]}
    saved_layout = {k: v for k, v in layout.items() if k not in ("counts", "timeout_s", "progress")}
    checkpoints = out / "checkpoints"

    start = 0
    if cfg.resume:
        start, state = load_pipeline_checkpoint(pipe, optimizer, checkpoints, coords, saved_layout,
                                                same_layout_only=True)
        _check_same_run(state["config"], cfg, f"checkpoint {checkpoints} step {start}")
        detector.load_state_dict(state["spikes"])
        cursor.load_state_dict(state["data"])
        objective_rng.setstate(state["objective_rng"])
        set_rng_state(state["rng"])
    is_logger = dist.get_rank() == 0
    if is_logger:
        _write_config(out, cfg)
    log = MetricsLog(out, resume_step=start) if is_logger else None
    dist.barrier()

    def checkpoint(step: int) -> None:
        trainer = {"spikes": detector.state_dict(), "data": cursor.state_dict(),
                   "objective_rng": objective_rng.getstate(), "rng": rng_state(), "config": cfg.to_json()}
        save_pipeline_checkpoint(pipe, optimizer, checkpoints, step, coords, saved_layout, trainer,
                                 keep=cfg.keep_checkpoints)

    last = cfg.stop_after_step or cfg.max_steps
    losses = []
    for stage in pipe.modules:
        stage.train()
    bar = progress_bar(total=cfg.max_steps, initial=start, enabled=layout.get("progress") if is_logger else False,
                       desc=f"train dp{layout['dp']}xtp{layout['tp']}xpp{layout['pp']}", unit="step")
    try:
        for step in range(start + 1, last + 1):
            t0 = time.perf_counter()
            batch = next_batch(step, cfg, data, cursor, objective_rng, objective)
            if in_ranges(step, skip_ranges):
                bar.update(1)
                continue
            row = train_step(model, optimizer, scaler, detector, cfg, step, batch,
                             model_config.embedding_gradient_shrink_alpha, t0)
            row.update({k: layout[k] for k in ("dp", "tp", "pp")})
            if (cfg.eval_every and step % cfg.eval_every == 0) or step == last:
                row["val_loss"] = model.validation_loss(val)
            losses.append(row["loss"])
            if log is not None:
                log.write(row)
            if not math.isfinite(row["loss"]):  # the same loss on every rank: every rank stops here
                raise NonFiniteLoss(step, row["loss"], log.path if log is not None else None)
            bar.set_postfix(loss=f"{row['loss']:.3f}", refresh=False)
            bar.update(1)
            if (cfg.save_every and step % cfg.save_every == 0) or step == last:
                checkpoint(step)
    finally:
        bar.close()
        if log is not None:
            log.close()
    if is_logger and last == cfg.max_steps:
        from glm_mini.training.plots import save_training_plots

        save_training_plots(read_metrics(out), out / "plots.png")
    return losses


def main(argv=None) -> int:
    cfg, layout = parse(argv)
    torch.set_num_threads(1)
    try:
        device = rank_device(cfg.device)
        check_precision(cfg.precision, device)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    init_distributed(layout["timeout_s"], backend=backend_for(device))
    try:
        with fail_fast():
            losses = train_parallel(cfg, layout, device)
    except (ValueError, FileExistsError, FileNotFoundError, CheckpointError, PipelineCheckpointError) as err:
        kind = "" if isinstance(err, (NonFiniteLoss, PipelineCheckpointError)) else f"{type(err).__name__}: "
        print(f"error (rank {dist.get_rank()}): {kind}{err}", file=sys.stderr)
        return 2  # every rank meets the same error (same files, same broadcast loss): no one waits for the others
    rank = dist.get_rank()
    shutdown_distributed()
    if losses and rank == 0:
        print(f"{cfg.out}: {len(losses)} steps on dp{layout['dp']} x tp{layout['tp']} x pp{layout['pp']}, "
              f"loss {losses[-1]:.4f}")
    return 0


if __name__ == "__main__":
    end_worker(main())
