"""AttentionLogitProbe: the largest |q·k|/√d of each layer, read with hooks, equals the reference forward's scores."""

import pytest
import torch

from glm_mini import GLM, PRESETS
from glm_mini.stability.attention_logits import AttentionLogitProbe, read_attention_logits
from glm_mini.train import TrainConfig, read_metrics, train
from reference_glm import reference_logits

CFG = PRESETS["nano"].replace(num_layers=3)


def _inputs(b=2, s=12):
    gen = torch.Generator().manual_seed(7)
    ids = torch.randint(0, CFG.vocab_size, (b, s), generator=gen)
    positions = torch.arange(s).expand(b, s)
    allowed = torch.ones(b, 1, s, s, dtype=torch.bool).tril()  # causal
    allowed[:, :, :, :4] = True  # a bidirectional prefix of 4, as in a GLM sample
    allowed[1, :, 9:, :] = False  # padding rows that attend nowhere
    return ids, positions, allowed


@pytest.mark.parametrize("two_d", [False, True])
def test_probe_reads_the_largest_allowed_score_of_every_layer(two_d):
    cfg = CFG.replace(position_encoding_2d=two_d)
    torch.manual_seed(0)
    model = GLM(cfg).train()
    with torch.no_grad():  # larger weights, so the scores are far from zero and differ between layers
        for layer in model.transformer.layers.values():
            layer.attention.query_key_value.weight.mul_(20.0)
    ids, positions, allowed = _inputs()
    if two_d:
        positions = torch.stack((positions, (positions - 3).clamp(min=0)), dim=1)  # [b, 2, s]
    probe = AttentionLogitProbe().attach(model)
    model(ids, position_ids=positions, attention_mask=allowed)
    got = probe.read()
    scores = []
    reference_logits(model.state_dict(), num_layers=3, num_heads=4, max_len=cfg.max_sequence_length, eps=1e-5,
                     input_ids=ids, position_ids=positions, blocked=~allowed, two_d=two_d, scores_out=scores)
    assert sorted(got) == [f"attn_logit_max_layer_{i}" for i in range(3)]
    for i, s in enumerate(scores):
        expected = float(s.abs().masked_fill(~allowed, 0).max())
        assert got[f"attn_logit_max_layer_{i}"] == pytest.approx(expected, rel=1e-5), f"layer {i}"
    assert got["attn_logit_max_layer_0"] != pytest.approx(got["attn_logit_max_layer_2"])


def test_probe_ignores_eval_forwards_and_detaches():
    torch.manual_seed(0)
    model = GLM(CFG)
    ids, positions, allowed = _inputs()
    probe = AttentionLogitProbe().attach(model)
    model.eval()
    model(ids, position_ids=positions, attention_mask=allowed)
    assert probe.read() == {}
    with pytest.raises(RuntimeError, match="already attached"):
        probe.attach(model)
    model.train()
    model(ids, position_ids=positions, attention_mask=allowed)
    first = probe.read()
    assert len(first) == 3
    probe.detach()
    with torch.no_grad():
        model.transformer.layers["0"].attention.query_key_value.weight.mul_(5.0)
    model(ids, position_ids=positions, attention_mask=allowed)
    assert probe.read() == first  # no longer listening
    with pytest.raises(TypeError, match="model"):
        AttentionLogitProbe().attach(torch.nn.Linear(2, 2))


def test_trainer_records_probe_readings_and_they_change_nothing(tmp_path):
    cfg = TrainConfig(preset="nano", max_steps=3, out=str(tmp_path / "a"), seq_len=32, batch_size=2, val_batches=1,
                      warmup_steps=1, config_overrides={"num_layers": 2})
    train(cfg, progress=False, probes=[AttentionLogitProbe()], plots=False)
    plain = TrainConfig(**{**cfg.__dict__, "out": str(tmp_path / "b")})
    train(plain, progress=False)
    probed, unprobed = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert [r["loss"] for r in probed] == [r["loss"] for r in unprobed]  # watching does not change a step
    logits = read_attention_logits(probed, 2)
    assert len(logits) == 3 and all(len(step) == 2 and min(step) > 0 for step in logits)
    assert not (tmp_path / "a" / "plots.png").exists() and (tmp_path / "b" / "plots.png").exists()
    with pytest.raises(ValueError, match="AttentionLogitProbe"):
        read_attention_logits(unprobed, 2)
