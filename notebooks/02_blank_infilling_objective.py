# %% [markdown]
# # 02 · GLM's objective: autoregressive blank infilling
#
# Budget: 60 s (FAST mode, 2-core CPU).
#
# **The problem.** A BERT-style model reads a text in both directions, so it understands well, but it cannot write:
# it fills one token per `[MASK]`, all at once, and must be told how many tokens are missing. A GPT-style model
# writes fluently, but reads only leftwards, so even the context it is given is seen half-blind. GLM-130B wanted one
# model for both, and trained it with **autoregressive blank infilling** (paper §2.1; GLM, Du et al. 2022):
#
# - blank out spans of the text; the corrupted text (**Part A**) is read **bidirectionally**;
# - then write the missing spans one token at a time (**Part B**), each seeing all of Part A and what was written
#   before it, so a blank of any length can be filled.
#
# GLM-130B mixes two kinds of blanks (paper §2.2): `[MASK]`, short spans (15% of a text) for understanding, and
# `[gMASK]`, one long suffix for generation; plus 5% of the tokens from instruction data (MIP).
# This notebook builds each piece on real sentences of the kit's English/Chinese corpus, checks it against the
# package (`glm_mini/objective/`), and ends with a visualizer to play with.
#
# Four pieces are **yours to write**: Part A (Exercise 2.1), Part B's inputs and targets (2.2), Part B's positions
# (2.3) and a `[gMASK]` sample (2.4). Each check says PASS or shows the first mismatch; the worked example and the
# later cells are built with your functions once they pass (with the package's until then). Before some experiments
# you are asked to *predict* the result; the answer is folded after the experiment.

# %%
import os
import random
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
random.seed(0)
torch.manual_seed(0)

from glm_mini import GLM, PRESETS, default_tokenizer
from glm_mini.data import load_corpus, pack_documents
from glm_mini.exercises import exercise_record, use
from glm_mini.exercises.nb02_objective import (check_gmask_sample, check_part_a, check_part_b,
                                               check_part_b_positions, gmask_inputs_targets)
from glm_mini.exercises.nb02_objective import part_a as package_part_a
from glm_mini.exercises.nb02_objective import part_b as package_part_b
from glm_mini.exercises.nb02_objective import part_b_positions as package_part_b_positions
from glm_mini.objective import (ObjectiveConfig, choose_objective, collate, draw_span_length, glm_attention,
                                gmask_sample, mask_sample, mip_pairs_from_records, objective_config,
                                right_context_share, sample_batch, sample_mask_spans, sample_prefix_len, sample_row,
                                span_length_probs)
from glm_mini.reference import MASK_RATIO, MASK_SHARE
from glm_mini.objective.viz import draw_sample, infilling_example, plot_attention_mask, token_label

tok = default_tokenizer()
special = tok.special
label = token_label(tok)
corpus = load_corpus()
passed = {}  # exercise -> did its check pass
print(special)

# %% [markdown]
# ## 1. Two real sentences
# English and Chinese sentences from the training split. We keep them short so every token fits on screen.

# %%
def first_sentences(lang, stop, count=1):
    text = next(r["text"] for r in corpus["train"] if r["lang"] == lang and r["kind"] == "story")
    end = -1
    for _ in range(count):
        end = text.index(stop, end + 1)
    return text[: end + 1]


en_text, zh_text = first_sentences("en", "."), first_sentences("zh", "。", count=2)
en, zh = tok.encode(en_text), tok.encode(zh_text)
print(f"EN {len(en)} tokens: {en_text}\n   {tok.tokenize(en_text)}")
print(f"ZH {len(zh)} tokens: {zh_text}\n   {tok.tokenize(zh_text)}")

