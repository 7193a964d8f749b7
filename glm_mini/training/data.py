"""The trainer's data: packed corpus splits, a resumable position in them, and fixed validation batches.

How it works
------------
``load_train_data`` tokenizes a corpus and packs its train and validation splits into ``seq_len``-token windows
(document boundaries are ``<eod>``). The default corpus is the kit's generated one (``glm_mini.data.load_corpus``,
packed by ``glm_mini.data.pack_corpus``), whose ``mip_train`` split supplies the (prompt, answer) pairs of
multi-task instruction pre-training. A user corpus (a ``save_to_disk`` folder, files, or a Hub dataset; its text in
``text_column``) gets a tokenizer trained on it (``corpus_tokenizer``) and is tokenized with ``datasets.map`` and
packed, streaming, into a memory-mapped cache (``glm_mini.data.packed_corpus``): its own ``validation`` split, or
its last 5% of documents (at least one), is the validation split, and no Python list of the corpus is ever built.

``DataCursor`` walks the training windows in a fresh random order each epoch. The order of epoch e is a function of
(seed, e) alone, so the whole data position is the pair (epoch, index in the epoch's order): two integers in the
checkpoint. The objective (``glm_mini.objective.sample_batch``) then turns each drawn batch of windows into GLM samples
with the run's ``random.Random``, also checkpointed.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

import torch

from glm_mini.data import PackedSequences, load_corpus, pack_corpus
from glm_mini.data.corpus import NAMED_CORPORA
from glm_mini.data.corpus_tokenizer import corpus_tokenizer, default_tokenizer
from glm_mini.data.packed_corpus import VALIDATION_SHARE, pack_real_corpus
from glm_mini.objective import ObjectiveConfig, SpecialTokens, mip_pairs_from_records, sample_batch
from glm_mini.tokenizer import GLMTokenizer


@dataclass
class TrainData:
    tokenizer: GLMTokenizer
    train: PackedSequences  # [N, seq_len] windows
    validation: PackedSequences  # [N_val, seq_len]
    mip_pairs: list[tuple[list[int], list[int]]] | None  # (prompt ids, answer ids), or None without MIP


def load_train_data(corpus: str, vocab_size: int, seq_len: int, mip: bool, text_column: str = "text") -> TrainData:
    """Pack ``corpus`` (a kit corpus named in ``NAMED_CORPORA``: "default" or "lessons"; or a saved dataset, file,
    glob or Hub name, whose text is in ``text_column``) into ``seq_len`` windows with a tokenizer of ``vocab_size`` ids
    (the kit's for its own corpora, else one trained on ``corpus`` itself and cached: ``corpus_tokenizer``); MIP
    pairs from ``mip_train``. A kit corpus's data is kept in memory for the next call; a user corpus is memory-mapped
    from its cache."""
    if corpus in NAMED_CORPORA:
        return _kit_data(corpus, vocab_size, seq_len, mip)
    return _user_data(corpus, vocab_size, seq_len, mip, text_column)


@functools.lru_cache(maxsize=4)
def _kit_data(corpus: str, vocab_size: int, seq_len: int, mip: bool) -> TrainData:
    config = NAMED_CORPORA[corpus]
    tokenizer = default_tokenizer(vocab_size, config)
    splits = load_corpus(config)
    mip_pairs = mip_pairs_from_records(tokenizer, splits["mip_train"]) if mip else None
    return TrainData(tokenizer, pack_corpus(tokenizer, [r["text"] for r in splits["train"]], seq_len),
                     pack_corpus(tokenizer, [r["text"] for r in splits["validation"]], seq_len), mip_pairs)


def _user_data(corpus: str, vocab_size: int, seq_len: int, mip: bool, text_column: str) -> TrainData:
    if mip:
        raise ValueError(f"mip: corpus {corpus!r} has no instruction tasks to mix in (only the default corpus "
                         "has a mip_train split); pass --no-mip")
    tokenizer = corpus_tokenizer(corpus, vocab_size, column=text_column)
    train, validation = pack_real_corpus(corpus, tokenizer, seq_len, column=text_column,
                                         validation_share=VALIDATION_SHARE)
    return TrainData(tokenizer, train, validation, None)


def window(packed: PackedSequences, i: int) -> torch.Tensor:
    return torch.from_numpy(packed.tokens[i].astype("int64"))  # [seq_len]


class DataCursor:
    """Draws batches of training windows; each epoch is a new permutation fixed by (seed, epoch)."""

    def __init__(self, n_windows: int, seed: int):
        if n_windows < 1:
            raise ValueError("the training split packed into 0 windows; the corpus is empty")
        self.n, self.seed = n_windows, seed
        self.epoch, self.index = 0, 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.n, generator=generator).tolist()

    def next_indices(self, count: int) -> list[int]:
        out = []
        while len(out) < count:
            if self.index == self.n:
                self.epoch, self.index = self.epoch + 1, 0
                self._order = self._permutation(self.epoch)
            take = min(count - len(out), self.n - self.index)
            out += self._order[self.index:self.index + take]
            self.index += take
        return out

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "index": self.index}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.index = state["epoch"], state["index"]
        self._order = self._permutation(self.epoch)


def validation_batches(data: TrainData, n_batches: int, batch_size: int, seq_len: int, special: SpecialTokens,
                       seed: int, objective: ObjectiveConfig) -> list[dict[str, torch.Tensor]]:
    """The same ``n_batches`` objective batches of the validation split at every eval (own RNG, no MIP)."""
    rng = random.Random(f"{seed}/validation")
    n = len(data.validation)
    batches = []
    for k in range(n_batches):
        windows = [window(data.validation, (k * batch_size + j) % n) for j in range(batch_size)]
        batches.append(sample_batch(windows, seq_len, special, rng, objective))
    return batches


def target_counts(data: TrainData, n_batches: int, batch_size: int, seq_len: int, special: SpecialTokens,
                  vocab_size: int, seed: int, objective: ObjectiveConfig) -> torch.Tensor:
    """``[V]`` counts of the loss targets in ``n_batches`` objective batches of the train split (for baselines)."""
    rng = random.Random(f"{seed}/baseline")
    cursor = DataCursor(len(data.train), seed + 1)
    counts = torch.zeros(vocab_size, dtype=torch.long)
    for _ in range(n_batches):
        windows = [window(data.train, i) for i in cursor.next_indices(batch_size)]
        batch = sample_batch(windows, seq_len, special, rng, objective, data.mip_pairs)
        counts += torch.bincount(batch["targets"][batch["loss_mask"]], minlength=vocab_size)
    return counts
