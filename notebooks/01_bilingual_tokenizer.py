# %% [markdown]
# # 01 · A bilingual corpus and GLM's tokenizer
#
# Budget: 60 s (FAST mode, 2-core CPU).
#
# GLM-130B read English and Chinese through **icetk**. Of icetk's 150 000 ids, the first 20 000 are *image* tokens that
# GLM-130B never uses; the text part is a sentencepiece *unigram* model trained on 25 GB of bilingual text, with `\n` as
# the piece `<n>`. GLM's special tokens come after the vocabulary; the kit writes them `[MASK]`, `[gMASK]`, `[sMASK]`,
# `<eod>`, `[sop]`, `[eop]` (paper App. B.1; SwissArmyTransformer `ice_tokenizer.py`; `docs/glm130b_facts.md` §1.2).
# This notebook builds the kit's small version of both:
#
# 1. the **corpus**: a seeded generator writes English and Chinese documents, long-range cloze items, parallel
#    documents and instruction tasks (`glm_mini/data/`);
# 2. the **tokenizer**: sentencepiece unigram with byte fallback, trained on that corpus (`glm_mini/tokenizer.py`);
# 3. how many tokens each language costs, and how the vocabulary size changes it;
# 4. what the special tokens are for, and how documents are **packed** into fixed-length training sequences.
#
# Two pieces are **yours to write**: the encoder's rules around special tokens (Exercise 1.1) and packing
# (Exercise 1.2). Each check says PASS or shows the first mismatch; later cells use your function once it passes.
# Before some experiments you are asked to *predict* the result; the answer is folded after the experiment.

# %%
import os
import random
import re
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
random.seed(0)
np.random.seed(0)
torch.manual_seed(0)

import ipywidgets as widgets
from matplotlib.patches import Patch

from glm_mini.data import HELDOUT_FAMILIES, SPLITS, TRAIN_FAMILIES, CorpusConfig, load_corpus, pack_documents
from glm_mini.exercises import exercise_record, use
from glm_mini.exercises.nb01_tokenizer import check_encode, check_pack
from glm_mini.data.corpus_tokenizer import default_tokenizer
from glm_mini.tokenizer import SPECIAL_TOKENS, GLMTokenizer

passed = {}  # exercise -> did its check pass

# %% [markdown]
# ## 1. The corpus
# `load_corpus` generates the default corpus (seed 0, 4 MB of training text) on first use and caches it as JSONL
# under `data/cache/` (git-ignored). The same seed always gives the same bytes.

# %%
start = time.perf_counter()
corpus = load_corpus(CorpusConfig())
load_s = time.perf_counter() - start
split_mb = {s: sum(len(r["text"].encode("utf-8")) for r in corpus[s]) / 1e6 for s in SPLITS}
for split in SPLITS:
    print(f"{split:15s} {len(corpus[split]):6d} records  {split_mb[split]:6.2f} MB")
print(f"loaded (or generated) in {load_s:.2f} s")

# %% [markdown]
# Every document is drawn once as a *meaning* and rendered in both languages, so the same generator gives
# monolingual documents, parallel pairs and translation tasks. A few training documents of each kind:

# %%
by_kind = {}
for record in corpus["train"]:
    by_kind.setdefault((record["kind"], record["lang"]), record["text"])
for (kind, lang), text in sorted(by_kind.items())[:8]:
    print(f"--- {kind} ({lang})\n{text[:260]}\n")

# %% [markdown]
# **Long-range cloze** (like LAMBADA): the last word is one of several candidates of the same kind in the passage
# (people, places), and only the passage's events (who gave what to whom, who went where) say which one.
# **Parallel** documents carry the same content in both languages. **Instruction tasks** (MIP) come in families;
# two families are held out of every training split, for zero-shot evaluation.

# %%
for item in corpus["cloze_test"][:2]:
    print(f"[{item['lang']}] ...{item['context'][-150:]}  ->  target: {item['target']!r} "
          f"of candidates {item['candidates']}")
pair = corpus["parallel_test"][0]
print("\nEN:", pair["en"][:200], "\nZH:", pair["zh"][:120])
print("\ntraining task families:", TRAIN_FAMILIES, " held out:", HELDOUT_FAMILIES)
for family in TRAIN_FAMILIES[:3] + HELDOUT_FAMILIES:
    example = next(r for r in corpus["mip_train"] + corpus["mip_heldout"] if r["family"] == family)
    print(f"\n[{family}/{example['lang']}] {example['prompt'][-160:]!r} -> {example['answer']!r}")
