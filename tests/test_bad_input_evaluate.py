"""Bad and degenerate input to evaluation (``glm_mini.evaluate``, ``glm_mini.zero_shot``, ``glm_mini.train.evaluate``):
nothing to score, one choice, an empty answer, a label outside the choices, a NaN score or a window length of 0 is
an error naming it, never a number; a model left in training mode (dropout 0.3) scores as in eval mode and gets its
mode back."""

import pytest
import torch
from bad_input_cases import error, params, right, run
from corpus_fixtures import small_tokenizer

from glm_mini import GLM, PRESETS
from glm_mini.evaluate import (choice_log_probs, cloze_accuracy, cloze_predictions, continuation_log_probs,
                               language_model_eval, rank_accuracy)
from glm_mini.train import evaluate
from glm_mini.zero_shot import cloze_scores, infill_scores, task_scores

TEXT = "Anna gave the red book to Tom, and then she walked home before noon."
CLOZE = {"context": "Anna gave the red book to Tom. Now the book is with ", "target": "Tom",
         "candidates": ["Tom", "Lea"]}
INFILL = {"prefix": "Tom went to the ", "target": "mill", "suffix": ". Lea went to the river.",
          "candidates": ["market", "mill", "river"]}
TASK = {"prompt": "Is the book with Lea? ", "answer": "yes", "family": "entailment", "lang": "en"}


@pytest.fixture(scope="module")
def ctx():
    tok = small_tokenizer()
    torch.manual_seed(0)
    config = PRESETS["nano"].replace(vocab_size=len(tok), hidden_dropout=0.3, attention_dropout=0.3)
    model, special = GLM(config).eval(), tok.special
    with torch.no_grad():  # a random model copies its last input ([sop]) forever unless those embeddings are small
        model.transformer.word_embeddings.weight[[special.mask, special.gmask, special.smask, special.sop]] *= 0.01
    return {"tok": tok, "model": model, "special": special}


def with_model(fn, *args, **kwargs):
    return lambda ctx: fn(ctx["model"], *args, **kwargs)


def with_tok(fn, *args, **kwargs):
    return lambda ctx: fn(ctx["model"], ctx["tok"], *args, **kwargs)


def with_special(fn, *args, **kwargs):
    return lambda ctx: fn(ctx["model"], *args, ctx["special"], **kwargs)


def train_mode_equals_eval_mode(score):
    """``score(ctx)`` with the model in eval mode, then 3 times in training mode: (eval, train results, mode after)."""
    def call(ctx):
        model = ctx["model"]
        reference = score(ctx)
        model.train()
        try:
            return reference, [score(ctx) for _ in range(3)], model.training
        finally:
            model.eval()
    return call


def same_and_mode_back(result, ctx):
    reference, in_train_mode, training_after = result
    return training_after and all(r == reference for r in in_train_mode)


def ids(ctx, text):
    return ctx["tok"].encode(text, parse_special=False)


def batch_without_loss_tokens(ctx):
    n = 8
    return [{"input_ids": torch.randint(10, 100, (1, n)), "position_ids": torch.arange(n)[None],
             "attention_mask": torch.ones(1, 1, n, n, dtype=torch.bool), "targets": torch.randint(10, 100, (1, n)),
             "loss_mask": torch.zeros(1, n, dtype=torch.bool)}]


