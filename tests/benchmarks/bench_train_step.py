"""Training-step time of glm_mini.GLM vs a plain causal pre-LN GPT of the same size, in the same process.

Both models: 6 layers, hidden 384, 6 heads, sequence 256, batch 8, fp32, vocab 8192, tied head, AdamW step
included. The GPT is the textbook baseline (learned absolute positions, pre-LN, GELU MLP with 4h inner, causal SDPA);
GLM adds what GLM-130B needs (bidirectional-prefix bool mask, RoPE, DeepNorm Post-LN, GeGLU with 8/3 h inner, so
the FFN has the same 8h^2 weights). Steps alternate between the two models so machine noise hits both alike; the
reported ratio is the median over rounds of GLM time / GPT time in the same round.
Run: ``make bench``. Target (issue 2): GLM <= 1.1x the GPT.
"""

import math
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from glm_mini import GLM, GLMConfig, prefix_causal_mask

LAYERS, HIDDEN, HEADS, SEQ, BATCH, VOCAB = 6, 384, 6, 256, 8, 8192
ROUNDS = 16


class GPTBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(HIDDEN), nn.LayerNorm(HIDDEN)
        self.qkv, self.proj = nn.Linear(HIDDEN, 3 * HIDDEN), nn.Linear(HIDDEN, HIDDEN)
        self.fc, self.fc_out = nn.Linear(HIDDEN, 4 * HIDDEN), nn.Linear(4 * HIDDEN, HIDDEN)

    def forward(self, x):
        b, s, h = x.shape
        q, k, v = self.qkv(self.ln_1(x)).split(h, dim=-1)
        q, k, v = (t.view(b, s, HEADS, h // HEADS).transpose(1, 2) for t in (q, k, v))  # [b, nh, s, d]
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, s, h)  # [b, s, h]
        x = x + self.proj(y)
        return x + self.fc_out(F.gelu(self.fc(self.ln_2(x))))


class PlainGPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(VOCAB, HIDDEN), nn.Embedding(SEQ, HIDDEN)
        self.blocks = nn.ModuleList(GPTBlock() for _ in range(LAYERS))
        self.ln_f = nn.LayerNorm(HIDDEN)

    def forward(self, ids):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for block in self.blocks:
            x = block(x)
        return F.linear(self.ln_f(x), self.wte.weight)


def _step_fn(model, forward):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(ids):
        logits = forward(ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def test_glm_train_step_vs_plain_gpt():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    config = GLMConfig(num_layers=LAYERS, hidden_size=HIDDEN, num_attention_heads=HEADS, inner_hidden_size=1024,
                       vocab_size=VOCAB, max_sequence_length=SEQ)
    glm, gpt = GLM(config), PlainGPT()
    n_glm, n_gpt = (sum(p.numel() for p in m.parameters()) for m in (glm, gpt))
    ids = torch.randint(0, VOCAB, (BATCH, SEQ))
    allowed = prefix_causal_mask(torch.randint(SEQ // 8, SEQ // 2, (BATCH,)), SEQ)  # [b, 1, s, s]
    steps = {
        "plain GPT (causal SDPA, pre-LN)": _step_fn(gpt, gpt),
        "GLM (prefix mask, RoPE, DeepNorm, GeGLU)": _step_fn(glm, lambda x: glm(x, attention_mask=allowed).logits),
    }
    times = {name: [] for name in steps}
    for rep in range(ROUNDS + 2):
        for name, step in steps.items():
            start = time.perf_counter()
            step(ids)
            if rep >= 2:  # two warm-up rounds
                times[name].append(time.perf_counter() - start)
    base_name = "plain GPT (causal SDPA, pre-LN)"
    tokens = BATCH * SEQ
    print(f"\nTraining step, fp32, {LAYERS}L h{HIDDEN} {HEADS}H s{SEQ} b{BATCH} V{VOCAB}, "
          f"{torch.get_num_threads()} threads, {ROUNDS} alternating rounds; "
          f"params GPT {n_gpt / 1e6:.2f} M, GLM {n_glm / 1e6:.2f} M")
    print(f"{'model':<44}{'median ms':>10}{'tok/s':>9}{'ratio (median of paired rounds)':>33}")
    for name, t in times.items():
        paired = statistics.median(a / b for a, b in zip(t, times[base_name]))
        med = statistics.median(t)
        print(f"{name:<44}{med * 1e3:>10.0f}{tokens / med:>9.0f}{paired:>33.3f}")
    assert all(math.isfinite(x) for t in times.values() for x in t)
