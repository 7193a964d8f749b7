"""The data of the evaluation lessons: right-context blanks, closed-book facts with held-out people and templates,
countdowns (glm_mini/data/sounds.py, people.py, countdown.py)."""

import dataclasses
import random
import re
from collections import Counter

from glm_mini.data import CorpusConfig, generate_corpus
from glm_mini.data.corpus import LESSON_CORPUS
from glm_mini.data.countdown import _EN_NUMBERS
from glm_mini.data.people import HELDOUT_QUESTION_MARKERS, N_TRAIN_PEOPLE, PEOPLE, biography
from glm_mini.data.sounds import ANIMAL_SOUNDS, ANIMALS, sound_item, sounds_reversed_list

SOUND_FIRST = ("Sounds and who made them: ", "Who made each sound: ", "声音和动物：", "每个声音是谁：")  # the openers
# the lesson corpus (revision 2), small
SMALL = dataclasses.replace(LESSON_CORPUS, seed=1, size_mb=0.3, cloze_items=5, infill_items=5, right_context_items=40,
                            completion_items=20, parallel_items=5, mip_eval_items=5)
_CORPUS = {}


def small_corpus():
    if not _CORPUS:
        _CORPUS.update(generate_corpus(SMALL))
    return _CORPUS


def test_the_sound_to_the_right_fixes_the_animal_and_the_left_does_not():
    sounds = {s.en: a.en for a, s in ANIMAL_SOUNDS}
    assert len(sounds) == len(ANIMALS) == 15  # one sound per animal, no sound shared
    items = [r for r in small_corpus()["right_context_test"] if r["lang"] == "en"]
    for r in items:
        assert r["prefix"] + r["target"] + r["suffix"] == r["text"] and r["target"] in r["candidates"]
        first_word = r["suffix"].split()[0].rstrip(".")
        assert sounds[first_word] == r["target"]  # a reader of the right neighbour solves it
    # from the left, the words before the blank are independent of the animal: the last three words before the
    # blank take the same few forms for every animal (no opener belongs to one animal)
    by_tail = Counter(" ".join(r["prefix"].split()[-3:]) for r in items)
    assert len(by_tail) >= 5


def test_sound_first_lists_name_each_sounds_own_animal_and_test_items_are_not_training_text():
    animal_of = {s.en: a.en for a, s in ANIMAL_SOUNDS}
    animal_of_zh = {s.zh: a.zh for a, s in ANIMAL_SOUNDS}
    rng = random.Random(4)
    for _ in range(50):
        (pair,) = sounds_reversed_list(rng)
        found = re.findall(r"(\w+), the (\w+)", pair.en)
        assert len(found) >= 6 and all(animal_of[sound] == animal for sound, animal in found)
        assert all(f"{s}的是{a}" in pair.zh for s, a in animal_of_zh.items() if s in pair.zh)
    corpus = small_corpus()
    train = [r["text"] for r in corpus["train"]]
    assert any(t.startswith(SOUND_FIRST) for t in train), "sound-first lists are trained"
    train_text = "\n".join(train)
    # the test items (whole documents with their blank filled) never occur in training
    assert not any(r["text"] in train_text for r in corpus["right_context_test"] + corpus["completion_test"])


def test_right_context_items_in_both_languages_are_the_same_item():
    rng = random.Random(3)
    en, zh = sound_item(rng)
    assert (en.lang, zh.lang) == ("en", "zh")
    assert ANIMALS.index((en.target, zh.target)) >= 0


def test_animals_are_uniform_in_the_sounds_documents():
    counts = Counter()
    for r in small_corpus()["train"]:
        if r["kind"] == "sounds" and r["lang"] == "en":
            counts.update(a.en for a in ANIMALS if re.search(rf"\bthe {a.en}\b", r["text"]))
    assert set(counts) == {a.en for a in ANIMALS}
    assert max(counts.values()) < 2.5 * min(counts.values())


def test_facts_test_asks_only_about_held_out_people_and_its_held_out_wording_never_trains():
    corpus = small_corpus()
    held_out = {p.name.en for p in PEOPLE[N_TRAIN_PEOPLE:]} | {p.name.zh for p in PEOPLE[N_TRAIN_PEOPLE:]}
    facts = corpus["facts_test"]
    assert {r["template"] for r in facts} == {"train", "held-out"} and len(facts) == 40 * 3 * 2 * 2
    assert all(r["answer"] in r["candidates"] for r in facts)
    trained_questions = "\n".join(r["text"] for r in corpus["mip_train"] if r["family"] == "facts")
    assert trained_questions, "the facts family is part of MIP training"
    assert not any(name in trained_questions for name in held_out)
    training_text = "\n".join(r["text"] for split in ("train", "mip_train") for r in corpus[split])
    assert not any(marker in training_text for marker in HELDOUT_QUESTION_MARKERS)


def test_biographies_state_each_persons_own_facts():
    rng = random.Random(0)
    for _ in range(50):
        sentences = biography(rng)
        text = " ".join(s.en for s in sentences)
        person = next(p for p in PEOPLE if p.name.en in text)
        for value in person.facts.values():
            assert re.search(rf"\b{value.en}\b", text)


def test_countdown_items_end_where_the_document_ends():
    for r in small_corpus()["completion_test"]:
        assert r["prompt"] + r["target"] == r["text"]
        assert r["target"].endswith(("Liftoff!", "Go!", "好了！", "出发！"))
        # the prompt fixes the closing words: each header has its own
        launch = "launch count" in r["prompt"] or "数数" in r["prompt"]
        assert r["target"].endswith(("Go!", "出发！") if launch else ("Liftoff!", "好了！"))
        if r["lang"] == "en":
            words = re.findall(r"[a-z]+(?=[,.])", r["text"])  # "fourteen, thirteen, ..., zero."
            numbers = [_EN_NUMBERS.index(w) for w in words]
            assert numbers == list(range(numbers[0], -1, -1)) and numbers[0] >= 8


def test_the_default_corpus_keeps_revision_1_of_the_lesson_kinds():
    """The lesson revision is a field: the default corpus (which every notebook and the committed stability sweeps
    trained on) keeps its cache key and writes neither sound-first lists nor header-fixed countdown ends."""
    assert CorpusConfig().key() == "595bba58a831"  # generator version 7's key, before the field existed
    assert CorpusConfig().lesson_revision == 1 and LESSON_CORPUS.lesson_revision == 2
    old = generate_corpus(dataclasses.replace(SMALL, lesson_revision=1, mixture=CorpusConfig().mixture))
    assert not any(r["text"].startswith(SOUND_FIRST) for r in old["train"])
    ends = Counter(("launch count" in r["prompt"], r["target"].endswith("Go!")) for r in old["completion_test"]
                   if r["lang"] == "en")
    assert len(ends) == 4, ends  # revision 1 draws the end apart from the header: every pairing occurs
