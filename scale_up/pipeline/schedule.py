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
gradients are summed over the replicas, so the step equals one process on the whole batch. ``mesh.py`` builds the
groups.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import Tensor
from torch.distributed.pipelining import PipelineStage, Schedule1F1B, ScheduleGPipe, ScheduleInterleaved1F1B

from glm_mini import GLM

from ..tensor_parallel import apply_tensor_parallel

from .loss import MicroBatchLoss, count_loss_tokens, masked_targets
from .recording import Event, RecordingStage
from .stage_module import GLMStage
from .tied_embedding import sum_tied_embedding_grads, tied_embedding_ranks

SCHEDULES = {"gpipe": ScheduleGPipe, "1f1b": Schedule1F1B, "interleaved-1f1b": ScheduleInterleaved1F1B}


@dataclass
class Pipeline:
    """This rank's share of a pipeline: its stage modules (full-model parameter names) and the schedule."""

    modules: list[GLMStage]
    schedule: object
    loss_fn: MicroBatchLoss
    group: dist.ProcessGroup
    tie_group: dist.ProcessGroup | None
    last_stage_rank: int  # global rank holding the last stage
    events: list[Event] = field(default_factory=list)
    dp_group: dist.ProcessGroup | None = None

    @property
    def has_first(self) -> bool:
        return any(m.is_first for m in self.modules)

    @property
    def has_last(self) -> bool:
        return any(m.is_last for m in self.modules)

    def parameters(self):
        return [p for m in self.modules for p in m.parameters()]

    def named_parameters(self):
        """(full-model name, parameter) of this rank's stages; the tied embedding may appear twice."""
        return [(n, p) for m in self.modules for n, p in m.named_parameters()]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = None

    def step(self, input_ids: Tensor, position_ids: Tensor, attention_mask: Tensor, targets: Tensor,
             loss_mask: Tensor) -> float:
        """Forward and backward over one batch (every rank passes the same batch); returns the batch loss."""
        self.loss_fn.total_tokens = count_loss_tokens(loss_mask)
        if self.dp_group is not None:  # this replica's slice of the batch: [B, ...] -> [B/dp, ...]
            dp, d = dist.get_world_size(self.dp_group), dist.get_rank(self.dp_group)
            if input_ids.shape[0] % dp:
                raise ValueError(f"input_ids: batch size {input_ids.shape[0]} is not divisible by dp={dp}")
            input_ids, position_ids, attention_mask, targets, loss_mask = (
                t.chunk(dp)[d] for t in (input_ids, position_ids, attention_mask, targets, loss_mask))
        args = (input_ids, position_ids, attention_mask) if self.has_first else ()
        target = masked_targets(targets, loss_mask) if self.has_last else None
        losses: list[Tensor] = []
        self.schedule.step(*args, target=target, losses=losses)
        sum_tied_embedding_grads(self.modules, self.tie_group)
        loss = torch.stack(losses).sum().detach() if self.has_last else torch.zeros(())
        loss = loss.to(torch.float32)
        dist.broadcast(loss, src=self.last_stage_rank, group=self.group)
        if self.dp_group is not None:
            for p in self.parameters():
                if p.grad is not None:
                    dist.all_reduce(p.grad, group=self.dp_group)
            dist.all_reduce(loss, group=self.dp_group)
        return float(loss)


def build_pipeline(model: GLM, schedule: str = "1f1b", n_microbatches: int = 4,
                   group: dist.ProcessGroup | None = None, virtual_stages: int | None = None,
                   record: bool = False, tie_group: dist.ProcessGroup | None | str = "create",
                   tp_group: dist.ProcessGroup | None = None, dp_group: dist.ProcessGroup | None = None) -> Pipeline:
    """This rank's ``Pipeline`` for ``model`` over the ranks of ``group`` (default: the whole world).

    ``tie_group="create"`` makes the two-rank group of the first and last stage with ``dist.new_group`` (every rank
    of the world must then call ``build_pipeline``); pass a group (or None) when a device mesh made it already.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"build_pipeline: schedule must be one of {sorted(SCHEDULES)}, got {schedule!r}")
    if not isinstance(n_microbatches, int) or n_microbatches < 1:
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
    device = next(model.parameters()).device
    events: list[Event] = []
    modules, stages = [], []
    for stage_index in range(rank, num_stages, p):
        module = GLMStage(model, stage_index, num_stages)
        if tp_group is not None:
            apply_tensor_parallel(module, tp_group, gather_logits=False)
        extra = {"events": events, "rank": dist.get_rank()} if record else {}
        stage_cls = RecordingStage if record else PipelineStage
        stages.append(stage_cls(module, stage_index, num_stages, device, group=group, **extra))
        modules.append(module)
    loss_fn = MicroBatchLoss(tp_group=tp_group)
    cls = SCHEDULES[schedule]
    sched = cls(stages if interleaved else stages[0], n_microbatches, loss_fn=loss_fn, scale_grads=False)
    tie_ranks = tied_embedding_ranks(pp_ranks, num_stages)
    if tie_group == "create":
        tie_group = dist.new_group(tie_ranks) if len(tie_ranks) == 2 else None
    if dist.get_rank() not in tie_ranks:
        tie_group = None
    last_rank = pp_ranks[(num_stages - 1) % p]
    return Pipeline(modules, sched, loss_fn, group, tie_group, last_rank, events, dp_group)
