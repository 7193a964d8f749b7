# %% [markdown]
# # 07 · Generation and evaluation: filling blanks, and measuring what the model learned
#
# Budget: 90 s (FAST, 2-core CPU).
#
# GLM-130B is used in two ways: it *fills blanks* (`[MASK]`, a short span anywhere in the text) and it *generates*
# left to right after `[gMASK]`. It was evaluated zero-shot by cloze (LAMBADA), multiple choice (MMLU), bits per byte
# (Pile) and held-out instruction tasks. This notebook builds each of these on the model notebook 06 trained, and
# measures it beside the rule baselines a skeptic would try first.
#
# | piece | package file | test |
# |---|---|---|
# | the official blank-filling rules, splicing answers back | `glm_mini/generate.py` | `tests/test_generate.py` |
# | KV-cache decoding, padded batches, sampling, beam search | `glm_mini/decoding.py` | `tests/test_generate.py` |
# | LM loss and bits per byte, cloze, multiple choice | `glm_mini/evaluate.py` | `tests/test_evaluate.py` |
# | the evaluation splits, scored | `glm_mini/zero_shot.py` | `tests/test_zero_shot.py` |
# | rule baselines for every split | `glm_mini/data/baselines.py` | `tests/test_baselines.py` |
#
# The facts, with their sources (the official `generate.py`, `generation/strategies.py`, `evaluation/dataset.py`
# and the paper's §5–§6) are in `docs/glm130b_facts.md` §1.5 and §6.

# %%
import os
import time
from dataclasses import replace
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from glm_mini import default_tokenizer
from glm_mini.data import load_corpus
from glm_mini.data.baselines import baseline_table
from glm_mini.decoding import nucleus_mask, penalized_score
from glm_mini.evaluate import choice_mask, language_model_eval
from glm_mini.exercises import use
from glm_mini.exercises.nb07_generation import (check_choice_mask, check_generation_layout, check_nucleus_mask,
                                                check_penalized_score)
from glm_mini.generate import blank_prompt, fill_blanks, fill_blanks_batch_ids, generation_layout, official_inputs
from glm_mini.objective.viz import plot_attention_mask, token_label
from glm_mini.train import TrainConfig, load_model, read_run_config, train
from glm_mini.zero_shot import cloze_scores, format_scores, infill_scores, task_scores

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
NOTEBOOK_START = time.perf_counter()
REPO = Path.cwd().parent  # the notebook runs in notebooks/
TOUR_RUN = REPO / "build" / "tour" / "06_mini"
N_ITEMS = 100 if FAST else 1000  # evaluation items per split

if (TOUR_RUN / "config.json").is_file():
    model, source = load_model(TOUR_RUN), f"notebook 06's model ({TOUR_RUN.relative_to(REPO)})"
else:  # notebook 06 has not run: train a small stand-in so this notebook still runs top to bottom
    stand_in = TrainConfig(preset="mini", out=str(REPO / "build" / "tour" / "07_stand_in"), max_steps=60,
                           batch_size=8, seq_len=128, lr=3e-3, eval_every=60, val_batches=2, seed=0)
    train(stand_in, progress=False)
    model, source = load_model(stand_in.out), "a 60-step stand-in (run notebook 06 for the real one)"
tokenizer = default_tokenizer(vocab_size=model.config.vocab_size)
special = tokenizer.special
corpus = load_corpus()
print(f"model: {source}; {sum(p.numel() for p in model.parameters()):,} parameters")

# %% [markdown]
# ## 1. How GLM fills a blank
#
# **Why.** A left-to-right model can only continue a text. GLM was trained to fill a blank *anywhere* (notebook 02),
# reading the text on both sides, so its prompt may hold a blank in the middle. The official `generate.py` turns a
# prompt into decoding steps by three rules:
#
# 1. fill every `[MASK]` if the prompt has one, else `[gMASK]` (appended at the end if the prompt has no blank);
#    a prompt that does not end with a blank gets `eos`;
# 2. for each blank, left to right: append `[sop]`; everything before `[sop]` attends both ways, `[sop]` and the
#    generated tokens attend causally; with `[MASK]` every generated token sits at the `[MASK]`'s position, with
#    `[gMASK]` positions count on;
# 3. stop at `[eop]` or `eos`, and splice the answer in place of its blank before filling the next.
#
# The model then factorizes the answer $y$ of a blank given the corrupted text $x$ exactly as in training:
#
# $$ p(y \mid x) = \prod_{t=1}^{|y|} p\big(y_t \mid x, y_{<t}\big) $$
#
# (`glm_mini/decoding.py`, `decode`: one forward per new token, the keys and values of $x, y_{<t}$ cached).
# Here is what the model sees for one `[MASK]` prompt and one `[gMASK]` prompt after three generated tokens:

# %%
label = token_label(tokenizer)
sentence = tokenizer.encode("Anna gave the red book to Tom.", parse_special=False)
cut = len(sentence) // 2
fig, axes = plt.subplots(1, 2, figsize=(14, 6))
for ax, (name, seq, blank, gmask) in zip(axes, (
        ("[MASK] blank", sentence[:cut] + [special.mask] + sentence[cut:] + [special.eos], cut, False),
        ("[gMASK] generation", sentence + [special.gmask], len(sentence), True))):
    prompt = blank_prompt(seq, blank, gmask, special)
    ids, positions, allowed = official_inputs(prompt, [special.pad] * 3)  # three stand-in generated tokens
    tokens = [label(i) for i in ids[0, :-3].tolist()] + ["gen1", "gen2", "gen3"]
    labels = [f"{t} (pos {p})" for t, p in zip(tokens, positions[0].tolist())]
    plot_attention_mask(allowed[0, 0], division=prompt.prefix_len, ax=ax, labels=labels, title=name,
                        boundary="context | [sop] + generated")
fig.tight_layout()
plt.show()

# %% [markdown]
# The red line is where `[sop]` starts: rows above it (the context) see each other both ways; rows below see the
# whole context and, causally, each other. In the `[MASK]` picture the last four rows all have the `[MASK]`'s
# position: that is how the model knows *where* the answer goes; after `[gMASK]` positions simply count on.
#
# ### Your turn — Exercise 7.1: the generation layout
# Write `my_layout(prefix_len, total, mask_position)` returning `(positions [total], allowed [total, total])` for
# rule 2: `prefix_len` tokens before `[sop]`, `mask_position=None` for `[gMASK]`. Predict first: for `[gMASK]`, which
# row of `allowed` is the only one that is entirely True?

# %%
def my_layout(prefix_len, total, mask_position):
    ### BEGIN SOLUTION
    ### HINT: start from a lower-triangular mask, then open the first prefix_len columns to every row
    positions = torch.arange(total)
    if mask_position is not None:
        positions[prefix_len:] = mask_position
    allowed = torch.ones(total, total).tril().bool()
    allowed[:, :prefix_len] = True
    return positions, allowed
    ### END SOLUTION


# %%
layout = use(my_layout, check_generation_layout(my_layout), generation_layout)
positions, allowed = layout(4, 8, 1)
print("positions:", positions.tolist())

# %% [markdown]
# ## 2. Filling blanks, in English and Chinese
#
# `fill_blanks` applies the three rules to text. Greedy decoding takes the most likely token each step (GLM-130B's
# `BaseStrategy`); beam search keeps the `num_beams` best partial answers by summed log-probability and ranks finished
# ones by the length-normalized score of GLM-130B's `BeamSearchStrategy`:
#
# $$ \mathrm{score}(y) = \frac{\sum_t \log p(y_t \mid x, y_{<t})}{\big((5 + |y|)/6\big)^{\,\ell}} $$
#
# with $\ell$ the `length_penalty` (`glm_mini/decoding.py`, `penalized_score`; $|y|$ counts the prompt too, as the
# official code does). The prompts below are the openings of validation documents the model never trained on.

# %%
val_texts = [r["text"] for r in corpus["validation"]]
english = next(t for t in val_texts if t.isascii() and len(t) > 120)
chinese = next(t for t in val_texts if not t.isascii() and len(t) > 60)
words = english.split(" ")
prompts = {
    "English, [MASK] mid-sentence": " ".join(words[:9]) + " [MASK] " + " ".join(words[12:24]),
    "English, [gMASK] continuation": " ".join(words[:18]),
    "Chinese, [MASK] mid-sentence": chinese[:25] + "[MASK]" + chinese[32:50],
    "Chinese, [gMASK] continuation": chinese[:40],
}
for name, text in prompts.items():
    filled, answers = fill_blanks(model, tokenizer, text, max_new_tokens=12)
    beam_filled, beam_answers = fill_blanks(model, tokenizer, text, max_new_tokens=12, num_beams=4)
    print(f"--- {name}\nprompt : {text!r}\ngreedy : {answers}\nbeam 4 : {beam_answers}")

