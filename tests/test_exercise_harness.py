"""The exercise harness: PASS on the reference, the first mismatch named on a wrong function, NotImplementedError."""

import dataclasses

import pytest
import torch

from glm_mini.exercises import Case, first_mismatch, run_check, use


def _softmax(x):
    return torch.softmax(x, dim=-1)


CASES = [Case("2x3", (torch.arange(6.0).view(2, 3),)), Case("one row", (torch.tensor([[1.0, -1.0]]),)),
         Case("large values", (torch.tensor([[1e4, 0.0, -1e4]]),))]


def test_reference_passes(capsys):
    assert run_check("Exercise 9.1", _softmax, _softmax, CASES) is True
    assert capsys.readouterr().out.strip() == "Exercise 9.1: PASS (3 cases)"


def test_wrong_function_names_the_first_mismatch(capsys):
    def wrong(x):
        return torch.exp(x) / torch.exp(x).sum()  # sums over the whole tensor, not per row

    assert run_check("Exercise 9.1", wrong, _softmax, CASES, atol=1e-6) is False
    out = capsys.readouterr().out
    assert "FAIL on case '2x3'" in out and "result[0, 0]" in out and "expected" in out


def test_not_implemented_is_reported_not_raised(capsys):
    def stub(x):
        raise NotImplementedError("Exercise 9.1: divide by the row sum")

    assert run_check("Exercise 9.1", stub, _softmax, CASES) is False
    assert "Exercise 9.1: not yet implemented" in capsys.readouterr().out
    assert use(stub, False, _softmax) is _softmax
    assert use(_softmax, True, stub) is _softmax


def test_a_crashing_student_function_fails_with_its_error(capsys):
    def crashes(x):
        return x.view(-1, 5)

    assert run_check("Exercise 9.2", crashes, _softmax, CASES) is False
    assert "raised RuntimeError" in capsys.readouterr().out


def test_tolerance_is_respected():
    a = torch.tensor([1.0, 2.0])
    assert first_mismatch(a + 1e-7, a, atol=1e-6) is None
    assert "result[1]" in first_mismatch(a + torch.tensor([0.0, 1e-3]), a, atol=1e-6)
    # |got - expected| <= atol + rtol*|expected|
    assert first_mismatch(torch.tensor([110.0]), torch.tensor([100.0]), rtol=0.1) is None
    assert first_mismatch(torch.tensor([111.0]), torch.tensor([100.0]), rtol=0.1) is not None


def test_nested_structures_and_dataclasses():
    @dataclasses.dataclass
    class Sample:
        ids: torch.Tensor
        division: int

    ref = {"a": [Sample(torch.tensor([1, 2]), 3)], "b": (1.5, "x")}
    same = {"a": [Sample(torch.tensor([1, 2]), 3)], "b": (1.5, "x")}
    assert first_mismatch(same, ref) is None
    other = {"a": [Sample(torch.tensor([1, 7]), 3)], "b": (1.5, "x")}
    assert first_mismatch(other, ref) == "result['a'][0].ids[1]: got 7, expected 2"
    assert "shape" in first_mismatch(torch.zeros(2, 3), torch.zeros(3, 2))
    assert "length 1, expected 2" in first_mismatch([1], [1, 2])
    assert "got 4, expected 3" in first_mismatch(4, 3)
    assert first_mismatch(True, False) is not None
    assert "dtype" in first_mismatch(torch.tensor([1]), torch.tensor([True]))


def test_inputs_are_not_shared_between_calls():
    def mutates(x):
        x.zero_()
        return x

    x = torch.ones(3)
    run_check("Exercise 9.3", mutates, lambda t: t * 0, [Case("ones", (x,))])
    assert torch.equal(x, torch.ones(3)), "the case's own tensor must survive a function that modifies its input"


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="student_fn"):
        run_check("Exercise 9.4", None, _softmax, CASES)
    with pytest.raises(ValueError, match="at least one case"):
        run_check("Exercise 9.4", _softmax, _softmax, [])


def test_a_scalar_mismatch_prints_the_expected_terms(capsys):
    def terms(n):
        return {"weights": 10 * n, "biases": n}

    case = [Case("n = 3", (3,))]
    assert run_check("Exercise 9.5", lambda n: 10 * n, lambda n: 11 * n, case, breakdown=terms) is False
    out = capsys.readouterr().out
    assert "FAIL on case 'n = 3': result: got 30, expected 33" in out
    assert "weights" in out and "biases" in out and "= expected" in out and out.count("33") == 2
    assert run_check("Exercise 9.5", lambda n: 11 * n, lambda n: 11 * n, [Case("n = 3", (3,))], breakdown=terms)
    assert "term by term" not in capsys.readouterr().out, "a pass prints no breakdown"


def test_a_ratio_mismatch_prints_the_steps_without_a_total(capsys):
    def steps(p, m):
        return [("slots in one step", m + p - 1), ("slots a stage is busy", m), ("bubble", (p - 1) / (m + p - 1))]

    assert run_check("Exercise 9.6", lambda p, m: (p - 1) / (m + p), lambda p, m: (p - 1) / (m + p - 1),
                     [Case("p=8, m=176", (8, 176))], rtol=1e-12, breakdown=steps) is False
    out = capsys.readouterr().out
    assert "step by step" in out and "slots in one step" in out and "183" in out and "0.0382514" in out
    assert "= expected" not in out, "a ratio's steps have no total"


def test_exercise_record():
    from glm_mini.exercises import exercise_record

    assert exercise_record({"2.1": True, "2.2": False}) == "exercises: 2.1 PASS, 2.2 not passed (1 of 2 passed)"
    assert exercise_record({}) == "exercises: none in this notebook"
