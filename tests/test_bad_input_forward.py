"""Bad input to GLM.forward and its KV cache: each is named before it reaches a matmul; valid edge cases still work.

The checks must not change any logit on valid input: tests/test_parity.py (bit-for-bit against the reference) and
the right-result cases below run through the same checks.
"""

import pytest
import torch
from bad_input_cases import error, params, right, run

from glm_mini import GLM, GLMConfig

SMALL = GLMConfig(num_layers=2, hidden_size=32, num_attention_heads=2, vocab_size=64, max_sequence_length=16)


@pytest.fixture(scope="module")
def ctx():
    torch.manual_seed(0)
    models = {"1d": GLM(SMALL).eval(), "2d": GLM(SMALL.replace(position_encoding_2d=True)).eval()}
    ids = torch.randint(0, SMALL.vocab_size, (2, 5))
    with torch.no_grad():
        cache = models["1d"](ids, use_cache=True).past_key_values
    return {"m": models["1d"], "m2": models["2d"], "ids": ids, "cache": cache}


def fwd(**kwargs):
    def call(ctx):
        args = {k: (v(ctx) if callable(v) else v) for k, v in kwargs.items()}
        model = ctx["m2"] if args.pop("two_d", False) else ctx["m"]
        with torch.no_grad():
            return model(args.pop("input_ids", ctx["ids"]), **args)
    return call


def ids(*shape, low=0, high=SMALL.vocab_size, dtype=torch.long):
    return torch.randint(low, high, shape, generator=torch.Generator().manual_seed(1)).to(dtype)


def cache_edit(edit):
    return lambda ctx: edit([list(kv) for kv in ctx["cache"]])


def finite(out, ctx):
    return torch.isfinite(out.logits).all().item()


