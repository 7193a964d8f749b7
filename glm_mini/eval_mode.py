"""``in_eval_mode``: run a decoding or scoring function with the model in eval mode, then give back the caller's mode.

How it works
------------
Dropout is on in ``train()`` mode, so a model left in training mode (a notebook that just trained it, a caller that
forgot ``.eval()``) would draw a new dropout mask at every forward: a "greedy" answer that changes from call to call,
a score with noise in it. GLM-130B's generation and evaluation run the model in eval mode (THUDM/GLM-130B
``initialize.py``: ``initialize_model_and_tokenizer``, which ``generate.py`` and ``evaluate.py`` use, ends with
``model.eval()``). The decorator records each
submodule's ``training`` flag, switches the whole model to eval for the call and restores every flag afterwards,
also when the call raises, so a caller's mixed modes (one submodule frozen in eval) come back exactly.
"""

from __future__ import annotations

import functools

from torch import nn


def in_eval_mode(function):
    """Decorate ``function(model, ...)`` so that it runs with ``model.eval()`` and leaves every submodule's mode as
    it found it."""

    @functools.wraps(function)
    def wrapper(model: nn.Module, *args, **kwargs):
        modes = [(module, module.training) for module in model.modules()]
        model.eval()
        try:
            return function(model, *args, **kwargs)
        finally:
            for module, training in modes:
                module.training = training

    return wrapper
