"""Document generators: story scenes (for the task families), town fact sheets, word problems, dialogues and
schedules, in English and Chinese (the world-state stories are in ``world.py``).

How it works
------------
Every sentence is drawn *once* as a meaning (who, where, what, how many), then rendered in both languages with the
same template index, so each function returns a ``Pair(en, zh)``. A document is a list of such pairs:
``doc.en`` and ``doc.zh`` are translations of each other (the parallel split), and a monolingual document is just
one side. Variety comes from several templates per sentence kind, Zipf-distributed entities (about 37 k people,
13 k towns), numbers written as digits or words (Chinese numerals in Chinese), pronouns after the first mention,
and dialogues and schedules with one item per line (so
the tokenizer's ``<n>`` matters).
Word problems state an arithmetic fact and its result, so a model has to compute rather than recall.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from glm_mini.data import lexicon as lx
from glm_mini.data.lexicon import Pair
from glm_mini.data.sampling import PEOPLE, RIVERS, TOWNS, Zipf, zh_number

_EN_SMALL = "zero one two three four five six seven eight nine ten eleven twelve".split()
_FEMALE_WESTERN = {"Anna", "Maria", "Sophie", "Emma", "Olivia", "Laura", "Clara", "Julia", "Nina", "Alice"}

PLACES = Zipf(lx.PLACES, 0.7)
THINGS = Zipf(lx.THINGS, 0.8)
ANIMALS = Zipf(lx.ANIMALS, 0.8)
PROFESSIONS = Zipf(lx.PROFESSIONS, 0.6)
COLORS = Zipf(lx.COLORS, 0.5)
WEATHER = Zipf(lx.WEATHER, 0.5)
FOODS = Zipf(lx.FOODS, 0.7)
PRODUCTS = Zipf(lx.PRODUCTS, 0.6)


@dataclass
class Person:
    name: Pair
    female: bool

    @property
    def he(self) -> Pair:
        return Pair("she", "她") if self.female else Pair("he", "他")

    @property
    def him(self) -> Pair:
        return Pair("her", "她") if self.female else Pair("him", "他")

    @property
    def his(self) -> Pair:
        return Pair("her", "她的") if self.female else Pair("his", "他的")


def new_person(rng: random.Random) -> Person:
    name = PEOPLE(rng)
    female = name.en in _FEMALE_WESTERN if " " not in name.en else rng.random() < 0.5
    return Person(name, female)


@dataclass
class Scene:
    """The shared state of one document: its protagonist, town, day and how it writes numbers."""

    rng: random.Random
    hero: Person
    town: Pair
    day: Pair
    weather: Pair  # one weather per document, however often it is mentioned
    words_for_numbers: bool  # "three" / "三" instead of "3"
    mentioned: bool = False  # after the first sentence the hero becomes a pronoun half the time
    others: list[Person] = field(default_factory=list)

    def num(self, n: int) -> Pair:
        if self.words_for_numbers and n <= 12:
            return Pair(_EN_SMALL[n], zh_number(n))
        return Pair(str(n), zh_number(n) if self.words_for_numbers else str(n))

    def subject(self) -> Pair:
        """The hero's name on first mention, later the name or a pronoun (lower case; ``_render`` capitalizes)."""
        if self.mentioned and self.rng.random() < 0.5:
            return self.hero.he
        self.mentioned = True
        return self.hero.name


def new_scene(rng: random.Random) -> Scene:
    return Scene(rng, new_person(rng), TOWNS(rng), rng.choice(lx.WEEKDAYS), WEATHER(rng), rng.random() < 0.4)


def _render(rng: random.Random, templates: list[tuple[str, str]], **slots: Pair) -> Pair:
    en, zh = rng.choice(templates)
    en = en.format(**{k: v.en for k, v in slots.items()})
    return Pair(en[0].upper() + en[1:], zh.format(**{k: v.zh for k, v in slots.items()}))  # "he went" -> "He went"


def singular(thing: lx.Thing) -> Pair:
    return Pair(thing.en, thing.zh)


def count_of(scene: Scene, n: int, thing: lx.Thing) -> Pair:
    """``3 apples`` / ``3个苹果`` (a/an for one in English)."""
    if n == 1:
        article = "an" if thing.en[0] in "aeiou" else "a"
        return Pair(f"{article} {thing.en}", f"一{thing.measure}{thing.zh}")
    number = scene.num(n)
    return Pair(f"{number.en} {thing.en_plural}", f"{number.zh}{thing.measure}{thing.zh}")


# ---------------------------------------------------------------------------------------------------------------
# Story sentences


