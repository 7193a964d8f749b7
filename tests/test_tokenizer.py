"""GLMTokenizer: exact round trip on any Unicode, GLM special tokens as single ids, save/load, foreign models."""

import io
import random

import pytest
import sentencepiece as spm
from corpus_fixtures import SMALL_VOCAB, small_corpus, small_tokenizer

from glm_mini.data import CorpusConfig
from glm_mini.data.corpus_tokenizer import default_tokenizer
from glm_mini.tokenizer import SPECIAL_TOKENS, GLMTokenizer

# code-point ranges a random string draws from: controls, ASCII, Latin-1, combining marks, CJK, rare CJK
# (extension B), Hangul, emoji, odd spaces; surrogates (not Unicode scalar values) are excluded
RANGES = [(0x00, 0x1F), (0x20, 0x7E), (0x7F, 0xFF), (0x300, 0x36F), (0x4E00, 0x9FFF), (0x20000, 0x2A6DF),
          (0xAC00, 0xD7A3), (0x1F300, 0x1FAFF), (0x2000, 0x206F), (0x3000, 0x303F), (0xFFF0, 0xFFFF)]
PIECES = ["\n", "\r\n", "\t", "  ", "   ", "\u2581", "<n>", "</s>", "<pad>", "<unk>", "[MASK", *SPECIAL_TOKENS]


def random_text(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(0, 40)):
        if rng.random() < 0.15:
            out.append(rng.choice(PIECES))
        else:
            lo, hi = rng.choice(RANGES)
            out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


TRICKY = ["", " ", "  leading and trailing  ", "a  b   c", "\t\ttabs\t", "line\r\nwindows\rmac\n", "\n\n\n",
          "\x00\x01\x1b[0m", "ﬁ ① Ａ ｶ é e\u0301", "\u00a0nbsp\u3000ideographic", "\ufeffbom", "emoji 👩‍👩‍👧 🇨🇳",
          "龘𠀀𪚥", "a\u2581b \u2581", "▁▁", "<n>literal", "[MASK][gMASK][sop]x[eop]", "x[sMASK]y<eod>z",
          "中文English混合text，标点！", "1234567890", "\u202eRTL override"]


@pytest.fixture(scope="module")
def tok() -> GLMTokenizer:
    return small_tokenizer()


def test_vocabulary_layout(tok):
    n_sp = tok.sp_vocab_size
    assert len(tok) == SMALL_VOCAB == n_sp + len(SPECIAL_TOKENS)
    # SAT's order, right after the sentencepiece pieces
    assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == list(range(n_sp, n_sp + 6))
    assert (tok.mask_id, tok.gmask_id, tok.smask_id, tok.eod_id, tok.sop_id, tok.eop_id) == tuple(range(n_sp, n_sp + 6))
    assert (tok.pad_id, tok.eos_id, tok.newline_id) == (0, 2, 3)
    assert tok.id_to_token(tok.newline_id) == "<n>" and tok.id_to_token(tok.gmask_id) == "[gMASK]"


@pytest.mark.parametrize("text", TRICKY)
def test_round_trip_tricky(tok, text):
    ids = tok.encode(text)
    assert tok.decode(ids) == text, (text, tok.tokenize(text))
    assert tok.sp.unk_id() not in ids


def test_round_trip_random_unicode(tok):
    rng = random.Random(0)
    texts = [random_text(rng) for _ in range(500)]
    for text, ids in zip(texts, tok.encode_batch(texts)):
        assert tok.decode(ids) == text, (text, tok.tokenize(text))
        assert tok.sp.unk_id() not in ids, text


def test_round_trip_corpus(tok):
    texts = [r["text"] for r in small_corpus()["validation"]]
    assert tok.decode_batch(tok.encode_batch(texts)) == texts


