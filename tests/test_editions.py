"""notebooks/editions.py: one source, two editions (student stubs, instructor answers), exercise labels in order."""

import jupytext
import pytest

import editions
import runner

SOURCE = '''# %% [markdown]
# # 07 · t
# Budget: 5 s
# ### Your turn — Exercise 7.1: double it

# %%
def my_double(x):
    y = 0
    ### BEGIN SOLUTION
    ### HINT: add x to itself
    y = x + x  # the answer
    ### END SOLUTION
    return y

# %% [markdown]
# ### Exercise 7.2: square it

# %% tags=["solution"]
def my_square(x):
    """x times x."""
    ### HINT: one multiplication
    return x * x  # the second answer

# %% tags=["instructor-only"]
print("answer key: 4 and 9")

# %% [markdown]
# *Predict first:* what is my_square(3)?

# %%
print(my_square(3))

# %% [markdown] tags=["prediction"]
# Nine: three times three.

# %%
for fn in (my_double, my_square):
    try:
        print(fn(2))
    except NotImplementedError as err:
        print("not yet implemented:", err)
'''


def _edition(tmp_path, edition, text=SOURCE, name="07_t.py"):
    source = tmp_path / name
    source.write_text(text)
    return jupytext.read(editions.write_edition(source, edition, tmp_path / edition))


def _code(nb):
    return "\n".join(c.source for c in nb.cells if c.cell_type == "code")


def test_student_edition_stubs_regions_and_solution_cells_and_drops_instructor_cells(tmp_path):
    code = _code(_edition(tmp_path, "student"))
    assert "    raise NotImplementedError('Exercise 7.1: add x to itself')\n    return y" in code
    stub = "    raise NotImplementedError('Exercise 7.2: one multiplication')"
    assert 'def my_square(x):\n    """x times x."""\n' + stub in code
    for hidden in ["the answer", "the second answer", "answer key", "BEGIN SOLUTION", "HINT", "END SOLUTION"]:
        assert hidden not in code


CLASS_SOURCE = '''# %% [markdown]
# ### Exercise 9.1: an autograd Function

# %% tags=["solution"]
class MyCopy(torch.autograd.Function):
    """f: identity forward, summed backward."""

    @staticmethod
    def forward(ctx, x, group):
        ### HINT: the forward does not communicate
        ctx.group = group
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return all_reduce_sum(grad, ctx.group), None  # the answer


class MyReduce(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, group):
        return all_reduce_sum(x, group)  # the second answer

    @staticmethod
    def backward(ctx, grad):
        return grad, None
'''


def test_a_solution_class_keeps_its_header_and_method_signatures(tmp_path):
    nb = _edition(tmp_path, "student", CLASS_SOURCE, name="09_t.py")
    code = _code(nb)
    stub = "        raise NotImplementedError('Exercise 9.1: the forward does not communicate')"
    assert ('class MyCopy(torch.autograd.Function):\n    """f: identity forward, summed backward."""\n\n'
            "    @staticmethod\n    def forward(ctx, x, group):\n" + stub) in code
    assert "    @staticmethod\n    def backward(ctx, grad):\n" + stub in code
    assert code.count("@staticmethod") == 4 and code.count(stub) == 4, "each decorator once, each method stubbed"
    assert "class MyReduce(torch.autograd.Function):\n\n    @staticmethod" in code
    for hidden in ["the answer", "ctx.group = group", "all_reduce_sum", "HINT"]:
        assert hidden not in code
    compile(code, "student", "exec")
    assert "# the answer" in _code(_edition(tmp_path, "instructor", CLASS_SOURCE, name="09_t.py"))


def test_instructor_edition_is_the_source_without_marker_lines(tmp_path):
    nb = _edition(tmp_path, "instructor")
    code = _code(nb)
    assert "y = x + x  # the answer" in code and "return x * x" in code and "answer key" in code
    assert "###" not in code
    source_code = _code(jupytext.reads(SOURCE, fmt="py:percent"))
    assert code.split("\n") == [ln for ln in source_code.split("\n") if not ln.strip().startswith("###")]


def test_prediction_answers_fold_in_the_student_edition_and_are_headed_in_the_instructor_edition(tmp_path):
    student = [c.source for c in _edition(tmp_path, "student").cells if c.cell_type == "markdown"]
    folded = [c for c in student if "Nine: three times three." in c]
    assert len(folded) == 1 and folded[0].startswith("<details>") and folded[0].endswith("</details>")
    assert "Check your prediction" in folded[0]
    instructor = [c.source for c in _edition(tmp_path, "instructor").cells if c.cell_type == "markdown"]
    assert f"{editions.INSTRUCTOR_ANSWER}\n\nNine: three times three." in instructor


def test_prediction_pairs_match_prompts_to_later_answers():
    nb = jupytext.reads(SOURCE, fmt="py:percent")
    kinds = [(c.cell_type, c.metadata.get("tags", [])) for c in nb.cells]
    prompt = next(i for i, c in enumerate(nb.cells) if "*Predict first:*" in c.source)
    answer = next(i for i, (_, tags) in enumerate(kinds) if "prediction" in tags)
    assert editions.prediction_pairs(nb) == [(prompt, answer)]
    unanswered = jupytext.reads(SOURCE.replace('# %% [markdown] tags=["prediction"]', "# %% [markdown]"),
                                fmt="py:percent")
    assert editions.prediction_pairs(unanswered) == [(prompt, None)]
    with pytest.raises(ValueError, match="cell 0: a cell tagged 'prediction' must be markdown"):
        editions.make_edition(jupytext.reads('# %% tags=["prediction"]\nx = 1\n', fmt="py:percent"), "student", 7)