# %% [markdown]
# ### Your turn — Exercise 7.2: top-p (nucleus) sampling
# Sampling instead of taking the arg-max gives varied answers; top-p keeps only the most probable tokens whose
# probability adds up to `top_p` (the token that crosses the threshold included). Write `my_nucleus(logits, top_p)`
# returning a bool mask `[b, V]` of the tokens kept. Predict first: with `top_p = 0.9` and one token at 99%, how many
# tokens are kept?

# %%
def my_nucleus(logits, top_p):
    ### BEGIN SOLUTION
    ### HINT: sort the probabilities, and keep a token while the mass *before* it is still below top_p
    probs, order = torch.softmax(logits.float(), dim=-1).sort(dim=-1, descending=True)
    keep = probs.cumsum(dim=-1) - probs < top_p
    return torch.zeros_like(keep).scatter(-1, order, keep)
    ### END SOLUTION


# %%
nucleus = use(my_nucleus, check_nucleus_mask(my_nucleus), nucleus_mask)
logits = model(torch.tensor([tokenizer.encode(english[:80], parse_special=False) + [special.gmask, special.sop]]),
               ).logits[0, -1:].detach()
kept = [int(nucleus(logits, p).sum()) for p in (0.5, 0.8, 0.9, 0.95, 0.99)]
print("tokens kept at top_p 0.5/0.8/0.9/0.95/0.99:", kept, f"(of {logits.shape[-1]})")

# %% [markdown]
# ### Your turn — Exercise 7.3: the beam length penalty
# Write `my_penalized(score, length, length_penalty)` from the equation above. Predict first: with a penalty above 0,
# does a longer answer with the same summed log-probability rank higher or lower?

# %%
def my_penalized(score, length, length_penalty):
    ### BEGIN SOLUTION
    ### HINT: divide by ((5 + length) / 6) raised to length_penalty
    return score / ((5.0 + length) / 6) ** length_penalty
    ### END SOLUTION


# %%
penalized = use(my_penalized, check_penalized_score(my_penalized), penalized_score)
print("same log-prob -8, length 10 vs 20, penalty 1:", round(penalized(-8.0, 10, 1.0), 3),
      round(penalized(-8.0, 20, 1.0), 3))

# %% [markdown]
# ## 3. Why a KV cache
#
# Without a cache, step $t$ recomputes the whole sequence: generating $n$ tokens after a prompt of $m$ costs
# $\sum_t (m + t)$ token-positions, quadratic in $n$; with the keys and values of earlier positions kept, each step
# feeds one token. The two must give the same tokens; measured here on one prompt:

# %%
prompt_ids = [tokenizer.encode(english[:200], parse_special=False)]
timings = {}
for use_cache in (True, False):
    start = time.perf_counter()
    result = fill_blanks_batch_ids(model, prompt_ids, special, 24, use_cache=use_cache)
    timings[use_cache] = (time.perf_counter() - start, result)
assert timings[True][1] == timings[False][1], "the cache must not change a single token"
n_new = len(timings[True][1][0][0][0])
speedup = timings[False][0] / timings[True][0]
print(f"{n_new} new tokens after a {len(prompt_ids[0])}-token prompt: {timings[True][0]:.2f} s with the cache, "
      f"{timings[False][0]:.2f} s without ({speedup:.1f}x), same tokens")

# %% [markdown]
# ## 4. Evaluation 1: bits per byte
#
# Perplexity depends on the tokenizer (a bigger vocabulary makes fewer, harder predictions); bits per byte does not,
# which is why the paper reports the Pile in BPB. With the summed negative log-likelihood $\mathcal{L}$ (nats) of a
# text of $B$ UTF-8 bytes (`glm_mini/evaluate.py`, `LMResult.bits_per_byte`):
#
# $$ \mathrm{BPB} = \frac{\mathcal{L}}{B \ln 2}, \qquad \mathrm{PPL} = \exp\big(\mathcal{L} / N_{\text{tokens}}\big) $$
#
# Each text is scored in the official windows: `prompt + [gMASK] [sop] + text`, every token once.

