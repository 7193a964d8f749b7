"""scale_up.icetk_tokenizer against the rules of icetk and SAT's GLM-130B tokenizer, on a sentencepiece model trained
here with icetk's layout (<unk> 0, <s> 1, </s> 2, <pad> 3, <n> 4), read back by a separate SentencePieceProcessor."""

import io
from functools import lru_cache

import pytest
import sentencepiece as spm
import torch

from corpus_fixtures import small_corpus
from glm_mini import SpecialTokens
from scale_up.gpu_check import OFFICIAL
from scale_up.icetk_tokenizer import ICETK_SPECIAL_TOKENS, IceTokenizer, layout_problem

TEXTS = ["Tom went to the market and bought three apples.", "他们在学校里学习。", "  two  spaces, then a tab\t!",
         "line one\nline two", ""]


def _train(**layout) -> bytes:
    lines = [line for r in small_corpus()["train"][:400] for line in r["text"].split("\n") if line]
    writer = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=writer, model_type="unigram",
                                   vocab_size=800, character_coverage=0.9995, minloglevel=2, **layout)
    return writer.getvalue()


@lru_cache(maxsize=None)
def _ice_text_model() -> bytes:
    """A small text model laid out as icetk's ice_text.model: specials 0-3, then the piece <n> at 4."""
    return _train(unk_id=0, bos_id=1, eos_id=2, pad_id=3, user_defined_symbols=["<n>"])


def _sp() -> spm.SentencePieceProcessor:
    sp = spm.SentencePieceProcessor()
    sp.load_from_serialized_proto(_ice_text_model())
    return sp


@pytest.fixture(scope="module")
def ice(tmp_path_factory):
    path = tmp_path_factory.mktemp("icetk") / "ice_text.model"
    path.write_bytes(_ice_text_model())
    return IceTokenizer.from_file(path)


def test_text_ids_are_sentencepiece_ids_plus_20000(ice):
    sp = _sp()
    for text in TEXTS:
        assert ice.encode(text) == [20000 + i for i in sp.encode(text)], text
    assert ice.encode(TEXTS[0])[0] >= 20000 and ice.token_to_id("<n>") == 20004 and ice.token_to_id("</s>") == 20002
    assert ice.id_to_token(20000) == "<unk>" and ice.id_to_token(20004) == "<n>"


def test_special_ids_are_sats_fixed_ids_after_icetks_150000(ice):
    assert ice.special == SpecialTokens(mask=150000, gmask=150001, smask=150002, eod=150003, sop=150004,
                                        eop=150005, eos=20002, pad=0)
    assert OFFICIAL == ICETK_SPECIAL_TOKENS, "scale_up.gpu_check uses the same ids"
    assert len(ice) == 150008
    assert [ice.token_to_id(n) for n in ("[ENC]", "[dBLOCK]")] == [150006, 150007]
    assert ice.id_to_token(5) == "<image_5>" and ice.token_to_id("<image_5>") == 5


def test_a_prompt_is_cut_at_its_blanks_and_each_piece_encoded_alone_as_generate_py_does(ice):
    sp = _sp()
    prompt = "Tom went to the [MASK] and bought [sMASK] apples.[gMASK]"
    expected = ([20000 + i for i in sp.encode("Tom went to the ")] + [150000]
                + [20000 + i for i in sp.encode(" and bought ")] + [150002]
                + [20000 + i for i in sp.encode(" apples.")] + [150001])
    assert ice.encode(prompt) == expected
    assert ice.encode(prompt, parse_special=False) == [20000 + i for i in sp.encode(prompt)]
    assert 150003 not in ice.encode("a <eod> b [sop]"), "only the three blanks are parsed, as in generate.py"
    assert ice.encode_batch([prompt, TEXTS[1]]) == [expected, ice.encode(TEXTS[1])]