# %% [markdown]
# ## 2. Where the blanks go
# Span lengths follow a Poisson distribution with mean $\lambda = 3$, restricted to $1..39$ and renormalized
# (`glm_mini/objective/spans.py`, `span_length_probs` and `draw_span_length`):
#
# $$P(\ell) = \frac{\lambda^{\ell} e^{-\lambda} / \ell!}{\sum_{k=1}^{39} \lambda^{k} e^{-\lambda} / k!},
# \qquad \ell = 1, \dots, 39$$
#
# Spans are added until they cover at least $\lfloor 0.15\,n \rfloor$ of the $n$ tokens
# (`sample_span_lengths`), then placed at random, never touching (`place_spans`). Why Poisson with mean 3: most
# blanks are a word or two, as in BERT, but a few are long enough that the model must generate, not just pick a word.
# The formula against 20 000 draws:

# %%
probs = span_length_probs(3.0)
draw_rng = random.Random(0)
draws = np.bincount([draw_span_length(draw_rng) for _ in range(20_000)], minlength=40)[1:] / 20_000
lengths = np.arange(1, 40)
fig, ax = plt.subplots(figsize=(8, 3))
ax.bar(lengths - 0.2, probs, width=0.4, label="formula P(ℓ)")
ax.bar(lengths + 0.2, draws, width=0.4, label="20 000 draws")
ax.set_xlim(0.3, 15.7)
ax.set_xticks(range(1, 16))
ax.set_xlabel("span length ℓ (tokens)")
ax.set_ylabel("probability")
ax.set_title("Span lengths: Poisson(λ=3) truncated to 1..39 (shown up to 15)")
ax.legend()
plt.show()
mean_len = float((lengths * np.array(probs)).sum())
print(f"mean span length: formula {mean_len:.3f}, draws {(lengths * draws).sum():.3f}")

# %%
rng = random.Random(1)
spans = sample_mask_spans(len(en), rng)
masked = sum(e - s for s, e in spans)
print(f"{len(spans)} spans {spans}: {masked} of {len(en)} tokens masked ({masked / len(en):.0%})")
for s, e in spans:
    print(f"  span {(s, e)}: {tok.decode(en[s:e])!r}")

# %% [markdown]
# ## 3. Part A: the corrupted text
# Part A is the text with **each whole span replaced by one `[MASK]`**. One token per span, not per masked token:
# the model must not learn the span's length from the number of `[MASK]`s, because at inference nobody knows it.

# %% [markdown]
# ### Your turn — Exercise 2.1: build Part A
# Write `my_part_a(tokens, spans, mask_id)`: `spans` are sorted `(start, end)` pairs, end exclusive.
# *Predict first:* how long is Part A for a text of $n$ tokens with $k$ spans covering $S$ tokens?

# %%
def my_part_a(tokens, spans, mask_id):
    ### BEGIN SOLUTION
    ### HINT: editing the list in place shifts the indices of every span after the first one you replace
    out, last = [], 0
    for start, end in spans:
        out += tokens[last:start] + [mask_id]
        last = end
    return out + tokens[last:]
    ### END SOLUTION


# %%
passed["2.1"] = check_part_a(my_part_a)
part_a = use(my_part_a, passed["2.1"], package_part_a)
sample = mask_sample(en, spans, special)
assert part_a(en, spans, special.mask) == sample.input_ids[: sample.division].tolist()
print("Part A:", tok.decode(part_a(en, spans, special.mask)))
print(f"n = {len(en)} tokens, k = {len(spans)} spans covering S = {masked}: Part A has {sample.division} tokens")

# %% [markdown] tags=["prediction"]
# $|\text{Part A}| = n - S + k$: the $S$ masked tokens leave, and each of the $k$ spans leaves one `[MASK]` behind.
# The cell above printed the English sentence's $n$, $k$, $S$ and the length `mask_sample` gave: they agree.

