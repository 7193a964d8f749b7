"""Embedding gradient shrink: forward unchanged, gradient ×α, on the input embedding and the tied output head."""

import torch

from glm_mini import GLM, PRESETS, shrink_gradient


def test_shrink_keeps_forward_and_scales_gradient():
    x = torch.randn(5, 3, requires_grad=True)
    y = shrink_gradient(x, 0.1)
    assert torch.allclose(y, x, rtol=0, atol=1e-6)
    y.backward(torch.ones_like(y))
    assert torch.allclose(x.grad, torch.full_like(x, 0.1))
    assert shrink_gradient(x, 1.0) is x
    with torch.no_grad():
        assert shrink_gradient(x, 0.1) is x  # nothing to shrink when no gradient is recorded


def _embedding_grads(alpha, shrink_logit):
    torch.manual_seed(0)
    config = PRESETS["nano"].replace(embedding_gradient_shrink_alpha=alpha,
                                     shrink_logit_embedding_gradient=shrink_logit)
    model = GLM(config)
    ids = torch.randint(0, 64, (2, 12))  # only the first 64 vocab rows are looked up
    logits = model(ids).logits
    grad = torch.autograd.grad(logits.square().sum(), model.transformer.word_embeddings.weight)[0]
    return logits.detach(), grad


def test_model_forward_is_unchanged_and_embedding_gradient_is_scaled():
    base_logits, base_grad = _embedding_grads(1.0, True)
    logits, grad = _embedding_grads(0.1, True)
    assert torch.allclose(logits, base_logits, atol=1e-5)
    assert torch.allclose(grad, 0.1 * base_grad, atol=1e-4, rtol=1e-4), "both paths shrunk: total grad x0.1"


def test_logit_shrink_switch_only_touches_the_output_path():
    _, base = _embedding_grads(1.0, True)
    _, input_only = _embedding_grads(0.1, False)
    # rows never looked up get gradient only through the tied output head: unshrunk when the switch is off
    assert torch.allclose(input_only[64:], base[64:], atol=1e-4, rtol=1e-4)
    # looked-up rows also get the (shrunk) input-path gradient, so they differ from the unshrunk total
    assert not torch.allclose(input_only[:64], base[:64], atol=1e-2, rtol=1e-3)
