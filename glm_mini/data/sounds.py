"""The right-context split: a blank fixed by the text to its *right*, which no rule can fill from the left.

How it works
------------
GLM's ``[MASK]`` reads the text on both sides of a blank; a left-to-right model reads only what precedes it (paper
§2.1). To show the difference at small scale the kit needs an association a 1M-parameter model learns early
(an in-weights "token X implies token Y", docs/glm130b_facts.md §6) whose evidence stands after the blank. Animal
sounds are one: "At dawn, the ___ barked by the gate." Each of 15 animals makes one sound, and the words before the
animal are drawn independently of it, so

- from the left, every animal is equally likely (a rule or a causal model reading the prefix gets about 1/15);
- from the right, the sound fixes the animal (in English it is the animal's right neighbour).

``sounds`` documents (3-6 such sentences, distinct animals, or dense lists of the pairs written in either order:
``sounds_sentences``) are part of the pretraining mixture; ``sound_item``
blanks one animal of such a document for the ``right_context_test`` split. A record carries ``prefix``, ``target``,
``suffix`` (``text = prefix + target + suffix``), ``lang``, ``form`` (``"sound"``) and ``candidates`` (all 15
animals of that language, in a fixed order), the layout of ``infill_test``.

The sounds are written for the kit (English past tenses; Chinese onomatopoeia as commonly written).
"""

from __future__ import annotations

import random

from glm_mini.data.documents import PLACES, new_person
from glm_mini.data.infill import InfillItem
from glm_mini.data.lexicon import Pair

# (animal, its sound): English past tense, Chinese "<sound> + verb"
ANIMAL_SOUNDS: tuple[tuple[Pair, Pair], ...] = tuple(
    (Pair(*animal.split("/")), Pair(*sound.split("/"))) for animal, sound in (
        ("dog/狗", "barked/汪汪地叫"), ("cat/猫", "meowed/喵喵地叫"), ("cow/牛", "mooed/哞哞地叫"),
        ("duck/鸭子", "quacked/嘎嘎地叫"), ("horse/马", "neighed/咴咴地叫"), ("pig/猪", "oinked/哼哼地叫"),
        ("sheep/绵羊", "bleated/咩咩地叫"), ("lion/狮子", "roared/大声吼叫"), ("owl/猫头鹰", "hooted/咕咕地叫"),
        ("frog/青蛙", "croaked/呱呱地叫"), ("bee/蜜蜂", "buzzed/嗡嗡地飞"), ("wolf/狼", "howled/嗷嗷地嚎"),
        ("rooster/公鸡", "crowed/喔喔地啼"), ("snake/蛇", "hissed/嘶嘶作响"), ("mouse/老鼠", "squeaked/吱吱地叫"),
    ))
ANIMALS = tuple(a for a, _ in ANIMAL_SOUNDS)

# the words before the animal: none of them depends on which animal follows
_OPENERS = [
    ("At dawn, the ", "早上，"), ("Late at night the ", "晚上，"), ("Near the {place}, the ", "在{place}外面，"),
    ("When {name} came home, the ", "{name}回家的时候，"), ("All morning the ", "整个上午，"),
    ("Suddenly the ", "这时，"), ("In the yard, the ", "院子里，"), ("Behind the {place}, the ", "{place}后面，"),
    ("Every evening the ", "每天傍晚，"), ("After the rain, the ", "雨停以后，"),
]
_TAILS = [
    (" loudly.", "，声音很大。"), (" again and again.", "，一遍又一遍。"), (" at the {place}.", "，就在{place}里面。"),
    (" until noon.", "，叫到中午。"), (" when {name} walked by.", "，{name}正好走过。"), (".", "。"),
]
_INTROS = [("Sounds from the farm.", "农场里的声音。"), ("What we heard that day.", "那天我们听到的声音。")]


def _sentence(rng: random.Random, k: int) -> tuple[Pair, Pair]:
    """(the words before animal ``k``, the words after it) of one sentence, both languages."""
    place, name = PLACES(rng), new_person(rng).name
    opener, tail = rng.choice(_OPENERS), rng.choice(_TAILS)
    fill = {"place": place, "name": name}
    before = Pair(*(t.format(**{s: v[i] for s, v in fill.items()}) for i, t in enumerate(opener)))
    after = Pair(*(t.format(**{s: v[i] for s, v in fill.items()}) for i, t in enumerate(tail)))
    sound = ANIMAL_SOUNDS[k][1]
    return before, Pair(" " + sound.en + after.en, sound.zh + after.zh)


def sounds_document(rng: random.Random) -> tuple[list[tuple[Pair, int, Pair]], Pair | None]:
    """3-6 sentences as (before, animal index, after), distinct animals, and an optional intro."""
    animals = rng.sample(range(len(ANIMALS)), rng.randint(3, 6))
    intro = Pair(*rng.choice(_INTROS)) if rng.random() < 0.3 else None
    parts = []
    for k in animals:
        before, after = _sentence(rng, k)
        parts.append((before, k, after))
    return parts, intro