assert not {r["family"] for r in corpus["mip_train"]} & set(HELDOUT_FAMILIES)

# %% [markdown]
# ## 2. Training the tokenizer
# **Why a unigram model.** A tokenizer must cut any text, English or Chinese, into pieces from a fixed vocabulary.
# sentencepiece's *unigram* model (icetk's kind) gives each piece $x$ a probability $p(x)$ and cuts a text $X$ into
# the most probable sequence of pieces among all segmentations $S(X)$:
#
# $$\mathbf{x}^* = \arg\max_{\mathbf{x} \in S(X)} \sum_{i} \log p(x_i)$$
#
# (found by Viterbi search; training prunes the vocabulary that maximizes the corpus likelihood). In the kit:
# `glm_mini/tokenizer.py`, `GLMTokenizer.train(..., model_type="unigram")`.
#
# `GLMTokenizer.train` calls sentencepiece's trainer with the settings that make it lossless and icetk-like:
# `model_type="unigram"`, `byte_fallback=True` (an unseen character becomes its UTF-8 bytes, never `<unk>`),
# `normalization_rule_name="identity"`, `add_dummy_prefix=False`, `remove_extra_whitespaces=False`, and `<n>` as a
# control symbol. The vocabulary size counts the six GLM specials appended after the sentencepiece pieces. One
# subtlety of templated text: sentencepiece seeds its unigram vocabulary with *maximal* repeated substrings, and a word
# like " was" that is always followed by a space is never maximal, so `train` also feeds every distinct word once
# as its own line (see its docstring; a test pins " was" as one piece). Here we
# time a training run on part of the corpus; `default_tokenizer()` trains on the whole train split once and caches
# the model file under `data/cache/tokenizer/`.

# %%
train_texts = [r["text"] for r in corpus["train"]]
sample_texts = train_texts[:4000] if FAST else train_texts
start = time.perf_counter()
sample_tok = GLMTokenizer.train(sample_texts, vocab_size=8192)
train_s = time.perf_counter() - start
sample_mb = sum(len(t.encode("utf-8")) for t in sample_texts) / 1e6
print(f"trained a {len(sample_tok)}-id tokenizer on {sample_mb:.2f} MB in {train_s:.2f} s")

tok = default_tokenizer()  # the kit's tokenizer (whole train split; cached after the first run)
print(f"default tokenizer: {len(tok)} ids = {tok.sp_vocab_size} sentencepiece pieces + {len(SPECIAL_TOKENS)} specials")
for text in ["The town was founded in 1872.", "米萨塔以陶器闻名。", "Li Wei 买了 3 本书\n然后回家"]:
    print(f"{text!r:38s} -> {tok.tokenize(text)}")

# %% [markdown]
# ### Your turn — Exercise 1.1: encoding with special tokens
# `encode` first cuts the text at special-token strings (`SPECIAL_TOKENS`), newlines and the character `▁`
# (sentencepiece's stand-in for a space, which it would read back as a space), encodes the plain parts with
# sentencepiece (`tok.sp.encode(text)`), and puts ids for the cut-out parts in between: `tok.token_to_id(special)`,
# `tok.newline_id` for `\n`, and for `▁` its three UTF-8 bytes as byte pieces (`tok.sp.piece_to_id("<0xE2>")`, ...).
# Write `my_encode(tok, text)`. *Predict first:* how many ids does `"[MASK]"` alone give, and how many would
# sentencepiece alone (`tok.sp.encode("[MASK]")`) give?

# %%
def my_encode(tok, text):
    ### BEGIN SOLUTION
    ### HINT: every cut-out piece must come back in its place, and the empty text between two cuts gives no id
    pieces = re.split("(" + "|".join(map(re.escape, [*SPECIAL_TOKENS, "\n", "\u2581"])) + ")", text)
    ids = []
    for i, piece in enumerate(pieces):
        if i % 2 == 0:  # plain text between cuts
            ids += tok.sp.encode(piece)
        elif piece == "\n":
            ids.append(tok.newline_id)
        elif piece == "\u2581":  # its three UTF-8 bytes as byte pieces
            ids += [tok.sp.piece_to_id(f"<0x{b:02X}>") for b in piece.encode("utf-8")]
        else:
            ids.append(tok.token_to_id(piece))
    return ids
    ### END SOLUTION


