"""A small world state that stories are told from: people, where they are, what they hold, a clock that moves on.

How it works
------------
Sentences drawn independently contradict each other (times run backwards, a gift appears from nowhere). Here a
``World`` holds the state of one document (its people, the place each one is at, which person holds each object,
the time of day) and every sentence is an *action* on it: ``move``, ``buy``, ``give``, ``meet``, ``activity``,
``eat``, ``feel``, ``talk``, ``tell``, ``weather``. An action checks that it is possible (only the holder can give
an object away),
updates the state, appends an ``Event`` to ``world.events`` and renders one sentence in both languages.

A sentence is composed from three independent parts, which is where the variety of frames comes from:

    adverbial (when; moves the clock forward)  +  core (the action, several wordings)  +  tail (why / how)

so "An hour later, Li Wei lent the red umbrella to Anna, because she felt tired." and
"一个小时以后，李伟把红色的伞借给了安娜，因为她觉得很累。" are one meaning. The clock only moves forward, and
"At {h} o'clock" always names the current hour.

``replay(events, n_people)`` rebuilds the final state from the events alone; the cloze and infill tests use it as an
independent solver (it never reads the generator's own answer).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from glm_mini.data import lexicon as lx
from glm_mini.data.documents import _EN_SMALL, COLORS, FOODS, PLACES, THINGS, WEATHER, new_person
from glm_mini.data.lexicon import Pair
from glm_mini.data.sampling import TOWNS, Zipf, zh_number

ACTIVITIES = Zipf(lx.ACTIVITIES, 0.4)
TOPICS = Zipf(lx.TOPICS, 0.3)
SAYINGS = Zipf(lx.SAYINGS, 0.3)
FEELINGS = Zipf(lx.FEELINGS, 0.4)


@dataclass(frozen=True)
class Event:
    kind: str  # move, buy, give, meet, activity, eat, feel, weather, own
    who: int = -1
    other: int = -1
    place: Pair | None = None
    thing: Pair | None = None
    n: int = 0


@dataclass
class State:
    """What ``replay`` recovers from the events: each person's place, each object's holder and its history."""

    place_of: dict[int, Pair] = field(default_factory=dict)
    holder: dict[Pair, int] = field(default_factory=dict)
    given_by: dict[tuple[Pair, int], int] = field(default_factory=dict)  # (object, receiver) -> giver
    bought_by: dict[Pair, int] = field(default_factory=dict)  # thing (plural form) -> buyer


def replay(events: list[Event]) -> State:
    state = State()
    for e in events:
        if e.kind == "move":
            state.place_of[e.who] = e.place
        elif e.kind == "meet" and e.who in state.place_of:
            state.place_of[e.other] = state.place_of[e.who]
        elif e.kind == "own":
            state.holder[e.thing] = e.who
        elif e.kind == "give":
            state.holder[e.thing] = e.other
            state.given_by[(e.thing, e.other)] = e.who
        elif e.kind == "buy":
            state.bought_by[e.thing] = e.who
    return state


def an_object(rng: random.Random) -> tuple[Pair, str]:
    """A colour plus a thing, and its Chinese measure word: (Pair("red umbrella", "红色的伞"), "把")."""
    color, thing = COLORS(rng), THINGS(rng)
    return Pair(f"{color.en} {thing.en}", f"{color.zh}的{thing.zh}"), thing.measure


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


class World:
    """The state of one document; every action renders one sentence (a ``Pair``) and records one ``Event``."""

    def __init__(self, rng: random.Random, people: list, town: Pair, words_for_numbers: bool):
        self.rng, self.people, self.town = rng, people, town
        self.words_for_numbers = words_for_numbers
        self.weather = WEATHER(rng)
        self.minutes = rng.randint(7, 9) * 60  # the clock, in minutes after midnight; it only moves forward
        self.place_of: dict[int, Pair] = {}
        self.holder: dict[Pair, int] = {}
        self.measure: dict[Pair, str] = {}
        self.events: list[Event] = []
        self.mentioned: set[int] = set()
        self.last_subject = -1

    # --- rendering -------------------------------------------------------------------------------------------
    def num(self, n: int) -> Pair:
        if self.words_for_numbers and n <= 12:
            return Pair(_EN_SMALL[n], "两" if n == 2 else zh_number(n))  # 两本书, 两点钟: 2 before a measure word
        return Pair(str(n), zh_number(n) if self.words_for_numbers else str(n))

    def name(self, i: int) -> Pair:
        """The name on first mention; a pronoun half the time when the same person was the last subject."""
        person = self.people[i]
        pronoun = i == self.last_subject and i in self.mentioned and self.rng.random() < 0.5
        self.mentioned.add(i)
        return person.he if pronoun else person.name

    def _adverbial(self) -> Pair:
        en, zh, step = self.rng.choice(lx.ADVERBIALS)
        if self.minutes + step > 21 * 60:  # late in the day: no more jumps
            en, zh, step = "", "", 0
        if "{h}" in en:
            self.minutes = (self.minutes // 60 + 1) * 60  # the next full hour, never backwards
            hour = self.num(self.minutes // 60 if self.minutes // 60 <= 12 else self.minutes // 60 - 12)
            return Pair(en.format(h=hour.en), zh.format(h=hour.zh))
        self.minutes += step
        return Pair(en, zh)

    def say(self, core: Pair, who: int, event: Event, tail: bool = True, adverbial: bool = True) -> Pair:
        """adverbial + core + tail, in both languages; records ``event`` and makes ``who`` the last subject."""
        adverbial = self._adverbial() if adverbial else Pair("", "")
        en_tail, zh_tail = self.rng.choice(lx.TAILS) if tail and who >= 0 else ("", "")
        if who >= 0:
            person = self.people[who]
            slots = {"feel": FEELINGS(self.rng), "w": self.weather, "he": person.he, "him": person.him}
            en_tail = en_tail.format(**{k: v.en for k, v in slots.items()})
            zh_tail = zh_tail.format(**{k: v.zh for k, v in slots.items()})
        self.events.append(event)
        self.last_subject = who
        en = adverbial.en + (core.en if adverbial.en else _cap(core.en)) + en_tail + "."
        return Pair(_cap(en), adverbial.zh + core.zh + zh_tail + "。")

    def pick(self, templates: list[tuple[str, str]], **slots: Pair) -> Pair:
        en, zh = self.rng.choice(templates)
        return Pair(en.format(**{k: v.en for k, v in slots.items()}), zh.format(**{k: v.zh for k, v in slots.items()}))

    # --- actions ---------------------------------------------------------------------------------------------
    def opening(self) -> Pair:
        names = [p.name for p in self.people]
        self.mentioned.update(range(len(names)))
        en = ", ".join(n.en for n in names[:-1]) + " and " + names[-1].en if len(names) > 1 else names[0].en
        zh = "、".join(n.zh for n in names[:-1]) + "和" + names[-1].zh if len(names) > 1 else names[0].zh
        return self.pick([
            ("{p} lived in {t}.", "{p}住在{t}。"), ("This is a story about {p} from {t}.", "这是一个关于{t}的{p}的故事。"),
            ("It was a {w} day in {t}, and {p} were awake early.", "{t}的这一天天气{w}，{p}都起得很早。"),
            ("{p} spent a whole day in the town of {t}.", "{p}在{t}度过了一整天。"),
        ], p=Pair(en, zh), t=self.town, w=self.weather)

    def own(self, i: int, obj: Pair, measure: str) -> Pair:
        self.holder[obj], self.measure[obj] = i, measure
        core = self.pick([("{p} had a {o}", "{p}有一{m}{o}"), ("{p} owned a {o}", "{p}有一{m}{o}"),
                           ("{p} had brought a {o} from home", "{p}从家里带来了一{m}{o}")],
                          p=self.name(i), o=obj, m=Pair("", measure))
        return self.say(core, i, Event("own", i, thing=obj))

    def move(self, i: int, place: Pair | None = None) -> Pair:
        if place is None:
            place = PLACES(self.rng)
            while place == self.place_of.get(i):
                place = PLACES(self.rng)
        self.place_of[i] = place
        verb = self.rng.choice(lx.MOVES)
        core = Pair(f"{self.name(i).en} {verb.en} the {place.en}", f"{self.name(i).zh}{verb.zh}{place.zh}")
        return self.say(core, i, Event("move", i, place=place))

    def give(self, i: int, j: int, obj: Pair) -> Pair:
        if self.holder.get(obj) != i:
            raise ValueError(f"give: person {i} does not hold {obj.en!r}")
        self.holder[obj] = j
        p, q = self.name(i), self.people[j].name
        self.mentioned.add(j)
        core = self.pick([
            ("{p} gave the {o} to {q}", "{p}把{o}给了{q}"), ("{p} handed the {o} to {q}", "{p}把{o}递给了{q}"),
            ("{p} lent the {o} to {q}", "{p}把{o}借给了{q}"), ("{p} passed the {o} to {q}", "{p}把{o}交给了{q}"),
            ("{p} left the {o} with {q}", "{p}把{o}留给了{q}"), ("{p} sent the {o} to {q}", "{p}把{o}送给了{q}"),
        ], p=p, q=q, o=obj)
        return self.say(core, i, Event("give", i, j, thing=obj))

    def buy(self, i: int, thing: lx.Thing | None = None) -> Pair:
        thing = thing or THINGS(self.rng)
        n = self.rng.randint(2, 12)
        items = Pair(f"{self.num(n).en} {thing.en_plural}", f"{self.num(n).zh}{thing.measure}{thing.zh}")
        core = self.pick([("{p} bought {x}", "{p}买了{x}"), ("{p} picked up {x} at a small shop", "{p}在一家小店买了{x}"),
                           ("{p} paid for {x}", "{p}付钱买了{x}"), ("{p} ordered {x}", "{p}订了{x}")],
                          p=self.name(i), x=items)
        return self.say(core, i, Event("buy", i, thing=Pair(thing.en_plural, thing.zh), n=n))

    def meet(self, i: int, j: int) -> Pair:
        if i in self.place_of:
            self.place_of[j] = self.place_of[i]
        self.mentioned.add(j)
        core = self.pick([("{p} met {q}", "{p}遇到了{q}"), ("{p} ran into {q}", "{p}碰见了{q}"),
                           ("{p} had tea with {q}", "{p}和{q}一起喝了茶"),
                           ("{p} talked with {q} for a while", "{p}和{q}聊了一会儿"),
                           ("{p} waved to {q}", "{p}向{q}挥了挥手")], p=self.name(i), q=self.people[j].name)
        return self.say(core, i, Event("meet", i, j))

    def activity(self, i: int) -> Pair:
        act = ACTIVITIES(self.rng)
        return self.say(Pair(f"{self.name(i).en} {act.en}", f"{self.name(i).zh}{act.zh}"), i, Event("activity", i))

    def eat(self, i: int) -> Pair:
        core = self.pick([("{p} had {f} for lunch", "{p}午饭吃了{f}"), ("{p} cooked {f}", "{p}做了{f}"),
                           ("{p} tasted some {f}", "{p}尝了一点{f}")], p=self.name(i), f=FOODS(self.rng))
        return self.say(core, i, Event("eat", i))

    def feel(self, i: int) -> Pair:
        core = self.pick([("{p} felt {f}", "{p}觉得很{f}"), ("{p} was a little {f}", "{p}有点{f}")],
                          p=self.name(i), f=FEELINGS(self.rng))
        return self.say(core, i, Event("feel", i), tail=False)

    def talk(self, i: int, j: int) -> Pair:
        core = self.pick([("{p} talked with {q} about {t}", "{p}和{q}聊起了{t}"),
                           ("{p} and {q} spoke about {t}", "{p}和{q}谈到了{t}"),
                           ("{p} asked {q} about {t}", "{p}问了问{q}关于{t}的看法"),
                           ("{p} read an article about {t}", "{p}读了一篇关于{t}的文章"),
                           ("{p} thought about {t}", "{p}想了想{t}")],
                          p=self.name(i), q=self.people[j].name, t=TOPICS(self.rng))
        return self.say(core, i, Event("talk", i, j))

    def tell(self, i: int, j: int) -> Pair:
        core = self.pick([("{p} told {q} that {s}", "{p}告诉{q}，{s}"), ("{p} said that {s}", "{p}说{s}"),
                           ("{p} heard from {q} that {s}", "{p}听{q}说{s}"),
                           ("{p} wrote in a letter that {s}", "{p}在信里写道，{s}")],
                          p=self.name(i), q=self.people[j].name, s=SAYINGS(self.rng))
        return self.say(core, i, Event("tell", i, j), tail=False)

    def weather_report(self) -> Pair:
        core = self.pick([("the weather in {t} was {w}", "{t}的天气{w}"), ("it stayed {w} all day", "天气一整天都{w}")],
                          t=self.town, w=self.weather)
        return self.say(core, -1, Event("weather"))

    def random_step(self, kinds: list[str] | None = None) -> Pair:
        """One action of one of ``kinds`` (default: any) by anyone; gives only an object the giver holds."""
        i = self.rng.randrange(len(self.people))
        held = [o for o, h in self.holder.items() if h == i]
        if kinds is None:
            kinds = ["move", "move", "buy", "activity", "activity", "eat", "feel", "weather", "meet", "talk", "tell"]
            if held and len(self.people) > 1:
                kinds.append("give")
        kind = self.rng.choice(kinds)
        others = [j for j in range(len(self.people)) if j != i]
        if kind == "move":
            return self.move(i)
        if kind == "buy":
            return self.buy(i)
        if kind == "activity":
            return self.activity(i)
        if kind == "eat":
            return self.eat(i)
        if kind == "feel":
            return self.feel(i)
        if kind == "weather":
            return self.weather_report()
        if kind in ("meet", "talk", "tell") and others:
            return getattr(self, kind)(i, self.rng.choice(others))
        if kind == "give":
            return self.give(i, self.rng.choice(others), self.rng.choice(held))
        return self.activity(i)


def new_world(rng: random.Random, n_people: int) -> World:
    """``n_people`` different people in an invented town."""
    people: list = []
    while len(people) < n_people:
        person = new_person(rng)
        if all(person.name != p.name and person.name.en not in p.name.en and p.name.en not in person.name.en
               for p in people):
            people.append(person)
    return World(rng, people, TOWNS(rng), rng.random() < 0.4)


def world_story(rng: random.Random) -> list[Pair]:
    """A coherent day: an opening, maybe an object someone owns, then 4-11 actions that follow from the state."""
    world = new_world(rng, rng.randint(1, 4))
    sentences = [world.opening()]
    if rng.random() < 0.6:
        sentences.append(world.own(rng.randrange(len(world.people)), *an_object(rng)))
    for _ in range(rng.randint(4, 11)):
        sentence = world.random_step()
        new_paragraph = len(sentences) >= 3 and rng.random() < 0.15
        sentences.append(Pair("\n" + sentence.en, "\n" + sentence.zh) if new_paragraph else sentence)
    return sentences