# %% [markdown]
# ## 4. Part B, positions, and the objective
# Part B holds the spans in a **random order** $z$. Each span is written after a start token `[sop]`, and the model
# must say where it ends: it predicts the span's tokens and then an end token `[eop]`. So the span is shifted by one
# between what Part B *feeds* (its input ids) and what it *predicts* (its targets), exactly as in a language model.
# The shuffle makes the model learn every dependency between spans, not just left to right. The objective is the
# original GLM paper's (Du et al., 2022, §2.1, Eqs. 1–2; `docs/glm130b_facts.md` §2.2), which GLM-130B keeps;
# `glm_mini/objective/sample.py`, `mask_sample`, builds its samples:
#
# $$\max_\theta\; \mathbb{E}_{z}\Big[\sum_{i=1}^{k} \log p_\theta\big(s_{z_i} \,\big|\, x_{\text{corrupt}},
# s_{z_1}, \dots, s_{z_{i-1}}\big)\Big],\qquad
# p_\theta(s_i \mid \cdot) = \prod_{j} p_\theta\big(s_{i,j} \mid x_{\text{corrupt}}, s_{z_{<i}}, s_{i,<j}\big)$$
#
# ### Your turn — Exercise 2.2: Part B's inputs and targets
# Write `my_part_b(tokens, spans, span_order, sop_id, eop_id)` returning `(inputs, targets)`, two lists of the same
# length: the spans taken in `span_order` (`span_order[0]` is the index of the span written first), each with its
# `[sop]` and `[eop]` where the paragraph above puts them. Part A's targets are not your concern here (they carry no
# loss). *Predict first:* how many tokens does Part B add for $k$ spans covering $S$ tokens?

# %%
def my_part_b(tokens, spans, span_order, sop_id, eop_id):
    ### BEGIN SOLUTION
    ### HINT: follow span_order, not the text's order; inputs and targets must keep the same length
    inputs, targets = [], []
    for k in span_order:
        start, end = spans[k]
        inputs += [sop_id] + tokens[start:end]
        targets += tokens[start:end] + [eop_id]
    return inputs, targets
    ### END SOLUTION


# %%
passed["2.2"] = check_part_b(my_part_b)
part_b = use(my_part_b, passed["2.2"], package_part_b)
b_inputs, b_targets = part_b(en, spans, list(range(len(spans))), special.sop, special.eop)
print(f"k = {len(spans)} spans covering S = {masked} tokens: Part B has {len(b_inputs)} tokens")

# %% [markdown] tags=["prediction"]
# $S + k$: every span token once, plus one `[sop]` per span in the inputs (and one `[eop]` per span in the
# targets, at the matching place). The whole sample is then $(n - S + k) + (S + k) = n + 2k$ tokens long.

# %% [markdown]
# **Positions.** GLM-130B uses 1-D rotary positions: Part A counts $0, 1, 2, \dots$ (a span takes one slot, its
# `[MASK]`), and **every Part B token takes the position of its span's `[MASK]`**, so the model knows *where* it is
# writing but not how long the span is. (The original GLM added a second, intra-span position; section 7.)
#
# ### Your turn — Exercise 2.3: Part B's positions
# Write `my_part_b_positions(spans, span_order)`, the 1-D positions of Part B (one per `[sop]` and per span token).
# The spans are given in the original text's coordinates; the positions must be Part A's.
# *Predict first:* in the worked example below (text $x_1 \dots x_6$, spans $\{x_3\}$ and $\{x_5 x_6\}$, Part B
# order $(x_5 x_6), (x_3)$), which positions do `[sop] x5 x6` get?

# %%
def my_part_b_positions(spans, span_order):
    ### BEGIN SOLUTION
    ### HINT: a span's start counts original tokens; in Part A each earlier span takes one slot, not its length
    slot = [start - sum(e - s for s, e in spans[:k]) + k for k, (start, _) in enumerate(spans)]
    return [slot[k] for k in span_order for _ in range(spans[k][1] - spans[k][0] + 1)]
    ### END SOLUTION


# %%
passed["2.3"] = check_part_b_positions(my_part_b_positions)
part_b_positions = use(my_part_b_positions, passed["2.3"], package_part_b_positions)

# %% [markdown]
# The worked example of `docs/glm130b_facts.md` §2.2, assembled from your three functions and compared with the
# package's `mask_sample`:

