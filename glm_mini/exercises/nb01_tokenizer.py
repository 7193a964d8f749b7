"""Checks for notebook 01's exercises: encoding text with GLM's special tokens, and packing documents into rows.

How it works
------------
``check_encode`` runs the student's ``fn(tokenizer, text) -> list[int]`` and ``GLMTokenizer.encode`` on texts that
exercise every rule of the encoder: special-token strings, newlines, sentencepiece's ``▁`` written literally, spaces,
characters outside the vocabulary (byte fallback), and the empty text. ``check_pack`` runs the student's
``fn(docs, seq_len, eod_id, pad_id) -> list of rows`` against ``pack_documents``: every document followed by
``<eod>``, the stream cut into rows of ``seq_len``, the last row padded (``rows = ⌈Σ(len(d) + 1) / seq_len⌉``).
"""

from __future__ import annotations

import random

from glm_mini.data import pack_documents
from glm_mini.exercises.harness import Case, run_check
from glm_mini.tokenizer import GLMTokenizer

ENCODE_TEXTS = [
    ("English", "The town was founded in 1872."),
    ("Chinese", "李伟去了图书馆。"),
    ("special tokens glued to text", "中文[MASK]English[gMASK][sop]x[eop]<eod>"),
    ("newlines, spaces and a tab", "two  spaces\tand\nnew\n\nlines\n"),
    ("a literal ▁ and rare characters", "▁ 龘 🙂 ▁▁"),
    ("edge: the empty text", ""),
]


def check_encode(student_fn, tokenizer: GLMTokenizer) -> bool:
    """Exercise 1.1: ``student_fn(tokenizer, text) -> list[int]`` must equal ``tokenizer.encode(text)``."""
    if not isinstance(tokenizer, GLMTokenizer):
        raise TypeError(f"tokenizer: expected a GLMTokenizer, got {type(tokenizer).__name__}")
    cases = [Case(label, (tokenizer, text)) for label, text in ENCODE_TEXTS]
    return run_check("Exercise 1.1", student_fn, GLMTokenizer.encode, cases)


def _packed_rows(docs, seq_len, eod_id, pad_id):
    return pack_documents(docs, seq_len, eod_id, pad_id).tokens.tolist()


def check_pack(student_fn) -> bool:
    """Exercise 1.2: ``student_fn(docs, seq_len, eod_id, pad_id) -> list[list[int]]``, the packed rows."""
    rng = random.Random(12)
    cases = []
    for label, n_docs, max_len, seq_len in [("three short documents, rows of 8", 3, 6, 8),
                                            ("ten documents, rows of 16", 10, 20, 16),
                                            ("documents longer than a row", 4, 30, 7)]:
        docs = [[rng.randrange(3, 100) for _ in range(rng.randint(1, max_len))] for _ in range(n_docs)]
        cases.append(Case(label, (docs, seq_len, 2, 0)))
    cases.append(Case("edge: the stream fills the last row exactly", ([[5, 6, 7], [8, 9, 10]], 4, 2, 0)))
    return run_check("Exercise 1.2", student_fn, _packed_rows, cases)