CASES = [
    error("ids-as-list", fwd(input_ids=[[1, 2, 3]]), TypeError, "input_ids", "list"),
    error("ids-1d", fwd(input_ids=ids(5)), ValueError, "input_ids", "ids[None]"),
    error("ids-3d", fwd(input_ids=ids(1, 2, 5)), ValueError, "input_ids"),
    error("ids-float", fwd(input_ids=ids(2, 5, dtype=torch.float32)), ValueError, "input_ids", "float32"),
    error("ids-bool", fwd(input_ids=ids(2, 5, high=2, dtype=torch.bool)), ValueError, "input_ids"),
    error("ids-above-vocab", fwd(input_ids=torch.tensor([[1, 64]])), ValueError, "input_ids", "vocab_size=64"),
    error("ids-negative", fwd(input_ids=torch.tensor([[1, -1]])), ValueError, "input_ids", "-1"),
    error("empty-sequence", fwd(input_ids=torch.zeros(1, 0, dtype=torch.long)), ValueError, "input_ids", "[1, 0]"),
    error("empty-batch", fwd(input_ids=torch.zeros(0, 4, dtype=torch.long)), ValueError, "input_ids", "[0, 4]"),
    error("longer-than-max", fwd(input_ids=ids(1, 17)), ValueError, "input_ids", "max_sequence_length=16"),
    error("position-beyond-max", fwd(position_ids=torch.full((2, 5), 16)), ValueError, "position_ids", "16"),
    error("position-negative", fwd(position_ids=torch.full((2, 5), -3)), ValueError, "position_ids", "-3"),
    error("position-float", fwd(position_ids=torch.zeros(2, 5)), ValueError, "position_ids", "float32"),
    error("position-2d-shape-on-1d", fwd(position_ids=torch.zeros(2, 2, 5, dtype=torch.long)), ValueError,
          "position_ids", "1-D RoPE"),
    error("position-1d-shape-on-2d", fwd(two_d=True, position_ids=torch.zeros(2, 5, dtype=torch.long)), ValueError,
          "position_ids", "2-D RoPE"),
    error("block-position-beyond-max", fwd(two_d=True, position_ids=torch.tensor([[[0] * 5, [0, 0, 0, 0, 99]]] * 2)),
          ValueError, "position_ids", "99"),
    error("position-list", fwd(position_ids=[[0, 1, 2, 3, 4]] * 2), TypeError, "position_ids"),
    error("mask-float", fwd(attention_mask=torch.ones(2, 1, 5, 5)), ValueError, "attention_mask", "torch.bool"),
    error("mask-wrong-shape", fwd(attention_mask=torch.ones(2, 1, 5, 4, dtype=torch.bool)), ValueError,
          "attention_mask", "[2, 1, 5, 5]"),
    error("mask-2d", fwd(attention_mask=torch.ones(5, 5, dtype=torch.bool)), ValueError, "attention_mask"),
    error("mask-batch-3-for-2", fwd(attention_mask=torch.ones(3, 1, 5, 5, dtype=torch.bool)), ValueError,
          "attention_mask"),
    error("mask-heads-dim", fwd(attention_mask=torch.ones(2, 2, 5, 5, dtype=torch.bool)), ValueError,
          "attention_mask"),
    error("mask-as-list", fwd(attention_mask=[[True]]), TypeError, "attention_mask"),
    error("cache-wrong-layer-count", fwd(past_key_values=cache_edit(lambda c: tuple(c[:1]))), ValueError,
          "past_key_values", "2 (key, value) pairs"),
    error("cache-as-tensor", fwd(past_key_values=lambda ctx: ctx["cache"][0][0]), ValueError, "past_key_values"),
    error("cache-wrong-batch", fwd(past_key_values=cache_edit(lambda c: tuple((k[:1], v[:1]) for k, v in c))),
          ValueError, "past_key_values[0]", "[2, heads"),
    error("cache-unequal-lengths", fwd(past_key_values=cache_edit(
        lambda c: ((c[0][0], c[0][1]), (c[1][0][:, :, :3], c[1][1][:, :, :3])))), ValueError, "past_key_values[1]"),
    error("cache-key-value-differ", fwd(past_key_values=cache_edit(
        lambda c: tuple((k, v[:, :, :2]) for k, v in c))), ValueError, "past_key_values[0]"),
    error("cache-wrong-heads", fwd(past_key_values=cache_edit(
        lambda c: tuple((k.repeat(1, 2, 1, 1), v.repeat(1, 2, 1, 1)) for k, v in c))), ValueError,
        "past_key_values", "[2, 2, cached, 16]"),
    error("cache-wrong-dtype", fwd(past_key_values=cache_edit(lambda c: tuple((k.double(), v.double()) for k, v in c))),
          ValueError, "past_key_values", "float64"),
    error("cache-not-pairs", fwd(past_key_values=cache_edit(lambda c: tuple((k,) for k, v in c))), ValueError,
          "past_key_values[0]"),
    error("cache-plus-new-beyond-max", fwd(input_ids=ids(2, 12), past_key_values=lambda ctx: ctx["cache"]),
          ValueError, "5 cached + 12 new", "max_sequence_length=16"),
    error("use-cache-as-string", fwd(use_cache="yes"), TypeError, "use_cache"),
    right("int32-ids-equal-long", fwd(input_ids=lambda ctx: ctx["ids"].int()),
          lambda out, ctx: torch.equal(out.logits, ctx["m"](ctx["ids"]).logits)),
    right("exactly-max-length", fwd(input_ids=ids(1, 16)), lambda out, ctx: out.logits.shape == (1, 16, 64)),
    right("position-at-max-minus-one", fwd(position_ids=torch.full((2, 5), 15)), finite),
    right("mask-batch-1-broadcasts", fwd(attention_mask=torch.ones(1, 1, 5, 5, dtype=torch.bool)),
          lambda out, ctx: torch.equal(out.logits, ctx["m"](ctx["ids"], attention_mask=torch.ones(
              2, 1, 5, 5, dtype=torch.bool)).logits)),
    right("empty-cache-tuple-is-none", fwd(past_key_values=()),
          lambda out, ctx: torch.equal(out.logits, ctx["m"](ctx["ids"]).logits)),
    right("row-attending-nowhere", fwd(attention_mask=torch.zeros(2, 1, 5, 5, dtype=torch.bool)), finite),
    right("cache-decoding-equals-full", fwd(input_ids=lambda ctx: ctx["ids"][:, 4:],
                                            past_key_values=lambda ctx: tuple((k[:, :, :4], v[:, :, :4])
                                                                              for k, v in ctx["cache"])),
          lambda out, ctx: torch.allclose(out.logits, ctx["m"](ctx["ids"]).logits[:, 4:], atol=1e-5)),
]


@pytest.mark.parametrize("case", params(CASES))
def test_forward_case(case, ctx):
    run(case, ctx)
