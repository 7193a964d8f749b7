"""Notebook 02's exercise checks: each passes on the package's function and fails, naming the mismatch, on a wrong
one."""

import torch

from glm_mini.exercises import nb02_objective as ex
from glm_mini.objective import glm_attention


def test_part_a(capsys):
    assert ex.check_part_a(ex.part_a)

    def every_token_masked(tokens, spans, mask_id):  # one [MASK] per token instead of per span
        out, last = [], 0
        for start, end in spans:
            out += tokens[last:start] + [mask_id] * (end - start)
            last = end
        return out + tokens[last:]

    capsys.readouterr()
    assert not ex.check_part_a(every_token_masked)
    out = capsys.readouterr().out
    assert "Exercise 2.1: FAIL on case 'the worked example" in out and "length" in out


def test_part_b_positions(capsys):
    assert ex.check_part_b_positions(ex.part_b_positions)

    def original_positions(spans, span_order):  # the uncompressed text position of each span token
        out = []
        for k in span_order:
            start, end = spans[k]
            out += [start] + list(range(start, end))
        return out

    capsys.readouterr()
    assert not ex.check_part_b_positions(original_positions)
    assert "Exercise 2.2: FAIL on case" in capsys.readouterr().out


def test_glm_mask(capsys):
    assert ex.check_glm_mask(glm_attention)

    def causal_only(division, length):
        return torch.ones(length, length, dtype=torch.bool).tril()

    capsys.readouterr()
    assert not ex.check_glm_mask(causal_only)
    expected = ("Exercise 2.3: FAIL on case 'division 5 of 10 (the worked example)': "
                "result[0, 1]: got False, expected True")
    assert expected in capsys.readouterr().out


def test_gmask_sample(capsys):
    assert ex.check_gmask_sample(ex.gmask_inputs_targets)

    def forgot_the_shift(tokens, prefix_len, gmask_id, sop_id):
        p = tokens[:prefix_len]
        return p + [gmask_id, sop_id] + tokens[prefix_len:-1], p + [gmask_id, sop_id] + tokens[prefix_len:-1]

    capsys.readouterr()
    assert not ex.check_gmask_sample(forgot_the_shift)
    assert "Exercise 2.4: FAIL on case 'x1..x6, prefix 2': result[1][3]: got 1004, expected 13" \
        in capsys.readouterr().out


def test_not_implemented(capsys):
    def stub(*args):
        raise NotImplementedError("Exercise 2.1: one [MASK] replaces each whole span")

    assert not ex.check_part_a(stub)
    assert "Exercise 2.1: not yet implemented" in capsys.readouterr().out
