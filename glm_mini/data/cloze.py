"""Long-range cloze items (LAMBADA-like), in English and Chinese.

How it works
------------
LAMBADA (Paperno et al. 2016) asks for the last word of a passage that a reader can only guess from the wider
context, not from the last sentence alone. Each item here is built the same way, with a meaning shared by both
languages:

1. a *setup* sentence introduces the target: a pet's name, a friend's name, or the container a key was put in;
2. 3-6 *distractor* sentences from the story generator follow (other people, places, numbers; never the target);
3. a *final* sentence ends with the target, and nothing in it names the target.

``item.text`` is the context plus the target and ends with the target, as in LAMBADA (no closing punctuation).
A model scores the item by predicting ``target`` after ``context``. Because the targets are invented names drawn
from thousands, the final word can only be copied from the setup sentence several sentences back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from glm_mini.data import lexicon as lx
from glm_mini.data.documents import PLACES, STORY_SENTENCES, Scene, join, new_person, new_scene
from glm_mini.data.lexicon import Pair
from glm_mini.data.sampling import PET_NAMES, Zipf

PETS = Zipf(lx.PETS, 0.5)
CONTAINERS = Zipf(lx.CONTAINERS, 0.3)


@dataclass(frozen=True)
class ClozeItem:
    context: str
    target: str
    lang: str

    @property
    def text(self) -> str:
        return self.context + self.target


def _pet(rng: random.Random, s: Scene) -> tuple[Pair, Pair, Pair]:
    pet, name = PETS(rng), PET_NAMES(rng)
    p, he = s.hero.name, s.hero.he
    setup = Pair(f"{p.en} had a small {pet.en} named {name.en}.", f"{p.zh}养了一{pet.measure}叫{name.zh}的小{pet.zh}。")
    final = rng.choice([
        (f"When {he.en} came home that evening, the first one to greet {s.hero.him.en} at the door was ",
         f"那天晚上{he.zh}回到家时，第一个在门口迎接{he.zh}的是"),
        (f"{p.en} smiled, opened the door and called the {pet.en} by its name: ",
         f"{p.zh}笑着打开门，喊着那{pet.measure}{pet.zh}的名字："),
        (f"Before going to sleep, {p.en} said good night to ", f"睡觉之前，{p.zh}最后看了一眼"),
    ])
    return setup, Pair(*final), name


def _friend(rng: random.Random, s: Scene) -> tuple[Pair, Pair, Pair]:
    friend = new_person(rng).name
    p = s.hero.name
    place = PLACES(rng)
    setup = Pair(f"At the {place.en}, {p.en} met an old school friend called {friend.en}.",
                 f"在{place.zh}，{p.zh}遇见了一位叫{friend.zh}的老同学。")
    final = rng.choice([
        (f"On the way home, {p.en} kept thinking about the old friend, ", f"回家的路上，{p.zh}一直在想那位老同学："),
        (f"That night, {p.en} wrote a long letter to ", f"那天晚上，{p.zh}写了一封长信，收信人是"),
    ])
    return setup, Pair(*final), friend


def _key(rng: random.Random, s: Scene) -> tuple[Pair, Pair, Pair]:
    box = CONTAINERS(rng)
    p, he = s.hero.name, s.hero.he
    setup = Pair(f"Before leaving, {p.en} hid the house key in the {box.en}.", f"出门之前，{p.zh}把家门钥匙藏进了{box.zh}。")
    final = Pair(f"{p.en} searched everywhere for the key, until {he.en} remembered that it was in the ",
                 f"{p.zh}到处找钥匙，后来才想起来，钥匙被{he.zh}放进了")
    return setup, final, box


def cloze_item(rng: random.Random) -> Pair:  # Pair[ClozeItem]
    """One item as a ``Pair`` of ``ClozeItem`` (English, Chinese) sharing the same meaning."""
    s = new_scene(rng)
    setup, final, target = rng.choice((_pet, _friend, _key))(rng, s)
    s.mentioned = True
    middle = join([rng.choice(STORY_SENTENCES)(s) for _ in range(rng.randint(3, 6))])
    while target.en in middle.en or target.zh in middle.zh:  # the target must only be in the setup sentence
        middle = join([rng.choice(STORY_SENTENCES)(s) for _ in range(rng.randint(3, 6))])
    body = join([setup, middle])
    return Pair(ClozeItem(body.en + " " + final.en, target.en, "en"), ClozeItem(body.zh + final.zh, target.zh, "zh"))
