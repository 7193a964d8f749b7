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

Prompts versus corpus text: ``encode(text)`` parses the special-token strings, because a prompt such as
"Paris is the [MASK] of France" means the blank. Corpus documents must not: ``encode(text, parse_special=False)``
(what ``pack_corpus`` uses) keeps "[MASK]" or "<eod>" inside a document as the plain characters, so a document can
never fake an end of document or a blank.

Bad input is named, never passed to sentencepiece: a non-str text, a lone surrogate (not a Unicode scalar value, so
not encodable as UTF-8), a float or out-of-range id, a token string not in the vocabulary, a corrupt model file, and a
``vocab_size`` larger than the training text supports (the error says the largest that works).
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

import sentencepiece as spm

from glm_mini.manifest import atomic_write_bytes
from glm_mini.special_tokens import SpecialTokens


SPECIAL_TOKENS = ("[MASK]", "[gMASK]", "[sMASK]", "<eod>", "[sop]", "[eop]")
NEWLINE = "<n>"
META_SPACE = "\u2581"  # "▁", sentencepiece's stand-in for a space
TRAINER_VERSION = 2  # part of the cached model's file name: bump when ``train`` changes what it produces
_SPLIT = re.compile("(" + "|".join(re.escape(t) for t in (*SPECIAL_TOKENS, "\n", META_SPACE)) + ")")
_WORD = re.compile(r"\s*[^\s，。：？！、；]+[，。：？！、；]?|\s+")  # a word with its leading spaces (training only)
_SPLIT_TEXT_ONLY = re.compile("(\n|\u2581)")  # parse_special=False: special-token strings stay plain text


def check_text(text, name: str = "text") -> None:
    """Raise unless ``text`` is a str of Unicode scalar values (no lone surrogate), i.e. encodable as UTF-8."""
    if not isinstance(text, str):
        hint = (" (for a datasets.Dataset pass dataset['text'])" if isinstance(text, dict) else
                " (for a list of texts use encode_batch)" if isinstance(text, (list, tuple)) else "")
        raise TypeError(f"{name}: expected str, got {type(text).__name__}{hint}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"{name}: character U+{ord(text[err.start]):04X} at index {err.start} is a lone surrogate, "
                         "not a Unicode character; expected text that is valid UTF-8") from None


def _check_bool(value, name: str) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__} {value!r}")


