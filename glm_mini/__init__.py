"""glm_mini: the readable single-device GLM-130B, from a 2-layer test model to the 130B configuration.

Map: ``config`` (GLMConfig, PRESETS) · ``model`` (GLM) · ``layer`` (DeepNorm and the other schemes) ·
``attention`` (fused QKV, RoPE, FP32 softmax) · ``rope`` · ``mlp`` (GeGLU) · ``masks`` · ``grad_shrink`` (EGS) ·
``init`` (DeepNorm init) · ``tokenizer`` (GLMTokenizer) · ``data/`` (the generated EN/ZH corpus, real corpora, packing;
imported as ``glm_mini.data``, since ``datasets`` takes a second to import).
``special_tokens`` (SpecialTokens) · ``objective/`` (blank infilling: [MASK]/[gMASK]/MIP samples, ``sample_batch``).
"""

from .config import NORMALIZATIONS, PRESETS, GLMConfig
from .grad_shrink import shrink_gradient
from .masks import causal_mask, prefix_causal_mask
from .model import GLM, GLMOutput
from .special_tokens import SpecialTokens
from .tokenizer import GLMTokenizer, default_tokenizer

__all__ = ["GLM", "GLMConfig", "GLMOutput", "GLMTokenizer", "NORMALIZATIONS", "PRESETS", "causal_mask",
           "default_tokenizer", "prefix_causal_mask", "shrink_gradient"]
__all__ += ["SpecialTokens"]