# %%
baselines = baseline_table(corpus, tokenizer)
by_name = {(r.split, r.baseline): r for r in baselines}
lm = language_model_eval(model, tokenizer, val_texts[:N_ITEMS], seq_len=min(256, model.config.max_sequence_length))
print(f"validation, {lm.tokens} tokens / {lm.bytes} bytes: loss {lm.loss:.3f} nats/token, perplexity "
      f"{lm.perplexity:.1f}, {lm.bits_per_byte:.3f} bits per byte")
print(f"baselines (nats/token): unigram {by_name['validation', 'unigram (nats/token)'].accuracy:.3f}, "
      f"Kneser-Ney bigram {by_name['validation', 'Kneser-Ney bigram (nats/token)'].accuracy:.3f}")

# %% [markdown]
# ## 5. Evaluation 2: cloze, bidirectional vs unidirectional
#
# LAMBADA asks for the last word of a passage that only the wider context fixes. The kit's `cloze_test` items are told
# from a small world (who holds the book now, who went where), with several entities of the answer's type in the
# passage, so no fixed rule solves them (the baselines below). GLM reads the context both ways before `[gMASK]`; the
# paper's ablation reads it left to right only, and at 130B scored **80.2 vs 75.3** (paper Fig. 6, the paper's
# numbers). We score both ways with the same model, by ranking the passage's candidates and by the official
# generate-and-compare-the-first-word metric:

# %%
cloze_items = corpus["cloze_test"][:N_ITEMS]
cloze = cloze_scores(model, tokenizer, cloze_items)
print(format_scores(cloze))
print("rule baselines on the whole split:")
for r in baselines:
    if r.split == "cloze_test":
        print(f"  {r.baseline:<42} {100 * r.accuracy:5.1f}%")

# %% [markdown]
# ## 6. Evaluation 3: a blank whose answer comes later
#
# The `infill_test` items blank a span in mid-passage, and what fixes it is told *after* the blank ("Now Anna had 7
# apples in all"). Only a model that reads the text after the blank can use it: GLM's `[MASK]` does. Each candidate is
# scored as a multiple choice (all candidates in one forward, each causal to itself and blind to the others):

# %%
infill = infill_scores(model, tokenizer, corpus["infill_test"][:N_ITEMS])
print(format_scores(infill))
for r in baselines:
    if r.split == "infill_test":
        print(f"  {r.baseline:<42} {100 * r.accuracy:5.1f}%")

# %% [markdown]
# ### Your turn — Exercise 7.4: the multiple-choice mask
# All choices are scored in one forward pass: the context (`division` tokens: the text and `[MASK]`) is seen by every
# row and sees itself both ways; each choice (`[sop]` + its tokens but the last) is causal within itself and never
# sees another choice. Write `my_choice_mask(division, choice_lengths)`. Predict first: how many True entries has
# the mask for `division=3`, choices of lengths 2 and 1?

# %%
def my_choice_mask(division, choice_lengths):
    ### BEGIN SOLUTION
    ### HINT: start all False, put a lower-triangular block on the diagonal for each choice, then open the context
    total = division + sum(choice_lengths)
    allowed = torch.zeros(total, total, dtype=torch.bool)
    start = division
    for n in choice_lengths:
        allowed[start:start + n, start:start + n] = torch.ones(n, n).tril().bool()
        start += n
    allowed[:, :division] = True
    return allowed
    ### END SOLUTION


# %%
mc_mask = use(my_choice_mask, check_choice_mask(my_choice_mask), choice_mask)
fig, ax = plt.subplots(figsize=(5, 4))
plot_attention_mask(mc_mask(4, [3, 2, 3]), division=4, ax=ax, title="context 4, three choices (3, 2, 3 tokens)",
                    boundary="context | choices")
plt.show()

# %% [markdown]
# ## 7. Evaluation 4: held-out instruction families
#
# GLM-130B mixed 5% instruction data (MIP) into pre-training and kept whole task *families* out, so zero-shot
# accuracy on them measures transfer. The kit's `topic` and `entailment` families never appear in training, but their
# answer words do. Each item ranks its family's labels after the prompt; the majority baseline is the best constant
# answer. Whether MIP helps is a comparison with the same model trained without MIP: `make tour FULL=1` trains that
# twin here (`build/tour/07_no_mip`); in FAST mode it is used when present.

