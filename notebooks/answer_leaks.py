"""Does the student edition show an exercise's answer anywhere a student can see it?

How it works
------------
For each exercise of a source notebook (a ``### BEGIN/END SOLUTION`` region or a cell tagged ``solution``, in the
order ``editions.py`` numbers them) the answer's **distinctive expressions** are collected: every expression node
of the solution's code (``ast.walk``) that takes at least ``MIN_STEPS`` computing steps (calls, operators,
subscripts, comprehensions) and at least ``MIN_CHARS`` characters, compared in a **canonical** form where every
variable name is ``_`` and ``1.0`` is ``1``: ``torch.arange(n)`` is too generic to count, while
``x * alpha + x.detach() * (1 - alpha)`` is the answer under any names. A call of a named function on plain
arguments (``model(batch["input_ids"], position_ids=batch["position_ids"])``) is the kit's API, shown in every
notebook, and does not count. The student edition's **visible** text is
then searched for them: every expression of its code cells (the same ``ast.walk``), the hint strings of its stubs,
and its markdown with the ``<details>`` blocks removed (those are folded by design: "check your prediction").
Markdown is searched through its inline code spans that parse as Python. What this cannot see: the same computation
written another way (a loop for a comprehension), and numbers printed by executed cells; those stay a reviewer's job.
"""

from __future__ import annotations

import ast
import re
import textwrap

import editions

MIN_CHARS, MIN_STEPS = 12, 2
DETAILS = re.compile(r"<details>.*?</details>", re.S)
COMPUTING = (ast.Call, ast.BinOp, ast.Compare, ast.BoolOp, ast.Subscript, ast.ListComp, ast.GeneratorExp,
             ast.DictComp, ast.SetComp, ast.IfExp, ast.UnaryOp, ast.Lambda)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


class _Canonical(ast.NodeTransformer):
    """Every variable name becomes ``_`` and ``1.0`` becomes ``1``: renaming a variable does not hide a copy."""

    def visit_Name(self, node):
        return ast.copy_location(ast.Name(id="_", ctx=node.ctx), node)

    def visit_arg(self, node):
        node.arg = "_"
        return node

    def visit_Constant(self, node):
        if isinstance(node.value, float) and node.value.is_integer():
            return ast.copy_location(ast.Constant(int(node.value)), node)
        return node


def canonical(node: ast.AST) -> str:
    """The expression's text with variable names and integral floats normalized, spaces removed."""
    import copy

    return _squash(ast.unparse(_Canonical().visit(copy.deepcopy(node))))


def _parse_fragment(code: str) -> ast.AST:
    """Parse a solution region, which may hold a bare ``return`` (it sits inside a function in the notebook)."""
    code = textwrap.dedent(code)
    try:
        return ast.parse(code)
    except SyntaxError:
        return ast.parse("def _fragment():\n" + textwrap.indent(code or "pass", "    "))


def _computing(tree: ast.AST):
    """``(node, canonical text)`` for each computing expression of ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, COMPUTING):
            yield node, canonical(node)


def expressions(code: str) -> set[str]:
    """The distinctive expressions of an answer (canonical): at least ``MIN_STEPS`` computing steps (calls,
    operators, subscripts...) and ``MIN_CHARS`` characters once names are normalized."""
    return {text for node, text in _computing(_parse_fragment(code))
            if len(text) >= MIN_CHARS and sum(map(_is_step, ast.walk(node))) >= MIN_STEPS and not _is_plumbing(node)}


def _is_plain(node: ast.AST) -> bool:
    """A name, a constant, ``a.b`` or ``a["key"]``: something passed along, not computed."""
    if isinstance(node, (ast.Name, ast.Constant)):
        return True
    if isinstance(node, ast.Attribute):
        return _is_plain(node.value)
    if isinstance(node, ast.Subscript):
        return _is_plain(node.value) and isinstance(node.slice, ast.Constant)
    return isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant)


def _is_plumbing(node: ast.AST) -> bool:
    """A call of a named function or method on plain arguments, ``model(batch["input_ids"], mask=batch["mask"])``:
    the kit's API being used, the same in every notebook, not an answer's computation."""
    return (isinstance(node, ast.Call) and _is_plain(node.func)
            and all(_is_plain(a) for a in node.args) and all(_is_plain(k.value) for k in node.keywords))


def _is_step(node: ast.AST) -> bool:
    """A computing step; a negative literal such as ``-1`` is a number, not a step."""
    return isinstance(node, COMPUTING) and not (isinstance(node, ast.UnaryOp) and isinstance(node.operand,
                                                                                              ast.Constant))


def _markdown_code(text: str) -> set[str]:
    """Canonical expressions of the markdown's inline code spans that parse as Python."""
    found = set()
    for span in re.findall(r"`([^`\n]+)`", text):
        try:
            tree = ast.parse(span.strip())
        except SyntaxError:
            continue
        found |= {t for _, t in _computing(tree)}
    return found


def solutions(nb) -> list[str]:
    """The answer code of each exercise of a *source* notebook, in the order ``editions.make_edition`` numbers them."""
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if "solution" in cell.metadata.get("tags", []):
            out.append(cell.source)
            continue
        region = None
        for line in cell.source.split("\n"):
            marker = line.strip()
            if marker == editions.BEGIN:
                region = []
            elif marker == editions.END:
                out.append("\n".join(region))
                region = None
            elif region is not None and not marker.startswith(editions.HINT):
                region.append(line)
    return out


def visible_text(student_nb) -> tuple[set[str], str]:
    """What a student sees: the canonical expressions of the code cells and of the markdown's code spans (outside
    the folded ``<details>`` blocks), and the prose itself with the stubs' hint strings, spaces removed."""
    shown, prose = set(), []
    for cell in student_nb.cells:
        if cell.cell_type == "markdown":
            text = DETAILS.sub("", cell.source)
            prose.append(text)
            shown |= _markdown_code(text)
        elif cell.cell_type == "code":
            tree = ast.parse(cell.source)
            shown |= {t for _, t in _computing(tree)}
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    prose.append(node.value)  # hints live in the stubs' NotImplementedError messages
                    shown |= _markdown_code(node.value)
    return shown, _squash("\n".join(prose))


def leaks(source_nb, student_nb, number: int) -> dict[str, list[str]]:
    """``{exercise label: [answer expressions the student can see]}``; empty when the student edition hides them all."""
    visible_code, _ = visible_text(student_nb)
    found = {}
    for k, code in enumerate(solutions(source_nb), 1):
        shown = sorted(e for e in expressions(code) if e in visible_code)
        if shown:
            found[f"Exercise {number}.{k}"] = shown
    return found
