"""The document kinds of the pretraining mixture, by name: each maps a ``random.Random`` to a list of sentence pairs.

How it works
------------
``story`` is told from a world state (``world.py``: people, places, objects and a clock that only moves forward);
the others are fact sheets, word problems, dialogues and schedules (``documents.py``). ``join`` turns the list into
a parallel English/Chinese document.

``LESSON_KINDS`` are the documents the evaluation lessons need (notebook 07): animal sounds, whose blanks are fixed
by the text to their right (``sounds.py``), biographies, whose facts MIP questions ask about (``people.py``), and
countdowns, long completions that must end (``countdown.py``). They are pretraining kinds like the others, but the
held-out ``topic`` task and the parallel split draw only from ``DOCUMENT_KINDS``.
"""

import functools

from glm_mini.data.documents import dialog, schedule, town_facts, word_problem
from glm_mini.data.countdown import countdown_sentences
from glm_mini.data.people import biography
from glm_mini.data.sounds import sounds_sentences
from glm_mini.data.world import world_story

DOCUMENT_KINDS = {
    "story": world_story,
    "town_facts": lambda rng: town_facts(rng).sentences(rng),
    "word_problem": word_problem,
    "dialog": dialog,
    "schedule": schedule,
}

LESSON_KINDS = ("sounds", "biography", "countdown")


def lesson_kinds(revision: int) -> dict:
    """The lesson kinds as written by ``CorpusConfig.lesson_revision`` ``revision`` (1: the default corpus; 2: the
    reference models' lesson corpus, ``corpus.LESSON_CORPUS``)."""
    return {"sounds": functools.partial(sounds_sentences, revision=revision), "biography": biography,
            "countdown": functools.partial(countdown_sentences, revision=revision)}
