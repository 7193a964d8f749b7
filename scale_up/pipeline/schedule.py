"""One pipeline-parallel training step of GLM: this rank's stages, a ``torch.distributed.pipelining`` schedule, the
micro-batch loss and the tied-embedding sum.

How it works
------------
``build_pipeline(model, schedule, n_microbatches, group)`` gives rank r of the p ranks in ``group`` its stages:
stage r (GPipe, 1F1B), or stages r, r+p, …, r+(v−1)p (interleaved 1F1B, v stages per rank, Megatron's virtual
pipeline), each a ``GLMStage`` cut from a copy of the model by ``partition_layers``, wrapped in a ``PipelineStage``
(a ``RecordingStage`` when asked to record). ``Pipeline.step`` then runs one batch:

1. the schedule splits (input_ids, position_ids, attention_mask) and the masked targets into m micro-batches along
   the batch dimension, and runs forward and backward in its order (GPipe: all forwards then all backwards; 1F1B:
   p − r warm-up forwards on rank r, then one forward one backward, PipeDream-Flush as GLM-130B trained,
   docs/glm130b_facts.md §3); gradients accumulate over micro-batches without rescaling (loss.py);
2. the first and last stages sum their ``word_embeddings`` gradients (tied_embedding.py);
3. the summed micro-batch loss is broadcast from the last stage's rank so every rank returns the batch loss.

Combined with tensor parallelism (``tp_group``), every stage is first made this rank's TP shard with
``scale_up.apply_tensor_parallel`` (vocab-sharded logits, vocab-parallel loss); with data parallelism
(``dp_group``), each replica takes its slice of the batch, the loss divides by the GLOBAL loss-token count, and
gradients are summed over the replicas by a bucketed all-reduce (``data_parallel.py``), so the step equals one
process on the whole batch. ``mesh.py`` builds the groups.

The micro-batch count may change from step to step (the batch-size ramp-up keeps the micro-batch size and grows
their number, as Megatron's does): the pipeline keeps one schedule per count, over the same stage modules. 1F1B
needs at least as many micro-batches as stages to fill its warm-up; a step with fewer runs GPipe, whose forwards
and backwards compute the same gradients in another order. ``evaluate`` runs the forwards only, in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleGPipe, ScheduleInterleaved1F1B

from glm_mini import GLM
from glm_mini.training.precision import PRECISIONS, autocast

from ..tensor_parallel import apply_tensor_parallel

from .data_parallel import all_reduce_gradients
from .loss import MicroBatchLoss, count_loss_tokens, masked_targets
from .recording import Event, RecordingStage
from .stage_module import GLMStage, build_stage_module
from .tied_embedding import sum_tied_embedding_grads, tied_embedding_ranks

SCHEDULES = {"gpipe": ScheduleGPipe, "1f1b": Schedule1F1B, "interleaved-1f1b": ScheduleInterleaved1F1B}


class _Autocast(nn.Module):
    """A stage whose forward runs under the run's autocast (a no-op for fp32); the backward follows the forward's
    dtypes by itself, so the schedule's backward needs no context."""

    def __init__(self, stage: nn.Module, precision: str, device: torch.device):
        super().__init__()
        self.stage, self.precision, self.device = stage, precision, device

    def forward(self, *args):
        with autocast(self.precision, self.device):
            return self.stage(*args)


