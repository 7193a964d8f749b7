"""The kit's data: a generated bilingual EN/ZH corpus with evaluation splits, real corpora via ``datasets``, packing.

Files, one concept each: ``lexicon`` (bilingual word lists), ``sampling`` (Zipf draws, Chinese numerals),
``documents`` (parallel EN/ZH documents), ``world`` (stories told from a world state), ``kinds`` (the document kinds
of the mixture), ``cloze`` (LAMBADA-like items), ``infill`` (blanks fixed by later text), ``tasks`` (MIP task
families), ``corpus`` (splits, caching), ``baselines`` (n-gram models and rule baselines), ``diversity`` (frames,
distinct n-grams), ``real`` (saved datasets, local files and Hub datasets), ``corpus_tokenizer`` (the default corpus's
tokenizer, ``default_tokenizer``, and one for a real corpus), ``packing`` (fixed-length sequences), ``packed_corpus``
(a real corpus tokenized with ``datasets.map`` and packed, streaming, into a memory-mapped cache).
"""

from glm_mini.data.corpus import SPLITS, CorpusConfig, generate_corpus, load_corpus
from glm_mini.data.packing import PackedDataset, PackedSequences, pack_corpus, pack_documents
from glm_mini.data.real import (CorpusColumnError, CorpusDecodeError, CorpusError, CorpusFileNotFound,
                                EmptyCorpusError, load_text_corpus)
from glm_mini.data.tasks import HELDOUT_FAMILIES, TRAIN_FAMILIES

__all__ = [
    "SPLITS", "CorpusConfig", "generate_corpus", "load_corpus",
    "PackedDataset", "PackedSequences", "pack_corpus", "pack_documents",
    "CorpusColumnError", "CorpusDecodeError", "CorpusError", "CorpusFileNotFound", "EmptyCorpusError",
    "load_text_corpus", "HELDOUT_FAMILIES", "TRAIN_FAMILIES",
]