@pytest.mark.parametrize("special", SPECIAL_TOKENS)
def test_special_tokens_are_single_ids_even_glued_to_text(tok, special):
    sid = tok.token_to_id(special)
    for text in (special, f"abc{special}def", f"中文{special}中文", f"{special}{special}", f" {special} ", f"x{special}\n"):
        ids = tok.encode(text)
        assert ids.count(sid) == text.count(special), (text, tok.tokenize(text))
        assert tok.decode(ids) == text
    assert sid not in tok.encode(f"a{special}b", parse_special=False)
    assert tok.decode(tok.encode(f"a{special}b", parse_special=False)) == f"a{special}b"


def test_newline_is_the_n_piece(tok):
    assert tok.encode("\n") == [tok.newline_id]
    assert tok.encode("a\nb").count(tok.newline_id) == 1
    assert tok.newline_id not in tok.encode("<n>")  # the literal text "<n>" is text, not a newline


def test_decode_special_and_skip(tok):
    ids = tok.encode("a") + [tok.gmask_id, tok.sop_id] + tok.encode("b") + [tok.eos_id, tok.pad_id]
    assert tok.decode(ids) == "a[gMASK][sop]b</s><pad>"
    assert tok.decode(ids, skip_special_tokens=True) == "ab"
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([len(tok)])


def test_batch_equals_one_by_one(tok):
    texts = TRICKY + [r["text"] for r in small_corpus()["train"][:50]]
    assert tok.encode_batch(texts) == [tok.encode(t) for t in texts]


def test_frequent_words_are_single_pieces(tok):
    """Guards the word-seeding fix in ``GLMTokenizer.train``: without it " was" splits into " wa" + "s"."""
    for word in [" was", " the", " town", " founded", " people", "图书馆"]:
        assert len(tok.encode(word)) == 1, tok.tokenize(word)


def test_save_and_load(tok, tmp_path):
    path = tmp_path / "sub" / "tok.model"
    tok.save(path)
    assert [p.name for p in path.parent.iterdir()] == ["tok.model"]  # no temp file left behind
    loaded = GLMTokenizer.from_file(path)
    assert loaded.model_proto == tok.model_proto and len(loaded) == len(tok)
    assert loaded.encode_batch(TRICKY) == tok.encode_batch(TRICKY)
    with pytest.raises(FileNotFoundError, match="no sentencepiece model"):
        GLMTokenizer.from_file(tmp_path / "missing.model")


def test_loads_a_foreign_sentencepiece_model():
    """A model trained with sentencepiece's defaults (NFKC, no <n>, no pad), as a user's own model would be."""
    writer = io.BytesIO()
    lines = [r["text"] for r in small_corpus()["train"][:2000] if r["lang"] == "en"]
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=writer, vocab_size=300,
                                   model_type="unigram", minloglevel=2)
    tok = GLMTokenizer(writer.getvalue())
    n_sp = tok.sp.get_piece_size()
    assert len(tok) == n_sp + 7 and tok.newline_id == n_sp + 6  # <n> appended after the six specials
    ids = tok.encode("Anna went to the park.\nShe saw a dog[MASK]")
    assert ids.count(tok.newline_id) == 1 and ids[-1] == tok.mask_id
    assert tok.pad_id == tok.eod_id  # no <pad> piece in the foreign model
    assert "went to the park.\nShe" in tok.decode(ids)


def test_default_tokenizer_is_built_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_KIT_DATA_CACHE", str(tmp_path))
    config = CorpusConfig(seed=5, size_mb=0.1, cloze_items=5, parallel_items=5, mip_eval_items=2)
    first = default_tokenizer(1024, config)
    manifest, path = sorted((tmp_path / "tokenizer").iterdir())
    assert path.suffix == ".model" and manifest.name.endswith(".manifest.json") and len(first) == 1024
    stamp = path.stat().st_mtime_ns
    second = default_tokenizer(1024, config)
    assert second.model_proto == first.model_proto and path.stat().st_mtime_ns == stamp