def go_to(s: Scene) -> Pair:
    return _render(s.rng, [
        ("{p} went to the {place} in the morning.", "早上，{p}去了{place}。"),
        ("After breakfast, {p} walked to the {place}.", "吃完早饭，{p}走到了{place}。"),
        ("{p} took the bus to the {place}.", "{p}坐公交车去了{place}。"),
        ("Later, {p} arrived at the {place} near the river.", "后来，{p}到了河边的{place}。"),
    ], p=s.subject(), place=PLACES(s.rng))


def buy(s: Scene) -> Pair:
    n, price = s.rng.randint(1, 12), s.rng.randint(2, 60)
    return _render(s.rng, [
        ("{p} bought {items} for {price} yuan.", "{p}花{price}元买了{items}。"),
        ("At the market, {p} bought {items}.", "在市场上，{p}买了{items}。"),
        ("{p} paid {price} yuan for {items}.", "{p}买{items}付了{price}元。"),
    ], p=s.subject(), items=count_of(s, n, THINGS(s.rng)), price=s.num(price))


def meet(s: Scene) -> Pair:
    other = new_person(s.rng)
    s.others.append(other)
    return _render(s.rng, [
        ("There {p} met {q}, a {job}.", "在那里，{p}遇到了{job}{q}。"),
        ("{p} talked with {q}, who works as a {job}.", "{p}和当{job}的{q}聊了一会儿。"),
        ("On the way, {p} saw an old friend, the {job} {q}.", "路上，{p}看见了老朋友，{job}{q}。"),
    ], p=s.subject(), q=other.name, job=PROFESSIONS(s.rng))


def see_animals(s: Scene) -> Pair:
    n = s.rng.randint(1, 9)
    return _render(s.rng, [
        ("{p} saw {animals} by the road.", "{p}在路边看到了{animals}。"),
        ("{p} noticed {animals} in the park.", "{p}注意到公园里有{animals}。"),
        ("{p} fed {animals} with some bread.", "{p}用面包喂了{animals}。"),
    ], p=s.subject(), animals=count_of(s, n, ANIMALS(s.rng)))


def eat(s: Scene) -> Pair:
    return _render(s.rng, [
        ("For lunch, {p} ate {food}.", "午饭时，{p}吃了{food}。"),
        ("{p} cooked {food} for dinner.", "{p}晚饭做了{food}。"),
        ("{p} and {his} family had {food} together.", "{p}和{his}家人一起吃了{food}。"),
    ], p=s.subject(), his=s.hero.his, food=FOODS(s.rng))


def weather(s: Scene) -> Pair:
    return _render(s.rng, [
        ("It was {w} in {town} that {day}.", "那个{day}，{town}的天气{w}。"),
        ("The weather in {town} was {w}.", "{town}的天气{w}。"),
    ], w=s.weather, town=s.town, day=s.day)


def colour_thing(s: Scene) -> Pair:
    return _render(s.rng, [
        ("{p} liked the {color} {thing} best.", "{p}最喜欢那个{color}的{thing}。"),
        ("{p} painted {his} door {color}.", "{p}把{his}门漆成了{color}。"),
    ], p=s.subject(), his=s.hero.his, color=COLORS(s.rng), thing=singular(THINGS(s.rng)))


def clock(s: Scene) -> Pair:
    hour = s.rng.randint(6, 11)
    return _render(s.rng, [
        ("At {h} o'clock, {p} left home.", "{h}点钟，{p}离开了家。"),
        ("{p} woke up at {h} o'clock.", "{p}{h}点钟起了床。"),
    ], h=s.num(hour), p=s.subject())


STORY_SENTENCES = (go_to, buy, meet, see_animals, eat, weather, colour_thing, clock)


# ---------------------------------------------------------------------------------------------------------------
# Fact sheets, word problems, dialogues, schedules


@dataclass
class TownFacts:
    """Facts about an invented town; the QA and entailment tasks ask about them."""

    town: Pair
    river: Pair
    population: int
    product: Pair
    festival: Pair
    founded: int

    def sentences(self, rng: random.Random) -> list[Pair]:
        zh_pop = zh_number(self.population) if rng.random() < 0.3 else str(self.population)
        facts = [
            Pair(f"{self.town.en} is a town on the {self.river.en} River.", f"{self.town.zh}是{self.river.zh}河边的一个小镇。"),
            Pair(f"About {self.population} people live in {self.town.en}.", f"{self.town.zh}大约有{zh_pop}人。"),
            Pair(f"{self.town.en} is famous for its {self.product.en}.", f"{self.town.zh}以{self.product.zh}闻名。"),
            Pair(f"Every year in {self.festival.en}, the town holds a {self.product.en} festival.",
                 f"每年{self.festival.zh}，这里都会举办{self.product.zh}节。"),
            Pair(f"The town was founded in {self.founded}.", f"这个小镇建于{self.founded}年。"),
        ]
        intro = [Pair(f"Some facts about {self.town.en}.", f"关于{self.town.zh}的介绍。")] if rng.random() < 0.5 else []
        return intro + facts[:1] + rng.sample(facts[1:], k=len(facts) - 1)