# %%
x = [tok.token_to_id(p) for p in ["x", "1", "2", "3", "4", "5"]]  # six distinct ids stand for x1..x6
spans_ex, order_ex = [(2, 3), (4, 6)], [1, 0]
a = part_a(x, spans_ex, special.mask)
b_in, b_out = part_b(x, spans_ex, order_ex, special.sop, special.eop)
by_hand = {"input_ids": a + b_in, "targets": a + b_out,
           "position_ids": list(range(len(a))) + part_b_positions(spans_ex, order_ex)}
ex = mask_sample(x, spans_ex, special, span_order=order_ex)
assert by_hand == {k: getattr(ex, k).tolist() for k in by_hand}
assert by_hand["position_ids"] == [0, 1, 2, 3, 4, 4, 4, 4, 2, 2]  # the example as docs/glm130b_facts.md §2.2 writes it
names = {v: f"x{i + 1}" for i, v in enumerate(x)} | {special.mask: "[M]", special.sop: "[sop]", special.eop: "[eop]"}
for row in ("input_ids", "targets", "position_ids"):
    values = by_hand[row] if row == "position_ids" else [names[t] for t in by_hand[row]]
    print(f"{row:13s}", " ".join(f"{v!s:>5}" for v in values[:5]), " | ", " ".join(f"{v!s:>5}" for v in values[5:]))

# %% [markdown] tags=["prediction"]
# 4, 4, 4: Part A is `x1 x2 [M] x4 [M]`, so the second `[MASK]`, which stands for $x_5 x_6$, sits at index 4, and
# `[sop]`, `x5` and `x6` all take it. In the original text $x_5$ was at index 4 too, but only because the span
# before it was one token long; a longer earlier span moves every later `[MASK]` left. The `x3` span gets 2, 2
# (the first `[MASK]`): the position says *which blank*, never *how far into it*.

# %% [markdown]
# ### The loss mask
# The loss is the mean over Part B only (`loss_mask`): Part A is input, not a target. A first check of what that
# means for a model that knows nothing: an untrained GLM should be near $\ln V$ per predicted token.

# %%
model = GLM(PRESETS["nano"].replace(vocab_size=len(tok))).eval()  # the 2-layer test model, our vocabulary
with torch.no_grad():
    logits = model(sample.input_ids[None], sample.position_ids[None], sample.attention_mask[None, None]).logits[0]
loss = F.cross_entropy(logits[sample.loss_mask], sample.targets[sample.loss_mask])
print(f"untrained nano GLM: loss {loss:.3f} on {int(sample.loss_mask.sum())} Part B tokens; ln V = "
      f"{np.log(len(tok)):.3f}")

# %% [markdown]
# ## 5. The attention mask
# Query $i$ may attend key $j$ when $j$ is in Part A or $j \le i$ (True = may attend, the kit's and SDPA's
# convention; `glm_attention` in `sample.py`):
#
# $$M_{ij} = [\, j < d \,] \lor [\, j \le i \,], \qquad d = |\text{Part A}| \;(\texttt{division})$$
#
# So Part A never sees Part B (no peeking at the answers), and Part B is causal.

# %%
fig, ax = plt.subplots(figsize=(8, 6))
plot_attention_mask(ex.attention_mask, ex.division, ax, labels=[names[t] for t in ex.input_ids.tolist()],
                    title="the worked example: x1 x2 [M] x4 [M] | [sop] x5 x6 [sop] x3")
plt.show()
assert torch.equal(glm_attention(sample.division, len(sample)), sample.attention_mask)

# %% [markdown]
# *Predict:* the same formula with $d$ = the whole length, and with $d = 0$: what do the two masks look like, and
# which familiar models do they describe? Then run the cell.

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
for ax, d in zip(axes, (8, 3, 0)):
    plot_attention_mask(glm_attention(d, 8), d if 0 < d < 8 else None, ax, title=f"division d = {d} of 8")
plt.tight_layout()
plt.show()