def test_newlines_go_to_sentencepiece_unless_linebreak_maps_them_to_the_n_piece(ice):
    sp = _sp()
    assert ice.encode("a\nb") == [20000 + i for i in sp.encode("a\nb")]  # icetk's default, ignore_linebreak=True
    assert 20004 not in ice.encode("a\nb")
    with_n = ice.encode("a\nb", linebreak=True)
    assert with_n == [20000 + i for i in sp.encode("a<n>b")] and 20004 in with_n
    assert ice.decode(with_n) == "a\nb", "icetk's decode turns <n> back into a newline"


def test_decode_inverts_encode_as_sentencepiece_does_and_names_the_specials(ice):
    sp = _sp()
    for text in TEXTS:
        assert ice.decode(ice.encode(text)) == sp.decode(sp.encode(text)), text
    assert ice.decode(ice.encode(TEXTS[0])) == TEXTS[0]  # text the model covers comes back unchanged
    ids = ice.encode("Tom went to the [MASK].") + [150004] + ice.encode(" market", parse_special=False) + [150005]
    # each run of text ids is decoded on its own, as SAT's detokenize does (so sentencepiece drops each run's
    # leading dummy-prefix space), and the specials are written between the runs
    runs = [sp.decode(sp.encode(t)) for t in ("Tom went to the ", ".", " market")]
    assert runs == ["Tom went to the", ".", "market"]
    assert ice.decode(ids) == f"{runs[0]}[MASK]{runs[1]}[sop]{runs[2]}[eop]"
    assert ice.decode(ids, skip_special_tokens=True) == "".join(runs)
    assert ice.decode(torch.tensor(ids)) == ice.decode(ids)
    assert ice.decode([0, 20002, 150003]) == "[pad]</s><eod>"


def test_bad_ids_and_files_are_named(ice, tmp_path):
    with pytest.raises(ValueError, match=r"ids\[1\]: id 7 is an icetk image token"):
        ice.decode([20010, 7])
    with pytest.raises(ValueError, match=r"ids\[0\]: id 20800 is neither text \(\[20000, 20800\)"):
        ice.decode([20800])
    with pytest.raises(ValueError, match="id 150008 is neither text"):
        ice.decode([150008])
    with pytest.raises(TypeError, match=r"ids\[0\]: expected an int token id, got float"):
        ice.decode([20010.0])
    with pytest.raises(FileNotFoundError, match="no icetk text model at .*missing.model"):
        IceTokenizer.from_file(tmp_path / "missing.model")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        IceTokenizer.from_file(tmp_path)
    (tmp_path / "junk.model").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="junk.model: expected icetk's sentencepiece text model"):
        IceTokenizer.from_file(tmp_path / "junk.model")
    with pytest.raises(ValueError, match="not icetk's text model: its piece 2 is '<pad>'"):
        IceTokenizer(_train(unk_id=0, bos_id=1, pad_id=2, eos_id=3), source="other.model")
    assert "at most 130000" in layout_problem(130001, "</s>") and layout_problem(130000, "</s>") is None


def test_fill_blanks_takes_it_on_a_model_with_glm_130b_vocabulary(ice):
    """The kit's generation reads a text prompt through this tokenizer: the blank becomes 150000, the answer is
    decoded back to text. The tiny random model can only emit ids this text model knows (other rows zeroed)."""
    from glm_mini import GLM, PRESETS
    from glm_mini.generate import fill_blanks

    torch.manual_seed(0)
    model = GLM(PRESETS["nano"].replace(vocab_size=150528)).eval()
    with torch.no_grad():  # logits of zero rows are exactly 0, below the best of the 800 random text rows
        emb = model.transformer.word_embeddings.weight
        emb[:20000] = 0
        emb[20000 + ice.text_pieces:] = 0
        model.transformer.final_layernorm.bias.zero_()
    text, answers = fill_blanks(model, ice, "Tom went to the [MASK] and bought apples.", max_new_tokens=4)
    assert len(answers) == 1 and answers[0] and text.startswith("Tom went to the")
    assert text.endswith("and bought apples.") and answers[0] in text
