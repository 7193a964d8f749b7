"""One GLM transformer layer, with the four normalization schemes the stability lab compares.

How it works
------------
h is the layer input, α = (2N)^½ for DeepNorm and 1 otherwise (``GLMConfig.residual_alpha``):

- ``deepnorm`` (GLM-130B, paper §2.1; SAT ``glm130B_model.py``). The residual branch is the *normalized* input:
      x = LN_in(h);   h1 = α·x + Attn(x);   y = LN_post(h1);   out = α·y + GeGLU(y)
  The next layer's LN_in completes LN(α·y + GeGLU(y)), i.e. DeepNorm(x) = LN(α·x + f(x)); after the last layer the
  final LayerNorm does. Layer 0's LN_in normalizes the raw embedding (docs/glm130b_facts.md §1.3).
- ``post-ln``: the same graph with α = 1 (Post-LN, plus an LN on the embedding).
- ``pre-ln``:   h1 = h + Attn(LN_in(h));   out = h1 + GeGLU(LN_post(h1))
- ``sandwich`` (CogView): h1 = h + LN_3(Attn(LN_in(h)));   out = h1 + LN_4(GeGLU(LN_post(h1)))
  GLM-130B tried Sandwich-LN and saw it diverge (docs/glm130b_facts.md §2.6).
"""

from torch import Tensor, nn

from .attention import SelfAttention
from .config import GLMConfig
from .mlp import GeGLU


class GLMLayer(nn.Module):
    def __init__(self, config: GLMConfig, layer_number: int):
        super().__init__()
        h, eps = config.hidden_size, config.layernorm_epsilon
        self.layer_number = layer_number
        self.normalization = config.normalization
        self.alpha = config.residual_alpha
        self.input_layernorm = nn.LayerNorm(h, eps=eps)
        self.attention = SelfAttention(h, config.num_attention_heads, layer_number, config.attention_dropout,
                                       config.hidden_dropout, config.apply_query_key_layer_scaling)
        self.post_attention_layernorm = nn.LayerNorm(h, eps=eps)
        self.mlp = GeGLU(h, config.ffn_hidden_size, config.hidden_dropout)
        if self.normalization == "sandwich":  # SAT's names for the extra sandwich norms
            self.third_layernorm = nn.LayerNorm(h, eps=eps)
            self.fourth_layernorm = nn.LayerNorm(h, eps=eps)

    def forward(self, h: Tensor, rope, allowed: Tensor, kv_cache=None):
        if self.normalization in ("deepnorm", "post-ln"):
            x = self.input_layernorm(h)
            attn, kv = self.attention(x, rope, allowed, kv_cache)
            y = self.post_attention_layernorm(self.alpha * x + attn)
            return self.alpha * y + self.mlp(y), kv
        attn, kv = self.attention(self.input_layernorm(h), rope, allowed, kv_cache)
        if self.normalization == "sandwich":
            h1 = h + self.third_layernorm(attn)
            return h1 + self.fourth_layernorm(self.mlp(self.post_attention_layernorm(h1))), kv
        h1 = h + attn  # pre-ln
        return h1 + self.mlp(self.post_attention_layernorm(h1)), kv