CASES = [
    # nothing, or nothing rankable, to score
    error("train-evaluate-no-batches", lambda ctx: evaluate(ctx["model"], [], "fp32", torch.device("cpu")),
          ValueError, "batches"),
    error("train-evaluate-no-loss-tokens", lambda ctx: evaluate(ctx["model"], batch_without_loss_tokens(ctx), "fp32",
                                                                torch.device("cpu")), ValueError, "loss token"),
    error("lm-seq-len-zero", with_tok(language_model_eval, [TEXT], seq_len=0), ValueError, "seq_len", "0"),
    error("lm-stride-zero", with_tok(language_model_eval, [TEXT], seq_len=16, stride=0), ValueError, "stride"),
    error("rank-label-outside-choices", lambda ctx: rank_accuracy([[0.1, 0.5]], [2]), ValueError, "labels[0]",
          "[0, 2)"),
    error("rank-negative-label", lambda ctx: rank_accuracy([[0.1, 0.5]], [-1]), ValueError, "labels[0]"),
    error("rank-nan-score", lambda ctx: rank_accuracy([[0.1, 0.5], [float("nan"), 1.0]], [1, 0]), ValueError,
          "score_lists[1]", "NaN"),
    error("rank-one-choice", lambda ctx: rank_accuracy([[0.3]], [0]), ValueError, "score_lists[0]", "at least 2"),
    error("rank-no-choices", lambda ctx: rank_accuracy([[]], [0]), ValueError, "score_lists[0]"),
    error("cloze-accuracy-empty-answer", with_tok(cloze_accuracy, [("Anna gave the book to", "")]), ValueError,
          "items[0]", "answer"),
    error("cloze-accuracy-punctuation-answer", with_tok(cloze_accuracy, [("Anna gave the book to", "?")]),
          ValueError, "items[0]"),
    error("cloze-predictions-no-contexts", with_special(cloze_predictions, []), ValueError, "contexts"),
    error("cloze-predictions-zero-tokens", lambda ctx: cloze_predictions(ctx["model"], [ids(ctx, TEXT)],
                                                                         ctx["special"], max_new_tokens=0),
          ValueError, "max_new_tokens"),
    error("cloze-scores-one-candidate", with_tok(cloze_scores, [{**CLOZE, "candidates": ["Tom"]}]), ValueError,
          "cloze_test[0]", "at least 2"),
    error("cloze-scores-same-candidate-twice", with_tok(cloze_scores, [{**CLOZE, "candidates": ["Tom", "Tom"]}]),
          ValueError, "cloze_test[0]", "distinct"),
    error("cloze-scores-target-not-a-candidate", with_tok(cloze_scores, [CLOZE, {**CLOZE, "target": "Ben"}]),
          ValueError, "cloze_test[1]", "'Ben'"),
    error("cloze-scores-no-candidates", with_tok(cloze_scores, [{**CLOZE, "candidates": []}]), ValueError,
          "cloze_test[0]"),
    error("cloze-scores-empty-target", with_tok(cloze_scores, [{**CLOZE, "target": "", "candidates": ["", "Tom"]}]),
          ValueError, "cloze_test[0]", "target"),
    error("infill-scores-one-candidate", with_tok(infill_scores, [{**INFILL, "candidates": ["mill"]}]), ValueError,
          "infill_test[0]"),
    error("infill-scores-target-not-a-candidate", with_tok(infill_scores, [{**INFILL, "candidates": ["a", "b"]}]),
          ValueError, "infill_test[0]", "'mill'"),
    error("task-scores-family-with-one-answer", with_tok(task_scores, [TASK, TASK]), ValueError, "entailment",
          "'yes'"),
    error("task-scores-empty-answer", with_tok(task_scores, [TASK, {**TASK, "answer": ""}]), ValueError,
          "mip_heldout[1]"),
    # a model left in training mode scores as in eval mode, and stays in training mode
    right("lm-eval-in-train-mode", train_mode_equals_eval_mode(lambda ctx: language_model_eval(
        ctx["model"], ctx["tok"], [TEXT], seq_len=16, stride=5).nll), same_and_mode_back),
    right("choice-log-probs-in-train-mode", train_mode_equals_eval_mode(lambda ctx: choice_log_probs(
        ctx["model"], ids(ctx, "The book is with"), [ids(ctx, " Tom"), ids(ctx, " Lea")], ctx["special"])),
          same_and_mode_back),
    right("continuation-log-probs-in-train-mode", train_mode_equals_eval_mode(lambda ctx: continuation_log_probs(
        ctx["model"], ids(ctx, "The book is with"), [ids(ctx, " Tom"), ids(ctx, " Lea")], ctx["special"])),
          same_and_mode_back),
    right("cloze-predictions-in-train-mode", train_mode_equals_eval_mode(lambda ctx: cloze_predictions(
        ctx["model"], [ids(ctx, "The book is with")], ctx["special"], max_new_tokens=4)), same_and_mode_back),
]


@pytest.mark.parametrize("case", params(CASES))
def test_evaluate_case(case, ctx):
    run(case, ctx)
