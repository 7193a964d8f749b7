"""Bad input to GLMConfig: wrong types are refused (never coerced), meaningless values named, right values accepted."""

import dataclasses
import math

import numpy as np
import pytest
from bad_input_cases import error, params, right, run

from glm_mini import PRESETS, GLMConfig

NANO = PRESETS["nano"]
INF, NAN = float("inf"), float("nan")


def cfg(**changes):
    return lambda ctx: GLMConfig(**changes)


CASES = [
    error("2d-as-string-no", cfg(position_encoding_2d="no"), TypeError, "GLMConfig.position_encoding_2d", "'no'"),
    error("2d-as-int", cfg(position_encoding_2d=1), TypeError, "GLMConfig.position_encoding_2d"),
    error("layers-as-bool", cfg(num_layers=True), TypeError, "GLMConfig.num_layers", "bool"),
    error("layers-as-float", cfg(num_layers=2.0), TypeError, "GLMConfig.num_layers", "float"),
    error("layers-as-string", cfg(num_layers="2"), TypeError, "GLMConfig.num_layers"),
    error("hidden-as-numpy-int", cfg(hidden_size=np.int64(64)), TypeError, "GLMConfig.hidden_size", "int64"),
    error("vocab-none", cfg(vocab_size=None), TypeError, "GLMConfig.vocab_size"),
    error("inner-as-bool", cfg(inner_hidden_size=True), TypeError, "GLMConfig.inner_hidden_size"),
    error("inner-as-float", cfg(inner_hidden_size=176.0), TypeError, "GLMConfig.inner_hidden_size"),
    error("max-seq-negative", cfg(max_sequence_length=-1), ValueError, "GLMConfig.max_sequence_length"),
    error("init-std-inf", cfg(init_method_std=INF), ValueError, "GLMConfig.init_method_std", "inf"),
    error("init-std-nan", cfg(init_method_std=NAN), ValueError, "GLMConfig.init_method_std", "nan"),
    error("init-std-negative", cfg(init_method_std=-0.02), ValueError, "GLMConfig.init_method_std"),
    error("eps-inf", cfg(layernorm_epsilon=INF), ValueError, "GLMConfig.layernorm_epsilon"),
    error("eps-as-string", cfg(layernorm_epsilon="1e-5"), TypeError, "GLMConfig.layernorm_epsilon"),
    error("eps-negative", cfg(layernorm_epsilon=-1e-5), ValueError, "GLMConfig.layernorm_epsilon"),
    error("dropout-nan", cfg(hidden_dropout=NAN), ValueError, "GLMConfig.hidden_dropout"),
    error("dropout-as-bool", cfg(hidden_dropout=True), TypeError, "GLMConfig.hidden_dropout"),
    error("attn-dropout-above-one", cfg(attention_dropout=1.5), ValueError, "GLMConfig.attention_dropout"),
    error("egs-inf", cfg(embedding_gradient_shrink_alpha=INF), ValueError, "GLMConfig.embedding_gradient_shrink"),
    error("egs-above-one", cfg(embedding_gradient_shrink_alpha=1.5), ValueError, "GLMConfig.embedding_gradient"),
    error("norm-wrong-case", cfg(normalization="DeepNorm"), ValueError, "GLMConfig.normalization", "deepnorm"),
    error("norm-none", cfg(normalization=None), TypeError, "GLMConfig.normalization"),
    error("layer-scaling-yes", cfg(apply_query_key_layer_scaling="yes"), TypeError,
          "GLMConfig.apply_query_key_layer_scaling"),
    error("shrink-logit-as-int", cfg(shrink_logit_embedding_gradient=0), TypeError,
          "GLMConfig.shrink_logit_embedding_gradient"),
    error("qkv-tp-negative", cfg(official_qkv_init_tp=-1), ValueError, "GLMConfig.official_qkv_init_tp"),
    error("qkv-tp-bool", cfg(official_qkv_init_tp=True), TypeError, "GLMConfig.official_qkv_init_tp"),
    error("heads-exceed-hidden", cfg(hidden_size=64, num_attention_heads=128), ValueError,
          "GLMConfig.num_attention_heads"),
    error("head-dim-one", cfg(hidden_size=8, num_attention_heads=8), ValueError, "GLMConfig.num_attention_heads"),
    error("unknown-field", cfg(n_layer=3), TypeError, "n_layer"),
    error("replace-bool", lambda ctx: NANO.replace(num_layers=True), TypeError, "GLMConfig.num_layers"),
    error("replace-unknown", lambda ctx: NANO.replace(n_layer=3), ValueError, "n_layer"),
    error("assign-frozen", lambda ctx: setattr(NANO, "num_layers", 3), dataclasses.FrozenInstanceError,
          "num_layers"),
    right("eps-int-for-float", cfg(layernorm_epsilon=1), lambda c, ctx: c.layernorm_epsilon == 1),
    right("std-numpy-float", cfg(init_method_std=np.float64(0.01)), lambda c, ctx: c.init_method_std == 0.01),
    right("replace-2d", lambda ctx: NANO.replace(position_encoding_2d=True),
          lambda c, ctx: c.position_encoding_2d is True and c.num_layers == NANO.num_layers),
    right("inner-none-default", cfg(hidden_size=32, num_attention_heads=2, inner_hidden_size=None),
          lambda c, ctx: c.ffn_hidden_size == 128),
    right("asdict-round-trip", lambda ctx: GLMConfig(**dataclasses.asdict(PRESETS["glm-130b"])),
          lambda c, ctx: c == PRESETS["glm-130b"]),
    right("dropout-zero", cfg(hidden_dropout=0, attention_dropout=0.0),
          lambda c, ctx: c.hidden_dropout == 0 and math.isfinite(c.residual_alpha)),
]


@pytest.mark.parametrize("case", params(CASES))
def test_config_case(case):
    run(case, None)
