"""IceTokenizer: GLM-130B's icetk ids from a local ``ice_text.model``, with no download and no icetk package.

How it works
------------
icetk numbers 20000 image tokens first, then the pieces of its sentencepiece text model ``ice_text.model`` (130000
of them), so **a text id is the sentencepiece id + 20000**: icetk's ``encode`` adds ``num_image_tokens`` to every
sentencepiece id and its ``decode`` subtracts it (icetk ``ice_tokenizer.py``). SAT's GLM-130B tokenizer, in the
version GLM-130B pins (SwissArmyTransformer 0.2.x, ``tokenization/icetk_glm_130B/ice_tokenizer.py``), puts GLM's
specials right after icetk's 150000 ids, at fixed ids, and takes ``eos`` and ``pad`` from below
(docs/glm130b_facts.md §1.2):

    [0, 20000)          image tokens (GLM-130B never uses them; id 0 doubles as padding)
    [20000, 150000)     the text model: 20000 + its piece id (20002 is its </s>, GLM-130B's eos; 20004 is <n>)
    150000 ... 150007   [MASK] [gMASK] [sMASK] eod sop eop ENC dBLOCK

Encoding follows the two official code paths rule for rule:

- ``encode(text)`` is how GLM-130B's ``generate.py`` reads a prompt: it cuts the text at every ``[MASK]``, ``[sMASK]``
  and ``[gMASK]`` (the pattern ``\\[[sg]?MASK\\]``; no other special-token string is parsed), encodes each piece of
  text *on its own* (so each gets sentencepiece's dummy-prefix space, exactly as there) and puts the blank's id
  between the pieces. ``parse_special=False`` encodes the whole text as one piece.
- each piece goes to sentencepiece as it is: icetk's ``encode`` has ``ignore_linebreak=True`` by default, and SAT's
  ``tokenize`` calls it that way, so a newline is *not* turned into ``<n>`` (sentencepiece's normalization decides).
  ``linebreak=True`` takes icetk's other branch, ``\\n`` -> ``<n>`` before sentencepiece (the training data's form).
- ``decode(ids)`` decodes each run of text ids with sentencepiece and, as icetk's ``decode`` always does, turns
  ``<n>`` back into ``\\n``; between runs each special id is written as its name (``[MASK]``, ``<eod>``, ``[sop]``:
  the kit's names, ``glm_mini.tokenizer.SPECIAL_TOKENS``), ``eos`` as ``</s>`` and ``pad`` as ``[pad]`` (SAT's
  ``IdToToken``), or dropped with ``skip_special_tokens=True``.

Bad input is named: a missing or non-sentencepiece file, a text model that does not have icetk's layout (more than
130000 pieces would run into the specials; piece 2 must be ``</s>``, since SAT fixes eos at 20002), an image-token
or unknown id passed to ``decode``. ``glm_mini.generate.fill_blanks`` takes this tokenizer as it takes the kit's own
(``encode``, ``decode`` and ``special`` have the same meaning).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Sequence

import sentencepiece as spm

from glm_mini.special_tokens import SpecialTokens
from glm_mini.tokenizer import SPECIAL_TOKENS, check_text

IMAGE_TOKENS = 20000  # icetk's num_image_tokens: text ids start here
TEXT_PIECES = 130000  # icetk's text model; SAT's specials start at IMAGE_TOKENS + TEXT_PIECES
FIRST_SPECIAL = IMAGE_TOKENS + TEXT_PIECES  # 150000
SPECIAL_NAMES = (*SPECIAL_TOKENS, "[ENC]", "[dBLOCK]")  # ids 150000..150007 in SAT's order
EOS_ID, EOS_PIECE = IMAGE_TOKENS + 2, "</s>"  # SAT: special_tokens['eos'] = 20002
PAD_ID, PAD_TEXT = 0, "[pad]"  # SAT: IdToToken(0) == '[pad]'
NEWLINE = "<n>"
BLANK = re.compile(r"\[[sg]?MASK\]")  # GLM-130B generate.py's mask_pattern
ICETK_SPECIAL_TOKENS = SpecialTokens(mask=FIRST_SPECIAL, gmask=FIRST_SPECIAL + 1, smask=FIRST_SPECIAL + 2,
                                     eod=FIRST_SPECIAL + 3, sop=FIRST_SPECIAL + 4, eop=FIRST_SPECIAL + 5, eos=EOS_ID,
                                     pad=PAD_ID)


def layout_problem(n_pieces: int, piece_2: str) -> str | None:
    """Why a text model with ``n_pieces`` pieces, whose piece 2 is ``piece_2``, cannot be icetk's; else ``None``."""
    if n_pieces > TEXT_PIECES:
        return (f"it has {n_pieces} pieces; icetk's text model has at most {TEXT_PIECES}, so that its ids "
                f"{IMAGE_TOKENS}..{FIRST_SPECIAL - 1} end where GLM-130B's specials begin ({FIRST_SPECIAL})")
    if piece_2 != EOS_PIECE:
        return f"its piece 2 is {piece_2!r}; icetk's is {EOS_PIECE!r} (GLM-130B's eos, id {EOS_ID})"
    return None


