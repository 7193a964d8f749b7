"""GLM's blank-infilling objective: ``[MASK]``/``[gMASK]``/MIP samples, span sampling, the mixture, batches.

Files: ``sample`` (one sample: Part A/B, positions, attention, loss mask; packing; collate), ``spans`` (span lengths
and places), ``mixture`` (ObjectiveConfig, which objective each sequence gets, ``sample_batch``, MIP pairs),
``causal`` (the causal twin's samples; the share of supervised tokens that see right context).
Sources: paper §2.1-2.2; docs/glm130b_facts.md §2.1-2.4.
"""

from glm_mini.objective.causal import causal_mip_sample, causal_sample, right_context_share
from glm_mini.objective.mixture import (OBJECTIVES, PAPER_MASK_SHARE, TRAINING_OBJECTIVES, ObjectiveConfig,
                                        choose_objective, mip_pairs_from_records, objective_config, sample_batch,
                                        sample_mask_spans, sample_prefix_len, sample_row)
from glm_mini.objective.sample import (GLMSample, collate, glm_attention, gmask_sample, mask_sample, mip_sample,
                                       pack_samples)
from glm_mini.objective.spans import (MAX_SPAN_LENGTH, draw_span_length, mean_span_length, place_spans,
                                      right_neighbour_visible_share, sample_span_lengths, span_length_probs)
from glm_mini.special_tokens import SpecialTokens

__all__ = [
    "GLMSample", "MAX_SPAN_LENGTH", "OBJECTIVES", "ObjectiveConfig", "PAPER_MASK_SHARE", "SpecialTokens",
    "TRAINING_OBJECTIVES", "causal_mip_sample", "causal_sample", "choose_objective", "collate", "objective_config",
    "right_context_share",
    "draw_span_length", "glm_attention", "gmask_sample", "mask_sample", "mip_pairs_from_records", "mip_sample",
    "mean_span_length", "pack_samples", "place_spans", "right_neighbour_visible_share", "sample_batch",
    "sample_mask_spans", "sample_prefix_len", "sample_row", "sample_span_lengths", "span_length_probs",
]
