"""The kit's default corpus: a seeded bilingual EN/ZH corpus with held-out evaluation splits, cached as JSONL.

How it works
------------
``generate_corpus(CorpusConfig(seed=0))`` draws documents until the ``train`` split reaches ``size_mb`` megabytes
of UTF-8 text, then draws the other splits. Every split has its own random stream, seeded by the string
``"{seed}/{split}"`` (``random.Random`` hashes string seeds with SHA-512, so streams are stable across runs and
machines), and the same seed gives a byte-identical corpus. Splits (each record has ``text``, ``kind``, ``lang``):

=================  ==============================================================================================
``train``          pretraining documents: stories, town facts, word problems, dialogues, schedules, cloze-shaped
                   passages, parallel EN+ZH documents and the lesson kinds (animal sounds, biographies,
                   countdowns: ``kinds.LESSON_KINDS``); half English, half Chinese
``validation``     the same mixture, for held-out loss
``cloze_test``     LAMBADA-like items: ``context``, ``target`` (``text`` = context + target), ``form``, ``candidates``;
                   items come in EN/ZH pairs (``cloze.py``)
``infill_test``    a blank mid-passage fixed by what follows: ``prefix``, ``target``, ``suffix``, ``form``,
                   ``candidates``; EN/ZH pairs (``infill.py``)
``right_context_test``  an animal blanked in a ``sounds`` document, fixed by its sound to the right: the fields of
                   ``infill_test`` (``sounds.py``); in the lesson corpus never text a training document contains
``facts_test``     questions about the held-out people of ``people.py`` (their facts only in biographies):
                   ``prompt``, ``answer``, ``attribute``, ``template`` ("train"/"held-out"), ``candidates``
``completion_test``  a countdown to complete and end: ``prompt``, ``target`` (``countdown.py``); in the lesson
                   corpus never training text
``parallel_test``  the same document in both languages: ``en``, ``zh``
``mip_train``      prompted examples of the training task families (mixed into pretraining, as GLM's 5% MIP)
``mip_validation`` new examples of the training families
``mip_heldout``    the held-out families only, for zero-shot evaluation
=================  ==============================================================================================

No text occurs in two splits: a drawn record whose text (or either side of a parallel pair, whose records also
carry ``en`` and ``zh``) was already drawn is redrawn. ``load_corpus`` caches splits under ``data/cache/corpus/<key>/``
(``key`` = a hash of the config), writing a temporary folder (the manifest of sizes and SHA-256 last, ``manifest.py``)
then renaming it, so a crash never leaves half a corpus. Every load checks the manifest; a missing, cut or edited
file is reported (``CacheRebuildWarning``: "rebuilding the corpus cache at ... because ...") and the corpus is
generated again, never silently read.

Two corpora
-----------
``CorpusConfig()`` is the default corpus every notebook and the stability sweeps train on (generator version 7).
``LESSON_CORPUS`` is the reference models' corpus (``TrainConfig(corpus="lessons")``, ``glm_mini.reference``): lesson
revision 2 writes the animal-sound pairs both ways (sound-first lists beside the animal-first ones), ends each
countdown with the closing words its header fixes, never takes a test item that a training document contains, and
gives countdowns 15% of the documents. The revision is a field of the config, so the default corpus, and every
number measured on it, stays byte for byte what it was (docs/reference_models.md says why the lessons need it).
``PLAIN_CORPUS`` (``corpus="plain"``) is the corpus before the lesson kinds existed, which the committed stability
sweeps of notebooks 04 and 05 were trained on (``glm_mini.stability.lr_sweep``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from glm_mini.data.cloze import cloze_item
from glm_mini.data.documents import join
from glm_mini.data.infill import infill_case
from glm_mini.data.countdown import completion_item
from glm_mini.data.kinds import DOCUMENT_KINDS, LESSON_KINDS, lesson_kinds
from glm_mini.data.people import facts_test_records
from glm_mini.data.sounds import sound_item
from glm_mini.data.tasks import HELDOUT_FAMILIES, TRAIN_FAMILIES, task_example
from glm_mini.manifest import manifest_problem, open_permissions, replace_folder, warn_rebuild, write_manifest

Record = dict[str, "str | list[str]"]  # cloze and infill records also carry a list of candidates
SPLITS = ("train", "validation", "cloze_test", "infill_test", "right_context_test", "facts_test", "completion_test",
          "parallel_test", "mip_train", "mip_validation", "mip_heldout")
REPO_ROOT = Path(__file__).resolve().parents[2]
GENERATOR_VERSION = 7  # bump whenever a change to the generators changes their output: it is part of the cache key


def cache_dir() -> Path:
    """``data/cache/`` in the repo (git-ignored), or ``$GLM_KIT_DATA_CACHE`` when set and not empty; a value naming a
    file (or a path below one) raises ``NotADirectoryError`` naming the variable."""
    value = os.environ.get("GLM_KIT_DATA_CACHE")
    if not value:
        return REPO_ROOT / "data" / "cache"
    path = Path(value)
    existing = next(p for p in (path, *path.parents) if p.exists())  # the root always exists
    if not existing.is_dir():
        raise NotADirectoryError(f"GLM_KIT_DATA_CACHE={value}: expected a folder for the kit's data cache, but "
                                 f"{existing} is a file; point the variable at a folder, or unset it to use "
                                 f"{REPO_ROOT / 'data' / 'cache'}")
    return path


@dataclass(frozen=True)
class CorpusConfig:
    seed: int = 0
    size_mb: float = 4.0  # UTF-8 megabytes (10**6 bytes) of the train split
    validation_fraction: float = 0.05  # validation bytes / train bytes
    mip_fraction: float = 0.1  # mip_train bytes / train bytes
    cloze_items: int = 500  # per language
    infill_items: int = 500  # per language
    right_context_items: int = 500  # per language
    completion_items: int = 200  # per language
    parallel_items: int = 500
    mip_eval_items: int = 100  # per family and language, in mip_validation and mip_heldout
    # share of each document kind in train/validation; "cloze" and "parallel" are the evaluation formats
    mixture: tuple[tuple[str, float], ...] = (("story", 0.2), ("town_facts", 0.08), ("word_problem", 0.06),
                                              ("dialog", 0.06), ("schedule", 0.03), ("cloze", 0.06), ("parallel", 0.06),
                                              ("sounds", 0.3), ("biography", 0.09), ("countdown", 0.06))
    # how the lesson kinds are written (module docstring, "Two corpora"): 1 the default corpus, 2 the lesson corpus
    lesson_revision: int = 1
    mip_families: tuple[str, ...] | None = None  # the MIP training families (None: all of tasks.TRAIN_FAMILIES)

    def key(self) -> str:
        fields = {**dataclasses.asdict(self), "generator_version": GENERATOR_VERSION}
        for name, default in (("lesson_revision", 1), ("mip_families", None)):
            if fields[name] == default:  # fields added after generator version 7: caches made before keep their key
                del fields[name]
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:12]


# the reference models' corpus (glm_mini.reference): lesson revision 2, and countdowns in 15% of the documents (the
# default's 6% gave too few long completions to learn to end one in 1,500 steps); stories make room for them
LESSON_CORPUS = CorpusConfig(lesson_revision=2, mixture=(
    ("story", 0.11), ("town_facts", 0.08), ("word_problem", 0.06), ("dialog", 0.06), ("schedule", 0.03),
    ("cloze", 0.06), ("parallel", 0.06), ("sounds", 0.3), ("biography", 0.09), ("countdown", 0.15)))
# the corpus of the committed stability sweeps (data/reference/sweeps, notebooks 04 and 05): the kit's documents and
# MIP tasks before the lesson kinds and the facts task existed (generator version 3, byte for byte)
PLAIN_CORPUS = CorpusConfig(mixture=(("story", 0.35), ("town_facts", 0.15), ("word_problem", 0.12), ("dialog", 0.1),
                                     ("schedule", 0.05), ("cloze", 0.13), ("parallel", 0.1)),
                            mip_families=("qa", "sentiment", "translation", "extraction", "arithmetic"))
NAMED_CORPORA = {"default": CorpusConfig(), "lessons": LESSON_CORPUS, "plain": PLAIN_CORPUS}  # TrainConfig.corpus


def _pretraining_record(rng: random.Random, kinds: list[str], cum: list[float], lessons: dict) -> Record:
    kind = rng.choices(kinds, cum_weights=cum)[0]
    if kind == "cloze":
        item = cloze_item(rng)[rng.randrange(2)]
        return {"text": item.text, "kind": "cloze", "lang": item.lang}
    if kind == "parallel":
        doc = join(DOCUMENT_KINDS[rng.choice(sorted(DOCUMENT_KINDS))](rng))
        first, second = (doc.en, doc.zh) if rng.random() < 0.5 else (doc.zh, doc.en)
        return {"text": first + "\n" + second, "kind": "parallel", "lang": "en+zh", "en": doc.en, "zh": doc.zh}
    doc = join({**DOCUMENT_KINDS, **lessons}[kind](rng))
    lang = rng.choice(("en", "zh"))
    return {"text": doc.en if lang == "en" else doc.zh, "kind": kind, "lang": lang}


def _fill(draw: Callable[[], Record], taken: set[str], n_bytes: float = float("inf"),
          n_records: int | None = None) -> list[Record]:
    """Draw records until they hold ``n_bytes`` of text or number ``n_records``; skip any whose text (or a parallel
    side) is already in ``taken``, and add the new texts to it."""
    records: list[Record] = []
    size = 0
    while size < n_bytes and (n_records is None or len(records) < n_records):
        record = draw()
        texts = [record[k] for k in ("text", "en", "zh") if k in record]
        if any(t in taken for t in texts):
            continue
        taken.update(texts)
        records.append(record)
        size += len(record["text"].encode("utf-8"))
    return records


def _cloze_stream(rng: random.Random) -> Iterator[Record]:
    """Each cloze item in English, then the same item in Chinese."""
    while True:
        for item in cloze_item(rng):
            yield {"text": item.text, "kind": "cloze", "lang": item.lang, "context": item.context,
                   "target": item.target, "form": item.form, "candidates": list(item.candidates)}


def _infill_stream(rng: random.Random) -> Iterator[Record]:
    """Each infill item in English, then the same item in Chinese."""
    while True:
        for item in infill_case(rng).items:
            yield {"text": item.text, "kind": "infill", "lang": item.lang, "prefix": item.prefix,
                   "target": item.target, "suffix": item.suffix, "form": item.form,
                   "candidates": list(item.candidates)}


def _sound_stream(rng: random.Random, not_inside: str | None) -> Iterator[Record]:
    """Each right-context item in English, then the same item in Chinese; a pair either of whose texts occurs inside
    ``not_inside`` (the training text; None: no such check, lesson revision 1) is skipped."""
    while True:
        pair = sound_item(rng)
        if not_inside is not None and any(item.text in not_inside for item in pair):
            continue
        for item in pair:
            yield {"text": item.text, "kind": "sounds", "lang": item.lang, "prefix": item.prefix,
                   "target": item.target, "suffix": item.suffix, "form": item.form,
                   "candidates": list(item.candidates)}


def _completion_stream(rng: random.Random, not_inside: str | None, revision: int) -> Iterator[Record]:
    """Each countdown in English, then in Chinese; a pair either of whose texts occurs inside ``not_inside``
    (None: no such check) is skipped."""
    while True:
        pair = completion_item(rng, revision)
        if not_inside is None or not any(r["text"] in not_inside for r in pair):
            yield from pair


def _task_stream(rng: random.Random, families: tuple[str, ...]) -> Iterator[Record]:
    """Round-robin over families and languages, so every family appears equally often."""
    i = 0
    while True:
        family, lang = families[i % len(families)], ("en", "zh")[i // len(families) % 2]
        example = task_example(rng, family, lang)
        yield {"text": example.text, "kind": "task", "lang": lang, "family": family,
               "prompt": example.prompt, "answer": example.answer}
        i += 1


def generate_corpus(config: CorpusConfig = CorpusConfig()) -> dict[str, list[Record]]:
    """All splits as lists of records, byte-for-byte determined by ``config`` (checked first:
    ``check_corpus_config``)."""
    check_corpus_config(config)
    streams = {split: random.Random(f"{config.seed}/{split}") for split in SPLITS}
    kinds = [k for k, _ in config.mixture]
    cum = [sum(w for _, w in config.mixture[: i + 1]) for i in range(len(config.mixture))]
    train_bytes = config.size_mb * 1e6
    taken: set[str] = set()
    out: dict[str, list[Record]] = {}

    lessons = lesson_kinds(config.lesson_revision)

    def records(split: str) -> Callable[[], Record]:
        return lambda: _pretraining_record(streams[split], kinds, cum, lessons)

    out["train"] = _fill(records("train"), taken, n_bytes=train_bytes)
    families = config.mip_families or TRAIN_FAMILIES
    tasks = _task_stream(streams["mip_train"], families)
    out["mip_train"] = _fill(lambda: next(tasks), taken, n_bytes=train_bytes * config.mip_fraction)
    out["validation"] = _fill(records("validation"), taken, n_bytes=train_bytes * config.validation_fraction)

    items = _cloze_stream(streams["cloze_test"])
    out["cloze_test"] = _fill(lambda: next(items), taken, n_records=2 * config.cloze_items)
    blanks = _infill_stream(streams["infill_test"])
    out["infill_test"] = _fill(lambda: next(blanks), taken, n_records=2 * config.infill_items)

    def parallel() -> Record:
        rng = streams["parallel_test"]
        kind = rng.choice(sorted(DOCUMENT_KINDS))
        doc = join(DOCUMENT_KINDS[kind](rng))
        return {"text": doc.en + "\n" + doc.zh, "kind": kind, "lang": "en+zh", "en": doc.en, "zh": doc.zh}

    out["parallel_test"] = _fill(parallel, taken, n_records=config.parallel_items)
    # a right-context item or a countdown is a document's beginning; one that a training document contains verbatim
    # (a one-sentence item, say) would test memory, so lesson revision 2 draws it again
    train_text = "\n".join(r["text"] for r in out["train"]) if config.lesson_revision >= 2 else None
    sounds = _sound_stream(streams["right_context_test"], train_text)
    out["right_context_test"] = _fill(lambda: next(sounds), taken, n_records=2 * config.right_context_items)
    questions = facts_test_records(streams["facts_test"])
    facts = iter(questions)
    out["facts_test"] = _fill(lambda: next(facts), taken, n_records=len(questions))
    countdowns = _completion_stream(streams["completion_test"], train_text, config.lesson_revision)
    out["completion_test"] = _fill(lambda: next(countdowns), taken, n_records=2 * config.completion_items)
    for split, families in (("mip_validation", families), ("mip_heldout", HELDOUT_FAMILIES)):
        stream = _task_stream(streams[split], families)
        out[split] = _fill(stream.__next__, taken, n_records=2 * len(families) * config.mip_eval_items)
    return {split: out[split] for split in SPLITS}


def write_jsonl(records: list[Record], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[Record]:
    """The records of a JSONL file; a bad line raises ``ValueError`` naming the file and the line number."""
    records = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            try:
                records.append(json.loads(line))
            except ValueError as err:
                raise ValueError(f"{path}: line {number} is not valid JSON ({err})") from None
    return records


def check_corpus_config(config) -> None:
    """Raise ``TypeError``/``ValueError`` naming the field unless ``config`` describes a corpus that can be drawn:
    ints and numbers of the right type (never a bool), sizes and fractions positive and finite, a known mixture."""
    if not isinstance(config, CorpusConfig):
        raise TypeError(f"config: expected a CorpusConfig, got {type(config).__name__} {config!r}"[:200])
    for field in dataclasses.fields(config):
        value, kind = getattr(config, field.name), {"int": int, "float": (int, float)}.get(field.type)
        if kind and (isinstance(value, bool) or not isinstance(value, kind)):
            raise TypeError(f"CorpusConfig.{field.name}: expected {field.type}, got {type(value).__name__} {value!r}")
        if kind is not None and kind is not int and not math.isfinite(value):
            raise ValueError(f"CorpusConfig.{field.name}: expected a finite number, got {value!r}")
        if kind is not None and field.name != "seed" and value < 0:
            raise ValueError(f"CorpusConfig.{field.name}: expected a number >= 0, got {value!r}")
    if config.mip_families is not None and not (isinstance(config.mip_families, tuple) and config.mip_families
                                                and set(config.mip_families) <= set(TRAIN_FAMILIES)):
        raise ValueError(f"CorpusConfig.mip_families: expected None or a non-empty tuple of names from "
                         f"{TRAIN_FAMILIES}, got {config.mip_families!r}")
    if config.lesson_revision not in (1, 2):
        raise ValueError(f"CorpusConfig.lesson_revision: expected 1 or 2, got {config.lesson_revision!r}")
    if not config.size_mb > 0:
        raise ValueError(f"CorpusConfig.size_mb: expected a positive size in MB, got {config.size_mb!r}")
    known = {*DOCUMENT_KINDS, *LESSON_KINDS, "cloze", "parallel"}
    pairs = config.mixture if isinstance(config.mixture, tuple) else ()
    if not pairs or any(not (isinstance(p, tuple) and len(p) == 2 and p[0] in known and isinstance(p[1], (int, float))
                             and not isinstance(p[1], bool) and math.isfinite(p[1]) and p[1] >= 0) for p in pairs) \
            or sum(w for _, w in pairs) <= 0:
        raise ValueError(f"CorpusConfig.mixture: expected a tuple of (kind, weight >= 0) pairs with kinds from "
                         f"{sorted(known)} and a positive total, got {config.mixture!r}"[:400])


def corpus_path(config: CorpusConfig = CorpusConfig()) -> Path:
    """Folder holding ``<split>.jsonl`` for ``config``, checked against its manifest; generated (again) when missing
    or damaged."""
    check_corpus_config(config)
    folder = cache_dir() / "corpus" / f"seed{config.seed}-{config.size_mb:g}mb-{config.key()}"
    files = (*(f"{split}.jsonl" for split in SPLITS), "config.json")
    problem = manifest_problem(folder / "manifest.json", files)
    if problem is None:
        return folder
    if folder.exists():
        warn_rebuild("the corpus cache", folder, problem)
    splits = generate_corpus(config)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    try:
        open_permissions(tmp)  # mkdtemp makes 0700: the cache gets the folder mode the umask gives
        for split, records in splits.items():
            write_jsonl(records, tmp / f"{split}.jsonl")
        (tmp / "config.json").write_text(json.dumps(dataclasses.asdict(config)))
        write_manifest(tmp / "manifest.json", [tmp / name for name in files])  # last: every file is complete
    except BaseException as err:  # a full disk, a kill: remove this call's own temporary folder, no partial corpus
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError):
            raise OSError(err.errno, f"{err.strerror}: writing the corpus cache {folder} failed (nothing partial "
                                     "was kept)") from err
        raise
    try:
        replace_folder(tmp, folder, {*files, "manifest.json"})
    except OSError:  # a concurrent writer of the same corpus won the race: its copy is identical
        shutil.rmtree(tmp, ignore_errors=True)
        if manifest_problem(folder / "manifest.json", files) is not None:
            raise
    return folder


def load_corpus(config: CorpusConfig = CorpusConfig()) -> dict[str, list[Record]]:
    """All splits, from the cache (generated and cached on first use, rebuilt if damaged)."""
    folder = corpus_path(config)
    return {split: read_jsonl(folder / f"{split}.jsonl") for split in SPLITS}
