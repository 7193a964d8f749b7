"""Notebook 01's exercise checks pass on the package's functions and fail, naming the mismatch, on wrong ones."""

import pytest

from glm_mini.data import pack_documents
from glm_mini.exercises.nb01_tokenizer import check_encode, check_pack
from glm_mini.tokenizer import GLMTokenizer
from corpus_fixtures import small_tokenizer


def _printed(capsys):
    return capsys.readouterr().out.strip()


@pytest.fixture(scope="module")
def tok():
    return small_tokenizer()


def test_encode_check(tok, capsys):
    assert check_encode(GLMTokenizer.encode, tok)
    assert _printed(capsys) == "Exercise 1.1: PASS (6 cases)"

    def no_specials(tokenizer, text):  # encodes "[MASK]" as plain text
        return tokenizer.sp.encode(text)

    assert not check_encode(no_specials, tok)
    assert "Exercise 1.1: FAIL on case" in _printed(capsys)


def test_encode_check_needs_a_tokenizer():
    with pytest.raises(TypeError, match="tokenizer: expected a GLMTokenizer"):
        check_encode(GLMTokenizer.encode, "tok.model")


def test_pack_check(capsys):
    assert check_pack(lambda docs, t, eod, pad: pack_documents(docs, t, eod, pad).tokens.tolist())
    assert _printed(capsys) == "Exercise 1.2: PASS (4 cases)"

    def forgets_eod(docs, seq_len, eod_id, pad_id):
        stream = [t for d in docs for t in d]
        stream += [pad_id] * (-len(stream) % seq_len)
        return [stream[i:i + seq_len] for i in range(0, len(stream), seq_len)]

    assert not check_pack(forgets_eod)
    assert "Exercise 1.2: FAIL on case 'three short documents, rows of 8': result[0][" in _printed(capsys)

    def extra_pad_row(docs, seq_len, eod_id, pad_id):
        stream = [t for d in docs for t in (*d, eod_id)]
        stream += [pad_id] * (seq_len - len(stream) % seq_len)
        return [stream[i:i + seq_len] for i in range(0, len(stream), seq_len)]

    assert not check_pack(extra_pad_row)
    assert "'edge: the stream fills the last row exactly': result: length 3, expected 2" in _printed(capsys)
