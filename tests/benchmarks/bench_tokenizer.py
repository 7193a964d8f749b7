"""Benchmark: corpus generation, tokenizer training, encode/decode throughput per language (printed tables).

Ratios are against baselines measured in the same process: Zipf draws with ``cum_weights`` vs plain ``weights``
(plain ``weights`` re-sums the whole vocabulary on every call), batch vs one-by-one encoding, and tokenizer speed
vs ``str.encode('utf-8')`` over the same text. No wall-clock asserts: run with ``make bench``.
"""

import random
import time

from glm_mini.data import CorpusConfig, generate_corpus
from glm_mini.data.sampling import PEOPLE
from glm_mini.tokenizer import GLMTokenizer


def _best(fn, repeat: int = 3) -> float:
    """Best-of-``repeat`` wall time of ``fn()`` in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def test_bench_corpus_and_tokenizer():
    config = CorpusConfig()
    t_gen = _best(lambda: generate_corpus(config), repeat=1)
    corpus = generate_corpus(config)
    train = [r["text"] for r in corpus["train"]]
    mb = sum(len(t.encode("utf-8")) for t in train) / 1e6

    rng = random.Random(0)
    draws = 20000
    weights = [PEOPLE.cum_weights[0]] + [b - a for a, b in zip(PEOPLE.cum_weights, PEOPLE.cum_weights[1:])]
    t_cum = _best(lambda: [PEOPLE(rng) for _ in range(draws)])
    t_plain = _best(lambda: [rng.choices(PEOPLE.items, weights=weights)[0] for _ in range(draws)], repeat=1)

    start = time.perf_counter()
    tok = GLMTokenizer.train(train, 8192)
    t_train = time.perf_counter() - start

    print("\n\ncorpus and tokenizer (default config)")
    print(f"{'measure':44s} {'value':>14s}")
    print(f"{'train split size (MB, UTF-8)':44s} {mb:14.2f}")
    print(f"{'train documents':44s} {len(train):14d}")
    print(f"{'generate all splits (s)':44s} {t_gen:14.2f}")
    print(f"{'generation speed (MB/s, train split)':44s} {mb / t_gen:14.2f}")
    print(f"{'Zipf draw, cum_weights (us/draw, {0} names)'.format(len(PEOPLE.items)):44s} {1e6 * t_cum / draws:14.2f}")
    print(f"{'Zipf draw, plain weights (us/draw)':44s} {1e6 * t_plain / draws:14.2f}")
    print(f"{'  speed-up of cum_weights (x)':44s} {t_plain / t_cum:14.1f}")
    print(f"{'tokenizer training, vocab 8192 (s)':44s} {t_train:14.2f}")

    groups = {
        "en": [r["text"] for r in corpus["validation"] if r["lang"] == "en"],
        "zh": [r["text"] for r in corpus["validation"] if r["lang"] == "zh"],
        "mixed": [r["en"] + "\n" + r["zh"] for r in corpus["parallel_test"]],
    }
    header = (f"{'lang':6s} {'chars':>9s} {'tok/char':>9s} {'Mchar/s batch':>14s} {'Mtok/s batch':>13s} "
              f"{'1-by-1/batch':>13s} {'ours/utf-8':>11s} {'Mchar/s decode':>15s}")
    print("\nencode/decode throughput, best of 3. Ratios of times: 1-by-1/batch > 1 means batch encoding is faster;"
          "\nours/utf-8 is how many times longer encode_batch takes than str.encode('utf-8') on the same texts")
    print(header)
    for lang, texts in groups.items():
        chars = sum(map(len, texts))
        ids = tok.encode_batch(texts)
        n_tokens = sum(map(len, ids))
        t_batch = _best(lambda: tok.encode_batch(texts))
        t_single = _best(lambda: [tok.encode(t) for t in texts])
        t_utf8 = _best(lambda: [t.encode("utf-8") for t in texts])
        t_decode = _best(lambda: tok.decode_batch(ids))
        print(f"{lang:6s} {chars:9d} {n_tokens / chars:9.3f} {chars / t_batch / 1e6:14.2f} "
              f"{n_tokens / t_batch / 1e6:13.2f} {t_single / t_batch:13.2f} {t_batch / t_utf8:11.1f} "
              f"{chars / t_decode / 1e6:15.2f}")
