"""GLMConfig validation, derived quantities and presets."""

import math

import pytest

from glm_mini import PRESETS, GLMConfig


@pytest.mark.parametrize("changes, field", [
    (dict(hidden_size=64, num_attention_heads=5), "num_attention_heads"),  # heads must divide hidden
    (dict(hidden_size=36, num_attention_heads=4), "num_attention_heads"),  # head dim 9 is odd: no RoPE pairs
    (dict(hidden_size=72, num_attention_heads=4, position_encoding_2d=True), "position_encoding_2d"),  # 18 % 4
    (dict(num_layers=0), "num_layers"),
    (dict(hidden_size=-8), "hidden_size"),
    (dict(vocab_size=0), "vocab_size"),
    (dict(max_sequence_length=0), "max_sequence_length"),
    (dict(inner_hidden_size=0), "inner_hidden_size"),
    (dict(normalization="rmsnorm"), "normalization"),
    (dict(hidden_dropout=1.0), "hidden_dropout"),
    (dict(attention_dropout=-0.1), "attention_dropout"),
    (dict(layernorm_epsilon=0.0), "layernorm_epsilon"),
    (dict(embedding_gradient_shrink_alpha=0.0), "embedding_gradient_shrink_alpha"),
    (dict(init_method_std=0.0), "init_method_std"),
    (dict(official_qkv_init_tp=3), "official_qkv_init_tp"),  # 4 heads cannot split over 3 ranks
    (dict(normalization="post-ln", deepnorm_scale_residual=False), "deepnorm_scale_residual"),  # only for deepnorm
    (dict(normalization="pre-ln", deepnorm_scale_init=False), "deepnorm_scale_init"),
])
def test_invalid_configs_name_the_field(changes, field):
    with pytest.raises(ValueError, match=rf"GLMConfig\.{field}"):
        GLMConfig(**changes)


def test_replace_validates_and_rejects_unknown_fields():
    with pytest.raises(ValueError, match="no field"):
        PRESETS["nano"].replace(n_layer=3)
    with pytest.raises(ValueError, match="num_attention_heads"):
        PRESETS["nano"].replace(num_attention_heads=3)


def test_130b_preset_is_the_official_configuration():
    c = PRESETS["glm-130b"]
    assert (c.num_layers, c.hidden_size, c.num_attention_heads, c.inner_hidden_size, c.vocab_size,
            c.max_sequence_length, c.position_encoding_2d) == (70, 12288, 96, 32768, 150528, 2048, False)
    assert c.head_dim == 128 and c.ffn_hidden_size == 32768
    assert c.num_parameters() == 128_697_794_560


def test_deepnorm_constants_are_the_adam_derived_half_powers():
    c = PRESETS["glm-130b"]
    assert math.isclose(c.residual_alpha, math.sqrt(140)) and math.isclose(c.residual_alpha, 11.832, abs_tol=1e-3)
    assert math.isclose(c.deepnorm_beta, 140 ** -0.5) and math.isclose(c.deepnorm_beta, 0.0845, abs_tol=1e-4)
    for scheme in ("post-ln", "pre-ln", "sandwich"):
        assert c.replace(normalization=scheme).residual_alpha == 1.0


def test_inner_size_defaults_to_four_hidden():
    assert GLMConfig(hidden_size=32, num_attention_heads=2).ffn_hidden_size == 128


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        PRESETS["nano"].num_layers = 3


def test_presets_are_read_only():
    with pytest.raises(TypeError):
        PRESETS["nano"] = PRESETS["mini"]  # type: ignore[index]
    assert PRESETS["nano"].num_layers == 2
