"""Student and instructor editions of a notebook, from its one py:percent source.

How it works
------------
An exercise's answer sits in the source between two marker lines, optionally with a hint::

    def my_rope(x, cos, sin):
        ### BEGIN SOLUTION
        ### HINT: pair channel i with channel i + d/2
        ...the answer...
        ### END SOLUTION

Exercises are numbered ``Exercise N.k``: N is the notebook's number (``03_...`` gives 3) and k counts the regions
(and ``solution`` cells) in order of appearance. The **student** edition replaces each region, markers included, by
``raise NotImplementedError("Exercise N.k: <hint>")`` at the BEGIN marker's indentation; a code cell tagged
``solution`` keeps only its top-level ``def`` lines (signature and docstring) with that ``raise`` as each body, and of a
top-level ``class`` its header, its docstring and each method's decorators and signature, the same ``raise`` as each
method's body (a ``torch.autograd.Function`` whose ``forward`` and ``backward`` the student writes); a cell tagged
``instructor-only`` is removed. The **instructor** edition keeps every cell and drops only the marker and hint
lines, so it runs exactly the source's code. Both are written as ``.ipynb`` (outputs empty) with jupytext; the runner
executes them (``runner.py --edition student``). nbgrader and otter-grader do the same with more machinery (cell
metadata our jupytext filter strips, pinned jupyterlab versions, two dozen packages); this is the kit's own ~100 lines.

Predictions. A markdown prompt ``*Predict:* ...`` (or ``*Predict first:* ...``) asks the student to commit to an
answer before an experiment; the answer sits in a markdown cell tagged ``prediction`` placed *after* the experiment.
The instructor edition shows it under the heading "Answer to the prediction"; the student edition folds it into a
collapsed ``<details>`` block, "Check your prediction", which JupyterLab and the site both render closed.
``prediction_pairs`` pairs prompts with answers so a test can ask that none is left unanswered.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

BEGIN, END, HINT = "### BEGIN SOLUTION", "### END SOLUTION", "### HINT:"
EDITIONS = ("student", "instructor")
LABEL = re.compile(r"Exercise (\d+)\.(\d+)")
PROMPT = re.compile(r"\*Predict(?: first)?:\*")
INSTRUCTOR_ANSWER = "**Answer to the prediction** *(instructor edition)*"
STUDENT_SUMMARY = "<summary><b>Check your prediction</b> (open it after running the experiment)</summary>"


def notebook_number(path: Path) -> int:
    """``03_glm_transformer.py`` -> 3."""
    match = re.match(r"(\d\d)_", Path(path).name)
    if not match:
        raise ValueError(f"path: expected a numbered notebook source named NN_name.py, got {Path(path).name!r}")
    return int(match.group(1))


def _stub(label: str, hint: str, indent: str) -> str:
    message = f"{label}: {hint}" if hint else label
    return f"{indent}raise NotImplementedError({message!r})"


def rewrite_regions(source: str, edition: str, number: int, start: int, where: str = "cell") -> tuple[str, int]:
    """One code cell's source with its solution regions rewritten; returns (text, exercises counted so far)."""
    out, k, region = [], start, None
    for i, line in enumerate(source.split("\n"), 1):
        marker = line.strip()
        if marker == BEGIN:
            if region is not None:
                raise ValueError(f"{where}: line {i}: {BEGIN} inside another region (missing {END})")
            k += 1
            region = {"indent": line[: len(line) - len(line.lstrip())], "hint": ""}
        elif marker == END:
            if region is None:
                raise ValueError(f"{where}: line {i}: {END} without a {BEGIN}")
            if edition == "student":
                out.append(_stub(f"Exercise {number}.{k}", region["hint"], region["indent"]))
            region = None
        elif marker.startswith(HINT):
            if region is None:
                raise ValueError(f"{where}: line {i}: {HINT} outside a solution region")
            region["hint"] = marker[len(HINT):].strip()
        elif region is None or edition == "instructor":
            out.append(line)
    if region is not None:
        raise ValueError(f"{where}: {BEGIN} without an {END}")
    return "\n".join(out), k


def _has_docstring(node: ast.FunctionDef | ast.ClassDef) -> bool:
    first = node.body[0]
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)


def _first_line(node: ast.stmt) -> int:
    """The line a statement starts on, its decorators included."""
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def _header(node: ast.FunctionDef | ast.ClassDef, lines: list[str]) -> list[str]:
    """A definition's decorators, ``def``/``class`` line(s) and docstring: everything but its body's code."""
    keep_to = node.body[0].end_lineno if _has_docstring(node) else _first_line(node.body[0]) - 1
    return [ln for ln in lines[_first_line(node) - 1: keep_to] if not ln.strip().startswith(HINT)]


def _stub_function(fn: ast.FunctionDef, lines: list[str], label: str, hint: str) -> str:
    return "\n".join(_header(fn, lines) + [_stub(label, hint, " " * fn.body[0].col_offset)])


