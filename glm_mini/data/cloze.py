"""Long-range cloze items (LAMBADA-like) whose answer is fixed by who did what, in English and Chinese.

How it works
------------
LAMBADA (Paperno et al. 2016) asks for the last word of a passage that a reader can only guess from the wider
context. Copying "the name from the first sentence" must not work, so every item here is told from a ``World``
(``world.py``) with several entities of the answer's type in the passage, and the final sentence asks about the
*state* that the passage's events produced:

=========  ===============================================  =============================================
form       the passage                                      the final sentence ends with
=========  ===============================================  =============================================
holder     an object changes hands 1-3 times                whoever holds it now
place      three or four people go to different places      where one of them went last
giver      an object is handed on, once or twice             who gave it to its current holder
buyer      each person buys a different kind of thing       who bought the thing the final names
=========  ===============================================  =============================================

Unrelated actions by any of the people (several wordings each, see ``world.py``) come between the decisive facts
and after them, so the distance to the evidence varies, and the answer is as often the first, the last or a middle
mention. Each record keeps ``candidates``: the entities of the answer's type in order of first mention in the
context, so rule baselines (``baselines.py``) and rank classification can use them. ``item.text`` is the context
plus the target and ends with the target, as in LAMBADA. ``ClozeCase.query`` says what was asked, so a solver that
replays ``world.events`` (``world.replay``) can answer without reading the generator's target.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from glm_mini.data import lexicon as lx
from glm_mini.data.documents import join
from glm_mini.data.lexicon import Pair
from glm_mini.data.world import THINGS, World, an_object, new_world, replay

FORMS = ("holder", "place", "giver", "buyer")
QUIET = ["activity", "eat", "feel", "weather", "move", "talk", "tell"]  # actions that change no object and no purchase


@dataclass(frozen=True)
class ClozeItem:
    context: str
    target: str
    lang: str
    form: str = ""
    candidates: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        return self.context + self.target


@dataclass(frozen=True)
class ClozeCase:
    """One generated item in both languages, with the world it was told from and the question it asks."""

    items: Pair  # Pair[ClozeItem]
    world: World
    query: tuple  # (form, argument): the object, person index or thing the final sentence asks about


def _steps(world: World, n: int, kinds: list[str]) -> list[Pair]:
    return [world.random_step(kinds=kinds) for _ in range(n)]


def _holder(rng: random.Random, w: World) -> tuple[list[Pair], Pair, tuple, Pair]:
    obj, measure = an_object(rng)
    k = len(w.people)
    owner = rng.randrange(k)
    story = _steps(w, rng.randint(0, 2), QUIET) + [w.own(owner, obj, measure)]
    for _ in range(rng.randint(1, 3)):
        story += _steps(w, rng.randint(0, 3), QUIET)
        story.append(w.give(w.holder[obj], rng.choice([j for j in range(k) if j != w.holder[obj]]), obj))
    story += _steps(w, rng.randint(0, 4), QUIET)
    final = w.pick([
        ("By the evening, the {o} was with ", "到了晚上，拿着{o}的人是"),
        ("In the end, the person holding the {o} was ", "最后，手里拿着{o}的人是"),
        ("Everyone knew who had the {o} now: it was ", "大家都知道现在{o}在谁那里：在"),
        ("When the day was over, the {o} belonged to ", "一天结束的时候，{o}的主人是"),
        ("So the one who went home with the {o} was ", "所以，带着{o}回家的人是"),
        ("If you wanted to borrow the {o} now, you had to ask ", "现在要是想借{o}，就得去找"),
    ], o=obj)
    return story, final, ("holder", obj), w.people[w.holder[obj]].name


def _place(rng: random.Random, w: World) -> tuple[list[Pair], Pair, tuple, Pair]:
    k = len(w.people)
    x = rng.randrange(k)
    order = [j for j in range(k) if j != x] + [x] * rng.randint(2, 3)
    rng.shuffle(order)
    story = []
    for j in order:
        story += _steps(w, rng.randint(0, 1), ["activity", "eat", "feel", "weather", "talk", "tell"]) + [w.move(j)]
    for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):  # others go elsewhere after x's last move
        j = rng.choice([i for i in range(k) if i != x])
        place = w.place_of[x]
        while place == w.place_of[x] or place == w.place_of.get(j):
            place = rng.choice(lx.PLACES)
        story.append(w.move(j, place))
    story += _steps(w, rng.randint(0, 2), ["activity", "eat", "feel", "weather", "talk", "tell"])
    p, him = w.people[x].name, w.people[x].him
    final = w.pick([
        ("At that moment, {p} was still at the ", "那时，{p}还待在"),
        ("If you were looking for {p}, you would find {him} at the ", "要是想找{p}，得去"),
        ("{p} spent the rest of the day at the ", "那天剩下的时间，{p}都待在"),
        ("The last place {p} went to that day was the ", "那天{p}最后去的地方是"),
        ("When the phone rang for {p}, {p} was at the ", "有人打电话找{p}的时候，{p}正在"),
        ("That evening, the friends of {p} met {him} at the ", "那天傍晚，朋友们在这里见到了{p}："),
    ], p=p, him=him)
    return story, final, ("place", x), w.place_of[x]


def _giver(rng: random.Random, w: World) -> tuple[list[Pair], Pair, tuple, Pair]:
    obj, measure = an_object(rng)
    k = len(w.people)
    story = [w.own(rng.randrange(k), obj, measure)] + _steps(w, rng.randint(0, 2), QUIET)
    for _ in range(rng.randint(1, 2)):
        giver = w.holder[obj]
        story.append(w.give(giver, rng.choice([j for j in range(k) if j != giver]), obj))
        story += _steps(w, rng.randint(0, 3), QUIET)
    r = w.people[w.holder[obj]]
    final = w.pick([
        ("{r} still remembered who had given {him} the {o}: it was ", "{r}还记得，把{o}给{him}的人是"),
        ("The {o} that {r} now had came from ", "{r}现在拿着的{o}，是这个人给的："),
        ("Later, {r} thanked the person who had handed over the {o}, ", "后来，{r}感谢了把{o}交给{him}的人，"),
        ("Asked where the {o} came from, {r} named ", "有人问{o}是从哪里来的，{r}说是"),
        ("{r} wanted to give the {o} back one day to ", "{r}想着有一天要把{o}还给"),
    ], r=r.name, him=r.him, o=obj)
    return story, final, ("giver", (obj, w.holder[obj])), w.people[giver].name


def _buyer(rng: random.Random, w: World) -> tuple[list[Pair], Pair, tuple, Pair]:
    k = len(w.people)
    things = THINGS.distinct(rng, k)
    buyers = list(range(k))
    rng.shuffle(buyers)
    story = []
    for i, thing in zip(buyers, things):
        story += _steps(w, rng.randint(0, 2), ["activity", "eat", "feel", "weather", "move", "meet", "talk", "tell"])
        story.append(w.buy(i, thing))
    story += _steps(w, rng.randint(0, 3), ["activity", "eat", "feel", "weather", "move", "meet", "talk", "tell"])
    asked = rng.choice(things)
    final = w.pick([
        ("The {t} had been bought by ", "买{t}的人是"),
        ("Whoever needed the {t} had to ask ", "谁需要{t}，就得去问"),
        ("At home, the {t} were unpacked by the one who bought them, ", "回到家，打开{t}的是买它们的人，"),
        ("The shop keeper remembered selling the {t} to ", "店主记得，{t}卖给了"),
        ("The receipt for the {t} was in the pocket of ", "{t}的收据在这个人的口袋里："),
        ("Nobody else had bought {t} that day except ", "那天除了这个人，没有别人买{t}："),
    ], t=Pair(asked.en_plural, asked.zh))
    return story, final, ("buyer", Pair(asked.en_plural, asked.zh)), w.people[buyers[things.index(asked)]].name


def answer_from_events(world: World, query: tuple) -> Pair:
    """The answer a reader derives from the passage's events alone (``world.replay``)."""
    form, arg = query
    state = replay(world.events)
    if form == "holder":
        return world.people[state.holder[arg]].name
    if form == "place":
        return state.place_of[arg]
    if form == "giver":
        return world.people[state.given_by[arg]].name
    if form == "buyer":
        return world.people[state.bought_by[arg]].name
    raise ValueError(f"query form must be one of {FORMS}, got {form!r}")


