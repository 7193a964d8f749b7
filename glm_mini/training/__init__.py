"""The pieces of GLM-130B's training recipe that ``glm_mini.train`` puts together, one concept per file.

``schedule`` (LR warm-up + cosine to 10%, batch-size ramp-up, EGS α ramp) · ``optimizer`` (AdamW groups) ·
``precision`` (fp32 / bf16 / fp16 + loss scaling) · ``grad_norms`` (per-module norms, clipping) · ``update_norms``
(update sizes per module) · ``spikes``
(loss-spike detection, skipped data ranges) · ``checkpoint`` (atomic save/resume) · ``metrics`` (metrics.jsonl,
unigram baseline) · ``plots`` · ``data`` (packed splits, resumable data position, validation batches) · ``infill``
(greedy infilling of [MASK] blanks, to look at what a model learned).
"""
