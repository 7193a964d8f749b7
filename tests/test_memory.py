"""Weight memory in FP16/INT8/INT4 (scale_up/memory.py) against the module and the figures of docs/glm130b_facts.md §4.4."""

import pytest
import torch

from glm_mini import GLM, PRESETS
from scale_up.memory import weight_bytes


def test_formula_on_a_small_model():
    model = GLM(PRESETS["nano"])
    h, f, n = 64, 176, 2
    linear = n * (3 * h * h + h * h + 2 * f * h + f * h)
    rows = n * (3 * h + h + 2 * f + h)
    total = PRESETS["nano"].num_parameters()
    assert weight_bytes(model) == 2 * total
    assert weight_bytes(model, 8) == 2 * (total - linear) + linear + 2 * rows
    assert weight_bytes(model, 4) == 2 * (total - linear) + linear // 2 + 2 * rows
    with pytest.raises(ValueError, match="bits: expected 16, 8 or 4, got 3"):
        weight_bytes(model, 3)


def test_glm_130b_matches_the_facts_file():
    """docs/glm130b_facts.md §4.4: FP16 ≈ 257.4 GB, INT8 ≈ 130.6 GB, INT4 ≈ 67.1 GB (that section leaves out the FP16 row scales)."""
    with torch.device("meta"):
        model = GLM(PRESETS["glm-130b"])
    assert round(weight_bytes(model) / 1e9, 1) == 257.4
    assert round(weight_bytes(model, 8) / 1e9, 1) == 130.6
    assert 67.1 <= weight_bytes(model, 4) / 1e9 < 67.3