def town_facts(rng: random.Random) -> TownFacts:
    return TownFacts(TOWNS(rng), RIVERS(rng), rng.randint(800, 95000), PRODUCTS(rng), rng.choice(lx.MONTHS),
                     rng.randint(1200, 1990))


def word_problem(rng: random.Random) -> list[Pair]:
    """An addition, subtraction or multiplication story with its worked answer."""
    s = new_scene(rng)
    thing = THINGS(rng)
    a, b = rng.randint(2, 40), rng.randint(1, 30)
    p, q = s.hero.name, new_person(rng).name
    op = rng.choice("+-*")
    if op == "+":
        body = Pair(f"{p.en} has {count_of(s, a, thing).en}. {q.en} gives {p.en} {b} more.",
                    f"{p.zh}有{count_of(s, a, thing).zh}。{q.zh}又给了{p.zh}{b}{thing.measure}。")
        result = a + b
    elif op == "-":
        a, b = max(a, b) + 1, min(a, b)
        body = Pair(f"{p.en} has {count_of(s, a, thing).en} and gives {b} to {q.en}.",
                    f"{p.zh}有{count_of(s, a, thing).zh}，给了{q.zh}{b}{thing.measure}。")
        result = a - b
    else:
        a, b = rng.randint(2, 9), rng.randint(2, 12)
        body = Pair(f"{p.en} buys {a} bags, and each bag holds {count_of(s, b, thing).en}.",
                    f"{p.zh}买了{a}个袋子，每个袋子里有{count_of(s, b, thing).zh}。")
        result = a * b
    question = Pair(f"How many {thing.en_plural} does {p.en} have now?", f"{p.zh}现在有多少{thing.measure}{thing.zh}？")
    answer = Pair(f"{p.en} has {result} {thing.en_plural if result != 1 else thing.en}.",
                  f"{p.zh}有{result}{thing.measure}{thing.zh}。")
    return [Pair("A math problem.", "一道数学题。"), body, question, answer]


def dialog(rng: random.Random) -> list[Pair]:
    """Two people talk about where they are going and what they will buy."""
    s = new_scene(rng)
    a, b = s.hero.name, new_person(rng).name
    place, thing = PLACES(rng), THINGS(rng)
    n = rng.randint(2, 9)
    return [
        Pair("A short dialog.", "一段简短的对话。"),
        Pair(f"\n{a.en}: Good morning, {b.en}! Where are you going?", f"\n{a.zh}：早上好，{b.zh}！你去哪儿？"),
        Pair(f"\n{b.en}: I am going to the {place.en}.", f"\n{b.zh}：我要去{place.zh}。"),
        Pair(f"\n{a.en}: What will you do there?", f"\n{a.zh}：你去那里做什么？"),
        Pair(f"\n{b.en}: I need {count_of(s, n, thing).en}.", f"\n{b.zh}：我需要{count_of(s, n, thing).zh}。"),
        Pair(f"\n{a.en}: See you later!", f"\n{a.zh}：回头见！"),
    ]


def schedule(rng: random.Random) -> list[Pair]:
    """A timetable, one line per item: numbers, times and places."""
    s = new_scene(rng)
    lines = [Pair(f"The schedule for {s.hero.name.en} on {s.day.en}:", f"{s.hero.name.zh}{s.day.zh}的日程：")]
    hour = rng.randint(7, 10)
    for _ in range(rng.randint(3, 6)):
        minute = rng.choice((0, 15, 30, 45))
        place = PLACES(rng)
        lines.append(Pair(f"\n{hour}:{minute:02d}  {place.en}", f"\n{hour}:{minute:02d}  {place.zh}"))
        hour += rng.randint(1, 2)
    return lines


def join(sentences: list[Pair]) -> Pair:
    """Concatenate sentences: spaces between English sentences (none after a newline), none in Chinese."""
    en = ""
    for sentence in sentences:
        en += sentence.en if not en or sentence.en.startswith("\n") else " " + sentence.en
    return Pair(en, "".join(s.zh for s in sentences))