# %% [markdown] tags=["prediction"]
# With $d = L$ every key is in Part A, so every query sees every key: a fully bidirectional (BERT-like) encoder.
# With $d = 0$ only $j \le i$ is left: the lower-triangular causal mask of a GPT. GLM's mask moves between the two
# with one number, the division.

# %% [markdown]
# The whole English sample: token table (Part A blue, Part B cream) above its mask.

# %%
draw_sample(sample, label, title=f"[MASK] sample of the English sentence: {len(spans)} spans, Part B in given order")
plt.show()

# %% [markdown]
# ## 6. `[gMASK]`: one long blank for generation
# Short spans teach filling in; they do not teach writing a paragraph. For 70% of its sequences GLM-130B blanks one
# **suffix** instead. The text is cut after `prefix_len` tokens; the prefix, followed by `[gMASK]` (which marks where
# the blank is), is read bidirectionally; then the model writes the suffix left to right, starting after `[sop]`.
# As in Part B, inputs and targets are one token apart during the writing, and the loss covers the suffix only
# (`docs/glm130b_facts.md` §2.3). The suffix is 20% to 100% of the text (`min_gmask_ratio`), so the model also
# learns to write with no context at all. With 1-D positions the ids simply count $0 \dots L-1$.
#
# ### Your turn — Exercise 2.4: the `[gMASK]` sample
# Write `my_gmask(tokens, prefix_len, gmask_id, sop_id)` returning `(inputs, targets)`: two lists of the same
# length, covering the whole sample, prefix included (the prefix's targets carry no loss, so any placeholder would
# do; use the prefix and `[gMASK]` themselves, as the official collator does).
# *Predict first:* how many tokens longer than the text is the sample?

# %%
def my_gmask(tokens, prefix_len, gmask_id, sop_id):
    ### BEGIN SOLUTION
    ### HINT: write out a 3-token text by hand first: which token is never fed as an input, and which is never a target?
    prefix, suffix = tokens[:prefix_len], tokens[prefix_len:]
    return prefix + [gmask_id, sop_id] + suffix[:-1], prefix + [gmask_id] + suffix
    ### END SOLUTION


# %%
passed["2.4"] = check_gmask_sample(my_gmask)
gmask_lists = use(my_gmask, passed["2.4"], gmask_inputs_targets)
prefix_len = sample_prefix_len(len(zh), random.Random(0))
g = gmask_sample(zh, prefix_len, special)
g_inputs, g_targets = gmask_lists(zh, prefix_len, special.gmask, special.sop)
assert (g_inputs, g_targets) == (g.input_ids.tolist(), g.targets.tolist())
print(f"prefix {prefix_len} of {len(zh)} tokens: {tok.decode(zh[:prefix_len])!r}  ->  generate "
      f"{tok.decode(zh[prefix_len:])!r}")
print("input :", tok.decode(g_inputs))
print("target:", tok.decode(g.targets[g.loss_mask].tolist()))
print(f"the text has {len(zh)} tokens, the sample {len(g_inputs)}")
draw_sample(g, label, title="[gMASK] sample of the Chinese sentences (pieces outside ASCII are labelled #id)")
plt.show()

# %% [markdown] tags=["prediction"]
# One token longer. `[gMASK]` and `[sop]` are added to the inputs, but the last suffix token is never fed (nothing
# comes after it to predict), so the inputs are the text plus one; the targets drop `[sop]` instead. The cell
# above printed both lengths.

# %% [markdown]
# ## 7. 1-D or 2-D positions
# The original GLM gave each token two position ids: the position in Part A (as above) and an **intra-span**
# position, 0 on Part A and $1, 2, \dots$ along `[sop]` + span (THUDM/GLM `blocklm_utils.py`), and it embedded each
# with its own **learned absolute position table**, both added to the word embedding (THUDM/GLM
# `mpu/transformer.py`). ChatGLM-6B later fed the same two ids to rotary embeddings instead, each rotating half of
# every head (2-D RoPE). GLM-130B keeps only the first id and rotates the whole head by it: 1-D RoPE
# (`docs/glm130b_facts.md` §1.5, §2.2). `two_d=True` builds the two rows of ids:

# %%
ex2 = mask_sample(x, spans_ex, special, span_order=order_ex, two_d=True)
print("position ids  :", ex2.position_ids[0].tolist())
print("block position:", ex2.position_ids[1].tolist())
assert torch.equal(ex2.position_ids[0], ex.position_ids)

# %% [markdown]
# ## 8. The mixture: what a training batch holds
# `sample_batch` gives each sequence one objective (`choose_objective`): MIP rows hold 5% of the tokens, and of
# the rest 30% of sequences are `[MASK]`, 70% `[gMASK]`. A `[MASK]` row **packs four samples**, each from its own
# quarter of the window (GLM-130B: 4 × 512 in 2048), with a block-diagonal mask so they cannot see each other. An
# MIP row packs instruction pairs, `prompt + [MASK, sop] + answer`, the answer as the target. Real windows of the
# corpus and its `mip_train` instructions:

# %%
SEQ = 256
docs = tok.encode_batch([r["text"] for r in corpus["train"][:400]])
packed = pack_documents(docs, SEQ, special.eod, special.pad, len(tok))
windows = [torch.from_numpy(packed.tokens[i].astype(np.int64)) for i in range(len(packed))]
mip_pairs = mip_pairs_from_records(tok, corpus["mip_train"][:500])
cfg = ObjectiveConfig()


def build_rows(windows, rng):
    """sample_batch, row by row, keeping each row's objective: choose_objective, then sample_row."""
    out = []
    for w in windows:
        kind = choose_objective(rng, cfg, with_mip=True)
        out.append((kind, sample_row(w.tolist(), SEQ, special, rng, cfg, mip_pairs, kind)))
    return out


batch = sample_batch(windows[:16], SEQ, special, random.Random(0), cfg, mip_pairs)
rows = build_rows(windows[:16], random.Random(0))
assert all(torch.equal(collate([r for _, r in rows])[k], batch[k]) for k in batch)  # the same batch
print({k: tuple(v.shape) for k, v in batch.items()}, "objectives:", [k for k, _ in rows])
fig, axes = plt.subplots(1, 2, figsize=(14, 5.8))
for ax, kind in zip(axes, ("mask", "gmask")):
    r, row = next((i, row) for i, (k, row) in enumerate(rows) if k == kind)
    what = "packed [MASK] samples (block-diagonal)" if kind == "mask" else "one [gMASK] sample"
    plot_attention_mask(row.attention_mask, None if kind == "mask" else row.division, ax, title=f"row {r}: {what}")
plt.tight_layout()
plt.show()

# %% [markdown]
# Measured over many rows, counting which objective each row got (with `build_rows` above). The masking rate of a
# `[MASK]` row is masked text tokens / text tokens: every span adds a `[MASK]` and a `[sop]`, and its loss covers the
# span plus one `[eop]`.

# %%
N_ROWS = 1200 if FAST else 8000
start = time.perf_counter()
stats_rng = random.Random(3)
kinds = {"mask": 0, "gmask": 0, "mip": 0}
mask_text = mask_masked = 0
for kind, row in build_rows([windows[i % len(windows)] for i in range(N_ROWS)], stats_rng):
    kinds[kind] += 1
    if kind == "mask":
        n_spans = int((row.input_ids == special.mask).sum())
        mask_text += int((row.input_ids != special.pad).sum()) - 2 * n_spans
        mask_masked += int(row.loss_mask.sum()) - n_spans
row_ms = (time.perf_counter() - start) / N_ROWS * 1e3
self_supervised = kinds["mask"] + kinds["gmask"]
mask_share, mip_share, mask_rate = kinds["mask"] / self_supervised, kinds["mip"] / N_ROWS, mask_masked / mask_text
print(f"{N_ROWS} rows: [MASK] {kinds['mask']}, [gMASK] {kinds['gmask']}, MIP {kinds['mip']}")
print(f"[MASK] share of self-supervised rows: {mask_share:.1%} (paper: 30% of sequences)")
print(f"MIP share of rows (= of tokens: every row has {SEQ} positions): {mip_share:.1%} (paper: 5% of tokens)")
print(f"masking rate of [MASK] samples: {mask_rate:.1%} (paper: spans added until >= 15%)")
print(f"{row_ms:.2f} ms per {SEQ}-token row")

