"""The causal twin's samples, --objective/--mask-share, and the right-context share of a batch."""

import random

import pytest
import torch

from glm_mini.objective import (PAPER_MASK_SHARE, SpecialTokens, causal_mip_sample, causal_sample, gmask_sample,
                                mask_sample, mip_sample, objective_config, pack_samples, right_context_share,
                                sample_batch, collate)
from glm_mini.train import TrainConfig, build_parser

SPECIAL = SpecialTokens(mask=100, gmask=101, smask=102, eod=103, sop=104, eop=105, eos=2, pad=0)


def test_causal_sample_is_everything_left_to_right():
    s = causal_sample([10, 11, 12, 13], SPECIAL)
    assert s.input_ids.tolist() == [101, 104, 10, 11, 12]
    assert s.targets.tolist() == [101, 10, 11, 12, 13]
    assert s.loss_mask.tolist() == [False, True, True, True, True]
    # causal: row i sees exactly columns 0..i
    assert torch.equal(s.attention_mask, torch.ones(5, 5, dtype=torch.bool).tril())


def test_causal_mip_sample_supervises_the_answer_and_eop_only():
    s = causal_mip_sample([10, 11], [20, 21], SPECIAL)
    assert s.input_ids.tolist() == [101, 104, 10, 11, 20, 21]
    assert s.targets.tolist() == [101, 10, 11, 20, 21, 105]
    assert s.loss_mask.tolist() == [False, False, False, True, True, True]
    assert len(s) == len(mip_sample([10, 11], [20, 21], SPECIAL))  # same room in a packed row as GLM's MIP
    assert torch.equal(s.attention_mask, torch.ones(6, 6, dtype=torch.bool).tril())


def test_objective_config_maps_the_flags():
    assert objective_config().gmask_prob == pytest.approx(1 - PAPER_MASK_SHARE)
    assert objective_config("glm", 0.5).gmask_prob == pytest.approx(0.5)
    causal = objective_config("causal")
    assert causal.causal and causal.gmask_prob == 1.0
    with pytest.raises(ValueError, match="mask_share"):
        objective_config("causal", 0.3)
    with pytest.raises(ValueError, match="mask_share"):
        objective_config("glm", 1.5)
    with pytest.raises(ValueError, match="objective"):
        objective_config("bert")


def test_causal_batches_hold_no_bidirectional_token_and_no_blank():
    rng = random.Random(0)
    windows = [torch.arange(200, 264) for _ in range(6)]
    pairs = [([300, 301, 302], [400, 401])]
    batch = sample_batch(windows, 64, SPECIAL, rng, objective_config("causal", mip_ratio=0.5), pairs)
    assert not (batch["input_ids"] == SPECIAL.mask).any()
    causal = torch.ones(64, 64, dtype=torch.bool).tril()
    assert not (batch["attention_mask"][:, 0] & ~causal).any()  # no query sees a later key
    assert right_context_share(batch) == 0.0


def test_right_context_share_counts_mask_targets_that_see_text_after_them():
    tokens = [10, 11, 12, 13, 14, 15]
    masked = mask_sample(tokens, [(1, 3)], SPECIAL)  # "10 [MASK] 13 14 15" + [sop] 11 12: all 3 targets see 13..15
    assert right_context_share(collate([masked])) == 1.0
    at_end = mask_sample(tokens, [(4, 6)], SPECIAL)  # the blank is the end of the text: nothing to its right
    assert right_context_share(collate([at_end])) == 0.0
    suffix = gmask_sample(tokens, 2, SPECIAL)
    assert right_context_share(collate([suffix])) == 0.0
    packed = pack_samples([masked, suffix], len(masked) + len(suffix), SPECIAL)  # 3 of 3 + 4 targets
    assert right_context_share(collate([packed])) == pytest.approx(3 / 7)


def test_trainer_flags_reach_the_config():
    args = build_parser().parse_args(["--max-steps", "2", "--out", "x", "--objective", "causal"])
    assert args.objective == "causal" and args.mask_share is None
    assert TrainConfig(objective="causal").objective_config().causal
    assert TrainConfig(mask_share=0.5).objective_config().gmask_prob == pytest.approx(0.5)
    with pytest.raises(ValueError, match="TrainConfig.mask_share"):
        TrainConfig(mask_share=-0.1)
