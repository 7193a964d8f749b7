"""scale_up: the unchanged glm_mini model carried to full size with tensor/pipeline parallelism and INT4/INT8.

It imports ``glm_mini`` and changes no line of it: parallelism and quantization are applied from outside, by module
name (DESIGN.md §6). Map:

- ``quantization/``: the official weight-only INT8/INT4 format, bit for bit, ``quantize_(model, bits)``;
- ``tp_layout`` (official TP shards of a state dict, reshard), ``tensor_parallel/`` (f/g operators, parallel layers,
  ``apply_tensor_parallel``), ``sharded_checkpoint``, ``fault_tolerance``, ``generate`` (TP decoding of text
  prompts) + ``generation_io`` (prompt files, the tokenizer, JSONL answers);
- ``pipeline/`` (stages by module deletion, GPipe/1F1B/interleaved schedules, the bucketed data-parallel
  all-reduce, the DP×TP×PP mesh, per-rank checkpoints), ``train`` (glm_mini's trainer and training step on DP×TP×PP);
- ``devices`` (``--device``: one GPU per rank, NCCL only with CUDA), ``safe_load`` (every user file read with
  ``weights_only=True``), ``collective_save`` (per-rank checkpoint files that every rank agrees on before and after
  writing);
- ``memory`` (weight bytes), ``gpus`` and ``plan`` (memory and compute plans for the 130B configuration);
- full scale: ``dry_run`` (every rank's part of the 130B model on ``meta``), ``quantized_parallel`` (INT8/INT4
  column/row-parallel linears), ``convert`` (``python -m scale_up.convert``, streaming), ``rank_loading`` (one official
  shard per rank), ``icetk_tokenizer`` (GLM-130B's icetk ids from a local ``ice_text.model``), ``peak_rss``,
  ``gpu_check`` (every CUDA path against its reference, one table);
- ``exercises/``: the checks of notebooks 08-11's exercises.
"""

from .tensor_parallel import apply_tensor_parallel, vocab_parallel_cross_entropy

__all__ = ["apply_tensor_parallel", "vocab_parallel_cross_entropy"]
