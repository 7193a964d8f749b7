"""GeGLU feed-forward network, GLM-130B style.

How it works
------------
``dense_h_to_4h`` maps h -> 2f in one matrix; its output is chunked into halves [x1; x2] and the **second** half
goes through the exact (erf) GELU:

    GeGLU(y) = dense_4h_to_h( x1 * gelu(x2) ),     [x1, x2] = chunk(dense_h_to_4h(y), 2)

The paper's eq. 4 names the halves the other way round; the chunk order above is the official code's
(SAT ``glm130B_model.py``, LargeScale ``glu_activations.py``) and is what the released weights need.
f = 32768 = 8/3 * h for GLM-130B, so the FFN keeps the 8h^2 weights of a 4h GELU MLP.
"""

import torch.nn.functional as F
from torch import Tensor, nn


class GeGLU(nn.Module):
    def __init__(self, hidden_size: int, ffn_hidden_size: int, dropout: float = 0.0):
        super().__init__()
        self.dense_h_to_4h = nn.Linear(hidden_size, 2 * ffn_hidden_size)
        self.dense_4h_to_h = nn.Linear(ffn_hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, y: Tensor) -> Tensor:
        x1, x2 = self.dense_h_to_4h(y).chunk(2, dim=-1)  # each [b, s, f]
        return self.dropout(self.dense_4h_to_h(x1 * F.gelu(x2)))