# %%
passed["1.1"] = check_encode(my_encode, tok)
encode = use(my_encode, passed["1.1"], GLMTokenizer.encode)
round_trips = ["  two spaces\tand a tab\r\n", "emoji 🙂 rare 龘 ▁ <n> literal", *train_texts[:50]]
for text in round_trips:
    assert tok.decode(encode(tok, text)) == text  # exact round trip
print(f"encode -> decode gives the text back exactly on {len(round_trips)} texts")
print(f'"[MASK]": {len(encode(tok, "[MASK]"))} id with the rules, {len(tok.sp.encode("[MASK]"))} ids from '
      f"sentencepiece alone: {tok.sp.encode('[MASK]', out_type=str)}")

# %% [markdown] tags=["prediction"]
# One id: `[MASK]` is cut out before sentencepiece sees the text and becomes `tok.token_to_id("[MASK]")`.
# Sentencepiece alone knows no GLM special and cuts the six characters into ordinary pieces (printed above); a
# model fed those would see the letters M, A, S, K, not a blank.

# %% [markdown]
# ## 3. Tokens per character: English vs Chinese vs mixed
# A Chinese character carries more information than a Latin letter, so Chinese needs more tokens per *character*
# (fewer per *byte*: each hanzi is 3 UTF-8 bytes). Measured on the validation split, over documents $d$:
#
# $$\text{tokens per character} = \frac{\sum_d |\mathrm{encode}(d)|}{\sum_d |d|}$$
#
# (`tokens_per_char` below; per byte, $|d|$ counts UTF-8 bytes instead).

# %%
groups = {
    "en": [r["text"] for r in corpus["validation"] if r["lang"] == "en"],
    "zh": [r["text"] for r in corpus["validation"] if r["lang"] == "zh"],
    "mixed": [r["en"] + "\n" + r["zh"] for r in corpus["parallel_test"]],
}


def tokens_per_char(tok, texts):
    return sum(map(len, tok.encode_batch(texts))) / sum(map(len, texts))


def tokens_per_byte(tok, texts):
    return sum(map(len, tok.encode_batch(texts))) / sum(len(t.encode("utf-8")) for t in texts)


tpc = {lang: tokens_per_char(tok, texts) for lang, texts in groups.items()}
tpb = {lang: tokens_per_byte(tok, texts) for lang, texts in groups.items()}
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
axes[0].bar(list(tpc), list(tpc.values()), color=["tab:blue", "tab:red", "tab:purple"])
axes[0].set(title="tokens per character", xlabel="validation text", ylabel="tokens / character")
axes[1].bar(list(tpb), list(tpb.values()), color=["tab:blue", "tab:red", "tab:purple"])
axes[1].set(title="tokens per UTF-8 byte", xlabel="validation text", ylabel="tokens / byte")
fig.tight_layout()
plt.show()
print({k: round(v, 3) for k, v in tpc.items()}, {k: round(v, 3) for k, v in tpb.items()})

# %% [markdown]
# ## 4. Vocabulary size vs sequence length
# A smaller vocabulary means shorter pieces, so the same text takes more tokens: the model's context window holds
# less text and each training step sees less. (GLM-130B's icetk has 150 k ids, about 130 k of them text; the kit's
# "mini" preset uses 2048 and "nano" 1024.) Each tokenizer below is trained on the same sample as in section 2 (in
# FAST mode the first 4000 training documents, so its 8192 row differs a little from the default tokenizer trained on
# the whole split):

# %%
vocab_sizes = [1024, 2048, 4096, 8192]
sweep, sweep_tokenizers = {}, {}
for size in vocab_sizes:
    t = sweep_tokenizers[size] = sample_tok if size == 8192 else GLMTokenizer.train(sample_texts, vocab_size=size)
    sweep[size] = {lang: tokens_per_char(t, texts) for lang, texts in groups.items()}
fig, ax = plt.subplots(figsize=(5, 3))
for lang in groups:
    ax.plot(vocab_sizes, [sweep[s][lang] for s in vocab_sizes], marker="o", label=lang)
ax.set_xscale("log", base=2)
ax.set_xticks(vocab_sizes, [str(v) for v in vocab_sizes])
ax.set_xlabel("vocabulary size (ids)")
ax.set_ylabel("tokens per character")
ax.legend(title="validation text")
plt.show()

