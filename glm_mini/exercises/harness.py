"""The check harness behind every "Your turn" exercise: run the student's function beside the package's, compare.

How it works
------------
An exercise check (one ``check_<name>(student_fn)`` per exercise, in ``glm_mini/exercises/nbNN_<topic>.py``, or in
``scale_up/exercises/`` for notebooks 08-11) builds a few seeded inputs, ``Case``s: several shapes and one edge case.
``run_check`` calls the student's function and the package's reference on each, then walks both results together
(tensors, numbers, strings, lists, tuples, dicts and dataclasses, recursively) and stops at the first difference larger
than the stated tolerance,

    |got − expected| ≤ atol + rtol·|expected|     (element-wise, as ``torch.isclose``)

It prints one line and returns a bool:

    Exercise 2.1: PASS (4 cases)
    Exercise 2.1: FAIL on case 'two spans': input_ids[3]: got 17, expected 5
    Exercise 2.1: not yet implemented (NotImplementedError: Exercise 2.1: one [MASK] replaces each span)

so a student edition, whose exercise bodies raise ``NotImplementedError``, still runs to the end: later cells call
``use(student_fn, passed, reference_fn)`` and carry on with the package's function. A check whose answer is one
number (a parameter count, a byte count) says little with "got X, expected Y"; it passes ``breakdown``, a function
of the case's arguments returning the reference's terms (``{"word embedding": 1_849_688_064, ...}``), and a failure
prints them under the mismatch, so the student sees which term they left out. An answer that is not a sum (a ratio, a
pair of constants) returns its computation's intermediate numbers instead, as a list of ``(name, value)`` pairs
(``[("slots in one step", 183), ("slots a stage is busy", 176), ...]``), printed in order with no total. Each notebook
keeps its results in one ``passed`` dict (``passed["2.1"] = check_part_a(my_part_a)``) and its summary prints
``exercise_record(passed)``. This is the CS336 pattern (the check calls the student's function; nothing imports
student code) without a grading server. Checks are deterministic and device-agnostic: inputs come from seeded
generators on the CPU, and results are moved to the CPU to compare.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch


@dataclass(frozen=True)
class Case:
    """One input to an exercise: a short label for the report, and the arguments."""

    label: str
    args: tuple = ()
    kwargs: dict | None = field(default=None)


def _index(idx: tuple[int, ...]) -> str:
    return "[" + ", ".join(map(str, idx)) + "]" if idx else ""


def first_mismatch(got: Any, expected: Any, rtol: float = 0.0, atol: float = 0.0, where: str = "result") -> str | None:
    """The first place where ``got`` differs from ``expected`` (beyond the tolerance), as text; None when they agree."""
    if dataclasses.is_dataclass(expected) and not isinstance(expected, type):
        if not (dataclasses.is_dataclass(got) and type(got) is type(expected)):
            return f"{where}: got a {type(got).__name__}, expected a {type(expected).__name__}"
        for f in dataclasses.fields(expected):
            found = first_mismatch(getattr(got, f.name), getattr(expected, f.name), rtol, atol, f"{where}.{f.name}")
            if found:
                return found
        return None
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"{where}: got a {type(got).__name__}, expected a tensor"
        if got.shape != expected.shape:
            return f"{where}: shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
        if got.dtype != expected.dtype and (got.dtype == torch.bool) != (expected.dtype == torch.bool):
            return f"{where}: dtype {got.dtype}, expected {expected.dtype}"
        g, e = got.detach().cpu(), expected.detach().cpu()
        if e.is_floating_point() or g.is_floating_point():
            g, e = g.double(), e.double()
            bad = ~torch.isclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
        else:
            bad = g != e
        if bad.any():
            idx = tuple(int(i) for i in bad.nonzero()[0])
            return f"{where}{_index(idx)}: got {g[idx].item()}, expected {e[idx].item()}"
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"{where}: got a {type(got).__name__}, expected a dict"
        if set(got) != set(expected):
            return f"{where}: keys {sorted(map(str, got))}, expected {sorted(map(str, expected))}"
        for key in expected:
            found = first_mismatch(got[key], expected[key], rtol, atol, f"{where}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return f"{where}: got a {type(got).__name__}, expected a {type(expected).__name__}"
        if len(got) != len(expected):
            return f"{where}: length {len(got)}, expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            found = first_mismatch(g, e, rtol, atol, f"{where}[{i}]")
            if found:
                return found
        return None
    if isinstance(expected, bool) or isinstance(got, bool):
        return None if got == expected else f"{where}: got {got!r}, expected {expected!r}"
    if isinstance(expected, (int, float)):
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)):
            return f"{where}: got a {type(got).__name__}, expected a number"
        if isinstance(expected, int) and isinstance(got, int):
            return None if got == expected else f"{where}: got {got}, expected {expected}"
        ok = math.isclose(got, expected, rel_tol=rtol, abs_tol=atol) or (math.isnan(got) and math.isnan(expected))
        return None if ok else f"{where}: got {got!r}, expected {expected!r}"
    return None if got == expected else f"{where}: got {got!r}, expected {expected!r}"


def run_check(exercise: str, student_fn: Callable, reference_fn: Callable, cases: Iterable[Case], *,
              rtol: float = 0.0, atol: float = 0.0,
              breakdown: Callable[..., dict[str, float] | list[tuple[str, float]]] | None = None) -> bool:
    """Compare ``student_fn`` with ``reference_fn`` on every case; print one line; True when all cases agree.

    ``exercise`` is the label printed ("Exercise 2.1"). Each case's arguments are passed to both functions as given;
    a function that mutates its inputs would spoil the comparison, so tensors are cloned for each call.
    ``breakdown(*args, **kwargs)``, when given, returns the reference's terms (a dict that sums to the answer) or
    its steps (a list of ``(name, value)``) for a case; they are printed under a mismatch (see the module docstring).
    """
    if not callable(student_fn):
        raise TypeError(f"{exercise}: student_fn must be a function, got {type(student_fn).__name__}")
    cases = list(cases)
    if not cases:
        raise ValueError(f"{exercise}: a check needs at least one case")
    for case in cases:
        kwargs = case.kwargs or {}
        expected = reference_fn(*_fresh(case.args), **_fresh(kwargs))
        try:
            got = student_fn(*_fresh(case.args), **_fresh(kwargs))
        except NotImplementedError as err:
            print(f"{exercise}: not yet implemented (NotImplementedError: {err})")
            return False
        except Exception as err:  # the student's code broke: say where, keep the notebook running
            print(f"{exercise}: FAIL on case {case.label!r}: raised {type(err).__name__}: {err}")
            return False
        found = first_mismatch(got, expected, rtol, atol)
        if found:
            print(f"{exercise}: FAIL on case {case.label!r}: {found}")
            if breakdown is not None:
                print(format_breakdown(breakdown(*_fresh(case.args), **_fresh(kwargs))))
            return False
    print(f"{exercise}: PASS ({len(cases)} case{'s' if len(cases) != 1 else ''})")
    return True


def _number(value) -> str:
    return f"{value:>20,}" if isinstance(value, int) else f"{value:>20.6g}"


def format_breakdown(terms: dict[str, float] | list[tuple[str, float]]) -> str:
    """What a scalar answer is made of: a dict's terms one per line and their sum, or a list of ``(name, value)``
    steps of a computation that is not a sum, one per line and no total."""
    steps = list(terms.items()) if isinstance(terms, dict) else list(terms)
    width = max(len(name) for name, _ in steps) if steps else 0
    lines = [f"    {name:<{width}}  {_number(value)}" for name, value in steps]
    if not isinstance(terms, dict):
        return "  the expected value, step by step:\n" + "\n".join(lines)
    lines.append(f"    {'= expected':<{width}}  {_number(sum(terms.values()))}")
    return "  the expected value, term by term:\n" + "\n".join(lines)


def exercise_record(passed: dict[str, bool]) -> str:
    """The notebook's exercise record for its summary: ``exercises: 2.1 PASS, 2.2 not passed (1 of 2 passed)``."""
    if not passed:
        return "exercises: none in this notebook"
    items = ", ".join(f"{k} {'PASS' if ok else 'not passed'}" for k, ok in passed.items())
    return f"exercises: {items} ({sum(map(bool, passed.values()))} of {len(passed)} passed)"


def _fresh(value):
    """A copy of the case's inputs that a function may modify without touching the next call's."""
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a namedtuple takes its fields positionally
        return type(value)(*(_fresh(v) for v in value))
    if isinstance(value, (list, tuple)):
        return type(value)(_fresh(v) for v in value)
    return value


def use(student_fn: Callable, passed: bool, reference_fn: Callable) -> Callable:
    """The function later cells should call: the student's when its check passed, the package's otherwise."""
    return student_fn if passed else reference_fn
