"""Megatron-style tensor parallelism for the unchanged glm_mini.GLM, on torch.distributed (gloo on CPU, NCCL on GPU).

Map: ``mappings`` (the f/g operators) · ``layers`` (column/row/vocab-parallel) · ``cross_entropy`` (vocab-parallel
loss) · ``apply`` (the plan keyed by module name and ``apply_tensor_parallel``). The shard layout itself is
``scale_up.tp_layout``.
"""

from .apply import apply_tensor_parallel, tensor_parallel_plan
from .cross_entropy import vocab_parallel_cross_entropy
from .layers import ColumnParallelLinear, RowParallelLinear, VocabParallelEmbedding, VocabParallelHead
from .mappings import copy_to_tensor_parallel, gather_from_tensor_parallel, reduce_from_tensor_parallel

__all__ = ["ColumnParallelLinear", "RowParallelLinear", "VocabParallelEmbedding", "VocabParallelHead",
           "apply_tensor_parallel", "copy_to_tensor_parallel", "gather_from_tensor_parallel",
           "reduce_from_tensor_parallel", "tensor_parallel_plan", "vocab_parallel_cross_entropy"]
