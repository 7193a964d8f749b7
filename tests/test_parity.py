"""Logit parity: glm_mini.GLM vs the independent reference forward (tests/reference_glm.py), and the official keys."""

import pytest
import torch

from glm_mini import GLM, PRESETS, GLMConfig
from reference_glm import official_keys_and_shapes, random_official_state_dict, reference_logits

CASES = {
    "1d": dict(num_layers=3, hidden_size=48, num_attention_heads=4, inner_hidden_size=80, vocab_size=97,
               max_sequence_length=40),
    "2d": dict(num_layers=2, hidden_size=64, num_attention_heads=4, inner_hidden_size=96, vocab_size=101,
               max_sequence_length=40, position_encoding_2d=True),
    "1d-no-layer-scaling": dict(num_layers=2, hidden_size=32, num_attention_heads=2, inner_hidden_size=64,
                                vocab_size=50, max_sequence_length=40, apply_query_key_layer_scaling=False),
}


def _official_model(config: GLMConfig):
    """A GLM loaded, strict, from a random official-layout state dict (inv_freq buffers dropped first)."""
    official = random_official_state_dict(config.num_layers, config.hidden_size, config.ffn_hidden_size,
                                          config.vocab_size, config.head_dim)
    loadable = {k: v for k, v in official.items() if not k.endswith("rotary_emb.inv_freq")}
    model = GLM(config).eval()
    model.load_state_dict(loadable, strict=True)
    return model, official


def _batch_with_padding(config, b=3, s=24, seed=1):
    """Prefix+causal GLM masks with different context lengths, and right padding whose rows attend nowhere."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, config.vocab_size, (b, s), generator=g)
    context = torch.tensor([5, 11, 17])[:b]
    real_len = torch.tensor([s, s - 4, s - 9])[:b]
    i = torch.arange(s)
    allowed = (i.view(1, s, 1) >= i.view(1, 1, s)) | (i.view(1, 1, s) < context.view(b, 1, 1))  # [b, s, s]
    allowed &= (i.view(1, 1, s) < real_len.view(b, 1, 1)) & (i.view(1, s, 1) < real_len.view(b, 1, 1))
    if config.position_encoding_2d:  # GLM: block positions count inside the generated span, 0 in the context
        pos = torch.minimum(i.expand(b, s), context.view(b, 1) - 1)
        block = (i.view(1, s) - context.view(b, 1) + 1).clamp(min=0)
        position_ids = torch.stack([pos, block], dim=1)  # [b, 2, s]
    else:
        position_ids = i.expand(b, s).clone()
    return ids, position_ids, allowed.unsqueeze(1), real_len


@pytest.mark.parametrize("case", list(CASES))
def test_logits_match_reference_fp32(case):
    config = GLMConfig(**CASES[case])
    model, official = _official_model(config)
    ids, position_ids, allowed, real_len = _batch_with_padding(config)
    ours = model(ids, position_ids=position_ids, attention_mask=allowed).logits
    ref = reference_logits(official, num_layers=config.num_layers, num_heads=config.num_attention_heads,
                           max_len=config.max_sequence_length, eps=config.layernorm_epsilon, input_ids=ids,
                           position_ids=position_ids, blocked=~allowed, two_d=config.position_encoding_2d,
                           layer_scaling=config.apply_query_key_layer_scaling)
    assert torch.isfinite(ours).all(), "padding rows (which attend nowhere) must stay finite"
    diff = (ours - ref).abs()
    assert diff.max() <= 1e-5, f"{case}: max |ours-ref| = {diff.max():.3e}, mean {diff.mean():.3e}"
    # the padding rows themselves are part of the parity (uniform attention, as the official -10000 fill gives)
    pad_rows = torch.arange(ids.shape[1]).view(1, -1) >= real_len.view(-1, 1)
    assert pad_rows.any() and diff[pad_rows].max() <= 1e-5


def test_logits_match_reference_in_bfloat16_path():
    """The low-precision path (the official op order) stays close to the fp32 reference."""
    config = GLMConfig(**CASES["1d"])
    model, official = _official_model(config)
    ids, position_ids, allowed, _ = _batch_with_padding(config)
    ours = model.to(torch.bfloat16)(ids, position_ids=position_ids, attention_mask=allowed).logits.float()
    ref = reference_logits(official, num_layers=config.num_layers, num_heads=config.num_attention_heads,
                           max_len=config.max_sequence_length, eps=config.layernorm_epsilon, input_ids=ids,
                           position_ids=position_ids, blocked=~allowed)
    rel = (ours - ref).norm() / ref.norm()
    assert rel < 2e-2, f"bf16 relative error {rel:.3e}"


def test_130b_state_dict_keys_and_shapes_are_official():
    config = PRESETS["glm-130b"]
    with torch.device("meta"):
        model = GLM(config)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    official = official_keys_and_shapes(70, 12288, 32768, 150528)
    assert list(ours) == list(official), "state-dict keys (and their order) must equal the official list"
    assert ours == official
    assert sum(p.numel() for p in model.parameters()) == 128_697_794_560 == config.num_parameters()
    assert not any("inv_freq" in k for k in ours), "RoPE tables must be non-persistent buffers"


@pytest.mark.parametrize("preset", ["nano", "mini"])
def test_analytic_parameter_count_matches_module(preset):
    for normalization in ("deepnorm", "sandwich"):
        config = PRESETS[preset].replace(normalization=normalization)
        with torch.device("meta"):
            model = GLM(config)
        assert sum(p.numel() for p in model.parameters()) == config.num_parameters()


def test_fp16_logits_follow_the_official_fp16_recipe():
    """In fp16 the kit runs the official op order (fp16 RoPE tables, q pre-scaled by sqrt(d)(l+1), -10000 fill,
    FP32 softmax), so it lands closer to the fp16 reference than to the exact fp32 logits."""
    config = GLMConfig(**CASES["1d"]).replace(max_sequence_length=2048)
    model, official = _official_model(config)
    b, s = 2, 24
    ids = torch.randint(0, config.vocab_size, (b, s))
    position_ids = torch.arange(1900, 1900 + s).expand(b, s)  # long positions, where fp16 RoPE tables are coarse
    allowed = torch.ones(b, 1, s, s, dtype=torch.bool).tril() | (torch.arange(s) < 7).view(1, 1, 1, s)
    kwargs = dict(num_layers=config.num_layers, num_heads=config.num_attention_heads, max_len=2048,
                  eps=config.layernorm_epsilon, input_ids=ids, position_ids=position_ids, blocked=~allowed)
    ref16 = reference_logits(official, dtype=torch.float16, **kwargs).float()
    ref32 = reference_logits(official, **kwargs)
    ours16 = model.half()(ids, position_ids=position_ids, attention_mask=allowed).logits.float()
    to_fp16_ref = (ours16 - ref16).abs().max().item()
    to_fp32 = (ours16 - ref32).abs().max().item()
    assert to_fp16_ref < 0.25 * to_fp32, f"|ours16-ref16| {to_fp16_ref:.3e} vs |ours16-ref32| {to_fp32:.3e}"