# %% [markdown]
# The same sentence cut by each vocabulary: one coloured box per piece (its id below it). Chinese glyphs appear in the
# figure when a CJK font is installed; the line printed under the figure always shows every piece.

# %%
from matplotlib import font_manager

CJK_FONTS = sorted({f.name for f in font_manager.fontManager.ttflist
                    if any(key in f.name for key in ("CJK", "WenQuanYi", "Heiti", "SimHei", "Source Han"))})
if CJK_FONTS:
    plt.rcParams["font.family"] = ["DejaVu Sans", CJK_FONTS[0]]  # matplotlib falls back glyph by glyph
else:  # no CJK font here: hanzi are drawn as boxes, and the printed line shows them; say it once, not per glyph
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
    print("no CJK font installed: Chinese pieces show as boxes in the figure (e.g. apt install fonts-noto-cjk)")


def show_pieces(text="Li Wei went to the library. 李伟去了图书馆。", vocab_size=8192):
    t = sweep_tokenizers[vocab_size]  # trained in the sweep above
    ids = encode(t, text)
    pieces = [t.decode([i]) for i in ids]
    fig, ax = plt.subplots(figsize=(min(12, 0.9 + 0.55 * len(ids)), 1.3))
    for n, (i, piece) in enumerate(zip(ids, pieces)):
        ax.add_patch(plt.Rectangle((n, 0), 0.95, 1, color=plt.cm.tab20(n % 20), alpha=0.6))
        ax.text(n + 0.47, 0.55, piece.replace(" ", "␣").replace("\n", "⏎"), ha="center", va="center", fontsize=9)
        ax.text(n + 0.47, -0.35, str(i), ha="center", va="center", fontsize=7, color="dimgray")
    ax.set(xlim=(0, len(ids)), ylim=(-0.7, 1.1), yticks=[],
           title=f"{len(ids)} tokens for {len(text)} characters (vocabulary {vocab_size})")
    ax.set_xticks(range(len(ids)))
    ax.set_xlabel("token index")
    plt.show()
    print(" | ".join(pieces))


show_pieces()

# %% tags=["widget"]
widgets.interact(show_pieces, text=widgets.Text("Li Wei went to the library. 李伟去了图书馆。", continuous_update=False),
                 vocab_size=widgets.Dropdown(options=vocab_sizes, value=8192));

# %% [markdown]
# ## 5. What the special tokens are for
# - `[MASK]` replaces a short span in the input (blank infilling, 30% of GLM-130B's sequences); `[gMASK]` stands for a
#   long blank at the end that the model writes left to right (70%); `[sMASK]` (sentence blanks) exists in icetk but
#   GLM-130B never trained it (`docs/glm130b_facts.md` §1.2, §2.1).
# - `[sop]` starts each span the model generates and `[eop]` ends it (Part B in notebook 02).
# - `<eod>` ends a document in packed training sequences; `</s>` (eos) and `<pad>` (id 0, as in icetk) are
#   sentencepiece's own control pieces. Each is **one id**, even glued to text:

# %%
text = "李伟去了图书馆。Li Wei went to the library."
masked = text.replace("图书馆", "[MASK]")
span_input = "[sop]图书馆"
print(masked, "->", tok.tokenize(masked))
print(span_input, "->", tok.tokenize(span_input), "+ [eop] as the last target")
prefix = "Li Wei went to the[gMASK][sop]"
print(prefix, "->", tok.encode(prefix))
for special in SPECIAL_TOKENS:
    assert tok.encode(f"x{special}y").count(tok.token_to_id(special)) == 1
print({s: tok.token_to_id(s) for s in SPECIAL_TOKENS}, "pad", tok.pad_id, "eos", tok.eos_id, "<n>", tok.newline_id)

# %% [markdown]
# ## 6. Packing documents into training sequences
# **Why.** A batch is a rectangle of token ids, but documents have every length; padding each one to the longest would
# waste most of the compute. So documents are joined, each followed by `<eod>`, and the stream is cut into rows of
# $T$ tokens; only the last row is padded:
#
# $$N_{\text{rows}} = \Big\lceil \frac{\sum_d (|d| + 1)}{T} \Big\rceil$$
#
# (`glm_mini/data/packing.py`, `pack_documents`: `n_seq = -(-total // seq_len)`). The document boundaries are kept
# beside the rows, so the objective (notebook 02) can build per-document samples.
#
# ### Your turn — Exercise 1.2: pack
# Write `my_pack(docs, seq_len, eod_id, pad_id)`: `docs` is a list of lists of ids; return the rows as a list of
# lists, each `seq_len` long. *Predict first:* how many rows do two documents of 3 tokens each make with
# `seq_len=4`, and how many padding ids do they need?

