"""The document kinds of the pretraining mixture, by name: each maps a ``random.Random`` to a list of sentence pairs.

How it works
------------
``story`` is told from a world state (``world.py``: people, places, objects and a clock that only moves forward);
the others are fact sheets, word problems, dialogues and schedules (``documents.py``). ``join`` turns the list into
a parallel English/Chinese document.
"""

from glm_mini.data.documents import dialog, schedule, town_facts, word_problem
from glm_mini.data.world import world_story

DOCUMENT_KINDS = {
    "story": world_story,
    "town_facts": lambda rng: town_facts(rng).sentences(rng),
    "word_problem": word_problem,
    "dialog": dialog,
    "schedule": schedule,
}
