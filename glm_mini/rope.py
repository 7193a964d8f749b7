"""Rotary position embedding (RoPE) as GLM-130B applies it: 1-D over the whole head, or 2-D over its two halves.

How it works
------------
Each pair of channels (i, i + r/2) of a head is rotated by the angle ``position * inv_freq[i]`` with
``inv_freq[i] = base^(-2i/r)``, base 10000, r the rotated width. Pairing channel i with i + r/2 is the GPT-NeoX
"rotate-half" convention (not interleaved even/odd pairs); in einops terms the rotated axis is ``(half r)``, two
contiguous halves, where GPT-J's interleaved pairs would be ``(r pair)``:

    rope(x) = x * cos + rotate_half(x) * sin,     rotate_half([x1, x2]) = [-x2, x1]

- 1-D (GLM-130B, ``position_encoding_2d=False``): r = head dim (128 -> 64 frequencies), one position per token.
  Source: SwissArmyTransformer ``model/official/glm130B_model.py`` and ``position_embedding/rotary_embeddings.py``.
- 2-D (ChatGLM-6B): r = head dim / 2; the first half of each head rotates by the token position, the second half
  by the intra-span ("block") position. Source: ChatGLM-6B ``modeling_chatglm.py``. The original GLM had the same two
  position ids but embedded them with two learned absolute position tables instead (THUDM/GLM ``mpu/transformer.py``;
  docs/glm130b_facts.md §1.5); 2-D *rotary* positions are ChatGLM's.

Numerics: SAT builds the tables in fp16 when the model runs in fp16 (``inv_freq.half()``, fp16 positions), so in
fp16 the kit does the same to match the official logits; every other dtype builds them in fp32 and casts.
"""

import torch
from einops import rearrange, repeat
from torch import Tensor, nn

ROPE_BASE = 10000.0


def rotate_half(x: Tensor) -> Tensor:
    """[x1, x2] -> [-x2, x1] on the last dim: channel i is paired with channel i + r/2, the ``(half r)`` layout."""
    x1, x2 = x.chunk(2, dim=-1)  # plain chunk, not einops: called twice per layer per decoded token (bench_einops.py)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate x ``[b, s, nh, r]`` by the tables cos/sin ``[b, s, r]`` (one angle set per token, shared by heads)."""
    cos, sin = cos.unsqueeze(2), sin.unsqueeze(2)  # [b, s, 1, r]: broadcast over heads
    return x * cos + rotate_half(x) * sin


class RotaryEmbedding(nn.Module):
    """Turns position ids into cos/sin tables; ``inv_freq`` is a non-persistent buffer (not in the state dict)."""

    def __init__(self, head_dim: int, two_d: bool = False, base: float = ROPE_BASE):
        super().__init__()
        self.two_d = two_d
        self.rotary_dim = head_dim // 2 if two_d else head_dim
        self.base = base
        self.register_buffer("inv_freq", self._inv_freq(), persistent=False)

    def _inv_freq(self) -> Tensor:
        return 1.0 / (self.base ** (torch.arange(0, self.rotary_dim, 2, dtype=torch.float32) / self.rotary_dim))

    def reset_parameters(self) -> None:
        """Recompute ``inv_freq`` (needed after ``to_empty`` from the meta device)."""
        self.inv_freq.copy_(self._inv_freq().to(self.inv_freq.device))

    def tables(self, positions: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """cos, sin ``[b, s, r]`` for integer positions ``[b, s]``."""
        compute = torch.float16 if dtype == torch.float16 else torch.float32
        freqs = positions.to(compute).unsqueeze(-1) * self.inv_freq.to(compute)  # [b, s, r/2]
        angles = repeat(freqs, "b s f -> b s (half f)", half=2)  # [b, s, r]: channels i and i + r/2 share an angle
        return angles.cos().to(dtype), angles.sin().to(dtype)

    def forward(self, position_ids: Tensor, dtype: torch.dtype) -> tuple[tuple[Tensor, Tensor], ...]:
        """One (cos, sin) pair per rotated part: 1-D ``[b, s]`` ids give one, 2-D ``[b, 2, s]`` ids give two."""
        if self.two_d:
            return self.tables(position_ids[:, 0], dtype), self.tables(position_ids[:, 1], dtype)
        return (self.tables(position_ids, dtype),)


def apply_rope(x: Tensor, tables: tuple[tuple[Tensor, Tensor], ...]) -> Tensor:
    """Apply 1-D (one table) or 2-D (two tables, one per half of the head) RoPE to x ``[b, s, nh, d]``."""
    if len(tables) == 1:
        return apply_rotary(x, *tables[0])
    x1, x2 = rearrange(x, "b s nh (part r) -> part b s nh r", part=2)  # token-position part, block-position part
    return torch.cat((apply_rotary(x1, *tables[0]), apply_rotary(x2, *tables[1])), dim=-1)
