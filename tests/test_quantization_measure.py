"""measure.py (bytes, timing, greedy decode) and quality.py (formats, cloze accuracy, validation loss)."""

import math

import pytest
import torch

from glm_mini import GLM, PRESETS, SpecialTokens
from glm_mini.objective import collate, gmask_sample
from scale_up.quantization import QUANTIZED_LINEARS, QuantizedLinear, quantize_
from scale_up.quantization.measure import (greedy_decode, linear_weight_bytes, median_times, stored_bytes,
                                           tensor_bytes)
from scale_up.quantization.quality import as_format, cloze_items_that_fit, measure_quality

NANO = PRESETS["nano"]
SPECIAL = SpecialTokens(mask=3, gmask=4, smask=5, eod=6, sop=7, eop=8, eos=9, pad=0)


@pytest.mark.parametrize("bits", [8, 4])
def test_stored_bytes_equal_the_quantized_state_dict(bits):
    model = GLM(NANO)
    expected = linear_weight_bytes(model, f"int{bits}", QUANTIZED_LINEARS)
    quantize_(model, bits)
    layers = [m for m in model.modules() if isinstance(m, QuantizedLinear)]
    assert tensor_bytes(t for m in layers for t in (m.weight, m.weight_scale)) == expected


def test_stored_bytes_formula_and_meta():
    assert stored_bytes(3, 8, "fp32") == 96 and stored_bytes(3, 8, "bf16") == 48
    assert stored_bytes(3, 8, "int8") == 24 + 6 and stored_bytes(3, 8, "int4") == 12 + 6
    with torch.device("meta"):
        big = GLM(PRESETS["glm-130b"])
    fp16 = linear_weight_bytes(big, "fp16", QUANTIZED_LINEARS)
    assert fp16 == 2 * 70 * (12288 * 3 * 12288 + 12288 ** 2 + 12288 * 2 * 32768 + 32768 * 12288)
    with pytest.raises(ValueError, match="fmt"):
        stored_bytes(3, 8, "int3")


def test_median_times_and_bad_rounds():
    calls = []
    times = median_times({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=3, warmup=1)
    assert calls == ["a", "b"] * 4 and set(times) == {"a", "b"} and all(t >= 0 for t in times.values())
    with pytest.raises(ValueError, match="rounds"):
        median_times({"a": lambda: None}, rounds=0)


def test_greedy_decode_with_cache_equals_full_recompute():
    model = GLM(NANO).eval()
    prompt = torch.randint(10, NANO.vocab_size, (2, 5))
    got = greedy_decode(model, prompt, 6)
    ids = prompt
    with torch.no_grad():
        for _ in range(6):
            ids = torch.cat([ids, model(ids).logits[:, -1:].argmax(-1)], dim=1)
    assert torch.equal(got, ids[:, 5:])
    with pytest.raises(ValueError, match="prompt"):
        greedy_decode(model, prompt.float(), 2)
    with pytest.raises(ValueError, match="new_tokens"):
        greedy_decode(model, prompt, 0)


def test_as_format():
    model = GLM(NANO).eval()
    assert next(as_format(model, "bf16").parameters()).dtype == torch.bfloat16
    assert sum(isinstance(m, QuantizedLinear) for m in as_format(model, "int4").modules()) == 4 * NANO.num_layers
    assert next(model.parameters()).dtype == torch.float32  # the original is untouched
    with pytest.raises(ValueError, match="fmt"):
        as_format(model, "fp8")


def test_measure_quality_rows():
    model = GLM(NANO).eval()
    val = [collate([gmask_sample(list(range(10, 30)), 8, SPECIAL), gmask_sample(list(range(40, 60)), 5, SPECIAL)])]
    rows = measure_quality(model, val, None, None, formats=("fp32", "int4"))
    assert [r.fmt for r in rows] == ["fp32", "int4"] and math.isnan(rows[0].cloze_accuracy)
    assert rows[0].perplexity == pytest.approx(math.exp(rows[0].val_loss))
    assert rows[0].val_loss != rows[1].val_loss and abs(rows[0].val_loss - rows[1].val_loss) < 0.05


def test_measure_quality_cloze_is_the_kits_lambada_accuracy():
    from glm_mini.data.corpus import load_corpus
    from glm_mini.evaluate import cloze_accuracy
    from glm_mini.data.corpus_tokenizer import default_tokenizer

    tokenizer = default_tokenizer(vocab_size=NANO.vocab_size)
    items = cloze_items_that_fit(tokenizer, load_corpus()["cloze_test"], NANO.max_sequence_length, 3)
    assert all(len(tokenizer.encode(c, parse_special=False)) + 7 <= NANO.max_sequence_length for c, _ in items)
    model = GLM(NANO).eval()
    val = [collate([gmask_sample(list(range(10, 30)), 8, tokenizer.special)])]
    (row,) = measure_quality(model, val, items, tokenizer, formats=("fp32",))
    assert row.cloze_items == 3 and row.cloze_accuracy == cloze_accuracy(model, tokenizer, items)
