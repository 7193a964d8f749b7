"""The long-suffix split for ``[gMASK]``: complete a countdown of 20-50 tokens, then stop.

How it works
------------
GLM-130B's ``[gMASK]`` rows (70% of its self-supervised data, paper §2.2) train it to generate a long suffix after a
bidirectional prefix; ``[MASK]`` rows only ever ask for short spans (Poisson λ = 3). A task that asks for a long,
fully determined completion that must also *end* shows the difference. A countdown is one:

    "Anna counted down from fourteen: fourteen, thirteen, twelve, eleven, ten, nine, ..., one, zero. Liftoff!"
    "安娜从十四数到零：十四，十三，十二，十一，十，九，…，一，零。好了！"

Each step is an association learned early (``"twelve,"`` is followed by ``" eleven"``), and the end is fixed
("zero. Liftoff!" and the end of the document; in the lesson corpus each header has its own closing words).
Numbers are words, not digits: the tokenizer splits "13" into "1" and
"3", and counting down in digits would ask the model to copy and decrement digits in context, a skill that forms late
(induction heads, Olsson et al. 2022, arXiv 2209.11895), while a number word is one piece whose successor is fixed
(measured: a model trained on digit countdowns wrote "1, 1, 1, ...", docs/reference_models.md run 3).

``countdown`` documents (start 8-20) are part of the pretraining mixture; the
``completion_test`` split gives the header and the first two numbers as ``prompt`` and the rest of the document as
``target``. A model completes the item when its generation equals ``target`` and then stops (an end token:
``<eod>``, ``[eop]`` or ``eos``).
"""

from __future__ import annotations

import random

from glm_mini.data.documents import new_person
from glm_mini.data.lexicon import Pair
from glm_mini.data.sampling import zh_number

_EN_NUMBERS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
               "sixteen seventeen eighteen nineteen twenty").split()

START_RANGE = (8, 20)
# revision 2 (the reference models' lesson corpus): a header and its closing words, so the header fixes the end and
# the whole completion is determined by the prompt. Revision 1 (the default corpus) draws the end independently of
# the header, which caps an exact completion at about one in two: the model cannot know which end to write
# (docs/reference_models.md)
_FORMS = [(("{p} counted down from {n}: ", "{p}从{n}数到零："), (" Liftoff!", "好了！")),
          (("The launch count of {p} began at {n}: ", "{p}数数，从{n}数到零："), (" Go!", "出发！"))]


def _parts(rng: random.Random, revision: int) -> tuple[Pair, list[Pair], Pair]:
    n = rng.randint(*START_RANGE)
    person = new_person(rng).name  # names make the documents (and the test items) distinct texts
    start = Pair(_EN_NUMBERS[n], zh_number(n))
    if revision >= 2:
        header_form, end = rng.choice(_FORMS)
    else:
        header_form, end = rng.choice(_FORMS)[0], None  # the end is drawn on its own, after the numbers
    header = Pair(*(t.format(n=start[i], p=person[i]) for i, t in enumerate(header_form)))
    numbers = [Pair(f"{_EN_NUMBERS[k]}," if k else "zero.", f"{zh_number(k)}，" if k else "零。")
               for k in range(n, -1, -1)]
    if end is None:
        end = rng.choice(_FORMS)[1]
    return header, numbers, Pair(*end)


def _text(header: Pair, numbers: list[Pair], end: Pair, side: int) -> str:
    sep = " " if side == 0 else ""
    return header[side] + sep.join(x[side] for x in numbers) + end[side]


def countdown_sentences(rng: random.Random, revision: int = 2) -> list[Pair]:
    """A ``countdown`` document as one sentence pair (the pretraining kind); ``revision``:
    ``CorpusConfig.lesson_revision``."""
    header, numbers, end = _parts(rng, revision)
    return [Pair(_text(header, numbers, end, 0), _text(header, numbers, end, 1))]


def completion_item(rng: random.Random, revision: int = 2) -> tuple[dict, dict]:
    """One countdown as a ``completion_test`` record in English and in Chinese: the header and the first two numbers
    as ``prompt``, the rest as ``target``."""
    header, numbers, end = _parts(rng, revision)
    records = []
    for side, lang in ((0, "en"), (1, "zh")):
        text = _text(header, numbers, end, side)
        sep = " " if side == 0 else ""
        prompt = header[side] + sep.join(x[side] for x in numbers[:2])
        records.append({"text": text, "kind": "countdown", "lang": lang, "prompt": prompt,
                        "target": text[len(prompt):], "form": "countdown"})
    return records[0], records[1]
