"""Notebook 10's exercise checks pass on the package's functions and fail, naming the mismatch, on wrong ones."""

from scale_up.exercises.nb10_pipeline import check_bubble_fraction, check_layers_per_stage, check_one_f_one_b_order
from scale_up.pipeline import bubble_formula
from scale_up.pipeline.orders import gpipe_order, one_f_one_b_order
from scale_up.pipeline.partition import layers_per_stage


def test_checks_pass_on_the_package_functions(capsys):
    assert check_bubble_fraction(bubble_formula)
    assert check_layers_per_stage(layers_per_stage)
    assert check_one_f_one_b_order(one_f_one_b_order)
    assert capsys.readouterr().out.count("PASS") == 3


def test_checks_fail_on_wrong_functions(capsys):
    assert not check_bubble_fraction(lambda p, m: (p - 1) / (m + p))  # off-by-one denominator
    out = capsys.readouterr().out
    assert "Exercise 10.3: FAIL on case 'paper: p=8, m=176'" in out
    assert "step by step" in out and "units one step lasts" in out and "183" in out and "= expected" not in out
    assert not check_layers_per_stage(lambda n, s: [n // s] * (s - 1) + [n - n // s * (s - 1)])  # ignores embeddings
    assert "Exercise 10.1: FAIL on case 'GLM-130B: 70 layers, 8 stages': result[1]: got 8, expected 9" in \
        capsys.readouterr().out
    assert not check_one_f_one_b_order(gpipe_order)
    assert "Exercise 10.2: FAIL on case 'first of 2 stages, m=4': result[2]: got 'F2', expected 'B0'" in \
        capsys.readouterr().out


def test_checks_report_not_yet_implemented(capsys):
    def todo(*args):
        raise NotImplementedError("Exercise 10.3: divide the idle slots by all slots")

    assert not check_bubble_fraction(todo)
    assert "Exercise 10.3: not yet implemented" in capsys.readouterr().out


def test_the_bubble_steps_add_up():
    from scale_up.exercises.nb10_pipeline import bubble_steps

    for p, m in ((8, 176), (1, 7), (4, 1)):
        steps = dict(bubble_steps(p, m))
        assert steps["units one stage works"] + steps["units one stage idles"] == steps["units one step lasts"]
        assert steps["idle share"] == steps["units one stage idles"] / steps["units one step lasts"]