class IceTokenizer:
    """Encode/decode with GLM-130B's icetk ids; ``len(tokenizer)`` is 150008 (the last special + 1)."""

    def __init__(self, model_proto: bytes, source: str = "model_proto"):
        if not isinstance(model_proto, bytes):
            raise TypeError(f"model_proto: expected the bytes of a sentencepiece model, got "
                            f"{type(model_proto).__name__} (to load a file use IceTokenizer.from_file(path))")
        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.load_from_serialized_proto(model_proto)
            n_pieces = self.sp.get_piece_size()
        except RuntimeError:
            n_pieces = 0
        if n_pieces == 0:
            raise ValueError(f"{source}: expected icetk's sentencepiece text model (ice_text.model), got "
                             f"{len(model_proto)} bytes that are not a sentencepiece model")
        problem = layout_problem(n_pieces, self.sp.id_to_piece(2) if n_pieces > 2 else "")
        if problem:
            raise ValueError(f"{source}: not icetk's text model: {problem}")
        self.text_pieces = n_pieces
        self.vocab_size = FIRST_SPECIAL + len(SPECIAL_NAMES)
        self._special_text = {FIRST_SPECIAL + k: name for k, name in enumerate(SPECIAL_NAMES)}
        self._special_text |= {EOS_ID: EOS_PIECE, PAD_ID: PAD_TEXT}
        self._blank_ids = {"[MASK]": ICETK_SPECIAL_TOKENS.mask, "[gMASK]": ICETK_SPECIAL_TOKENS.gmask,
                           "[sMASK]": ICETK_SPECIAL_TOKENS.smask}

    @classmethod
    def from_file(cls, path: str | Path) -> "IceTokenizer":
        """Load ``ice_text.model`` (icetk keeps it in ``~/.icetk_models/`` after its first download)."""
        path = Path(path).expanduser()
        if path.is_dir():
            raise IsADirectoryError(f"{path}: is a folder; expected the file ice_text.model "
                                    f"(try {path / 'ice_text.model'})")
        if not path.is_file():
            raise FileNotFoundError(f"no icetk text model at {path}; expected ice_text.model, the sentencepiece file "
                                    "icetk downloads to ~/.icetk_models/")
        return cls(path.read_bytes(), source=str(path))

    @property
    def special(self) -> SpecialTokens:
        """GLM-130B's special ids, the form ``glm_mini.objective`` and ``glm_mini.generate`` take."""
        return ICETK_SPECIAL_TOKENS

    @property
    def eod_id(self) -> int:
        return ICETK_SPECIAL_TOKENS.eod

    @property
    def pad_id(self) -> int:
        return PAD_ID

    def __len__(self) -> int:
        return self.vocab_size

    # ---------------------------------------------------------------------------------------------------------
    # encoding

    def encode(self, text: str, parse_special: bool = True, linebreak: bool = False) -> list[int]:
        """icetk ids of ``text``: blanks parsed as GLM-130B's ``generate.py`` does (``parse_special``), ``\\n`` kept
        as icetk's default does (``linebreak=False``) or mapped to ``<n>`` (``linebreak=True``)."""
        check_text(text)
        return self.encode_batch([text], parse_special, linebreak)[0]

    def encode_batch(self, texts: Sequence[str], parse_special: bool = True,
                     linebreak: bool = False) -> list[list[int]]:
        """``encode`` for many texts, with one sentencepiece call over all their pieces of text."""
        if isinstance(texts, (str, bytes)):
            raise TypeError(f"texts: expected a list of str, got one {type(texts).__name__}; use encode() for one text")
        for name, flag in (("parse_special", parse_special), ("linebreak", linebreak)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name}: expected a bool, got {type(flag).__name__} {flag!r}")
        for k, text in enumerate(texts):
            check_text(text, f"texts[{k}]")
        if linebreak:
            texts = [text.replace("\n", NEWLINE) for text in texts]
        # [piece, blank, piece, ..., piece] per text: the capture group keeps the blanks between the pieces
        parts = [re.split(f"({BLANK.pattern})", text) if parse_special else [text] for text in texts]
        pieces = self.sp.encode([seg for p in parts for seg in p[0::2]])
        out, k = [], 0
        for p in parts:
            ids: list[int] = []
            for j, seg in enumerate(p):
                if j % 2:
                    ids.append(self._blank_ids[seg])
                else:
                    ids += [IMAGE_TOKENS + i for i in pieces[k]]  # the offset rule
                    k += 1
            out.append(ids)
        return out

    # ---------------------------------------------------------------------------------------------------------
    # decoding

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        """Text of ``ids`` (a list of ints, or a 1-D integer tensor/array): sentencepiece on each run of text ids
        (``<n>`` -> ``\\n`` as icetk does), special ids as their names unless skipped."""
        if not isinstance(skip_special_tokens, bool):
            raise TypeError(f"skip_special_tokens: expected a bool, got {type(skip_special_tokens).__name__}")
        if isinstance(ids, (str, bytes)):
            raise TypeError(f"ids: expected a sequence of int token ids, got {type(ids).__name__}")
        if hasattr(ids, "tolist"):  # torch tensor or numpy array
            ids = ids.tolist()
            ids = [ids] if not isinstance(ids, list) else ids
        chunks: list[str] = []
        run: list[int] = []
        for k, i in enumerate(ids):
            i = self._check_id(i, f"ids[{k}]")
            if i in self._special_text:
                chunks.append(self._decode_text(run))
                run = []
                if not skip_special_tokens:
                    chunks.append(self._special_text[i])
            else:
                run.append(i - IMAGE_TOKENS)
        chunks.append(self._decode_text(run))
        return "".join(chunks)

    def decode_batch(self, batch: Iterable[Iterable[int]], skip_special_tokens: bool = False) -> list[str]:
        return [self.decode(ids, skip_special_tokens) for ids in batch]

    def _decode_text(self, piece_ids: list[int]) -> str:
        return self.sp.decode(piece_ids).replace(NEWLINE, "\n") if piece_ids else ""

    def _check_id(self, i, name: str) -> int:
        if isinstance(i, bool) or not hasattr(i, "__index__"):
            raise TypeError(f"{name}: expected an int token id, got {type(i).__name__} {i!r}")
        i = i.__index__()
        if i in self._special_text:
            return i
        if 0 <= i < IMAGE_TOKENS:
            raise ValueError(f"{name}: id {i} is an icetk image token ([0, {IMAGE_TOKENS})), not text")
        if not IMAGE_TOKENS <= i < IMAGE_TOKENS + self.text_pieces:
            raise ValueError(f"{name}: id {i} is neither text ([{IMAGE_TOKENS}, {IMAGE_TOKENS + self.text_pieces}) "
                             f"with this text model) nor a special id ({FIRST_SPECIAL}..{self.vocab_size - 1}, "
                             f"{EOS_ID}, {PAD_ID})")
        return i

    # ---------------------------------------------------------------------------------------------------------
    # single tokens, as icetk's ``tokenizer[x]``

    def tokenize(self, text: str) -> list[str]:
        """The pieces ``encode`` produces, as strings (for display)."""
        return [self.id_to_token(i) for i in self.encode(text)]

    def id_to_token(self, i: int) -> str:
        """A piece (``"▁Hello"``), a special's name, or ``<image_N>`` for an image id (icetk's ``tokenizer[i]``)."""
        if isinstance(i, bool) or not hasattr(i, "__index__"):
            raise TypeError(f"id: expected an int token id, got {type(i).__name__} {i!r}")
        if 0 < i.__index__() < IMAGE_TOKENS:
            return f"<image_{i.__index__()}>"
        i = self._check_id(i, "id")
        return self._special_text.get(i) or self.sp.id_to_piece(i - IMAGE_TOKENS)

    def token_to_id(self, token: str) -> int:
        """The id of one piece, special name or ``<image_N>``; ``ValueError`` for a string that is none of them."""
        if not isinstance(token, str):
            raise TypeError(f"token: expected str, got {type(token).__name__}")
        image = re.fullmatch(r"<image_(\d+)>", token)
        if image and int(image.group(1)) < IMAGE_TOKENS:
            return int(image.group(1))
        named = {text: i for i, text in self._special_text.items()}
        if token in named:
            return named[token]
        i = self.sp.piece_to_id(token)
        if i == self.sp.unk_id() and token != self.sp.id_to_piece(i):
            raise ValueError(f"token {token!r} is not a piece of this text model, a special name or <image_N>")
        return IMAGE_TOKENS + i
