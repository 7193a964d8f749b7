"""measure.py (bytes, timing, greedy decode) and quality.py (formats, validation loss, token accuracy, chance)."""

import math

import pytest
import torch

from glm_mini import GLM, PRESETS, SpecialTokens
from glm_mini.objective import collate, gmask_sample
from scale_up.quantization import QUANTIZED_LINEARS, QuantizedLinear, quantize_
from scale_up.quantization.measure import (greedy_decode, linear_weight_bytes, median_times, stored_bytes,
                                           tensor_bytes)
from scale_up.quantization.quality import as_format, chance_levels, loss_and_accuracy, measure_quality

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


def _val_batches():
    return [collate([gmask_sample(list(range(10, 30)), 8, SPECIAL), gmask_sample(list(range(40, 60)), 5, SPECIAL)]),
            collate([gmask_sample(list(range(100, 124)), 3, SPECIAL)])]


def test_loss_and_accuracy_are_the_trainers_loss_and_the_argmax_hits():
    from glm_mini.train import evaluate

    model, val = GLM(NANO).eval(), _val_batches()
    loss, accuracy, tokens = loss_and_accuracy(model, val)
    assert loss == pytest.approx(evaluate(model, val, "fp32", torch.device("cpu")), rel=1e-6)
    hits = count = 0
    with torch.no_grad():
        for b in val:  # the definition, one loss token at a time
            logits = model(b["input_ids"], position_ids=b["position_ids"], attention_mask=b["attention_mask"]).logits
            for i, j in b["loss_mask"].nonzero().tolist():
                hits += int(logits[i, j].argmax()) == int(b["targets"][i, j])
                count += 1
    assert tokens == count == sum(int(b["loss_mask"].sum()) for b in val) and accuracy == hits / count
    with pytest.raises(ValueError, match="batches"):
        loss_and_accuracy(model, [])


def test_measure_quality_rows():
    model, val = GLM(NANO).eval(), _val_batches()
    rows = measure_quality(model, val, formats=("fp32", "int4"))
    assert [r.fmt for r in rows] == ["fp32", "int4"]
    assert rows[0].perplexity == pytest.approx(math.exp(rows[0].val_loss))
    assert rows[0].val_loss != rows[1].val_loss and abs(rows[0].val_loss - rows[1].val_loss) < 0.05
    assert rows[0].tokens == rows[1].tokens == sum(int(b["loss_mask"].sum()) for b in val) == 48


def test_measure_quality_isolates_the_weight_format():
    # the reference path multiplies in fp32: the INT4 row is exactly the model with its block weights replaced by Ŵ
    from scale_up.quantization import dequantize_weight, quantize_weight

    model, val = GLM(NANO).eval(), _val_batches()
    (row,) = measure_quality(model, val, formats=("int4",))
    twin = as_format(model, "fp32")
    with torch.no_grad():
        for name, m in twin.named_modules():
            if name.endswith(QUANTIZED_LINEARS):
                m.weight.copy_(dequantize_weight(*quantize_weight(m.weight, 4)))
    assert row.val_loss == pytest.approx(loss_and_accuracy(twin, val)[0], rel=1e-6)


def test_chance_levels():
    val = _val_batches()
    targets = torch.cat([b["targets"][b["loss_mask"]] for b in val])
    counts = torch.zeros(NANO.vocab_size, dtype=torch.long)
    counts[int(targets[0])] = 50  # the most frequent training target
    counts[200] = 10
    chance = chance_levels(counts, val)
    assert chance["accuracy"] == float((targets == targets[0]).double().mean())
    expected = -torch.log((counts.double()[targets] + 1) / (60 + NANO.vocab_size)).mean()  # add-one unigram
    assert chance["loss"] == pytest.approx(float(expected))