class GLMTokenizer:
    """Encode/decode text to ids; ``len(tokenizer)`` is the total vocabulary (sentencepiece pieces + specials)."""

    def __init__(self, model_proto: bytes, source: str = "model_proto"):
        if not isinstance(model_proto, bytes):
            raise TypeError(f"model_proto: expected the bytes of a sentencepiece model, got "
                            f"{type(model_proto).__name__} (to load a file use GLMTokenizer.from_file(path))")
        self.model_proto = model_proto
        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.load_from_serialized_proto(model_proto)
        except RuntimeError:
            n_sp = 0
        else:
            n_sp = self.sp.get_piece_size()
        if n_sp == 0:
            raise ValueError(f"{source}: expected a sentencepiece model, got {len(model_proto)} bytes that are not one "
                             "(empty, truncated or another kind of file)")
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
        if path.is_dir():
            raise IsADirectoryError(f"{path}: is a folder, expected a sentencepiece .model file")
        if not path.is_file():
            raise FileNotFoundError(f"no sentencepiece model at {path}")
        return cls(path.read_bytes(), source=str(path))

    def save(self, path: str | Path) -> None:
        """Write the sentencepiece model atomically (temp file, then ``os.replace``); specials need no extra file.
        An existing file at ``path`` is replaced only if it is a sentencepiece model (a tokenizer saved before):
        anything else there (a folder, a user's other file) raises ``FileExistsError`` and is left untouched."""
        path = Path(path)
        if path.is_dir():
            raise FileExistsError(f"{path}: is a folder; expected a file path for the tokenizer model")
        if path.exists():
            try:
                GLMTokenizer.from_file(path)
            except (ValueError, OSError):
                raise FileExistsError(f"{path}: exists and is not a sentencepiece model; refusing to overwrite it")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, self.model_proto)

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
        if isinstance(texts, (str, bytes)):
            raise TypeError(f"texts: expected an iterable of documents (str), got one {type(texts).__name__}; "
                            "wrap it in a list")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
            raise TypeError(f"vocab_size: expected an int, got {type(vocab_size).__name__} {vocab_size!r}")
        if vocab_size <= len(SPECIAL_TOKENS):
            raise ValueError(f"vocab_size: expected more than the {len(SPECIAL_TOKENS)} specials, got {vocab_size}")
        if isinstance(character_coverage, bool) or not isinstance(character_coverage, (int, float)) \
                or not 0.98 <= character_coverage <= 1:  # sentencepiece's own bounds
            raise ValueError(f"character_coverage: expected a number in [0.98, 1], got {character_coverage!r}")
        if model_type not in ("unigram", "bpe", "char", "word"):
            raise ValueError(f"model_type: expected 'unigram', 'bpe', 'char' or 'word', got {model_type!r}")
        texts = list(texts)
        for k, text in enumerate(texts):
            check_text(text, f"texts[{k}]")
        lines = [line for text in texts for line in text.split("\n") if line]
        if not lines:
            raise ValueError(f"texts: expected some non-empty text to train on, got {len(texts)} empty documents")
        words = sorted({word for line in lines for word in _WORD.findall(line)})
        writer = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(lines + words), model_writer=writer, model_type=model_type,
                vocab_size=vocab_size - len(SPECIAL_TOKENS), character_coverage=character_coverage,
                byte_fallback=True, normalization_rule_name="identity", add_dummy_prefix=False,
                remove_extra_whitespaces=False, allow_whitespace_only_pieces=True, split_digits=True,
                pad_id=0, unk_id=1, eos_id=2, bos_id=-1, control_symbols=[NEWLINE], max_sentence_length=1 << 16,
                num_threads=os.cpu_count() or 1, minloglevel=2,
            )
        except RuntimeError as err:
            too_high = re.search(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)", str(err))
            if too_high:
                raise VocabularyTooLarge(vocab_size, int(too_high.group(2)) + len(SPECIAL_TOKENS)) from None
            raise ValueError(_explain_training_error(str(err), vocab_size)) from None
        return cls(writer.getvalue())

    # ---------------------------------------------------------------------------------------------------------
    # encoding and decoding

    def __len__(self) -> int:
        return self.vocab_size

    def encode(self, text: str, parse_special: bool = True) -> list[int]:
        """Ids of ``text``; ``parse_special=True`` (prompts) turns "[MASK]", "<eod>", ... into their ids,
        ``parse_special=False`` (corpus documents) keeps them as plain characters."""
        check_text(text)
        return self.encode_batch([text], parse_special)[0]

    def encode_batch(self, texts: Sequence[str], parse_special: bool = True) -> list[list[int]]:
        """Encode many texts with one multi-threaded sentencepiece call over all their plain segments."""
        if isinstance(texts, (str, bytes)):
            raise TypeError(f"texts: expected a list of str, got one {type(texts).__name__}; use encode() for one text")
        _check_bool(parse_special, "parse_special")
        for k, text in enumerate(texts):
            check_text(text, f"texts[{k}]")
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
        """Inverse of ``encode``; specials are written as their text (``[MASK]``) unless skipped. ``ids`` is a list
        of ints or a 1-D integer tensor/array; a float, bool or nested id is refused, never truncated."""
        _check_bool(skip_special_tokens, "skip_special_tokens")
        if isinstance(ids, (str, bytes)):
            raise TypeError(f"ids: expected a sequence of int token ids, got {type(ids).__name__}")
        if hasattr(ids, "tolist"):  # torch tensor or numpy array: plain ints (floats and bools stay what they are)
            ids = ids.tolist()
            ids = [ids] if not isinstance(ids, list) else ids
        chunks: list[str] = []
        run: list[int] = []
        for k, i in enumerate(ids):
            i = self._check_id(i, f"ids[{k}]")
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

    def _check_id(self, i, name: str) -> int:
        if isinstance(i, bool) or not hasattr(i, "__index__"):  # int and numpy ints; not float, bool or list
            hint = " (decode one sequence at a time, or use decode_batch)" if isinstance(i, (list, tuple)) else ""
            raise TypeError(f"{name}: expected an int token id, got {type(i).__name__} {i!r}{hint}")
        i = i.__index__()
        if not 0 <= i < self.vocab_size:
            raise ValueError(f"{name}: token id {i} out of range [0, {self.vocab_size})")
        return i

    def id_to_token(self, i: int) -> str:
        i = self._check_id(i, "id")
        if i == self.newline_id:
            return NEWLINE
        return self._special_text.get(i) or self.sp.id_to_piece(i)

    def token_to_id(self, token: str) -> int:
        """The id of one piece or special token; raises ``ValueError`` for a string that is not in the vocabulary
        (``<unk>`` is returned only for the string "<unk>" itself)."""
        if not isinstance(token, str):
            raise TypeError(f"token: expected str, got {type(token).__name__}")
        if token == NEWLINE:
            return self.newline_id
        if token in self._appended:
            return self._appended[token]
        i = self.sp.piece_to_id(token)
        if i == self.sp.unk_id() and token != self.sp.id_to_piece(i):
            raise ValueError(f"token {token!r} is not in the vocabulary (use encode() to split text into pieces)")
        return i


class VocabularyTooLarge(ValueError):
    """``GLMTokenizer.train``: the text supports at most ``largest`` ids (``vocab_size`` asked for more)."""

    def __init__(self, vocab_size: int, largest: int):
        self.vocab_size, self.largest = vocab_size, largest
        super().__init__(f"vocab_size={vocab_size} is too large for this training text: it supports at most "
                         f"{largest} (sentencepiece pieces + {len(SPECIAL_TOKENS)} specials); use more text or a "
                         "smaller vocab_size")


def _explain_training_error(message: str, vocab_size: int) -> str:
    """sentencepiece's trainer errors, restated in terms of this class's arguments."""
    too_low = re.search(r"smaller than required_chars\. (\d+) vs (\d+)", message)
    if too_low:
        return (f"vocab_size={vocab_size} is too small for this training text: its characters and byte pieces need "
                f"at least {int(too_low.group(2)) + len(SPECIAL_TOKENS)}")
    return f"sentencepiece could not train a vocab_size={vocab_size} model on this text: {message}"