def test_exercise_count_from_the_text_agrees_with_the_parsed_notebook():
    parsed = jupytext.reads(SOURCE, fmt="py:percent")
    assert editions.exercise_count_in_source(SOURCE) == editions.exercise_count(parsed)
    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        assert editions.exercise_count_in_source(text) == editions.exercise_count(jupytext.read(source)), source.name


def test_labels_and_counts():
    nb = jupytext.reads(SOURCE, fmt="py:percent")
    assert editions.exercise_count(nb) == 2
    assert editions.markdown_labels(nb) == ["Exercise 7.1", "Exercise 7.2"]
    assert editions.notebook_number("notebooks/11_x.py") == 11


@pytest.mark.parametrize("text, message", [
    ("# %%\n### BEGIN SOLUTION\nx = 1\n", "without an ### END"),
    ("# %%\nx = 1\n### END SOLUTION\n", "without a ### BEGIN"),
    ("# %%\n### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside another region"),
    ("# %%\n### HINT: x\n", "outside a solution region"),
    ('# %% tags=["solution"]\nx = 1\n', "must define a function"),
    ('# %% tags=["solution"]\nclass Empty:\n    x = 1\n', "class Empty in a 'solution' cell has no method"),
])
def test_malformed_markers_are_errors_naming_the_cell(tmp_path, text, message):
    with pytest.raises(ValueError, match=f"notebook 07, cell 0.*{message}"):
        _edition(tmp_path, "student", text)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="edition: expected one of"):
        editions.make_edition(jupytext.reads(SOURCE, fmt="py:percent"), "teacher", 7)
    with pytest.raises(ValueError, match="path: expected a numbered notebook"):
        editions.notebook_number("tour.py")
    with pytest.raises(FileNotFoundError, match="source: no notebook source"):
        editions.write_edition(tmp_path / "07_missing.py", "student", tmp_path)


@pytest.mark.parametrize("source", sorted(runner.NOTEBOOK_DIR.glob("[0-9][0-9]_*.py")), ids=lambda p: p.stem)
def test_every_notebook_labels_its_exercises_in_order(source):
    nb = jupytext.read(source)
    number, count = editions.notebook_number(source), editions.exercise_count(nb)
    assert editions.markdown_labels(nb) == [f"Exercise {number}.{k}" for k in range(1, count + 1)], \
        f"{source.name}: the markdown's 'Exercise {number}.k' labels must name the {count} solution regions in order"


def _solution_lines(nb):
    """Distinctive lines of the answers: inside solution regions or ``solution`` cells, absent from the rest."""
    inside, outside = set(), set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        in_region = "solution" in cell.metadata.get("tags", [])
        for line in cell.source.split("\n"):
            marker = line.strip()
            if marker in (editions.BEGIN, editions.END):
                in_region = marker == editions.BEGIN or "solution" in cell.metadata.get("tags", [])
                continue
            (inside if in_region else outside).add(marker)
    return {ln for ln in inside - outside if len(ln) > 20 and not ln.startswith(("#", "def ", '"""'))}


def _printed(nb):
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                   if o.get("output_type") == "stream")


SOURCES = sorted(runner.NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_instructor_edition_runs_the_sources_code(source, tmp_path):
    """So the executed source notebook (tests/test_notebooks.py) stands for the executed instructor edition."""
    nb = jupytext.read(source)
    instructor = jupytext.read(editions.write_edition(source, "instructor", tmp_path))
    assert _code(instructor).split("\n") == [ln for ln in _code(nb).split("\n")
                                             if ln.strip() not in (editions.BEGIN, editions.END)
                                             and not ln.strip().startswith(editions.HINT)]


def _student_run_candidates():
    """Notebooks with exercises and a FAST budget of at most 60 s: their student editions are executed here."""
    picked = []
    for source in SOURCES:
        nb = jupytext.read(source)
        if editions.exercise_count(nb) and (runner.stated_budget(nb) or 1e9) <= 60:
            picked.append(source)
    return picked


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("source", _student_run_candidates(), ids=lambda p: p.stem)
def test_student_edition_has_no_answers_and_runs_to_the_end(source, tmp_path):
    nb = jupytext.read(source)
    number, count = editions.notebook_number(source), editions.exercise_count(nb)
    path = editions.write_edition(source, "student", tmp_path / "unexecuted")
    student_code = _code(jupytext.read(path))
    leaked = [ln for ln in _solution_lines(nb) if ln in student_code]
    assert not leaked, f"{source.name}: the student edition shows answer lines {leaked}"
    runner.execute(path, out_dir=tmp_path, fast=True)
    printed = _printed(jupytext.read(tmp_path / path.name))
    for k in range(1, count + 1):
        assert printed.count(f"Exercise {number}.{k}: not yet implemented") == 1, \
            f"{source.name}: Exercise {number}.{k} should report 'not yet implemented' exactly once"
    assert "PASS" not in printed.replace("not passed", "")