# %%
def my_pack(docs, seq_len, eod_id, pad_id):
    ### BEGIN SOLUTION
    ### HINT: every document ends with <eod>, the last one too; and a stream that fills its last row exactly needs no padding
    stream = [t for d in docs for t in (*d, eod_id)]
    stream += [pad_id] * (-len(stream) % seq_len)
    return [stream[i:i + seq_len] for i in range(0, len(stream), seq_len)]
    ### END SOLUTION


# %%
passed["1.2"] = check_pack(my_pack)
pack = use(my_pack, passed["1.2"], lambda *args: pack_documents(*args).tokens.tolist())

docs = [tok.encode(t) for t in ["李伟去了图书馆。", "Anna saw 3 dogs.", "好"]]
T = 8
rows = pack(docs, T, tok.eod_id, tok.pad_id)
packed = pack_documents(docs, T, tok.eod_id, tok.pad_id, len(tok))
assert rows == packed.tokens.tolist()
flat = np.array(rows).reshape(-1)  # [rows, T] -> [rows*T]
document = np.cumsum(np.r_[0, flat[:-1] == tok.eod_id])  # index of the document each position belongs to
document = np.ma.masked_where(np.arange(flat.size) >= sum(len(d) + 1 for d in docs), document).reshape(len(rows), T)
fig, ax = plt.subplots(figsize=(6, 0.6 + 0.45 * len(rows)))
ax.imshow(document, cmap="Set2", aspect="auto", vmin=0, vmax=7)
for (r, c), token in np.ndenumerate(np.array(rows)):
    label = "eod" if token == tok.eod_id else "pad" if token == tok.pad_id else str(token)
    ax.text(c, r, label, ha="center", va="center", fontsize=7)
ax.set(xticks=range(T), yticks=range(len(rows)), xlabel="position in the row", ylabel="row",
       title="packed rows: one colour per document, white = padding")
ax.legend(handles=[Patch(color=plt.cm.Set2(k / 7), label=f"document {k}") for k in range(len(docs))],
          loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
plt.show()
for i in range(len(packed)):  # the boundaries pack_documents keeps: segment index within the row, -1 = padding
    print(f"row {i} segments:", packed.segment_ids(i).tolist())
two_by_three = pack([[5, 6, 7], [8, 9, 10]], 4, tok.eod_id, tok.pad_id)
print(f"two documents of 3 tokens, rows of 4: {len(two_by_three)} rows, "
      f"{sum(row.count(tok.pad_id) for row in two_by_three)} padding ids: {two_by_three}")

# %% [markdown] tags=["prediction"]
# Two rows and no padding: each document takes its 3 tokens plus an `<eod>`, $2 \times 4 = 8$ ids, exactly two rows
# of 4 ($\lceil 8/4 \rceil = 2$). A packer that pads every document separately, or adds a padding row when the
# stream ends on a row boundary, gets this case wrong; it is the check's edge case.

# %% tags=["summary"]
print(exercise_record(passed))
print(f"corpus: train {split_mb['train']:.2f} MB in {len(corpus['train'])} documents; "
      f"all splits {sum(split_mb.values()):.2f} MB; cloze items {len(corpus['cloze_test'])}, "
      f"parallel pairs {len(corpus['parallel_test'])}, held-out task families {', '.join(HELDOUT_FAMILIES)}")
print(f"tokenizer: {len(tok)} ids ({tok.sp_vocab_size} sentencepiece + {len(SPECIAL_TOKENS)} GLM specials); "
      f"training on {sample_mb:.2f} MB took {train_s:.2f} s")
print("tokens/char with the default tokenizer: " + ", ".join(f"{k} {v:.3f}" for k, v in tpc.items()))
for size in vocab_sizes:
    print(f"vocab {size:5d}: tokens/char " + ", ".join(f"{k} {v:.3f}" for k, v in sweep[size].items()))
