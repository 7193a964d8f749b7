"""glm_mini.training.update_norms: per-group update sizes ‖θ' − θ‖ and the relative update ‖Δθ‖/‖θ‖."""

import math

import torch

from glm_mini import GLM, PRESETS
from glm_mini.training.update_norms import snapshot, update_norms


def test_update_norms_measure_the_change_per_group_and_relative_to_the_weights():
    torch.manual_seed(0)
    model = GLM(PRESETS["nano"])
    before = snapshot(model)
    assert update_norms(model, before)["total"] == 0.0
    with torch.no_grad():
        model.transformer.word_embeddings.weight[0, :4] += 3.0  # ‖Δ‖ = √(4·9) = 6
        model.transformer.layers["1"].mlp.dense_4h_to_h.bias[:1] -= 8.0  # ‖Δ‖ = 8
    norms = update_norms(model, before)
    assert math.isclose(norms["embedding"], 6.0, rel_tol=1e-5)
    assert math.isclose(norms["layer_1"], 8.0, rel_tol=1e-5) and norms["layer_0"] == 0.0
    assert math.isclose(norms["total"], 10.0, rel_tol=1e-5)
    weight_norm = math.sqrt(sum(float(t.pow(2).sum()) for t in before.values()))
    assert math.isclose(norms["ratio"], 10.0 / weight_norm, rel_tol=1e-5)
