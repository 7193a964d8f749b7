"""Blank filling on a model left in training mode: the answer is the eval-mode greedy answer on every call, and the
caller's modes come back (also after an error); bad arguments are named.

The model has dropout 0.3 on attention and hidden states, so a forward in training mode draws a new mask each call:
before blank filling switched to eval mode, 5 greedy calls on this model gave 4 different answers, none of them the
eval-mode one (and 5 beam searches gave 4 different answers).
"""

import pytest
import torch
from bad_input_cases import error, params, right, run
from corpus_fixtures import small_tokenizer

from glm_mini import GLM, PRESETS
from glm_mini.generate import fill_blanks, fill_blanks_batch_ids, fill_blanks_ids

TEXT = "Anna gave the red book to Tom. Then [MASK] walked home with the book."
CALLS = 5


@pytest.fixture(scope="module")
def ctx():
    tok = small_tokenizer()
    torch.manual_seed(0)
    config = PRESETS["nano"].replace(vocab_size=len(tok), hidden_dropout=0.3, attention_dropout=0.3)
    model = GLM(config).eval()
    special = tok.special
    with torch.no_grad():  # a random model copies its last input ([sop]) forever unless those embeddings are small
        model.transformer.word_embeddings.weight[[special.mask, special.gmask, special.smask, special.sop]] *= 0.01
    ids = tok.encode(TEXT)
    with torch.no_grad():
        eval_answers = {"text": fill_blanks(model, tok, TEXT, max_new_tokens=8),
                        "ids": fill_blanks_ids(model, ids, tok.special, 8),
                        "beam": fill_blanks_ids(model, ids, tok.special, 6, num_beams=3)}
    return {"tok": tok, "model": model, "ids": ids, "eval": eval_answers}


def in_train_mode(fill, key):
    """``CALLS`` calls of ``fill(ctx)`` on the model in training mode: (answers, modes afterwards)."""
    def call(ctx):
        model = ctx["model"].train()
        try:
            answers = [fill(ctx) for _ in range(CALLS)]
            return answers, model.training, key
        finally:
            model.eval()
    return call


def same_as_eval_and_mode_back(result, ctx):
    answers, training_after, key = result
    return training_after and all(a == ctx["eval"][key] for a in answers)


def modes(model):
    return [m.training for m in model.modules()]


def mixed_modes(ctx):
    """A caller's mixed modes (training, one layer frozen in eval), through a call that works and one that fails."""
    model = ctx["model"].train()
    model.transformer.layers["0"].eval()
    before = modes(model)
    try:
        fill_blanks_ids(model, ctx["ids"], ctx["tok"].special, 4)
        after_call = modes(model)
        with pytest.raises(ValueError, match="max_new_tokens"):
            fill_blanks_ids(model, ctx["ids"], ctx["tok"].special, 10**6)
        return before, after_call, modes(model)
    finally:
        model.eval()


def fill(**options):
    return lambda ctx: fill_blanks_ids(ctx["model"], ctx["ids"], ctx["tok"].special, **options)


CASES = [
    right("fill-blanks-text-in-train-mode", in_train_mode(lambda c: fill_blanks(c["model"], c["tok"], TEXT,
                                                                                 max_new_tokens=8), "text"),
          same_as_eval_and_mode_back),
    right("fill-blanks-ids-in-train-mode", in_train_mode(lambda c: fill_blanks_ids(c["model"], c["ids"],
                                                                                    c["tok"].special, 8), "ids"),
          same_as_eval_and_mode_back),
    right("fill-blanks-batch-in-train-mode", in_train_mode(lambda c: fill_blanks_batch_ids(
        c["model"], [c["ids"]], c["tok"].special, 8)[0], "ids"), same_as_eval_and_mode_back),
    right("beam-search-in-train-mode", in_train_mode(lambda c: fill_blanks_ids(c["model"], c["ids"], c["tok"].special,
                                                                                6, num_beams=3), "beam"),
          same_as_eval_and_mode_back),
    right("mixed-modes-come-back", mixed_modes, lambda r, ctx: r[0] == r[1] == r[2] and True in r[0] and False in r[0]),
    error("max-new-tokens-zero", fill(max_new_tokens=0), ValueError, "max_new_tokens"),
    error("max-new-tokens-float", fill(max_new_tokens=2.0), ValueError, "max_new_tokens"),
    error("temperature-zero-sampling", fill(max_new_tokens=2, do_sample=True, temperature=0.0), ValueError,
          "temperature"),
    error("text-none", lambda ctx: fill_blanks(ctx["model"], ctx["tok"], None), TypeError, "text"),
    error("ids-with-a-float", lambda ctx: fill_blanks_ids(ctx["model"], [5, 6.0], ctx["tok"].special, 2), TypeError,
          "ids"),
]


@pytest.mark.parametrize("case", params(CASES))
def test_generate_case(case, ctx):
    run(case, ctx)
