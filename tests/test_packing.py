"""Packing documents into fixed-length sequences: exact layout, boundaries, memory-mapped save/load, torch Dataset."""

import random

import numpy as np
import pytest
import torch
from corpus_fixtures import small_corpus, small_tokenizer

from glm_mini.data import PackedDataset, PackedSequences, pack_corpus, pack_documents

EOD, PAD = 99, 98


def test_small_example_exactly():
    packed = pack_documents([[1, 2, 3], [4, 5], [6, 7, 8, 9, 10]], seq_len=4, eod_id=EOD, pad_id=PAD)
    # stream: 1 2 3 E | 4 5 E 6 | 7 8 9 10 | E P P P
    assert packed.tokens.tolist() == [[1, 2, 3, EOD], [4, 5, EOD, 6], [7, 8, 9, 10], [EOD, PAD, PAD, PAD]]
    assert [[s.tolist() for s in packed.segments(i)] for i in range(4)] == [
        [[1, 2, 3, EOD]], [[4, 5, EOD], [6]], [[7, 8, 9, 10]], [[EOD]]]
    assert packed.segment_ids(1).tolist() == [0, 0, 0, 1]
    assert packed.segment_ids(3).tolist() == [0, -1, -1, -1]


@pytest.mark.parametrize("seed", range(5))
def test_random_documents_survive_packing(seed):
    rng = random.Random(seed)
    docs = [[rng.randrange(90) for _ in range(rng.randrange(0, 30))] for _ in range(rng.randint(1, 40))]
    seq_len = rng.randint(2, 17)
    packed = pack_documents(docs, seq_len, EOD, PAD)
    stream = [t for d in docs for t in (*d, EOD)]
    assert packed.tokens.shape == (-(-len(stream) // seq_len), seq_len)
    pieces = [s.tolist() for i in range(len(packed)) for s in packed.segments(i)]
    assert [t for p in pieces for t in p] == stream  # segments cover every non-pad token, in order
    # gluing the pieces back at each eod recovers the documents
    rebuilt, current = [], []
    for piece in pieces:
        current += piece
        if current and current[-1] == EOD:
            rebuilt.append(current[:-1])
            current = []
    assert rebuilt == docs
    for i in range(len(packed)):
        ids = packed.segment_ids(i)
        assert (packed.tokens[i][ids == -1] == PAD).all() and (ids[ids >= 0] == np.sort(ids[ids >= 0])).all()


def test_dtype_follows_vocabulary():
    assert pack_documents([[1, 2]], 4, 3, 0, vocab_size=8192).tokens.dtype == np.uint16
    assert pack_documents([[1, 2]], 4, 3, 0, vocab_size=150528).tokens.dtype == np.int32


def test_bad_arguments():
    with pytest.raises(ValueError, match="seq_len"):
        pack_documents([[1]], 1, EOD, PAD)
    with pytest.raises(ValueError, match="no documents"):
        pack_documents([], 8, EOD, PAD)


def test_pack_corpus_save_memmap_and_dataset(tmp_path):
    tok = small_tokenizer()
    texts = [r["text"] for r in small_corpus()["validation"][:200]]
    packed = pack_corpus(tok, texts, seq_len=128, folder=tmp_path / "packed")
    assert isinstance(packed.tokens, np.memmap)
    in_memory = pack_corpus(tok, texts, seq_len=128)
    assert np.array_equal(packed.tokens, in_memory.tokens) and np.array_equal(packed.bounds, in_memory.bounds)
    decoded = tok.decode([t for i in range(len(packed)) for s in packed.segments(i) for t in s.tolist()])
    assert decoded == "".join(t + "<eod>" for t in texts)

    dataset = PackedDataset(PackedSequences.load(tmp_path / "packed"))
    item = dataset[0]
    assert item["input_ids"].dtype == torch.long and item["input_ids"].shape == (128,)
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=4)))
    assert batch["input_ids"].shape == batch["segment_ids"].shape == (4, 128)
    assert (batch["input_ids"][batch["segment_ids"] == -1] == tok.pad_id).all()


def test_saving_again_replaces_the_old_copy_and_leaves_no_temporaries(tmp_path):
    first = pack_documents([[1, 2, 3]], 4, EOD, PAD)
    second = pack_documents([[4, 5], [6]], 4, EOD, PAD)
    first.save(tmp_path / "packed")
    second.save(tmp_path / "packed")
    assert np.array_equal(PackedSequences.load(tmp_path / "packed").tokens, second.tokens)
    assert [p.name for p in tmp_path.iterdir()] == ["packed"]
