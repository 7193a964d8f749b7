"""A subprocess entry point for measuring peak memory (``scale_up.peak_rss``) of packing a real corpus two ways.

``main(["lists", CORPUS, TOKENIZER, SEQ_LEN])`` is the earlier user-corpus path: every text in a Python list, every
document's ids in a list of lists, then ``pack_corpus`` in memory. ``main(["stream", ...])`` is the kit's path now,
``pack_real_corpus`` (``datasets.map`` into Arrow, then the streaming packer into a memory-mapped cache)."""

from glm_mini.data import load_text_corpus, pack_corpus
from glm_mini.data.packed_corpus import pack_real_corpus
from glm_mini.tokenizer import GLMTokenizer


def main(argv: list[str]) -> None:
    mode, corpus, tokenizer_path, seq_len = argv[0], argv[1], argv[2], int(argv[3])
    tokenizer = GLMTokenizer.from_file(tokenizer_path)
    if mode == "lists":
        texts = list(load_text_corpus(corpus)["text"])
        n_val = max(1, round(0.05 * len(texts)))
        pack_corpus(tokenizer, texts[:-n_val], seq_len)
        pack_corpus(tokenizer, texts[-n_val:], seq_len)
    elif mode == "stream":
        pack_real_corpus(corpus, tokenizer, seq_len)
    else:
        raise ValueError(f"mode: expected 'lists' or 'stream', got {mode!r}")
