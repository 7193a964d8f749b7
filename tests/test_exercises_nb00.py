"""Notebook 00's exercise check: PASS on the analytic count, FAIL with the count term by term on a wrong one."""

from glm_mini.exercises.nb00_tour import check_parameter_count, count_by_component


def test_parameter_count_check(capsys):
    assert check_parameter_count(lambda config: config.num_parameters())
    assert capsys.readouterr().out.strip() == "Exercise 0.1: PASS (4 cases)"

    def untied(config):  # counts the head as a matrix of its own
        return config.num_parameters() + config.vocab_size * config.hidden_size

    assert not check_parameter_count(untied)
    out = capsys.readouterr().out
    assert "Exercise 0.1: FAIL on case 'nano': result: got 233408, expected 167872" in out
    assert "word embedding (tied head)" in out and "= expected" in out and "167,872" in out


def test_the_breakdown_adds_up_to_the_count():
    from glm_mini.config import PRESETS

    for name in ("nano", "glm-130b"):
        terms = count_by_component(PRESETS[name])
        assert sum(terms.values()) == PRESETS[name].num_parameters()
    assert count_by_component(PRESETS["glm-130b"])["word embedding (tied head)"] == 150528 * 12288


def test_not_implemented(capsys):
    def stub(config):
        raise NotImplementedError("Exercise 0.1: the head costs nothing")

    assert not check_parameter_count(stub)
    assert "Exercise 0.1: not yet implemented" in capsys.readouterr().out