@dataclass
class Pipeline:
    """This rank's share of a pipeline: its stage modules (full-model parameter names) and their schedules."""

    modules: list[GLMStage]
    schedule_name: str
    n_microbatches: int  # the default micro-batch count
    loss_fn: MicroBatchLoss
    group: dist.ProcessGroup
    tie_group: dist.ProcessGroup | None
    last_stage_rank: int  # global rank holding the last stage
    device: torch.device
    stage_indices: list[int]
    events: list[Event] = field(default_factory=list)
    dp_group: dist.ProcessGroup | None = None
    record: bool = False
    precision: str = "fp32"  # "bf16": every stage's forward under autocast (glm_mini.training.precision)
    schedules: dict = field(default_factory=dict)  # micro-batch count -> schedule over this rank's stages

    @property
    def has_first(self) -> bool:
        return any(m.is_first for m in self.modules)

    @property
    def has_last(self) -> bool:
        return any(m.is_last for m in self.modules)

    @property
    def num_stages(self) -> int:
        return self.modules[0].num_stages

    def parameters(self):
        return [p for m in self.modules for p in m.parameters()]

    def named_parameters(self):
        """(full-model name, parameter) of this rank's stages; the tied embedding may appear twice."""
        return [(n, p) for m in self.modules for n, p in m.named_parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def schedule(self, n_microbatches: int | None = None):
        """The schedule for ``n_microbatches`` (default: the pipeline's), built on first use."""
        m = self.n_microbatches if n_microbatches is None else n_microbatches
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ValueError(f"n_microbatches: expected a positive int, got {m!r}")
        if m not in self.schedules:
            name = self.schedule_name
            if name == "1f1b" and m < self.num_stages:
                name = "gpipe"  # 1F1B cannot fill its warm-up; GPipe computes the same gradients
            extra = {"events": self.events, "rank": dist.get_rank()} if self.record else {}
            stage_cls = RecordingStage if self.record else PipelineStage
            stages = [stage_cls(_Autocast(module, self.precision, self.device), index, self.num_stages,
                                self.device, group=self.group, **extra)
                      for module, index in zip(self.modules, self.stage_indices)]
            cls = SCHEDULES[name]
            self.schedules[m] = cls(stages if name == "interleaved-1f1b" else stages[0], m, loss_fn=self.loss_fn,
                                    scale_grads=False)
        return self.schedules[m]

    def _run(self, batch: dict[str, Tensor], n_microbatches: int | None, backward: bool) -> Tensor:
        """One pass of the schedule over this replica's slice of ``batch``; the summed loss, on every pp rank."""
        self.loss_fn.total_tokens = count_loss_tokens(batch["loss_mask"])
        keys = ("input_ids", "position_ids", "attention_mask", "targets", "loss_mask")
        tensors = [batch[k].to(self.device) for k in keys]
        if self.dp_group is not None:  # this replica's slice of the batch: [B, ...] -> [B/dp, ...]
            dp, d = dist.get_world_size(self.dp_group), dist.get_rank(self.dp_group)
            if tensors[0].shape[0] % dp:
                raise ValueError(f"input_ids: batch size {tensors[0].shape[0]} is not divisible by dp={dp}")
            tensors = [t.chunk(dp)[d] for t in tensors]
        input_ids, position_ids, attention_mask, targets, loss_mask = tensors
        args = (input_ids, position_ids, attention_mask) if self.has_first else ()
        target = masked_targets(targets, loss_mask) if self.has_last else None
        losses: list[Tensor] = []
        schedule = self.schedule(n_microbatches)
        if backward:
            schedule.step(*args, target=target, losses=losses)
        else:
            schedule.eval(*args, target=target, losses=losses)
        loss = torch.stack(losses).sum().detach() if self.has_last else torch.zeros((), device=self.device)
        loss = loss.to(torch.float32)
        dist.broadcast(loss, src=self.last_stage_rank, group=self.group)
        if self.dp_group is not None:
            dist.all_reduce(loss, group=self.dp_group)
        return loss

    def step(self, input_ids: Tensor, position_ids: Tensor, attention_mask: Tensor, targets: Tensor,
             loss_mask: Tensor, n_microbatches: int | None = None) -> float:
        """Forward and backward over one batch (every rank passes the same batch); returns the batch loss."""
        batch = {"input_ids": input_ids, "position_ids": position_ids, "attention_mask": attention_mask,
                 "targets": targets, "loss_mask": loss_mask}
        loss = self._run(batch, n_microbatches, backward=True)
        sum_tied_embedding_grads(self.modules, self.tie_group)
        if self.dp_group is not None:
            all_reduce_gradients(self.parameters(), self.dp_group)
        return float(loss)

    @torch.no_grad()
    def evaluate(self, batch: dict[str, Tensor], n_microbatches: int | None = None) -> float:
        """The batch loss (loss-token mean) with forwards only, in eval mode (no dropout); the modes are restored."""
        modes = [m.training for m in self.modules]
        for m in self.modules:
            m.eval()
        try:
            return float(self._run(batch, n_microbatches, backward=False))
        finally:
            for m, mode in zip(self.modules, modes):
                m.train(mode)


def build_pipeline(model: GLM, schedule: str = "1f1b", n_microbatches: int = 4,
                   group: dist.ProcessGroup | None = None, virtual_stages: int | None = None,
                   record: bool = False, tie_group: dist.ProcessGroup | None | str = "create",
                   tp_group: dist.ProcessGroup | None = None, dp_group: dist.ProcessGroup | None = None,
                   device: torch.device | str | None = None, precision: str = "fp32") -> Pipeline:
    """This rank's ``Pipeline`` for ``model`` over the ranks of ``group`` (default: the whole world).

    ``tie_group="create"`` makes the two-rank group of the first and last stage with ``dist.new_group`` (every rank
    of the world must then call ``build_pipeline``); pass a group (or None) when a device mesh made it already.
    ``device``: where this rank's stages run (default: the model's device); NCCL needs a CUDA device.
    ``precision``: "fp32" or "bf16" (autocast around every stage's forward).
    """
    if precision not in PRECISIONS[:2]:
        raise ValueError(f"build_pipeline: precision must be 'fp32' or 'bf16', got {precision!r} (fp16 needs a loss "
                         "scaler that agrees on overflows across ranks, which the pipeline does not have)")
    if schedule not in SCHEDULES:
        raise ValueError(f"build_pipeline: schedule must be one of {sorted(SCHEDULES)}, got {schedule!r}")
    if isinstance(n_microbatches, bool) or not isinstance(n_microbatches, int) or n_microbatches < 1:
        raise ValueError(f"build_pipeline: n_microbatches must be a positive int, got {n_microbatches!r}")
    interleaved = schedule == "interleaved-1f1b"
    v = (2 if interleaved else 1) if virtual_stages is None else virtual_stages
    if interleaved and (not isinstance(v, int) or v < 2):
        raise ValueError(f"build_pipeline: virtual_stages must be an int >= 2 for interleaved-1f1b, got {v!r}")
    if not interleaved and v != 1:
        raise ValueError(f"build_pipeline: virtual_stages must be 1 for schedule {schedule!r}, got {v!r}")
    group = group or dist.group.WORLD
    p, rank = dist.get_world_size(group), dist.get_rank(group)
    pp_ranks = dist.get_process_group_ranks(group)
    num_stages = p * v
    if model.config.num_layers < num_stages:
        raise ValueError(f"build_pipeline: the model has num_layers={model.config.num_layers}, fewer than the "
                         f"{num_stages} pipeline stages ({p} ranks x {v} stages per rank)")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    modules, indices = [], list(range(rank, num_stages, p))
    for stage_index in indices:
        module = build_stage_module(model, stage_index, num_stages).to(device)  # on the device before TP: NCCL
        if tp_group is not None:  # compares the ranks' weights with a collective on it
            apply_tensor_parallel(module, tp_group, gather_logits=False)
        modules.append(module)
    tie_ranks = tied_embedding_ranks(pp_ranks, num_stages)
    if tie_group == "create":
        tie_group = dist.new_group(tie_ranks) if len(tie_ranks) == 2 else None
    if dist.get_rank() not in tie_ranks:
        tie_group = None
    last_rank = pp_ranks[(num_stages - 1) % p]
    pipe = Pipeline(modules, schedule, n_microbatches, MicroBatchLoss(tp_group=tp_group), group, tie_group, last_rank,
                    device, indices, dp_group=dp_group, record=record, precision=precision)
    pipe.schedule()  # the default schedule, so a schedule that cannot run says so now
    return pipe