# %% [markdown]
# **What the mix means for a small model.** Only a `[MASK]` span's tokens can attend to text placed *after* them
# (the rest of Part A); a `[gMASK]` suffix, an MIP answer and a left-to-right model see only what comes before. The
# share of supervised tokens that can see right context (`glm_mini.objective.right_context_share`):
#
# $$ \frac{\sum_i m_i\,[\exists j:\ A_{ij} \wedge \mathrm{pos}_j > \mathrm{pos}_i]}{\sum_i m_i} $$
#
# GLM-130B could spend most of its 400 B tokens on left-to-right text; a model that trains on a few million tokens
# learns little from a side line this thin, which is why the kit's reference models (notebook 07) use more `[MASK]`
# rows with more of their text masked, a mix chosen by measurement (`glm_mini/reference.py`, `docs/reference_models.md`).

# %%
shares = {}
for name, mix in (("the paper's mix: 30% [MASK] rows, 15% masked", objective_config("glm", 0.3)),
                  (f"the reference mix: {MASK_SHARE:.0%} [MASK] rows, {MASK_RATIO:.0%} masked",
                   objective_config("glm", MASK_SHARE, mask_ratio=MASK_RATIO))):
    rng = random.Random(5)
    batches = [sample_batch(windows[8 * k:8 * k + 8], SEQ, special, rng, mix, mip_pairs) for k in range(4)]
    shares[name] = float(np.mean([right_context_share(b) for b in batches]))
    print(f"{name}: {shares[name]:.1%} of supervised tokens see right context")

# %% [markdown]
# ## 9. Play: the objective visualizer
# Text, mask ratio, `[MASK]` or `[gMASK]`, seed → Part A/B, positions, the loss mask and the attention mask
# (`glm_mini.objective.viz.infilling_example` and `draw_sample`). First the default settings as a plain figure:

# %%
def show(text=en_text, mask_ratio=0.15, objective="mask", seed=0):
    ids = tok.encode(text)[:40]
    s = infilling_example(ids, special, objective, mask_ratio, seed)
    draw_sample(s, label, title=f"{objective}, mask ratio {mask_ratio:.2f}, seed {seed}: Part A = "
                                f"{s.division} tokens, Part B = {len(s) - s.division}")
    plt.show()


show()

# %% tags=["widget"]
import ipywidgets as widgets

widgets.interact(show, text=widgets.Text(en_text, continuous_update=False),
                 mask_ratio=widgets.FloatSlider(0.15, min=0.05, max=0.6, step=0.05, continuous_update=False),
                 objective=widgets.ToggleButtons(options=["mask", "gmask"]),
                 seed=widgets.IntSlider(0, 0, 20, continuous_update=False));

# %% tags=["summary"]
print(f"worked example (docs §2.2) built from the exercise functions = mask_sample: positions "
      f"{by_hand['position_ids']}")
print(f"span lengths: mean {mean_len:.3f} by the formula (truncated Poisson, λ=3); {masked} of {len(en)} tokens "
      f"of the English sentence masked")
print(f"over {N_ROWS} rows: [MASK] {mask_share:.1%} of self-supervised rows (paper 30%), MIP {mip_share:.1%} of "
      f"tokens (paper 5%)")
print(f"masking rate of packed [MASK] samples: {mask_rate:.1%} (paper: >= 15%)")
print("supervised tokens that see right context: " + "; ".join(f"{k} {v:.1%}" for k, v in shares.items()))
print(f"untrained nano GLM loss on Part B {loss:.3f} vs ln V {np.log(len(tok)):.3f}")
print(f"building a row: {row_ms:.2f} ms per {SEQ} tokens")
print(exercise_record(passed))
