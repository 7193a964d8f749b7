"""Closed-book facts for the MIP lesson: people whose job, favourite colour and pet the corpus states in many ways.

How it works
------------
Allen-Zhu & Li (Physics of Language Models 3.1, arXiv 2309.14316) found that facts read in pretraining become
answerable by *questions* when pretraining states them in several paraphrases and question-answer pairs about some
of the people are mixed into pretraining ("mixed training"); the model then answers for people it never saw a
question about. GLM-130B's MIP (paper §2.2) mixes instruction data into pretraining the same way. The kit's version:

- ``PEOPLE``: 100 people, each with three attributes (``ATTRIBUTES``: job, colour, pet) drawn once from fixed seeds.
- ``biography`` documents (pretraining): a person's three facts in random order, each in one of several templates.
- ``facts`` (an MIP task family): a question about one attribute of a *train* person (the first 60), asked in one
  of the *train* question templates.
- ``facts_test`` (evaluation): questions about the 40 *held-out* people, whose facts the model read only in
  biographies; half in a train template, half in a held-out template never used in training. A record has
  ``prompt``, ``answer``, ``attribute``, ``person``, ``template`` ("train"/"held-out"), ``lang`` and
  ``candidates`` (every value of the attribute).

A model answers in *format* when its generated answer is one of the attribute's values, and *correctly* when it is
the person's. Without MIP the model never saw a question answered, so the answer format is what MIP can most
plausibly teach at 1M parameters (docs/glm130b_facts.md §2.4 for MIP; transfer to new task families is reported
only at scale, FLAN arXiv 2109.01652).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from glm_mini.data import lexicon as lx
from glm_mini.data.lexicon import Pair
from glm_mini.data.sampling import _chinese_names, _shuffled

N_PEOPLE = 100
N_TRAIN_PEOPLE = 60  # the first 60 have questions in mip_train; the other 40 are held out
ATTRIBUTES = ("job", "colour", "pet")
VALUES: dict[str, tuple[Pair, ...]] = {
    "job": lx.PROFESSIONS,
    "colour": lx.COLORS,
    "pet": tuple(Pair(p.en, p.zh) for p in lx.PETS),
}


@dataclass(frozen=True)
class Person:
    name: Pair
    facts: dict  # attribute -> Pair

    @property
    def held_out(self) -> bool:
        return PEOPLE.index(self) >= N_TRAIN_PEOPLE


def _people() -> tuple[Person, ...]:
    names = _shuffled(_chinese_names(), "facts people")[:N_PEOPLE]
    rng = random.Random("facts attributes")
    return tuple(Person(n, {a: rng.choice(VALUES[a]) for a in ATTRIBUTES}) for n in names)


PEOPLE = _people()

# statements in pretraining: {n} the name, {v} the value
_STATEMENTS = {
    "job": [("{n} works as a {v}.", "{n}是一名{v}。"), ("By trade, {n} is a {v}.", "{n}的工作是{v}。"),
            ("{n} earns a living as a {v}.", "{n}每天做{v}的工作。")],
    "colour": [("{n} likes the colour {v} best.", "{n}最爱{v}。"),
               ("The favourite colour of {n} is {v}.", "{n}说{v}是最好看的。"),
               ("{n} buys everything in {v}.", "{n}买的都是{v}的。")],
    "pet": [("{n} keeps a {v} as a pet.", "{n}家里有一只{v}。"), ("At home, {n} looks after a pet {v}.",
                                                                    "{n}每天喂家里的{v}。"),
            ("The pet of {n} is a {v}.", "{n}有一只{v}。")],
}
# questions: the first two per attribute are used in mip_train, the third only in facts_test
_QUESTIONS = {
    "job": [("Question: What is the job of {n}?\nAnswer: ", "问题：{n}的工作是什么？\n答案："),
            ("What does {n} do for a living? ", "{n}做什么工作？"),
            ("Tell me the occupation of {n}: ", "说一说{n}做的工作："), ],
    "colour": [("Question: What is the favourite colour of {n}?\nAnswer: ", "问题：{n}最爱什么颜色？\n答案："),
               ("Which colour does {n} like best? ", "{n}最爱哪种颜色？"),
               ("Tell me the colour {n} prefers: ", "说一说{n}最爱的颜色："), ],
    "pet": [("Question: What pet does {n} keep?\nAnswer: ", "问题：{n}家里有什么动物？\n答案："),
            ("Which animal does {n} have as a pet? ", "{n}有什么动物？"),
            ("Tell me the kind of pet {n} owns: ", "说一说{n}家里的动物："), ],
}
HELDOUT_QUESTION_MARKERS = ("Tell me the", "说一说")  # wording that only facts_test uses


def _fill(template: tuple[str, str], person: Person, value: Pair) -> Pair:
    return Pair(*(t.format(n=person.name[i], v=value[i]) for i, t in enumerate(template)))


def biography(rng: random.Random) -> list[Pair]:
    """A pretraining document: one person's three facts, shuffled, each in a random template."""
    person = rng.choice(PEOPLE)
    order = rng.sample(ATTRIBUTES, len(ATTRIBUTES))
    intro = [Pair(f"About {person.name.en}.", f"关于{person.name.zh}。")] if rng.random() < 0.3 else []
    return intro + [_fill(rng.choice(_STATEMENTS[a]), person, person.facts[a]) for a in order]


def _question(rng: random.Random, person: Person, attribute: str, template: int, lang: str) -> dict:
    side = 0 if lang == "en" else 1
    prompt = _QUESTIONS[attribute][template][side].format(n=person.name[side])
    return {"prompt": prompt, "answer": person.facts[attribute][side], "attribute": attribute,
            "person": person.name.en, "lang": lang, "candidates": [v[side] for v in VALUES[attribute]]}


def facts_question(rng: random.Random, lang: str) -> dict:
    """An MIP ``facts`` example: a train person, a train question template."""
    person = rng.choice(PEOPLE[:N_TRAIN_PEOPLE])
    return _question(rng, person, rng.choice(ATTRIBUTES), rng.randrange(2), lang)


def facts_test_records(rng: random.Random) -> list[dict]:
    """Every (held-out person, attribute, template kind, language) once: 40 x 3 x 2 x 2 = 480 records (``rng``
    picks which train template each asks in)."""
    records = []
    for person in PEOPLE[N_TRAIN_PEOPLE:]:
        for attribute in ATTRIBUTES:
            for kind, template in (("train", rng.randrange(2)), ("held-out", 2)):
                for lang in ("en", "zh"):
                    record = _question(rng, person, attribute, template, lang)
                    records.append({"text": record["prompt"] + record["answer"], "kind": "facts", **record,
                                    "template": kind})
    return records
