"""glm_mini: the readable single-device GLM-130B, from a 2-layer test model to the 130B configuration.

Map: ``config`` (GLMConfig, PRESETS) · ``model`` (GLM) · ``layer`` (DeepNorm and the other schemes) ·
``attention`` (fused QKV, RoPE, FP32 softmax) · ``rope`` · ``mlp`` (GeGLU) · ``masks`` · ``grad_shrink`` (EGS) ·
``init`` (DeepNorm init) · ``tokenizer`` (GLMTokenizer) · ``data/`` (the generated EN/ZH corpus, real corpora, packing;
imported as ``glm_mini.data``, since ``datasets`` takes a second to import).
``special_tokens`` (SpecialTokens) · ``objective/`` (blank infilling: [MASK]/[gMASK]/MIP samples, ``sample_batch``)
· ``train`` + ``training/`` (the recipe, checkpoints, exact resume) · ``generate`` + ``decoding`` (GLM-130B's
blank-filling rules, KV cache, beam search) · ``evaluate`` + ``zero_shot`` (BPB, cloze, multiple choice, held-out
tasks) · ``cli/`` (the tools' shared flag vocabulary, ``--config`` files, progress bars) · ``exercises/`` (the
notebooks' checks).
"""

from .config import NORMALIZATIONS, PRESETS, GLMConfig
from .grad_shrink import shrink_gradient
from .masks import causal_mask, prefix_causal_mask
from .model import GLM, GLMOutput
from .special_tokens import SpecialTokens
from .tokenizer import GLMTokenizer

__all__ = ["GLM", "GLMConfig", "GLMOutput", "GLMTokenizer", "NORMALIZATIONS", "PRESETS", "SpecialTokens",
           "causal_mask", "default_tokenizer", "prefix_causal_mask", "shrink_gradient"]


def __getattr__(name):
    """``glm_mini.default_tokenizer`` lives with the data it is trained on (``glm_mini.data.corpus_tokenizer``); it
    is imported on first use, because importing ``glm_mini.data`` imports ``datasets`` (about a second)."""
    if name == "default_tokenizer":
        from .data.corpus_tokenizer import default_tokenizer

        return default_tokenizer
    raise AttributeError(f"module 'glm_mini' has no attribute {name!r}")
