"""GLMTokenizer: a sentencepiece unigram model (as icetk is) plus GLM's special tokens, lossless on any text.

How it works
------------
GLM-130B's icetk text tokenizer is a sentencepiece *unigram* model trained on bilingual text; ``\\n`` is the piece
``<n>`` and GLM's special tokens come after the sentencepiece vocabulary (icetk's 150000 tokens, then
``[MASK]``=150000, ``[gMASK]``=150001, ``[sMASK]``=150002, ``eod``=150003, ``sop``=150004, ``eop``=150005; ``eos`` is
the sentencepiece ``</s>`` and ``pad`` is 0). Sources: paper App. B.1; SwissArmyTransformer
``tokenization/icetk_glm_130B/ice_tokenizer.py`` (docs/glm130b_facts.md §1.2). The kit keeps that layout:

    ids [0, n_sp)              the sentencepiece model: <pad>=0, <unk>=1, </s>=2 (eos), <n>=3, 256 byte pieces, ...
    ids [n_sp, n_sp + 6)       [MASK] [gMASK] [sMASK] <eod> [sop] [eop]   (SAT's order)

so the same class loads any sentencepiece model (a user's own icetk text model included): the specials are always
appended after its pieces, and ``<n>`` is reused if the model has one.

Exact round trip, ``decode(encode(s)) == s`` for every string of Unicode scalar values, holds for models this module
trains, because:
- normalization is ``identity`` (no NFKC: "ﬁ" stays "ﬁ"), ``add_dummy_prefix=False`` and
  ``remove_extra_whitespaces=False`` (leading, trailing and repeated spaces survive);
- ``byte_fallback=True``: a character outside the vocabulary (emoji, rare CJK, control characters, tabs, ``\\r``)
  becomes its UTF-8 bytes as ``<0xNN>`` pieces, never ``<unk>``;
- text is first split on the special-token strings, ``\\n`` and U+2581 ``▁``: specials and ``\\n`` become their own
  ids (so ``[MASK]`` is one id even glued to text, "a[MASK]b"), and a literal ``▁`` is written as its three byte
  pieces, because sentencepiece would otherwise read it back as a space. ``<n>`` and ``</s>`` are *control* symbols,
  so the literal text "<n>" or "</s>" is ordinary text, not a token.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import sentencepiece as spm

from glm_mini.special_tokens import SpecialTokens

if TYPE_CHECKING:
    from glm_mini.data.corpus import CorpusConfig

SPECIAL_TOKENS = ("[MASK]", "[gMASK]", "[sMASK]", "<eod>", "[sop]", "[eop]")
NEWLINE = "<n>"
META_SPACE = "\u2581"  # "▁", sentencepiece's stand-in for a space
TRAINER_VERSION = 2  # part of the cached model's file name: bump when ``train`` changes what it produces
_SPLIT = re.compile("(" + "|".join(re.escape(t) for t in (*SPECIAL_TOKENS, "\n", META_SPACE)) + ")")
_WORD = re.compile(r"\s*[^\s，。：？！、；]+[，。：？！、；]?|\s+")  # a word with its leading spaces (training only)
_SPLIT_TEXT_ONLY = re.compile("(\n|\u2581)")  # parse_special=False: special-token strings stay plain text


class GLMTokenizer:
    """Encode/decode text to ids; ``len(tokenizer)`` is the total vocabulary (sentencepiece pieces + specials)."""

    def __init__(self, model_proto: bytes):
        self.model_proto = model_proto
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)
        n_sp = self.sp.get_piece_size()
        appended = list(SPECIAL_TOKENS)
        if self.sp.piece_to_id(NEWLINE) == self.sp.unk_id() and NEWLINE != self.sp.id_to_piece(self.sp.unk_id()):
            appended.append(NEWLINE)  # the model has no <n> piece: give it one after the specials
        self.sp_vocab_size = n_sp
        self.vocab_size = n_sp + len(appended)
        self._appended = {text: n_sp + i for i, text in enumerate(appended)}
        self.mask_id, self.gmask_id, self.smask_id = (self._appended[t] for t in SPECIAL_TOKENS[:3])
        self.eod_id, self.sop_id, self.eop_id = (self._appended[t] for t in SPECIAL_TOKENS[3:])
        self.newline_id = self._appended.get(NEWLINE, self.sp.piece_to_id(NEWLINE))
        self.eos_id = self.sp.eos_id() if self.sp.eos_id() >= 0 else self.eod_id
        self.pad_id = self.sp.pad_id() if self.sp.pad_id() >= 0 else self.eod_id
        # ids decoded to a fixed string rather than by sentencepiece
        self._special_text = {i: t for t, i in self._appended.items() if t != NEWLINE}
        for i in (self.sp.eos_id(), self.sp.pad_id(), self.sp.bos_id(), self.sp.unk_id()):
            if i >= 0:
                self._special_text[i] = self.sp.id_to_piece(i)
        self._piece_ids = {t: i for t, i in self._appended.items() if t != NEWLINE} | {"\n": self.newline_id}
        bytes_of_meta = [self.sp.piece_to_id(f"<0x{b:02X}>") for b in META_SPACE.encode("utf-8")]
        has_bytes = all(self.sp.is_byte(i) for i in bytes_of_meta)
        self._meta_space_ids = bytes_of_meta if has_bytes else self.sp.encode(META_SPACE)

    @property
    def special(self) -> SpecialTokens:
        """The special-token ids as one record, the form ``glm_mini.objective`` takes."""
        return SpecialTokens(mask=self.mask_id, gmask=self.gmask_id, smask=self.smask_id, eod=self.eod_id,
                             sop=self.sop_id, eop=self.eop_id, eos=self.eos_id, pad=self.pad_id)

    # ---------------------------------------------------------------------------------------------------------
    # construction, saving

    @classmethod
    def from_file(cls, path: str | Path) -> "GLMTokenizer":
        """Load a sentencepiece ``.model`` file: one this class saved, or any other (e.g. icetk's text model)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no sentencepiece model at {path}")
        return cls(path.read_bytes())

    def save(self, path: str | Path) -> None:
        """Write the sentencepiece model atomically (temp file, then ``os.replace``); specials need no extra file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as f:
            f.write(self.model_proto)
        os.replace(tmp, path)

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int = 8192, character_coverage: float = 0.9995,
              model_type: str = "unigram") -> "GLMTokenizer":
        """Train on ``texts`` (documents) so that the *total* vocabulary is ``vocab_size``.

        The trainer reads the lines of the documents, then every distinct word once more (with its leading space,
        cut after CJK punctuation). sentencepiece's unigram trainer seeds its vocabulary with the most frequent
        substrings that are *maximal* repeats (sentencepiece ``unigram_model_trainer.cc``, suffix-array seeding);
        in templated text a word such as " was" is always followed by a space and never ends a line, so it is never
        maximal and never becomes a piece (measured: " was" came out as " wa" + "s"). Ending each word once as its
        own line makes it a candidate, while its frequency still comes from the documents.
        """
        lines = [line for text in texts for line in text.split("\n") if line]
        words = sorted({word for line in lines for word in _WORD.findall(line)})
        writer = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines + words), model_writer=writer, model_type=model_type,
            vocab_size=vocab_size - len(SPECIAL_TOKENS), character_coverage=character_coverage,
            byte_fallback=True, normalization_rule_name="identity", add_dummy_prefix=False,
            remove_extra_whitespaces=False, allow_whitespace_only_pieces=True, split_digits=True,
            pad_id=0, unk_id=1, eos_id=2, bos_id=-1, control_symbols=[NEWLINE], max_sentence_length=1 << 16,
            num_threads=os.cpu_count() or 1, minloglevel=2,
        )
        return cls(writer.getvalue())

    # ---------------------------------------------------------------------------------------------------------
    # encoding and decoding

    def __len__(self) -> int:
        return self.vocab_size

    def encode(self, text: str, parse_special: bool = True) -> list[int]:
        return self.encode_batch([text], parse_special)[0]

    def encode_batch(self, texts: Sequence[str], parse_special: bool = True) -> list[list[int]]:
        """Encode many texts with one multi-threaded sentencepiece call over all their plain segments."""
        pattern = _SPLIT if parse_special else _SPLIT_TEXT_ONLY
        parts = [pattern.split(text) for text in texts]  # [plain, sep, plain, sep, ..., plain] per text
        plain = self.sp.encode([seg for p in parts for seg in p[0::2]])
        out, k = [], 0
        for p in parts:
            ids: list[int] = []
            for j, seg in enumerate(p):
                if j % 2 == 0:
                    ids += plain[k]
                    k += 1
                elif seg == META_SPACE:
                    ids += self._meta_space_ids
                else:
                    ids.append(self._piece_ids[seg])
            out.append(ids)
        return out

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        """Inverse of ``encode``; specials are written as their text (``[MASK]``) unless skipped."""
        chunks: list[str] = []
        run: list[int] = []
        for i in ids:
            i = int(i)
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"token id {i} out of range [0, {self.vocab_size})")
            if i == self.newline_id or i in self._special_text:
                chunks.append(self.sp.decode(run))
                run = []
                if i == self.newline_id:
                    chunks.append("\n")
                elif not skip_special_tokens:
                    chunks.append(self._special_text[i])
            else:
                run.append(i)
        chunks.append(self.sp.decode(run))
        return "".join(chunks)

    def decode_batch(self, batch: Iterable[Iterable[int]], skip_special_tokens: bool = False) -> list[str]:
        return [self.decode(ids, skip_special_tokens) for ids in batch]

    def tokenize(self, text: str) -> list[str]:
        """The pieces ``encode`` produces, as strings (for display)."""
        return [self.id_to_token(i) for i in self.encode(text)]

    def id_to_token(self, i: int) -> str:
        if i == self.newline_id:
            return NEWLINE
        return self._special_text.get(i) or self.sp.id_to_piece(i)

    def token_to_id(self, token: str) -> int:
        if token == NEWLINE:
            return self.newline_id
        return self._appended.get(token, self.sp.piece_to_id(token))


def default_tokenizer(vocab_size: int = 8192, corpus: CorpusConfig | None = None) -> GLMTokenizer:
    """The kit's tokenizer for the default corpus, trained on first use and cached under ``data/cache/tokenizer/``."""
    from glm_mini.data.corpus import CorpusConfig, cache_dir, load_corpus  # here: importing datasets takes ~1 s

    corpus = corpus or CorpusConfig()
    path = cache_dir() / "tokenizer" / f"glm-mini-v{vocab_size}-t{TRAINER_VERSION}-{corpus.key()}.model"
    if path.is_file():
        return GLMTokenizer.from_file(path)
    tokenizer = GLMTokenizer.train((r["text"] for r in load_corpus(corpus)["train"]), vocab_size)
    tokenizer.save(path)
    return tokenizer

