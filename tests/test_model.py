"""GLM end to end: tied head, KV cache = full forward, defaults, input errors, dropout, padding finiteness."""

import pytest
import torch
import torch.nn.functional as F

from glm_mini import GLM, PRESETS, prefix_causal_mask

NANO = PRESETS["nano"]


def test_output_head_is_tied_to_the_word_embedding():
    model = GLM(NANO).eval()
    ids = torch.randint(0, NANO.vocab_size, (2, 9))
    hidden = {}
    model.transformer.final_layernorm.register_forward_hook(lambda m, i, o: hidden.update(h=o))
    logits = model(ids).logits
    assert torch.allclose(logits, hidden["h"] @ model.transformer.word_embeddings.weight.T, atol=1e-5)
    vocab_sized = [n for n, p in model.named_parameters() if NANO.vocab_size in p.shape]
    assert vocab_sized == ["transformer.word_embeddings.weight"]


@pytest.mark.parametrize("two_d", [False, True])
def test_kv_cache_decoding_equals_the_full_forward(two_d):
    config = NANO.replace(position_encoding_2d=two_d)
    model = GLM(config).eval()
    b, context, total = 2, 6, 14
    ids = torch.randint(0, config.vocab_size, (b, total))
    allowed = prefix_causal_mask(torch.full((b,), context), total)  # bidirectional context, causal generation
    i = torch.arange(total).expand(b, total)
    if two_d:  # GLM [MASK]-style: generated tokens keep position context-1, block position counts up
        position_ids = torch.stack([i.clamp(max=context - 1), (i - context + 1).clamp(min=0)], dim=1)
    else:
        position_ids = i
    full = model(ids, position_ids=position_ids, attention_mask=allowed).logits

    out = model(ids[:, :context], position_ids=position_ids[..., :context],
                attention_mask=allowed[:, :, :context, :context], use_cache=True)
    steps, cache = [out.logits], out.past_key_values
    for t in range(context, total):
        out = model(ids[:, t:t + 1], position_ids=position_ids[..., t:t + 1],
                    attention_mask=allowed[:, :, t:t + 1, :t + 1], past_key_values=cache, use_cache=True)
        steps.append(out.logits)
        cache = out.past_key_values
    incremental = torch.cat(steps, dim=1)
    assert cache[0][0].shape == (b, NANO.num_attention_heads, total, NANO.head_dim)
    assert (incremental - full).abs().max() <= 1e-5


def test_default_mask_is_causal_and_default_positions_count_from_the_cache():
    model = GLM(NANO).eval()
    ids = torch.randint(0, NANO.vocab_size, (1, 8))
    full = model(ids).logits
    prefix = model(ids[:, :5], use_cache=True)
    rest = model(ids[:, 5:], past_key_values=prefix.past_key_values).logits
    assert torch.allclose(torch.cat([prefix.logits, rest], 1), full, atol=1e-5)
    changed = ids.clone()
    changed[0, 7] = (ids[0, 7] + 1) % NANO.vocab_size
    assert torch.equal(model(changed).logits[:, :7], full[:, :7]), "a later token must not change earlier logits"


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_padding_rows_that_attend_nowhere_keep_logits_and_gradients_finite(dtype):
    model = GLM(NANO).to(dtype)
    ids = torch.randint(0, NANO.vocab_size, (2, 10))
    allowed = prefix_causal_mask(torch.tensor([4, 3]), 10)
    allowed[1, :, 6:] = False  # sample 1 is padded after 6 tokens: those rows attend nowhere
    allowed[1, :, :, 6:] = False
    logits = model(ids, attention_mask=allowed).logits
    loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, NANO.vocab_size), ids[:, 1:].reshape(-1))
    loss.backward()
    assert torch.isfinite(logits).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_dropout_is_active_in_training_and_off_in_eval():
    model = GLM(NANO.replace(hidden_dropout=0.1, attention_dropout=0.1))
    ids = torch.randint(0, NANO.vocab_size, (2, 10))
    model.train()
    assert not torch.equal(model(ids).logits, model(ids).logits)
    model.eval()
    assert torch.equal(model(ids).logits, model(ids).logits)


def test_bad_inputs_raise_errors_that_name_the_argument():
    model = GLM(NANO)
    ids = torch.randint(0, NANO.vocab_size, (2, 6))
    with pytest.raises(ValueError, match=r"attention_mask: expected dtype torch.bool"):
        model(ids, attention_mask=torch.ones(2, 1, 6, 6))
    with pytest.raises(ValueError, match=r"attention_mask: expected shape \[2, 1, 6, 6\]"):
        model(ids, attention_mask=torch.ones(2, 1, 6, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"position_ids: expected shape \(2, 6\) for 1-D RoPE"):
        model(ids, position_ids=torch.zeros(2, 2, 6, dtype=torch.long))
    model_2d = GLM(NANO.replace(position_encoding_2d=True))
    with pytest.raises(ValueError, match=r"position_ids: expected shape \(2, 2, 6\) for 2-D RoPE"):
        model_2d(ids, position_ids=torch.zeros(2, 6, dtype=torch.long))


def test_3d_mask_is_accepted_and_equals_4d():
    model = GLM(NANO).eval()
    ids = torch.randint(0, NANO.vocab_size, (2, 6))
    allowed = prefix_causal_mask(torch.tensor([2, 4]), 6)
    assert torch.equal(model(ids, attention_mask=allowed).logits, model(ids, attention_mask=allowed[:, 0]).logits)


def test_130b_builds_on_meta_and_a_meta_model_materializes():
    with torch.device("meta"):
        big = GLM(PRESETS["glm-130b"])
    assert all(p.device.type == "meta" for p in big.parameters())
    with torch.device("meta"):
        small = GLM(NANO)
    small.to_empty(device="cpu")
    from glm_mini.init import init_weights_

    init_weights_(small)  # RoPE buffers are rebuilt too
    assert torch.isfinite(small(torch.zeros(1, 4, dtype=torch.long)).logits).all()
    assert torch.allclose(small.transformer.rotary.inv_freq, GLM(NANO).transformer.rotary.inv_freq)
