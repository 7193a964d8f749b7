"""Instruction-style task data for multi-task instruction pre-training (MIP), with held-out task families.

How it works
------------
GLM-130B mixed 5% of its training tokens from 74 prompted datasets (T0/PromptSource and DeepStruct information
extraction; paper §2.2, App. C.1, Tab.12) and kept some task *families* out entirely so zero-shot evaluation stayed
honest (the App. C.1 note that held-out T0 tasks leaked into the first ~20 k steps shows why the split matters).
The kit does the same at toy scale. Each family turns a generated meaning into a prompt and an answer, with
several prompt templates per family in each language:

==============  ================================================  ==========
family          example (English)                                  split
==============  ================================================  ==========
qa              town facts + "How many people live in X?"          train
sentiment       a review -> positive / negative                    train
translation     an English sentence -> its Chinese twin, or back   train
extraction      a story -> the people it names, in order           train
arithmetic      "What is 23 + 45?" -> 68                           train
topic           a document -> story / facts / dialog / ...         held out
entailment      town facts + a claim -> yes / no                   held out
==============  ================================================  ==========

A held-out family never appears in a training split, not even its prompt wording.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from glm_mini.data import lexicon as lx
from glm_mini.data.documents import (DOCUMENT_KINDS, PLACES, STORY_SENTENCES, join, meet, new_scene,
                                     town_facts)
from glm_mini.data.lexicon import Pair
from glm_mini.data.sampling import Zipf

TRAIN_FAMILIES = ("qa", "sentiment", "translation", "extraction", "arithmetic")
HELDOUT_FAMILIES = ("topic", "entailment")

GOOD, BAD, REVIEW_TOPICS = Zipf(lx.GOOD_WORDS, 0.3), Zipf(lx.BAD_WORDS, 0.3), Zipf(lx.REVIEW_TOPICS, 0.3)


@dataclass(frozen=True)
class TaskExample:
    family: str
    lang: str
    prompt: str
    answer: str

    @property
    def text(self) -> str:
        return self.prompt + self.answer


def _ask(rng: random.Random, lang: str, templates: list[tuple[str, str]], answer: Pair, **slots: Pair) -> TaskExample:
    """Fill a (prompt_en, prompt_zh) template in one language; the family name is filled in by ``task_example``."""
    en, zh = rng.choice(templates)
    side = 0 if lang == "en" else 1
    prompt = (en if side == 0 else zh).format(**{k: v[side] for k, v in slots.items()})
    return TaskExample("", lang, prompt, answer[side])


def qa(rng: random.Random, lang: str) -> TaskExample:
    facts = town_facts(rng)
    doc = join(facts.sentences(rng))
    question, answer = rng.choice([
        (Pair("How many people live in {t}?", "{t}有多少人？"), Pair(str(facts.population), str(facts.population))),
        (Pair("What is {t} famous for?", "{t}以什么闻名？"), facts.product),
        (Pair("Which river is {t} on?", "{t}在哪条河边？"), Pair(f"the {facts.river.en} River", f"{facts.river.zh}河")),
        (Pair("When was {t} founded?", "{t}建于哪一年？"), Pair(str(facts.founded), f"{facts.founded}年")),
    ])
    q = Pair(question.en.format(t=facts.town.en), question.zh.format(t=facts.town.zh))
    return _ask(rng, lang, [
        ("{doc}\nQuestion: {q}\nAnswer: ", "{doc}\n问题：{q}\n答案："),
        ("Read the text and answer.\n{doc}\n{q}\n", "阅读短文并回答。\n{doc}\n{q}\n"),
    ], answer, doc=doc, q=q)


def sentiment(rng: random.Random, lang: str) -> TaskExample:
    positive = rng.random() < 0.5
    words = GOOD if positive else BAD
    place, topic_a, topic_b = PLACES(rng), *REVIEW_TOPICS.distinct(rng, 2)
    w1, w2 = words(rng), words(rng)
    review = Pair(f"We went to the {place.en}. The {topic_a.en} was {w1.en}, and the {topic_b.en} was {w2.en}.",
                  f"我们去了{place.zh}。{topic_a.zh}{w1.zh}，{topic_b.zh}也{w2.zh}。")
    label = Pair("positive", "正面") if positive else Pair("negative", "负面")
    return _ask(rng, lang, [
        ("Review: {r}\nIs this review positive or negative? ", "评论：{r}\n这条评论是正面还是负面？"),
        ("{r}\nSentiment: ", "{r}\n情感："),
    ], label, r=review)


def translation(rng: random.Random, lang: str) -> TaskExample:
    """``lang`` is the source language; the answer is the other side of the same sentence pair."""
    s = new_scene(rng)
    sentence = rng.choice(STORY_SENTENCES)(s)
    source, target = (sentence.en, sentence.zh) if lang == "en" else (sentence.zh, sentence.en)
    return _ask(rng, lang, [
        ("Translate into Chinese: {s}\n", "翻译成英文：{s}\n"),
        ("English: {s}\nChinese: ", "中文：{s}\n英文："),
    ], Pair(target, target), s=Pair(source, source))


def extraction(rng: random.Random, lang: str) -> TaskExample:
    s = new_scene(rng)
    sentences = [meet(s) if i % 2 else rng.choice(STORY_SENTENCES)(s) for i in range(rng.randint(3, 6))]
    doc = join(sentences)
    names = [s.hero.name] * (s.hero.name.en in doc.en) + [p.name for p in s.others]
    seen: list[Pair] = []
    for name in sorted(names, key=lambda n: doc.en.index(n.en)):  # order of first mention
        if name not in seen:
            seen.append(name)
    answer = Pair(", ".join(n.en for n in seen), "、".join(n.zh for n in seen))
    return _ask(rng, lang, [
        ("{d}\nList the people mentioned above: ", "{d}\n列出上文提到的人："),
        ("Text: {d}\nPeople: ", "文本：{d}\n人物："),
    ], answer, d=doc)


def arithmetic(rng: random.Random, lang: str) -> TaskExample:
    a, b = rng.randint(0, 99), rng.randint(0, 99)
    op = rng.choice("+-*")
    result = {"+": a + b, "-": a - b, "*": a * b}[op]
    expr = Pair(f"{a} {op} {b}", f"{a}{op}{b}")
    return _ask(rng, lang, [("What is {e}? ", "{e}等于多少？"), ("Compute {e} = ", "计算：{e}=")],
                Pair(str(result), str(result)), e=expr)


TOPIC_LABELS = {"story": Pair("story", "故事"), "town_facts": Pair("facts", "介绍"), "word_problem": Pair("math", "数学"),
                "dialog": Pair("dialog", "对话"), "schedule": Pair("schedule", "日程")}


def topic(rng: random.Random, lang: str) -> TaskExample:
    kind = rng.choice(sorted(DOCUMENT_KINDS))
    doc = join(DOCUMENT_KINDS[kind](rng))
    return _ask(rng, lang, [
        ("{d}\nWhat kind of text is this (story, facts, math, dialog or schedule)? ",
         "{d}\n这是哪一类文本（故事、介绍、数学、对话还是日程）？"),
    ], TOPIC_LABELS[kind], d=doc)


def entailment(rng: random.Random, lang: str) -> TaskExample:
    facts = town_facts(rng)
    doc = join(facts.sentences(rng))
    true = rng.random() < 0.5
    product = facts.product if true else lx.PRODUCTS[(lx.PRODUCTS.index(facts.product) + 1) % len(lx.PRODUCTS)]
    claim = Pair(f"{facts.town.en} is known for {product.en}.", f"{facts.town.zh}以{product.zh}著称。")
    return _ask(rng, lang, [
        ("Premise: {d}\nHypothesis: {c}\nDoes the premise entail the hypothesis? ", "前提：{d}\n假设：{c}\n前提能推出假设吗？"),
    ], Pair("yes", "是") if true else Pair("no", "否"), d=doc, c=claim)


FAMILIES = {f.__name__: f for f in (qa, sentiment, translation, extraction, arithmetic, topic, entailment)}
# Wording that only held-out prompts use: tests check that no training text contains it.
HELDOUT_MARKERS = ("What kind of text is this", "这是哪一类文本", "Hypothesis:", "假设：", "Premise:", "前提：")


def task_example(rng: random.Random, family: str, lang: str) -> TaskExample:
    example = FAMILIES[family](rng, lang)
    return TaskExample(family, lang, example.prompt, example.answer)
