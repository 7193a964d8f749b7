"""The default corpus measured as a skeptic would: generation time, every baseline, diversity beside real text.

Prints (``make bench``, or ``.venv/bin/python tests/benchmarks/bench_data.py``):
- the time to generate the default corpus (seed 0, 4 MB), best of two;
- ``format_table(baseline_table(corpus, tokenizer))`` with the tokenizer of ``PRESETS["mini"]``'s vocabulary:
  unigram and Kneser-Ney bigram nats/token on validation, and every rule on every evaluation split;
- per language: distinct sentence frames in train, the share of the 100 most common, the distinct-4-gram ratio
  beside a real text of the same length, and (Chinese) distinct characters and the share of the real text's
  characters the corpus contains. The real texts are the Vim tutor in English and Chinese, read from the machine
  (``/usr/share/vim/vim*/tutor/``) when present; the kit ships no third-party text.
"""

from __future__ import annotations

import glob
import time

from glm_mini import PRESETS
from glm_mini.data import CorpusConfig, generate_corpus
from glm_mini.data.baselines import baseline_table, format_table
from glm_mini.data.diversity import CJK, char_coverage, distinct_ngram_ratio, frame_counts, tokens
from glm_mini.data.corpus_tokenizer import default_tokenizer

REFERENCES = {"en": "/usr/share/vim/vim*/tutor/tutor", "zh": "/usr/share/vim/vim*/tutor/tutor.zh_cn.utf-8"}


def _reference(lang: str) -> tuple[str, str] | None:
    paths = sorted(glob.glob(REFERENCES[lang]))
    if not paths:
        return None
    with open(paths[-1], encoding="utf-8") as f:
        return paths[-1], f.read()


def main() -> None:
    config = CorpusConfig()
    times = []
    for _ in range(2):
        t = time.perf_counter()
        corpus = generate_corpus(config)
        times.append(time.perf_counter() - t)
    print(f"RESULT generation: {min(times):.1f} s for the default corpus (seed 0, {config.size_mb:g} MB train)")
    tokenizer = default_tokenizer(vocab_size=PRESETS["mini"].vocab_size, corpus=config)
    print(format_table(baseline_table(corpus, tokenizer)))
    train_text = "\n".join(r["text"] for r in corpus["train"])
    for lang in ("en", "zh"):
        texts = [r["text"] for r in corpus["train"] if r["lang"] == lang]
        frames = frame_counts(texts, lang)
        top = sum(n for _, n in frames.most_common(100)) / sum(frames.values())
        line = f"RESULT diversity {lang}: {len(frames)} sentence frames, top 100 cover {100 * top:.1f}%"
        ours = tokens("\n".join(texts), lang)
        ref = _reference(lang)
        if ref:
            theirs = tokens(ref[1], lang)
            n = min(len(ours), len(theirs))
            line += (f"; distinct-4 over {n} tokens: corpus {distinct_ngram_ratio(ours, 4, n):.3f}, "
                     f"{ref[0]} {distinct_ngram_ratio(theirs, 4, n):.3f}")
        if lang == "zh":
            line += f"; {len(set(CJK.findall(train_text)))} distinct Chinese characters in train"
            if ref:
                same = "".join(CJK.findall("".join(texts)))[: len(CJK.findall(ref[1]))]
                line += (f" ({len(set(same))} in a sample as long as the reference, which has "
                         f"{len(set(CJK.findall(ref[1])))}); the corpus covers "
                         f"{100 * char_coverage(train_text, ref[1]):.1f}% of the reference's characters")
        print(line)


def test_data_measurements():  # collected by ``make bench``
    main()


if __name__ == "__main__":
    main()
