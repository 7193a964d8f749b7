"""Blank infilling items: a span in the middle of a passage whose value only the text *after* it determines.

How it works
------------
GLM's ``[MASK]`` sees the whole passage, a left-to-right model only what precedes the blank (paper §2.1). Each item
is a ``World`` story (``world.py``) with one span blanked, and the evidence for it comes later:

=======  ================================================  ============================================
form     the blank                                         fixed later by
=======  ================================================  ============================================
count    how many things one person gave another           "Now A had N things in all." (N - before)
lender   who lent an object                                 "Later, B gave the object back to A."
place    where someone went                                 "A left the P at ..."
buyer    who bought a kind of thing                         "The things A had bought were ..."
=======  ================================================  ============================================

Before the blank, every candidate is already on stage (the opening names all people; other people go to other
places and buy other things), so the prefix alone leaves the answer open. A record has ``prefix``, ``target``,
``suffix`` (``text = prefix + target + suffix``), ``form`` and ``candidates`` (the same-type entities of the
passage in order of first occurrence; for ``count``: the answer, the two numbers in the passage and one more, in a
seeded order). ``answer_from_events`` recomputes the blank from the events *other than* the blanked one, as a
reader of the suffix would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from glm_mini.data import lexicon as lx
from glm_mini.data.cloze import candidates_in
from glm_mini.data.documents import join
from glm_mini.data.lexicon import Pair
from glm_mini.data.world import THINGS, Event, World, an_object, new_world

FORMS = ("count", "lender", "place", "buyer")
BLANK = "\x00"  # stands for the span while the passage is rendered; never in a record


@dataclass(frozen=True)
class InfillItem:
    prefix: str
    target: str
    suffix: str
    lang: str
    form: str
    candidates: tuple[str, ...]

    @property
    def text(self) -> str:
        return self.prefix + self.target + self.suffix


@dataclass(frozen=True)
class InfillCase:
    items: Pair  # Pair[InfillItem]
    world: World
    blank_event: int  # index in world.events of the event the blank hides


def _quiet(w: World, lo: int, hi: int) -> list[Pair]:
    kinds = ["activity", "eat", "feel", "weather", "talk", "tell"]
    return [w.random_step(kinds=kinds) for _ in range(w.rng.randint(lo, hi))]


def _count(rng: random.Random, w: World) -> tuple[list[Pair], Pair, int, list[Pair]]:
    a_, b_ = rng.sample(range(len(w.people)), 2)
    thing = THINGS(rng)
    a, b = rng.randint(2, 9), rng.randint(2, 9)
    items = Pair(thing.en_plural, thing.zh)
    have = w.say(Pair(f"{w.people[a_].name.en} had {w.num(a).en} {thing.en_plural}",
                      f"{w.people[a_].name.zh}有{w.num(a).zh}{thing.measure}{thing.zh}"), a_,
                 Event("own", a_, thing=items, n=a))
    blank_index = len(w.events)
    gave = w.say(Pair(f"{w.people[b_].name.en} gave {w.people[a_].name.en} {BLANK} more",
                      f"{w.people[b_].name.zh}又给了{w.people[a_].name.zh}{BLANK}{thing.measure}"), b_,
                 Event("give", b_, a_, thing=items, n=b), tail=False)
    total = w.say(Pair(f"now {w.people[a_].name.en} had {w.num(a + b).en} {thing.en_plural} in all",
                       f"现在{w.people[a_].name.zh}一共有{w.num(a + b).zh}{thing.measure}{thing.zh}"), a_,
                  Event("total", a_, thing=items, n=a + b), tail=False, adverbial=False)
    others = [n for n in range(2, 20) if n not in (a, b, a + b)]
    candidates = [w.num(n) for n in (b, a, a + b, rng.choice(others))]
    rng.shuffle(candidates)
    story = _quiet(w, 0, 2) + [have] + _quiet(w, 0, 2) + [gave, total] + _quiet(w, 1, 3)
    return story, w.num(b), blank_index, candidates


def _lender(rng: random.Random, w: World) -> tuple[list[Pair], Pair, int, list[Pair]]:
    a_, b_ = rng.sample(range(len(w.people)), 2)
    obj, _ = an_object(rng)
    story = _quiet(w, 0, 2)
    blank_index = len(w.events)
    story.append(w.say(Pair(f"{BLANK} lent the {obj.en} to {w.people[b_].name.en}",
                            f"{BLANK}把{obj.zh}借给了{w.people[b_].name.zh}"), -1, Event("give", a_, b_, thing=obj)))
    story += [w.random_step(kinds=["move", "activity", "eat", "talk"]) for _ in range(rng.randint(0, 3))]
    story.append(w.say(Pair(f"later, {w.people[b_].name.en} gave the {obj.en} back to {w.people[a_].name.en}",
                            f"后来，{w.people[b_].name.zh}把{obj.zh}还给了{w.people[a_].name.zh}"), b_,
                       Event("give", b_, a_, thing=obj), adverbial=False))
    return story + _quiet(w, 1, 2), w.people[a_].name, blank_index, [p.name for p in w.people]


def _place(rng: random.Random, w: World) -> tuple[list[Pair], Pair, int, list[Pair]]:
    x = rng.randrange(len(w.people))
    story = [w.move(j) for j in range(len(w.people)) if j != x and rng.random() < 0.8]
    place = rng.choice([p for p in lx.PLACES if p not in w.place_of.values()])
    w.place_of[x] = place
    blank_index = len(w.events)
    story.append(w.say(Pair(f"{w.people[x].name.en} went to the {BLANK}", f"{w.people[x].name.zh}去了{BLANK}"), -1,
                       Event("move", x, place=place)))
    for _ in range(rng.randint(0, 3)):  # others go to other places between the blank and the evidence
        j = rng.choice([i for i in range(len(w.people)) if i != x])
        story.append(w.move(j) if rng.random() < 0.6 else w.random_step(kinds=["activity", "eat", "feel", "talk"]))
    story.append(w.say(Pair(f"{w.people[x].name.en} left the {place.en}", f"{w.people[x].name.zh}离开了{place.zh}"), x,
                       Event("leave", x, place=place)))
    return story + _quiet(w, 1, 2), place, blank_index, list(lx.PLACES)


def _buyer(rng: random.Random, w: World) -> tuple[list[Pair], Pair, int, list[Pair]]:
    k = len(w.people)
    things = THINGS.distinct(rng, k)
    order = list(range(k))
    rng.shuffle(order)
    x = order[-1]
    story = [w.buy(i, t) for i, t in zip(order[:-1], things[:-1])]
    t = things[-1]
    blank_index = len(w.events)
    n = w.num(rng.randint(2, 9))
    story.append(w.say(Pair(f"{BLANK} bought {n.en} {t.en_plural}", f"{BLANK}买了{n.zh}{t.measure}{t.zh}"), -1,
                       Event("buy", x, thing=Pair(t.en_plural, t.zh))))
    story += [w.random_step(kinds=["move", "activity", "eat", "talk"]) for _ in range(rng.randint(0, 3))]
    story.append(w.say(Pair(f"the {t.en_plural} that {w.people[x].name.en} had bought were very cheap",
                            f"{w.people[x].name.zh}买的{t.zh}很便宜"), x, Event("bought", x, thing=Pair(t.en_plural, t.zh))))
    return story + _quiet(w, 1, 2), w.people[x].name, blank_index, [p.name for p in w.people]


def answer_from_events(world: World, blank_event: int, form: str) -> Pair:
    """The blank, derived only from the events other than the blanked one (what the suffix tells a reader)."""
    events = [e for i, e in enumerate(world.events) if i != blank_event]
    if form == "count":
        have = next(e.n for e in events if e.kind == "own" and e.n)
        total = next(e.n for e in events if e.kind == "total")
        return world.num(total - have)
    if form == "lender":
        return world.people[next(e.other for e in reversed(events) if e.kind == "give")].name
    if form == "place":
        return next(e.place for e in events if e.kind == "leave")
    if form == "buyer":
        return world.people[next(e.who for e in events if e.kind == "bought")].name
    raise ValueError(f"form must be one of {FORMS}, got {form!r}")


def infill_case(rng: random.Random) -> InfillCase:
    world = new_world(rng, rng.randint(3, 4))
    form = rng.choice(FORMS)
    opening = world.opening()
    story, target, blank_event, entities = {"count": _count, "lender": _lender, "place": _place,
                                            "buyer": _buyer}[form](rng, world)
    text = join([opening] + story)
    items = []
    for side in (0, 1):
        prefix, suffix = text[side].split(BLANK)
        full = prefix + target[side] + suffix
        names = [e[side] for e in entities]
        candidates = tuple(names) if form == "count" else candidates_in(full, names)
        items.append(InfillItem(prefix, target[side], suffix, ("en", "zh")[side], form, candidates))
    return InfillCase(Pair(*items), world, blank_event)
