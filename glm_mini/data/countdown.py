"""The long-suffix split for ``[gMASK]``: complete a countdown of 20-50 tokens, then stop.

How it works
------------
GLM-130B's ``[gMASK]`` rows (70% of its self-supervised data, paper §2.2) train it to generate a long suffix after a
bidirectional prefix; ``[MASK]`` rows only ever ask for short spans (Poisson λ = 3). A task that asks for a long,
fully determined completion that must also *end* shows the difference. A countdown is one:

    "Anna counted down from 14: 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0. Liftoff!"

Each step is an association learned early (``"12,"`` is followed by ``" 11"``), and the end is fixed ("0. Liftoff!"
and the end of the document). ``countdown`` documents (start 8-20) are part of the pretraining mixture; the
``completion_test`` split gives the header and the first two numbers as ``prompt`` and the rest of the document as
``target``. A model completes the item when its generation equals ``target`` and then stops (an end token:
``<eod>``, ``[eop]`` or ``eos``).
"""

from __future__ import annotations

import random

from glm_mini.data.documents import new_person
from glm_mini.data.lexicon import Pair

START_RANGE = (8, 20)
_HEADERS = [("{p} counted down from {n}: ", "{p}从{n}开始倒数："),
            ("The launch count of {p} began at {n}: ", "{p}的发射倒计时从{n}开始：")]
_ENDS = [(" Liftoff!", "发射！"), (" Go!", "出发！")]


def _parts(rng: random.Random) -> tuple[Pair, list[Pair], Pair]:
    n = rng.randint(*START_RANGE)
    person = new_person(rng).name  # names make the documents (and the test items) distinct texts
    header = Pair(*(t.format(n=n, p=person[i]) for i, t in enumerate(rng.choice(_HEADERS))))
    numbers = [Pair(f"{k}," if k else "0.", f"{k}，" if k else "0。") for k in range(n, -1, -1)]
    return header, numbers, Pair(*rng.choice(_ENDS))


def _text(header: Pair, numbers: list[Pair], end: Pair, side: int) -> str:
    sep = " " if side == 0 else ""
    return header[side] + sep.join(x[side] for x in numbers) + end[side]


def countdown_sentences(rng: random.Random) -> list[Pair]:
    """A ``countdown`` document as one sentence pair (the pretraining kind)."""
    header, numbers, end = _parts(rng)
    return [Pair(_text(header, numbers, end, 0), _text(header, numbers, end, 1))]


def completion_item(rng: random.Random) -> tuple[dict, dict]:
    """One countdown as a ``completion_test`` record in English and in Chinese: the header and the first two numbers
    as ``prompt``, the rest as ``target``."""
    header, numbers, end = _parts(rng)
    records = []
    for side, lang in ((0, "en"), (1, "zh")):
        text = _text(header, numbers, end, side)
        sep = " " if side == 0 else ""
        prompt = header[side] + sep.join(x[side] for x in numbers[:2])
        records.append({"text": text, "kind": "countdown", "lang": lang, "prompt": prompt,
                        "target": text[len(prompt):], "form": "countdown"})
    return records[0], records[1]
