"""glm_mini/architecture.py: parameter counts by component, the QKV row layout read through the forward's own split,
and the three pictures built from a model's objects."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from glm_mini import GLM, PRESETS  # noqa: E402
from glm_mini.architecture import (COMPONENTS, architecture_rows, component_of, draw_architecture,  # noqa: E402
                                   draw_block, draw_qkv_layout, parameter_groups, qkv_row_roles)


def test_parameter_groups_add_up_to_the_analytic_count_at_130b():
    with torch.device("meta"):
        model = GLM(PRESETS["glm-130b"])
    groups = parameter_groups(model)
    assert list(groups) == list(COMPONENTS) and sum(groups.values()) == 128_697_794_560
    h, f = 12288, 32768
    assert groups["attention QKV"] == 70 * (3 * h * h + 3 * h)  # docs/glm130b_facts.md §1.1: QKV 453,021,696 a layer
    assert groups["FFN h→4h (GeGLU)"] == 70 * (2 * f * h + 2 * f)
    assert groups["LayerNorms"] == 70 * 4 * h + 2 * h
    with pytest.raises(ValueError, match="not a parameter of glm_mini.GLM"):
        component_of("transformer.layers.0.mlp.gate")


def test_qkv_rows_are_grouped_per_head():
    attention = GLM(PRESETS["nano"]).transformer.layers["0"].attention  # 4 heads of 16
    roles, heads = qkv_row_roles(attention)
    d = attention.head_dim
    assert roles[:3 * d] == ["q"] * d + ["k"] * d + ["v"] * d and heads[:3 * d] == [0] * (3 * d)
    assert roles[3 * d] == "q" and heads[3 * d] == 1 and heads[-1] == 3
    third = len(roles) // 3
    assert set(roles[2 * third:]) == {"q", "k", "v"}, "chunk(3)[2] is not the value rows (facts §1.6)"


def test_the_map_reads_names_shapes_and_files_off_the_model():
    with torch.device("meta"):
        model = GLM(PRESETS["glm-130b"])
    rows = {r["name"]: r for r in architecture_rows(model)}
    assert rows["transformer.word_embeddings"]["shape"] == "[150,528, 12,288]"
    assert rows["….attention.query_key_value"]["shape"] == "[36,864, 12,288]"
    assert rows["….mlp.dense_4h_to_h"]["file"] == "glm_mini/mlp.py"
    assert rows["RoPE (no parameters)"]["file"] == "glm_mini/rope.py"
    assert rows["head (tied)"]["shape"] == rows["transformer.word_embeddings"]["shape"]


def test_the_pictures_draw():
    model = GLM(PRESETS["nano"])
    for draw, arg in ((draw_architecture, model), (draw_block, model.transformer.layers["1"]),
                      (draw_qkv_layout, model.transformer.layers["1"].attention)):
        ax = draw(arg)
        assert ax.texts or ax.images, draw.__name__
        plt.close(ax.figure)
    ax = draw_block(model.transformer.layers["1"])
    assert any("α = 2.00" in t.get_text() for t in ax.texts), "labelled with the layer's own alpha, sqrt(2*2)"
    plt.close(ax.figure)
