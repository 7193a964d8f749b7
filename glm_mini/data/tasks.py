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
facts           "What is the job of Li Wei?" -> teacher             train (60 people; ``people.py``)
topic           a document -> story / facts / dialog / ...         held out
entailment      town facts + a claim -> yes / no                   held out
==============  ================================================  ==========

A held-out family never appears in a training split, not even its prompt wording; but its answer words do (``qa``
asks yes/no questions, and documents carry headers such as "A math problem." / "一道数学题。"), so zero-shot
transfer measures the task, not whether the model has ever seen the label. Entailment claims come in seven kinds
(product, river, month, "more/fewer than N people", "founded before/after Y"), so a false claim is not a one-word
swap of a true one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from glm_mini.data import lexicon as lx
from glm_mini.data.documents import PLACES, STORY_SENTENCES, join, meet, new_scene, town_facts
from glm_mini.data.kinds import DOCUMENT_KINDS
from glm_mini.data.lexicon import Pair
from glm_mini.data.people import facts_question
from glm_mini.data.sampling import RIVERS, Zipf

TRAIN_FAMILIES = ("qa", "sentiment", "translation", "extraction", "arithmetic", "facts")
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
    other_river = rng.choice([r for r in RIVERS.items[:200] if r != facts.river])
    on_river = rng.random() < 0.5
    question, answer = rng.choice([
        (Pair("How many people live in {t}?", "{t}有多少人？"), Pair(str(facts.population), str(facts.population))),
        (Pair("Is {t} on the %s River? Answer yes or no." % (facts.river if on_river else other_river).en,
              "{t}在%s河边吗？回答是或否。" % (facts.river if on_river else other_river).zh),
         Pair("yes", "是") if on_river else Pair("no", "否")),
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


def facts(rng: random.Random, lang: str) -> TaskExample:
    """A question about a train person of ``people.py`` (the held-out people are only in ``facts_test``)."""
    record = facts_question(rng, lang)
    return TaskExample("", lang, record["prompt"], record["answer"])


TOPIC_LABELS = {"story": Pair("story", "故事"), "town_facts": Pair("facts", "介绍"), "word_problem": Pair("math", "数学"),
                "dialog": Pair("dialog", "对话"), "schedule": Pair("schedule", "日程")}


def topic(rng: random.Random, lang: str) -> TaskExample:
    kind = rng.choice(sorted(DOCUMENT_KINDS))
    sentences = DOCUMENT_KINDS[kind](rng)
    if TOPIC_LABELS[kind].en in sentences[0].en.lower():  # a header that names the kind would give the answer away
        sentences = sentences[1:]
    doc = join(sentences)
    doc = Pair(doc.en.lstrip("\n"), doc.zh.lstrip("\n"))
    return _ask(rng, lang, [
        ("{d}\nWhat kind of text is this (story, facts, math, dialog or schedule)? ",
         "{d}\n这是哪一类文本（故事、介绍、数学、对话还是日程）？"),
    ], TOPIC_LABELS[kind], d=doc)


def _claim(rng: random.Random, facts, true: bool) -> Pair:
    """A claim about the town that is true or false; false claims differ in kind, not only in one swapped word:
    another product, river or month, or a comparison with a number or year on the wrong side."""
    t = facts.town
    kind = rng.choice(("product", "river", "more", "fewer", "before", "after", "month"))
    if kind == "product":
        p = facts.product if true else rng.choice([x for x in lx.PRODUCTS if x != facts.product])
        return Pair(f"{t.en} is known for {p.en}.", f"{t.zh}以{p.zh}著称。")
    if kind == "river":
        r = facts.river if true else rng.choice([x for x in RIVERS.items[:300] if x != facts.river])
        return Pair(f"{t.en} lies on the {r.en} River.", f"{t.zh}位于{r.zh}河畔。")
    if kind == "month":
        m = facts.festival if true else rng.choice([x for x in lx.MONTHS if x != facts.festival])
        return Pair(f"{t.en} has its festival in {m.en}.", f"{t.zh}的节日在{m.zh}。")
    if kind in ("more", "fewer"):
        below = true == (kind == "more")  # "more than n" is true when n is below the population
        n = round(facts.population * (rng.uniform(0.4, 0.8) if below else rng.uniform(1.25, 2.5)), -2)
        return (Pair(f"More than {int(n)} people live in {t.en}.", f"{t.zh}的人口超过{int(n)}。") if kind == "more"
                else Pair(f"Fewer than {int(n)} people live in {t.en}.", f"{t.zh}的人口不到{int(n)}。"))
    earlier = true == (kind == "after")  # "founded after y" is true when y is earlier than the founding year
    y = facts.founded + (-rng.randint(5, 150) if earlier else rng.randint(5, 150))
    return (Pair(f"{t.en} was founded after {y}.", f"{t.zh}建于{y}年以后。") if kind == "after"
            else Pair(f"{t.en} was founded before {y}.", f"{t.zh}建于{y}年以前。"))


def entailment(rng: random.Random, lang: str) -> TaskExample:
    facts = town_facts(rng)
    doc = join(facts.sentences(rng))
    true = rng.random() < 0.5
    claim = _claim(rng, facts, true)
    return _ask(rng, lang, [
        ("Premise: {d}\nHypothesis: {c}\nDoes the premise entail the hypothesis? ", "前提：{d}\n假设：{c}\n前提能推出假设吗？"),
    ], Pair("yes", "是") if true else Pair("no", "否"), d=doc, c=claim)


FAMILIES = {f.__name__: f for f in (qa, sentiment, translation, extraction, arithmetic, facts, topic, entailment)}
# Wording that only held-out prompts use: tests check that no training text contains it.
HELDOUT_MARKERS = ("What kind of text is this", "这是哪一类文本", "Hypothesis:", "假设：", "Premise:", "前提：")


def task_example(rng: random.Random, family: str, lang: str) -> TaskExample:
    example = FAMILIES[family](rng, lang)
    return TaskExample(family, lang, example.prompt, example.answer)