def stub_solution_cell(source: str, label: str, where: str = "cell") -> str:
    """A ``solution`` cell reduced to its top-level function signatures (and docstrings), each body a ``raise``;
    a top-level class keeps its header and docstring, and each of its methods becomes such a stub."""
    hint = next((ln.strip()[len(HINT):].strip() for ln in source.split("\n") if ln.strip().startswith(HINT)), "")
    lines = source.split("\n")
    definitions = [node for node in ast.parse(source).body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    if not definitions:
        raise ValueError(f"{where}: a cell tagged 'solution' must define a function (or a class) for the student "
                         "to write")
    stubs = []
    for node in definitions:
        if isinstance(node, ast.FunctionDef):
            stubs.append(_stub_function(node, lines, label, hint))
            continue
        methods = [m for m in node.body if isinstance(m, ast.FunctionDef)]
        if not methods:
            raise ValueError(f"{where}: class {node.name} in a 'solution' cell has no method for the student to write")
        stubs.append("\n\n".join(["\n".join(_header(node, lines))]
                                  + [_stub_function(m, lines, label, hint) for m in methods]))
    return "\n\n\n".join(stubs)


def make_edition(nb, edition: str, number: int):
    """The notebook ``nb`` (nbformat, from jupytext) rewritten in place as ``edition``; returns it."""
    if edition not in EDITIONS:
        raise ValueError(f"edition: expected one of {EDITIONS}, got {edition!r}")
    cells, k = [], 0
    for index, cell in enumerate(nb.cells):
        tags = cell.metadata.get("tags", [])
        where = f"notebook {number:02d}, cell {index}"
        if edition == "student" and "instructor-only" in tags:
            continue
        if "prediction" in tags:
            if cell.cell_type != "markdown":
                raise ValueError(f"{where}: a cell tagged 'prediction' must be markdown (the answer to a prompt)")
            cell.source = prediction_answer(cell.source, edition)
        elif cell.cell_type == "code" and "solution" in tags:
            k += 1
            if edition == "student":
                cell.source = stub_solution_cell(cell.source, f"Exercise {number}.{k}", where)
            else:
                cell.source = "\n".join(ln for ln in cell.source.split("\n") if not ln.strip().startswith(HINT))
        elif cell.cell_type == "code":
            cell.source, k = rewrite_regions(cell.source, edition, number, k, where)
        cells.append(cell)
    nb.cells = cells
    return nb


def prediction_answer(text: str, edition: str) -> str:
    """A ``prediction`` cell's answer as the edition shows it: headed (instructor) or folded (student)."""
    if edition == "instructor":
        return f"{INSTRUCTOR_ANSWER}\n\n{text}"
    return f"<details>{STUDENT_SUMMARY}\n\n{text}\n\n</details>"


def prediction_pairs(nb) -> list[tuple[int, int | None]]:
    """``(prompt cell, answer cell or None)`` for each markdown cell holding a ``*Predict:*`` prompt, in order.

    A prompt's answer is the first ``prediction`` cell after it that no earlier prompt has taken.
    """
    prompts = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and PROMPT.search(c.source)
               and "prediction" not in c.metadata.get("tags", [])]
    answers = [i for i, c in enumerate(nb.cells) if "prediction" in c.metadata.get("tags", [])]
    pairs, free = [], list(answers)
    for prompt in prompts:
        answer = next((a for a in free if a > prompt), None)
        if answer is not None:
            free.remove(answer)
        pairs.append((prompt, answer))
    return pairs


def exercise_count(nb) -> int:
    """How many exercises (solution regions and ``solution`` cells) a source notebook holds."""
    return sum("solution" in c.metadata.get("tags", []) or sum(ln.strip() == BEGIN for ln in c.source.split("\n"))
               for c in nb.cells if c.cell_type == "code")


def exercise_count_in_source(text: str) -> int:
    """``exercise_count`` of a py:percent source read as text (no jupytext parse: the outline counts twelve)."""
    lines = text.split("\n")
    regions = sum(line.strip() == BEGIN for line in lines)
    cells = sum(bool(re.match(r"# %%.*\btags=\[[^]]*[\"']solution[\"']", line)) for line in lines)
    return regions + cells


def markdown_labels(nb) -> list[str]:
    """The distinct ``Exercise N.k`` labels its markdown cells name, in order of first mention."""
    seen = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for n, k in LABEL.findall(cell.source):
                if f"Exercise {n}.{k}" not in seen:
                    seen.append(f"Exercise {n}.{k}")
    return seen


def write_edition(source: Path, edition: str, out_dir: Path) -> Path:
    """Write ``out_dir/<name>.ipynb``, the ``edition`` of the py:percent ``source`` (atomic write)."""
    import jupytext

    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"source: no notebook source at {source}")
    nb = make_edition(jupytext.read(source), edition, notebook_number(source))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{source.stem}.ipynb"
    tmp = out_dir / f".{target.name}.tmp"
    tmp.write_text(jupytext.writes(nb, fmt="ipynb"), encoding="utf-8")
    tmp.replace(target)
    return target
