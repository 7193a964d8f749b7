"""World-state stories: the clock only moves forward, actions respect the state, replay rebuilds it."""

import random
import re

import pytest

from glm_mini.data.world import an_object, new_world, replay


def test_replay_rebuilds_places_and_holders():
    for seed in range(40):
        rng = random.Random(seed)
        world = new_world(rng, 4)
        obj, measure = an_object(rng)
        world.own(0, obj, measure)
        for _ in range(30):
            world.random_step()
        state = replay(world.events)
        assert state.place_of == world.place_of
        assert state.holder == world.holder


def test_only_the_holder_can_give_an_object():
    rng = random.Random(0)
    world = new_world(rng, 3)
    obj, measure = an_object(rng)
    world.own(1, obj, measure)
    with pytest.raises(ValueError, match="give: person 0 does not hold"):
        world.give(0, 2, obj)
    world.give(1, 2, obj)
    assert world.holder[obj] == 2


def test_clock_never_runs_backwards_and_named_hours_are_the_clock():
    words = "one two three four five six seven eight nine ten eleven twelve".split()
    for seed in range(100):
        world = new_world(random.Random(seed), 3)
        before = world.minutes
        for _ in range(25):
            sentence = world.random_step().en
            assert world.minutes >= before, sentence
            before = world.minutes
            named = re.match(r"(?:At|Around) (\w+) o'clock", sentence)
            if named:
                hour = int(named.group(1)) if named.group(1).isdigit() else words.index(named.group(1)) + 1
                assert hour == (world.minutes // 60 - 1) % 12 + 1 and world.minutes % 60 == 0, sentence


def test_people_in_one_world_have_distinct_names():
    for seed in range(100):
        world = new_world(random.Random(seed), 4)
        names = [p.name.en for p in world.people]
        assert all(a == b or a not in b for a in names for b in names), names
