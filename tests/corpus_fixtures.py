"""Small corpus and tokenizer shared by the data tests, built once per test session (a few seconds)."""

from functools import lru_cache

from glm_mini.data import CorpusConfig, generate_corpus
from glm_mini.tokenizer import GLMTokenizer

SMALL = CorpusConfig(seed=0, size_mb=0.3, cloze_items=60, infill_items=60, parallel_items=60, mip_eval_items=20)
SMALL_VOCAB = 2048


@lru_cache(maxsize=None)
def small_corpus(seed: int = 0) -> dict:
    return generate_corpus(CorpusConfig(**{**SMALL.__dict__, "seed": seed}))


@lru_cache(maxsize=None)
def small_tokenizer() -> GLMTokenizer:
    return GLMTokenizer.train([r["text"] for r in small_corpus()["train"]], SMALL_VOCAB)