def candidates_in(context: str, entities: list[str]) -> tuple[str, ...]:
    """The entities that occur in ``context``, in order of first occurrence."""
    found = [(context.find(e), e) for e in entities if e in context]
    return tuple(e for _, e in sorted(found))


def cloze_case(rng: random.Random) -> ClozeCase:
    """One item in English and Chinese sharing the same meaning."""
    world = new_world(rng, rng.randint(3, 4))
    form = rng.choice(FORMS)
    opening = world.opening()
    tell = {"holder": _holder, "place": _place, "giver": _giver, "buyer": _buyer}[form]
    story, final, query, target = tell(rng, world)
    body = join([opening] + story)
    entities = list(lx.PLACES) if form == "place" else [p.name for p in world.people]
    items = []
    for side, sep in ((0, " "), (1, "")):
        context = body[side] + sep + final[side]
        candidates = candidates_in(body[side], [e[side] for e in entities])
        items.append(ClozeItem(context, target[side], ("en", "zh")[side], form, candidates))
    return ClozeCase(Pair(*items), world, query)


def cloze_item(rng: random.Random) -> Pair:  # Pair[ClozeItem]
    """One item as a ``Pair`` of ``ClozeItem`` (English, Chinese) sharing the same meaning."""
    return cloze_case(rng).items
