"""The tied output head: GLM-130B's logits reuse the word embedding, so the head is a module without parameters.

How it works
------------
GLM-130B has one vocabulary-sized matrix, the word embedding E ``[V, h]``; the output projection is tied to it
(docs/glm130b_facts.md §1.1; SAT ``glm130B_model.py`` computes ``F.linear(h, word_embeddings.weight)``):

    logits = h · shrink(E, α)ᵀ        h = final_layernorm(h_N) [b, s, h],  logits [b, s, V]

with embedding gradient shrink applied to E as well when ``shrink_logit_embedding_gradient`` is on (α = 1 leaves
the gradient alone; ``grad_shrink.py``). The head holds no weight of its own: ``GLM.forward`` hands it the
embedding's, so the state dict keeps only the official ``transformer.word_embeddings.weight``. Being a module makes
it a named part of the model that a transform can swap: tensor parallelism replaces it with its vocab-parallel twin
(``scale_up.tensor_parallel``), and a pipeline stage without it returns hidden states instead of logits.
"""

import torch.nn.functional as F
from torch import Tensor, nn

from .grad_shrink import shrink_gradient


class TiedOutputHead(nn.Module):
    """``logits = h · shrink(E, α)ᵀ`` for the embedding weight E it is given (no parameters of its own)."""

    def forward(self, h: Tensor, embedding_weight: Tensor, alpha: float = 1.0) -> Tensor:
        return F.linear(h, shrink_gradient(embedding_weight, alpha))  # [b, s, h] · [V, h]ᵀ -> [b, s, V]
