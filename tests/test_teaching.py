"""The notebooks reviewed as a student would use them (issue 21): no answer visible in the student edition, every
"predict first" prompt answered after its experiment, one exercise record printed by the summary, and widgets that
redraw on release with a static rendering above them. Cheap: reads the sources, executes nothing.

``REVIEWED`` lists the notebooks that meet all of it; the others are being rewritten and join the list when they do."""

import ast
import copy

import jupytext
import pytest

import answer_leaks
import editions
import runner

REVIEWED = ("00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11")
SOURCES = {p.stem[:2]: p for p in sorted(runner.NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))}


def _student(source):
    nb = jupytext.read(source)
    return nb, editions.make_edition(copy.deepcopy(nb), "student", editions.notebook_number(source))


@pytest.mark.parametrize("number", REVIEWED)
def test_student_edition_shows_no_answer(number):
    """For each exercise, no distinctive expression of its solution occurs in the student edition's visible cells."""
    nb, student = _student(SOURCES[number])
    assert editions.exercise_count(nb), f"notebook {number} has no exercise"
    found = answer_leaks.leaks(nb, student, int(number))
    assert not found, f"{SOURCES[number].name}: the student edition shows these answers: {found}"


def test_the_leak_detector_finds_a_worked_answer_and_a_renamed_copy():
    source = '''# %% [markdown]
# ### Exercise 5.1: shrink

# %%
def my_shrink(x, alpha):
    ### BEGIN SOLUTION
    ### HINT: forward unchanged
    return x * alpha + x.detach() * (1 - alpha)
    ### END SOLUTION

# %% [markdown]
# The package does `e * a + e.detach() * (1.0 - a)`.

# %%
print(my_shrink(1, 2))
'''
    nb = jupytext.reads(source, fmt="py:percent")
    student = editions.make_edition(copy.deepcopy(nb), "student", 5)
    assert answer_leaks.leaks(nb, student, 5) == {"Exercise 5.1": ["_*_+_.detach()*(1-_)", "_.detach()*(1-_)"]}
    clean = jupytext.reads(source.replace("The package does `e * a + e.detach() * (1.0 - a)`.", "No code here."),
                           fmt="py:percent")
    assert answer_leaks.leaks(clean, editions.make_edition(copy.deepcopy(clean), "student", 5), 5) == {}
    folded = source.replace("# The package does", "# <details>The package does").replace("(1.0 - a)`.",
                                                                                         "(1.0 - a)`.</details>")
    nb = jupytext.reads(folded, fmt="py:percent")
    assert answer_leaks.leaks(nb, editions.make_edition(copy.deepcopy(nb), "student", 5), 5) == {}, \
        "a folded <details> block is hidden by design"


@pytest.mark.parametrize("number", REVIEWED)
def test_every_prediction_prompt_is_answered_after_it(number):
    nb = jupytext.read(SOURCES[number])
    pairs = editions.prediction_pairs(nb)
    assert pairs, f"notebook {number} asks for no prediction"
    unanswered = [i for i, answer in pairs if answer is None]
    assert not unanswered, f"{SOURCES[number].name}: prompts in cells {unanswered} have no 'prediction' cell after them"
    answers = [i for i, c in enumerate(nb.cells) if "prediction" in c.metadata.get("tags", [])]
    assert len(answers) == len(pairs), f"{SOURCES[number].name}: a 'prediction' cell answers no prompt"
    for prompt, answer in pairs:
        between = nb.cells[prompt + 1:answer]
        assert any(c.cell_type == "code" for c in between), \
            f"{SOURCES[number].name}: the answer in cell {answer} comes before any experiment after prompt {prompt}"


@pytest.mark.parametrize("number", REVIEWED)
def test_one_exercise_record_printed_by_the_summary(number):
    nb = jupytext.read(SOURCES[number])
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    summary = [c.source for c in nb.cells if "summary" in c.metadata.get("tags", [])]
    assert any("exercise_record(passed)" in s for s in summary), f"notebook {number}: the summary prints no record"
    assert sum("passed = {}" in s for s in code) == 1, f"notebook {number}: one `passed` record, made once"
    for k in range(1, editions.exercise_count(nb) + 1):
        key = f'passed["{int(number)}.{k}"] = check_'
        assert sum(key in s for s in code) == 1, f"notebook {number}: Exercise {int(number)}.{k} is not recorded once"


def _widget_calls(cell_source):
    tree = ast.parse(cell_source)
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "interact"]


@pytest.mark.parametrize("number", REVIEWED)
def test_widgets_redraw_on_release_and_have_a_static_rendering(number):
    nb = jupytext.read(SOURCES[number])
    for index, cell in enumerate(nb.cells):
        if "widget" not in cell.metadata.get("tags", []):
            continue
        calls = _widget_calls(cell.source)
        assert calls, f"notebook {number}, cell {index}: a widget cell without an interact(...) call"
        for call in calls:
            function = ast.unparse(call.args[0])
            for keyword in call.keywords:
                value = keyword.value
                assert isinstance(value, ast.Call), \
                    f"notebook {number}, cell {index}: {keyword.arg}= is an abbreviation; use a widget with " \
                    "continuous_update=False so the figure redraws on release"
                name = ast.unparse(value.func)
                if name.endswith(("Slider", "Text")):
                    flags = {k.arg: ast.unparse(k.value) for k in value.keywords}
                    assert flags.get("continuous_update") == "False", \
                        f"notebook {number}, cell {index}: {keyword.arg}={name}(...) redraws on every move"
            static = [c for c in nb.cells[:index] if c.cell_type == "code" and "widget" not in c.metadata.get(
                "tags", []) and any(isinstance(n, ast.Call) and ast.unparse(n.func) == function
                                    for n in ast.walk(ast.parse(c.source)))]
            assert static, f"notebook {number}, cell {index}: {function} is never drawn by a plain cell above, so " \
                           "a headless run and the site show nothing"