# %%
heldout = corpus["mip_heldout"][:N_ITEMS]
mip_rows = task_scores(model, tokenizer, heldout)
no_mip_run = REPO / "build" / "tour" / "07_no_mip"
if not FAST and not (no_mip_run / "config.json").is_file():
    twin = replace(read_run_config(TOUR_RUN), out=str(no_mip_run), mip=False, resume=False)  # one switch differs
    train(twin, progress=False)
if (no_mip_run / "config.json").is_file():
    no_mip_rows = task_scores(load_model(no_mip_run), tokenizer, heldout)
    for a, b in zip(mip_rows, no_mip_rows):
        print(f"{a.method:<32} with MIP {100 * a.accuracy:5.1f}%   without MIP {100 * b.accuracy:5.1f}%   (n={a.n})")
else:
    no_mip_rows = None
    print(format_scores(mip_rows))
    print("(no model trained without MIP yet: run `make tour FULL=1` for the comparison)")
for r in baselines:
    if r.split == "mip_heldout":
        print(f"  {r.baseline:<42} {100 * r.accuracy:5.1f}%")

# %% [markdown]
# ## 8. Play: your own prompt
#
# Type a prompt with `[MASK]` (or none, for a `[gMASK]` continuation). The static example below is what the widget
# shows first.

# %%
def show_fill(prompt="Tom went to the [MASK] and bought three apples.", beams=1, max_new_tokens=10):
    filled, answers = fill_blanks(model, tokenizer, prompt, max_new_tokens=max_new_tokens, num_beams=beams)
    print(f"answers: {answers}\nfilled : {filled}")


show_fill()

# %% tags=["widget"]
widgets.interact(show_fill, prompt=widgets.Text(value="Tom went to the [MASK] and bought three apples.",
                                                layout=widgets.Layout(width="90%")),
                 beams=(1, 8), max_new_tokens=(1, 32));

# %% [markdown]
# ## What the numbers say
#
# A 4-layer model trained for minutes is not GLM-130B; what carries over is the *method*: the same blank-filling
# rules, the same evaluation layouts, the same comparisons. Read the summary against the rule baselines: a model
# score at or below them means the model has not learned that skill at this size and training length, whatever the
# layout.

# %% tags=["summary"]
def _row(rows, method):
    return next(r for r in rows if r.method == method)


bi, uni = _row(cloze, "rank candidates, bidirectional [gMASK]"), _row(cloze, "rank candidates, unidirectional (causal)")
best_cloze_rule = max((r for r in baselines if r.split == "cloze_test"), key=lambda r: r.accuracy)
with_suffix = _row(infill, "[MASK], text after the blank visible")
causal_prefix = _row(infill, "prefix only, unidirectional (causal)")
best_infill_rule = max((r for r in baselines if r.split == "infill_test"), key=lambda r: r.accuracy)
print(f"model: {source}")
print(f"KV cache: same tokens, {speedup:.1f}x faster for {n_new} tokens")
print(f"validation: {lm.bits_per_byte:.3f} bits/byte, {lm.loss:.3f} nats/token (bigram baseline "
      f"{by_name['validation', 'Kneser-Ney bigram (nats/token)'].accuracy:.3f})")
print(f"cloze (n={bi.n}): bidirectional {100 * bi.accuracy:.1f}% vs causal {100 * uni.accuracy:.1f}% "
      f"(best rule: {best_cloze_rule.baseline} {100 * best_cloze_rule.accuracy:.1f}%; paper at 130B: 80.2 vs 75.3)")
print(f"infill (n={with_suffix.n}): [MASK] with right context {100 * with_suffix.accuracy:.1f}% vs causal prefix "
      f"{100 * causal_prefix.accuracy:.1f}% (best rule: {best_infill_rule.baseline} "
      f"{100 * best_infill_rule.accuracy:.1f}%)")
for i, r in enumerate(mip_rows):
    extra = f", without MIP {100 * no_mip_rows[i].accuracy:.1f}%" if no_mip_rows else ""
    print(f"held-out {r.method.split(':')[0]} (n={r.n}): with MIP {100 * r.accuracy:.1f}%{extra}")
print(f"notebook time: {time.perf_counter() - NOTEBOOK_START:.0f} s")
