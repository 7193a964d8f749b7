"""The causal twin's samples, and how much of a batch's supervision can read text to its right.

How it works
------------
A *causal twin* is the same GLM trained as a left-to-right language model: every self-supervised row is a
``[gMASK]`` row with an empty prefix (``gmask_sample(tokens, 0)``: ``[gMASK, sop] + x[:-1]`` in, ``[gMASK] + x`` out,
everything causal), which is the layout the paper's unidirectional ablation and the kit's ``cloze_prompt(...,
unidirectional=True)`` read (GLM-130B paper §2.1, Fig. 2; docs/glm130b_facts.md §6). Its instruction (MIP) rows read
``[gMASK, sop] + prompt + answer`` left to right and, as GLM's MIP samples do, are supervised on the answer and the
closing ``[eop]`` only. Same data, same steps, same model: only the attention and the blanks differ.

``right_context_share`` measures what the objective mix means for a small model: the share of supervised tokens
that can attend to a token placed *after* them in the text (a key whose position id is larger than the query's).
A ``[MASK]`` span's Part B sits at its ``[MASK]``'s position and sees Part A to the right of the blank; a ``[gMASK]``
suffix, an MIP answer and a causal row see only earlier positions. So

    right-context share = Σ_i m_i · [∃ j: A_ij ∧ pos_j > pos_i] / Σ_i m_i

with ``m`` the loss mask and ``A`` the attention mask (True = may attend); 2-D positions use their first row.
"""

from __future__ import annotations

from torch import Tensor

from glm_mini.objective.sample import GLMSample, _id_list, gmask_sample
from glm_mini.special_tokens import SpecialTokens


def causal_sample(tokens, special: SpecialTokens, two_d: bool = False) -> GLMSample:
    """The whole text generated left to right: a ``[gMASK]`` sample with an empty prefix."""
    return gmask_sample(tokens, 0, special, two_d)


def causal_mip_sample(prompt, answer, special: SpecialTokens, two_d: bool = False) -> GLMSample:
    """An instruction pair read left to right, ``[gMASK, sop] + prompt + answer`` in, supervised on ``answer + [eop]``."""
    prompt_ids, answer_ids = _id_list(prompt, "prompt"), _id_list(answer, "answer")
    if not answer_ids:
        raise ValueError("answer: expected at least one token, got 0")
    sample = gmask_sample(prompt_ids + answer_ids + [special.eop], 0, special, two_d)
    sample.loss_mask[: len(prompt_ids) + 1] = False  # targets [gMASK] + prompt: not supervised
    return sample


def right_context_share(batch: dict[str, Tensor]) -> float:
    """Share of a batch's supervised tokens that may attend to a later text position (module docstring)."""
    positions = batch["position_ids"]
    if positions.dim() == 3:  # [B, 2, L] -> [B, L]: the position in the text is the first row
        positions = positions[:, 0]
    allowed = batch["attention_mask"][:, 0]  # [B, 1, L, L] -> [B, L, L]
    later = positions[:, None, :] > positions[:, :, None]  # [B, L(query), L(key)]
    sees_right = (allowed & later).any(dim=-1)  # [B, L]
    supervised = batch["loss_mask"]
    total = int(supervised.sum())
    if total == 0:
        raise ValueError("batch: its loss_mask selects no token, so no share can be computed")
    return float((sees_right & supervised).sum()) / total


__all__ = ["causal_mip_sample", "causal_sample", "right_context_share"]