def _render(parts: list[tuple[Pair, int, Pair]], intro: Pair | None, lang: int) -> list[str]:
    """Each sentence's text in one language (English sentences joined by spaces, Chinese ones directly)."""
    out = [intro[lang]] if intro else []
    out += [before[lang] + ANIMALS[k][lang] + after[lang] for before, k, after in parts]
    return out


def sounds_list(rng: random.Random) -> list[Pair]:
    """A dense list of 6-10 animals with their sounds ("On the farm: the dog barked, the cat meowed, ...")."""
    animals = rng.sample(range(len(ANIMALS)), rng.randint(6, 10))
    pairs = [Pair(f"the {ANIMALS[k].en} {ANIMAL_SOUNDS[k][1].en}", f"{ANIMALS[k].zh}{ANIMAL_SOUNDS[k][1].zh}")
             for k in animals]
    opener = Pair(*rng.choice([("On the farm: ", "农场里："), ("We heard it all: ", "我们都听到了：")]))
    return [Pair(opener.en + ", ".join(p.en for p in pairs) + ".", opener.zh + "，".join(p.zh for p in pairs) + "。")]


def sounds_reversed_list(rng: random.Random) -> list[Pair]:
    """The same pairs written sound first ("Sounds and who made them: barked, the dog; meowed, the cat; ..."): the
    order the right-context split asks about (which animal made the sound that follows it)."""
    animals = rng.sample(range(len(ANIMALS)), rng.randint(6, 10))
    pairs = [Pair(f"{ANIMAL_SOUNDS[k][1].en}, the {ANIMALS[k].en}", f"{ANIMAL_SOUNDS[k][1].zh}的是{ANIMALS[k].zh}")
             for k in animals]
    opener = Pair(*rng.choice([("Sounds and who made them: ", "声音和动物："),
                               ("Who made each sound: ", "每个声音是谁：")]))
    return [Pair(opener.en + "; ".join(p.en for p in pairs) + ".", opener.zh + "，".join(p.zh for p in pairs) + "。")]


def sounds_sentences(rng: random.Random, revision: int = 2) -> list[Pair]:
    """A ``sounds`` document as sentence pairs (the pretraining kind). Revision 2 (``CorpusConfig.lesson_revision``, the
    reference models' lesson corpus): one of three forms with equal odds, a story of 3-6 sentences (the form of the
    test items), a dense list animal first ("the dog barked, the cat meowed"), or a dense list sound first ("barked,
    the dog; meowed, the cat"). Revision 1 (the default corpus): a story or an animal-first list, even odds.

    The lists put five times as many animal-sound pairs in the same number of tokens (each pair is an exposure of the
    association the right-context split asks for). The sound-first list is there because a model learns an
    association in the order it reads it (Berglund et al. 2023, the reversal curse): written only animal first, the
    pair teaches "dog -> barked" to every row but "barked -> dog" only to the ``[MASK]`` spans that hide the animal
    and leave its sound visible (docs/reference_models.md, run 5). Written both ways, every objective sees the
    association in the order the test asks for; a test item is still a story whose blank has only its opener to the
    left, so a reader of the left context stays at chance."""
    form = rng.randrange(3) if revision >= 2 else (0 if rng.random() < 0.5 else 2)
    if form == 0:
        return sounds_list(rng)
    if form == 1:
        return sounds_reversed_list(rng)
    parts, intro = sounds_document(rng)
    en, zh = _render(parts, intro, 0), _render(parts, intro, 1)
    return [Pair(e, z) for e, z in zip(en, zh)]


def sound_item(rng: random.Random) -> tuple[InfillItem, InfillItem]:
    """One document with one animal blanked, in English and in Chinese (the ``right_context_test`` records)."""
    parts, intro = sounds_document(rng)
    blank = rng.randrange(len(parts))
    items = []
    for lang, code in ((0, "en"), (1, "zh")):
        sentences = _render(parts, intro, lang)
        sep = " " if lang == 0 else ""
        before_text = sep.join(sentences[: blank + (intro is not None)])
        before, k, after = parts[blank]
        prefix = before_text + (sep if before_text else "") + before[lang]
        suffix = after[lang]  # the rest of the blank's sentence: the sound and its tail
        items.append(InfillItem(prefix, ANIMALS[k][lang], suffix, code, "sound",
                                tuple(a[lang] for a in ANIMALS)))
    return items[0], items[1]


__all__ = ["ANIMALS", "ANIMAL_SOUNDS", "sound_item", "sounds_document", "sounds_reversed_list", "sounds_sentences"]
