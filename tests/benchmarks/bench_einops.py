"""What einops costs: GLM with the einops head split and RoPE halves vs the same model on plain view/split/chunk.

``glm_mini/attention.py`` reads the fused QKV output with ``rearrange(.., "b s (nh qkv d) -> qkv b s nh d")`` and
``glm_mini/rope.py`` names its two halves ``(half r)``; einops turns each pattern into the same view/permute calls
the kit used before, plus a little Python per call (parsing is cached). The baseline here is that earlier code:
``PlainSelfAttention`` (``view`` + ``split`` + ``transpose``) and ``PlainRotaryEmbedding`` (``chunk``/``cat``),
swapped into a copy of the very same model by class, so weights, inputs and every other op are shared.

Two workloads, where Python overhead matters least and most:
- a training step (forward + backward + AdamW), fp32, ``bench_train_step.py``'s model (6 layers, hidden 384) on a
  smaller batch (2 × 128 tokens);
- DECODE_STEPS decoding steps with a KV cache on the ``mini`` preset (batch 1, 64 cached tokens): tiny matmuls, so
  any per-call overhead shows.
Both run alternately for ROUNDS rounds after warm-up; the ratio is the median over rounds of einops time / plain
time in the same round. Outputs are checked equal (the layouts are the same, so bit for bit).
Run: ``make bench``.
"""

import copy
import statistics
import time

import torch
import torch.nn.functional as F

from glm_mini import GLM, PRESETS, GLMConfig, prefix_causal_mask
from glm_mini.attention import SelfAttention, official_attention, sdpa_attention
from glm_mini.rope import RotaryEmbedding

ROUNDS = 20
DECODE_STEPS = 16  # decoding steps per timed sample


def _plain_rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def _plain_rotary(x, cos, sin):
    cos, sin = cos.unsqueeze(2), sin.unsqueeze(2)  # [b, s, 1, r]
    return x * cos + _plain_rotate_half(x) * sin


def _plain_rope(x, tables):
    if len(tables) == 1:
        return _plain_rotary(x, *tables[0])
    x1, x2 = x.chunk(2, dim=-1)  # each [b, s, nh, d/2]
    return torch.cat((_plain_rotary(x1, *tables[0]), _plain_rotary(x2, *tables[1])), dim=-1)


class PlainRotaryEmbedding(RotaryEmbedding):
    def tables(self, positions, dtype):
        compute = torch.float16 if dtype == torch.float16 else torch.float32
        freqs = positions.to(compute).unsqueeze(-1) * self.inv_freq.to(compute)  # [b, s, r/2]
        angles = torch.cat((freqs, freqs), dim=-1)  # [b, s, r]
        return angles.cos().to(dtype), angles.sin().to(dtype)


class PlainSelfAttention(SelfAttention):
    """The kit's attention before einops: view/split/transpose, same math."""

    def forward(self, x, rope, allowed, kv_cache=None):
        b, s, _ = x.shape
        d = self.head_dim
        qkv = self.query_key_value(x).view(b, s, -1, 3 * d)  # [b, s, nh, 3d]
        q, k, v = qkv.split(d, dim=-1)  # each [b, s, nh, d]
        q, k = _plain_rope(q, rope), _plain_rope(k, rope)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # each [b, nh, s, d]
        if kv_cache is not None:
            k = torch.cat((kv_cache[0], k), dim=2)  # [b, nh, t, d]
            v = torch.cat((kv_cache[1], v), dim=2)
        if q.dtype == torch.float32:
            ctx = sdpa_attention(q, k, v, allowed)
        else:
            ctx = official_attention(q, k, v, allowed, coeff=self.coeff)
        ctx = ctx.transpose(1, 2).reshape(b, s, -1)  # [b, s, h]
        return self.output_dropout(self.dense(ctx)), (k, v)


def plain_copy(model: GLM) -> GLM:
    """A deep copy of ``model`` whose attention and RoPE modules run the plain-torch code."""
    twin = copy.deepcopy(model)
    for module in twin.modules():
        if type(module) is SelfAttention:
            module.__class__ = PlainSelfAttention
        elif type(module) is RotaryEmbedding:
            module.__class__ = PlainRotaryEmbedding
    return twin


def _paired_ratio(fast, base, warmup=3):
    t_fast, t_base = [], []
    for rep in range(ROUNDS + warmup):
        for fn, sink in ((fast, t_fast), (base, t_base)):
            start = time.perf_counter()
            fn()
            if rep >= warmup:
                sink.append(time.perf_counter() - start)
    ratios = sorted(a / b for a, b in zip(t_fast, t_base))
    return statistics.median(ratios), ratios[len(ratios) // 4], ratios[3 * len(ratios) // 4], \
        statistics.median(t_fast), statistics.median(t_base)


def _train_step(model, ids, allowed, vocab):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        logits = model(ids, attention_mask=allowed).logits
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def test_einops_costs_nothing_measurable():
    torch.manual_seed(0)
    torch.set_num_threads(1)  # shared 2-core machine: one thread keeps both sides' noise alike
    rows = []

    config = GLMConfig(num_layers=6, hidden_size=384, num_attention_heads=6, inner_hidden_size=1024,
                       vocab_size=8192, max_sequence_length=256)
    model = GLM(config)
    twin = plain_copy(model)
    ids = torch.randint(0, config.vocab_size, (2, 128))
    allowed = prefix_causal_mask(torch.randint(16, 64, (2,)), 128)  # [b, 1, s, s]
    with torch.no_grad():
        assert torch.equal(model(ids, attention_mask=allowed).logits, twin(ids, attention_mask=allowed).logits)
    rows.append(("train step, 6L h384 s128 b2", *_paired_ratio(_train_step(model, ids, allowed, config.vocab_size),
                                                               _train_step(twin, ids, allowed, config.vocab_size))))

    mini = GLM(PRESETS["mini"]).eval()
    mini_twin = plain_copy(mini)
    prompt = torch.randint(0, PRESETS["mini"].vocab_size, (1, 64))
    with torch.no_grad():
        cache = mini(prompt, use_cache=True).past_key_values
        plain_cache = mini_twin(prompt, use_cache=True).past_key_values
        nxt = torch.tensor([[7]])
        pos = torch.tensor([[64]])
        assert torch.equal(mini(nxt, position_ids=pos, past_key_values=cache).logits,
                           mini_twin(nxt, position_ids=pos, past_key_values=plain_cache).logits)
        def decode(m, past):
            return lambda: [m(nxt, position_ids=pos, past_key_values=past, use_cache=True)
                            for _ in range(DECODE_STEPS)]

        rows.append((f"decode {DECODE_STEPS} tokens, mini", *_paired_ratio(decode(mini, cache),
                                                                         decode(mini_twin, plain_cache))))

    print(f"\neinops vs plain view/split/chunk, 1 thread, {ROUNDS} alternating rounds (ratio = einops / plain)")
    print(f"{'workload':<34}{'median':>8}{'q1':>7}{'q3':>7}{'einops ms':>11}{'plain ms':>10}")
    for name, med, q1, q3, t_fast, t_base in rows:
        print(f"{name:<34}{med:>8.3f}{q1:>7.3f}{q3:>7.3f}{t_fast * 1e3:>11.2f}{t_base * 1e3:>10.2f}")
    assert all(r[1] > 0 for r in rows)
