"""Pipeline parallelism for the unchanged ``glm_mini.GLM`` on ``torch.distributed.pipelining``.

Map: ``partition`` (the paper's layer split, embedding and head counted as layers) · ``stage_module`` (a stage = a copy
of the model with the other layers deleted, names unchanged) · ``loss`` (micro-batch losses that sum to the batch's)
· ``tied_embedding`` (first/last stage gradients summed) · ``schedule`` (GPipe, 1F1B, interleaved 1F1B: one training
step) · ``recording`` (the executed schedule, bubble measured vs (p−1)/(m+p−1)) · ``checkpoint`` (per-stage files,
resharded by name) · ``example_batch`` (a seeded GLM-shaped batch) · ``__main__`` (the torchrun demo).
"""

from .loss import IGNORE_INDEX, MicroBatchLoss, masked_targets
from .partition import partition_layers, stage_costs
from .recording import Event, RecordingStage, bubble_formula, load_events, measured_bubble, save_events
from .schedule import SCHEDULES, Pipeline, build_pipeline
from .stage_module import GLMStage, build_stage_module
from .tied_embedding import sum_tied_embedding_grads, tied_embedding_ranks

__all__ = ["Event", "GLMStage", "IGNORE_INDEX", "MicroBatchLoss", "Pipeline", "RecordingStage", "SCHEDULES",
           "bubble_formula", "build_pipeline", "build_stage_module", "load_events", "masked_targets",
           "measured_bubble", "partition_layers", "save_events", "stage_costs", "sum_tied_embedding_grads",
           "tied_embedding_ranks"]
