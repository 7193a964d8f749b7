"""Mask builders: True = may attend; prefix keys visible to all queries, the rest causal; cache-aware causal."""

import torch

from glm_mini import causal_mask, prefix_causal_mask


def test_causal_mask_with_past_keys():
    m = causal_mask(2, 5)  # two new queries at absolute positions 3 and 4
    assert m.shape == (1, 1, 2, 5)
    assert m[0, 0].tolist() == [[True, True, True, True, False], [True, True, True, True, True]]


def test_prefix_causal_mask_matches_its_definition():
    prefix = torch.tensor([0, 3, 6])
    m = prefix_causal_mask(prefix, 6)
    assert m.shape == (3, 1, 6, 6)
    for b in range(3):
        for i in range(6):
            for j in range(6):
                assert m[b, 0, i, j].item() == (j < prefix[b].item() or j <= i)
    assert torch.equal(m[0, 0], torch.ones(6, 6, dtype=torch.bool).tril()), "empty prefix = causal"
    assert m[2].all(), "a prefix covering everything = fully bidirectional"
