"""glm_mini.stability.clipping: the embedding's share of the global norm, the clip factor, what the rest keeps."""

import math

import pytest
import torch

from glm_mini import GLM, PRESETS
from glm_mini.stability.clipping import clip_factor, clipping_stats, embedding_share, rest_kept
from glm_mini.training.grad_norms import clip_gradients, grad_norms


def test_share_clip_factor_and_rest_kept_by_hand():
    g, e = [2.0, 0.5, 5.0], [1.6, 0.3, 0.0]  # rest norms: 1.2, 0.4, 5.0
    assert embedding_share(g, e) == pytest.approx([0.64, 0.36, 0.0])
    assert [clip_factor(x) for x in g] == pytest.approx([0.5, 1.0, 0.2])
    assert clip_factor(0.0) == 1.0 and clip_factor(4.0, max_norm=2.0) == 0.5
    # step 1: s = 0.5, a clip of the rest alone would give 1/1.2; step 2: no clip; step 3: the rest is everything
    assert rest_kept(g, e) == pytest.approx([0.5 * 1.2, 1.0, 1.0])
    stats = clipping_stats(g, e, early_steps=2)
    assert stats["clipped"] == pytest.approx(2 / 3) and stats["clipped_early"] == pytest.approx(0.5)
    assert stats["share"] == pytest.approx(1.0 / 3) and stats["kept_early"] == pytest.approx(0.8)
    assert math.isnan(embedding_share([math.inf], [1.0])[0])


def test_kept_is_what_the_trainer_clip_leaves_the_rest_relative_to_clipping_the_rest_alone():
    torch.manual_seed(0)
    model = GLM(PRESETS["nano"])
    ids = torch.randint(0, 1024, (2, 16))
    (model(ids).logits.pow(2).mean() * 50).backward()  # a large gradient, so the clip fires
    norms = grad_norms(model)
    before = {n: p.grad.clone() for n, p in model.named_parameters()}
    clip_gradients(model, 1.0, norms["total"])
    rest = [n for n in before if n != "transformer.word_embeddings.weight"]
    got = math.sqrt(sum(float(model.get_parameter(n).grad.pow(2).sum()) for n in rest))
    alone = min(1.0, 1.0 / norms["rest"]) * norms["rest"]  # the rest's norm had the clip counted only the rest
    assert norms["total"] > 1.0
    assert got / alone == pytest.approx(rest_kept([norms["total"]], [norms["embedding"]])[0], rel=1e-4)


def test_bad_input():
    with pytest.raises(ValueError, match="grad_norm"):
        embedding_share([1.0], [])
    with pytest.raises(ValueError, match="max_norm"):
        clip_factor(1.0, 0.0)
