# %% [markdown]
# # 01 · A bilingual corpus and GLM's tokenizer
#
# Budget: 60 s (FAST mode, 2-core CPU).
#
# GLM-130B read English and Chinese through **icetk**, a sentencepiece *unigram* model trained on 25 GB of bilingual
# text, with `\n` as the piece `<n>` and GLM's special tokens (`[MASK]`, `[gMASK]`, `[sMASK]`, `eod`, `sop`, `eop`)
# placed after its vocabulary (paper App. B.1; SwissArmyTransformer `ice_tokenizer.py`; `docs/GLM130B_SPEC.md` §1.2).
# This notebook builds the kit's small version of both:
#
# 1. the **corpus**: a seeded generator writes English and Chinese documents, long-range cloze items, parallel
#    documents and instruction tasks (`glm_mini/data/`);
# 2. the **tokenizer**: sentencepiece unigram with byte fallback, trained on that corpus (`glm_mini/tokenizer.py`);
# 3. how many tokens each language costs, and how the vocabulary size changes it;
# 4. what the special tokens are for, and how documents are **packed** into fixed-length training sequences.

# %%
import os
import random
import re
import time

import matplotlib.pyplot as plt
import numpy as np
import torch

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
random.seed(0)
np.random.seed(0)
torch.manual_seed(0)

from glm_mini.data import HELDOUT_FAMILIES, SPLITS, TRAIN_FAMILIES, CorpusConfig, load_corpus, pack_documents
from glm_mini.tokenizer import SPECIAL_TOKENS, GLMTokenizer, default_tokenizer

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
# ### Encoding, rebuilt by hand
# `encode` first cuts the text at special-token strings, newlines and the character `▁` (sentencepiece's stand-in for
# a space, which it would read back as a space), encodes the plain parts with sentencepiece, and puts ids for the
# cut-out parts in between. Rebuilt in a few lines and checked against the package:

# %%
def encode_by_hand(tok, text):
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


checks = ["  two spaces\tand a tab\r\n", "中文[MASK]English[gMASK][sop]", "emoji 🙂 rare 龘 ▁ <n> literal",
          *train_texts[:50]]
for text in checks:
    assert encode_by_hand(tok, text) == tok.encode(text)
    assert tok.decode(tok.encode(text)) == text  # exact round trip
print("hand-built encode == GLMTokenizer.encode on", len(checks), "texts; all round trips exact")

# %% [markdown]
# ## 3. Tokens per character: English vs Chinese vs mixed
# A Chinese character carries more information than a Latin letter, so Chinese needs more tokens per *character*
# (fewer per *byte*: each hanzi is 3 UTF-8 bytes). Measured on the validation split:

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
axes[0].set_title("tokens per character")
axes[1].bar(list(tpb), list(tpb.values()), color=["tab:blue", "tab:red", "tab:purple"])
axes[1].set_title("tokens per UTF-8 byte")
fig.tight_layout()
plt.show()
print({k: round(v, 3) for k, v in tpc.items()}, {k: round(v, 3) for k, v in tpb.items()})

# %% [markdown]
# ## 4. Vocabulary size vs sequence length
# A smaller vocabulary means shorter pieces, so the same text takes more tokens: the model's context window holds
# less text and each training step sees less. (GLM-130B's icetk has 150 k ids; the kit's "mini" preset uses 2048 and
# "nano" 1024.) Each tokenizer below is trained on the same sample as in section 2 (in FAST mode the first 4000
# training documents, so its 8192 row differs a little from the default tokenizer trained on the whole split):

# %%
vocab_sizes = [1024, 2048, 4096, 8192]
sweep = {}
for size in vocab_sizes:
    t = sample_tok if size == 8192 else GLMTokenizer.train(sample_texts, vocab_size=size)
    sweep[size] = {lang: tokens_per_char(t, texts) for lang, texts in groups.items()}
fig, ax = plt.subplots(figsize=(5, 3))
for lang in groups:
    ax.plot(vocab_sizes, [sweep[s][lang] for s in vocab_sizes], marker="o", label=lang)
ax.set_xscale("log", base=2)
ax.set_xlabel("vocabulary size (ids)")
ax.set_ylabel("tokens per character")
ax.legend()
plt.show()
for size in vocab_sizes:
    print(size, {k: round(v, 3) for k, v in sweep[size].items()})

# %% [markdown]
# ## 5. What the special tokens are for
# - `[MASK]` replaces a short span in the input (blank infilling, 30% of GLM-130B's sequences); `[gMASK]` stands for a
#   long blank at the end that the model writes left to right (70%); `[sMASK]` (sentence blanks) exists in icetk but
#   GLM-130B never trained it (`docs/GLM130B_SPEC.md` §1.2, §2.1).
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
# Documents are joined with `<eod>` and cut into rows of `T` tokens; the document boundaries are kept beside the rows,
# so the objective (notebook 02) can build per-document samples. Built by hand for three tiny documents, then compared
# with `pack_documents`:

# %%
docs = [tok.encode(t) for t in ["李伟去了图书馆。", "Anna saw 3 dogs.", "好"]]
T = 8
stream = [t for d in docs for t in (*d, tok.eod_id)]
rows = -(-len(stream) // T)
by_hand = np.full(rows * T, tok.pad_id)
by_hand[: len(stream)] = stream
by_hand = by_hand.reshape(rows, T)  # [rows*T] -> [rows, T]
packed = pack_documents(docs, T, tok.eod_id, tok.pad_id, len(tok))
assert (packed.tokens == by_hand).all()
for i in range(len(packed)):
    print(packed.tokens[i].tolist(), "segments:", packed.segment_ids(i).tolist())

# %% tags=["summary"]
print(f"corpus: train {split_mb['train']:.2f} MB in {len(corpus['train'])} documents; "
      f"all splits {sum(split_mb.values()):.2f} MB; cloze items {len(corpus['cloze_test'])}, "
      f"parallel pairs {len(corpus['parallel_test'])}, held-out task families {', '.join(HELDOUT_FAMILIES)}")
print(f"tokenizer: {len(tok)} ids ({tok.sp_vocab_size} sentencepiece + {len(SPECIAL_TOKENS)} GLM specials); "
      f"training on {sample_mb:.2f} MB took {train_s:.2f} s")
print("tokens/char with the default tokenizer: " + ", ".join(f"{k} {v:.3f}" for k, v in tpc.items()))
for size in vocab_sizes:
    print(f"vocab {size:5d}: tokens/char " + ", ".join(f"{k} {v:.3f}" for k, v in sweep[size].items()))
