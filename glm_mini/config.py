"""GLMConfig: one frozen dataclass from the "nano" test model to the 130B model, and the preset registry.

How it works
------------
The first ten fields carry the official GLM-130B argument names (SwissArmyTransformer ``arguments.py`` and
``configs/model_glm_130b.sh`` in THUDM/GLM-130B), so a user can copy the official launch script's numbers straight in.
The rest are the kit's own switches for the stability lab (normalization scheme, embedding gradient shrink,
initialization). Every field's type is checked, never coerced (``True`` is not an int, ``"no"`` is not a bool,
``inf``/``nan`` are not numbers here): a wrong type raises ``TypeError``, an invalid value or combination
``ValueError``, both naming the field at construction time.

Sources: GLM-130B paper §2.1 (DeepNorm α=(2N)^½, β=(2N)^-½), §3 (embedding gradient shrink α=0.1); the official
training code (LargeScale ``megatron/model/utils.py``) for the Adam-derived ½ powers, which differ from the DeepNet
paper's decoder-only (2N)^¼ / (8N)^-¼.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Mapping

NORMALIZATIONS = ("deepnorm", "post-ln", "pre-ln", "sandwich")


# The type each field's annotation asks for. bool is a subclass of int in Python, so ints exclude bools explicitly;
# a float field also takes an int (1 for 1.0), never a bool or a string. A field with another annotation is unchecked.
_ANNOTATION_TYPES = {"int": int, "int | None": (int, None), "bool": bool, "float": float, "str": str}
_TYPE_NAMES = {int: "an int", (int, None): "an int or None", bool: "a bool (True or False)",
               float: "a number (float or int)", str: "a str"}


def _is_instance(value, kind) -> bool:
    if kind == (int, None):
        return value is None or _is_instance(value, int)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)


@dataclass(frozen=True)
class GLMConfig:
    # --- official GLM-130B argument names -------------------------------------------------------------------
    num_layers: int = 2
    hidden_size: int = 64
    num_attention_heads: int = 4
    inner_hidden_size: int | None = None  # GeGLU inner size; dense_h_to_4h outputs 2x this. None -> 4*hidden (SAT)
    vocab_size: int = 1024
    max_sequence_length: int = 128
    position_encoding_2d: bool = False  # False: 1-D RoPE over the whole head (GLM-130B); True: 2-D RoPE (ChatGLM-6B)
    hidden_dropout: float = 0.0
    attention_dropout: float = 0.0
    layernorm_epsilon: float = 1e-5
    # --- attention numerics (official default: on) -----------------------------------------------------------
    apply_query_key_layer_scaling: bool = True  # q/(sqrt(d)*(l+1)), scores*(l+1) in fp32 before softmax
    # --- the kit's switches ---------------------------------------------------------------------------------
    normalization: str = "deepnorm"  # one of NORMALIZATIONS
    embedding_gradient_shrink_alpha: float = 1.0  # gradient x alpha into the embedding; 1.0 = off, 0.1 = GLM-130B
    shrink_logit_embedding_gradient: bool = True  # also shrink the gradient through the tied output projection
    init_method_std: float = 0.02  # normal init std for the non-DeepNorm schemes (Megatron style)
    official_qkv_init_tp: int = 0  # 0: beta on the true value rows; k>0: the training code's quirk at TP=k

    def __post_init__(self):
        def need(ok: bool, field: str, message: str):
            if not ok:
                raise ValueError(f"GLMConfig.{field}: {message} (got {getattr(self, field)!r})")

        # types first, checked and never coerced: True is not 1, "no" is not False, 2.0 is not 2
        for f in fields(self):
            value, kind = getattr(self, f.name), _ANNOTATION_TYPES.get(f.type)
            if kind is not None and not _is_instance(value, kind):
                raise TypeError(f"GLMConfig.{f.name}: expected {_TYPE_NAMES[kind]}, got {type(value).__name__} "
                                f"{value!r}")
            if kind is float and not math.isfinite(value):
                raise ValueError(f"GLMConfig.{f.name}: expected a finite number, got {value!r}")
        for name in ("num_layers", "hidden_size", "num_attention_heads", "vocab_size", "max_sequence_length"):
            need(getattr(self, name) > 0, name, "must be a positive int")
        if self.inner_hidden_size is not None:
            need(self.inner_hidden_size > 0, "inner_hidden_size", "must be a positive int or None")
        need(self.hidden_size % self.num_attention_heads == 0, "num_attention_heads",
             f"must divide hidden_size={self.hidden_size}")
        head_dim = self.hidden_size // self.num_attention_heads
        if self.position_encoding_2d:
            need(head_dim % 4 == 0, "position_encoding_2d",
                 f"2-D RoPE rotates two halves of each head, so head dim {head_dim} must be divisible by 4")
        else:
            need(head_dim % 2 == 0, "num_attention_heads", f"RoPE needs an even head dim, got head dim {head_dim}")
        for name in ("hidden_dropout", "attention_dropout"):
            need(0.0 <= getattr(self, name) < 1.0, name, "must be in [0, 1)")
        need(self.layernorm_epsilon > 0, "layernorm_epsilon", "must be positive")
        need(self.normalization in NORMALIZATIONS, "normalization", f"must be one of {NORMALIZATIONS}")
        need(0.0 < self.embedding_gradient_shrink_alpha <= 1.0, "embedding_gradient_shrink_alpha",
             "must be in (0, 1]")
        need(self.init_method_std > 0, "init_method_std", "must be positive")
        need(self.official_qkv_init_tp >= 0, "official_qkv_init_tp", "must be an int >= 0")
        if self.official_qkv_init_tp:
            need(self.num_attention_heads % self.official_qkv_init_tp == 0, "official_qkv_init_tp",
                 f"must divide num_attention_heads={self.num_attention_heads}")

    # --- derived quantities -----------------------------------------------------------------------------------
    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def ffn_hidden_size(self) -> int:
        """GeGLU inner size: ``dense_h_to_4h`` outputs twice this, ``dense_4h_to_h`` takes this."""
        return self.inner_hidden_size if self.inner_hidden_size is not None else 4 * self.hidden_size

    @property
    def residual_alpha(self) -> float:
        """α multiplying the residual branch: (2N)^½ for DeepNorm (paper §2.1), 1 for the other schemes."""
        return math.sqrt(2 * self.num_layers) if self.normalization == "deepnorm" else 1.0

    @property
    def deepnorm_beta(self) -> float:
        """β, the Xavier gain on FFN, value and attention-output weights under DeepNorm: (2N)^-½ (paper §2.1)."""
        return (2 * self.num_layers) ** -0.5

    def num_parameters(self) -> int:
        """Analytic parameter count with the tied output head (docs/glm130b_facts.md §1.1); tests check it against the module."""
        h, f, v = self.hidden_size, self.ffn_hidden_size, self.vocab_size
        norms_per_layer = 4 if self.normalization == "sandwich" else 2
        per_layer = (
            (h * 3 * h + 3 * h)  # query_key_value
            + (h * h + h)  # attention.dense
            + (h * 2 * f + 2 * f)  # dense_h_to_4h
            + (f * h + h)  # dense_4h_to_h
            + norms_per_layer * 2 * h  # LayerNorm weight + bias
        )
        return v * h + self.num_layers * per_layer + 2 * h  # + final_layernorm

    def replace(self, **changes) -> GLMConfig:
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"GLMConfig has no field(s) {sorted(unknown)}")
        return replace(self, **changes)


PRESETS: Mapping[str, GLMConfig] = MappingProxyType({
    # tests: tiny and fast, still 2-layer so the layer-scaling coefficient (l+1) varies
    "nano": GLMConfig(num_layers=2, hidden_size=64, num_attention_heads=4, inner_hidden_size=176,
                      vocab_size=1024, max_sequence_length=256),
    # notebooks: sized by measurement (tests/benchmarks/bench_preset.py): 400 steps of 8 x 256 tokens at lr 3e-3
    # (13 GFLOP per step, 29 GFLOP/s sustained for 180 s) take it below the Kneser-Ney bigram's validation
    # nats/token; inner = 8/3 * 128. No dropout: a few hundred steps never overfit.
    "mini": GLMConfig(num_layers=4, hidden_size=128, num_attention_heads=4, inner_hidden_size=344,
                      vocab_size=2048, max_sequence_length=256, embedding_gradient_shrink_alpha=0.1),
    # the official model: THUDM/GLM-130B configs/model_glm_130b.sh; paper Tab.11 (dropout, eps, init std, EGS)
    "glm-130b": GLMConfig(num_layers=70, hidden_size=12288, num_attention_heads=96, inner_hidden_size=32768,
                          vocab_size=150528, max_sequence_length=2048, position_encoding_2d=False,
                          hidden_dropout=0.1, attention_dropout=0.1, layernorm_epsilon=1e-5,
                          embedding_gradient_shrink_alpha=0.1, init_method_std=0.0052, official_qkv_init_tp=4),
})  # read-only: a preset changed in one notebook or test must not change it for every other caller
