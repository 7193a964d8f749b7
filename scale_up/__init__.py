"""scale_up: the unchanged glm_mini model carried to full size with tensor/pipeline parallelism and INT4/INT8.

It imports ``glm_mini`` and changes no line of it: parallelism and quantization are applied from outside, by module
name (DESIGN.md §6). So far: ``memory`` (weight bytes in FP16/INT8/INT4). The parallel and quantized paths arrive with their
own issues.

``quantization``: the official weight-only INT8/INT4 format, bit for bit, with ``quantize_(model, bits)``.
"""

# Tensor and data parallelism (issue 10): tp_layout, tensor_parallel, sharded_checkpoint, fault_tolerance, generate.
from .tensor_parallel import apply_tensor_parallel, vocab_parallel_cross_entropy

# Full scale (issue 13): dry_run (every rank on meta), quantized_parallel (INT8/INT4 column/row-parallel linears),
# convert (python -m scale_up.convert, streaming), rank_loading (one official shard per rank), peak_rss, gpu_check.
