"""Notebook 02's exercise checks: each passes on the package's function and fails, naming the mismatch, on a wrong
one."""

from glm_mini.exercises import nb02_objective as ex


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


def test_part_b(capsys):
    assert ex.check_part_b(ex.part_b)

    def text_order(tokens, spans, span_order, sop_id, eop_id):  # ignores the shuffled order
        inputs, targets = [], []
        for start, end in spans:
            inputs += [sop_id] + tokens[start:end]
            targets += tokens[start:end] + [eop_id]
        return inputs, targets

    capsys.readouterr()
    assert not ex.check_part_b(text_order)
    assert "Exercise 2.2: FAIL on case" in capsys.readouterr().out

    def unshifted(tokens, spans, span_order, sop_id, eop_id):  # targets equal to the inputs: nothing to predict
        inputs = [t for k in span_order for t in [sop_id] + tokens[spans[k][0]:spans[k][1]]]
        return inputs, list(inputs)

    assert not ex.check_part_b(unshifted)
    assert "result[1][0]" in capsys.readouterr().out


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
    assert "Exercise 2.3: FAIL on case" in capsys.readouterr().out

    def start_of_span(spans, span_order):  # the span's start in the text, not its [MASK]'s place in Part A
        return [spans[k][0] for k in span_order for _ in range(spans[k][1] - spans[k][0] + 1)]

    assert not ex.check_part_b_positions(start_of_span)
    assert "FAIL" in capsys.readouterr().out


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
