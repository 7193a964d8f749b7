"""Bad input to ``prefix_causal_mask``: a float, negative, too long or oddly shaped prefix is named, not turned into
a mask that silently attends where it should not; the edge prefixes 0 and seq_len give the causal and the full
mask."""

import pytest
import torch
from bad_input_cases import error, params, right, run

from glm_mini.masks import causal_mask, prefix_causal_mask


def mask(prefix, seq_len=4):
    return lambda ctx: prefix_causal_mask(prefix, seq_len)


CASES = [
    error("prefix-float", mask(torch.tensor([2.5])), ValueError, "prefix_lengths", "float32"),
    error("prefix-negative", mask(torch.tensor([2, -2])), ValueError, "prefix_lengths", "-2"),
    error("prefix-beyond-seq-len", mask(torch.tensor([5])), ValueError, "prefix_lengths", "seq_len=4"),
    error("prefix-bool", mask(torch.tensor([True])), ValueError, "prefix_lengths", "bool"),
    error("prefix-2d", mask(torch.tensor([[1, 2], [3, 4]])), ValueError, "prefix_lengths", "[2, 2]"),
    error("prefix-python-int", mask(3), TypeError, "prefix_lengths", "int"),
    error("seq-len-zero", mask(torch.tensor([0]), 0), ValueError, "seq_len"),
    error("seq-len-float", mask(torch.tensor([1]), 4.0), ValueError, "seq_len"),
    right("prefix-zero-is-causal", mask(torch.tensor([0])), lambda m, ctx: torch.equal(m, causal_mask(4, 4))),
    right("prefix-whole-sequence", mask(torch.tensor([4, 2])),
          lambda m, ctx: m[0].all() and torch.equal(m[1, 0, :, :2], torch.ones(4, 2, dtype=torch.bool))),
]


@pytest.mark.parametrize("case", params(CASES))
def test_masks_case(case):
    run(case, None)
