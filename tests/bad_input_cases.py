"""One bad or edge input tried on a public surface, and how the bad-input test modules run and count them.

Each ``Case`` either expects an error (its type, and a fragment of the message that names the argument or file) or
a right result (a predicate on the return value). ``params`` turns a list of cases into pytest parameters whose ids
start with ``error-`` or ``right-``, so ``tests/bad_input_table.py`` can count, per surface, the cases tried, the
clear errors and the right results from a real run; a failing case is a silent or wrong answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest


@dataclass
class Case:
    label: str
    call: Callable  # call(ctx) -> result; ctx is whatever the module's fixture provides (tmp paths, a tokenizer)
    error: type[BaseException] | None = None  # expected exception type, for an error case
    names: tuple[str, ...] = ()  # fragments the error message must contain: the argument or file it names
    check: Callable | None = None  # check(result, ctx) -> bool, for a right-result case

    @property
    def kind(self) -> str:
        return "error" if self.error else "right"


def error(label, call, kind, *names) -> Case:
    return Case(label, call, error=kind, names=names)


def right(label, call, check) -> Case:
    return Case(label, call, check=check)


def params(cases: list[Case]) -> list:
    labels = [c.label for c in cases]
    assert len(set(labels)) == len(labels), "case labels must be unique"
    return [pytest.param(c, id=f"{c.kind}-{c.label}") for c in cases]


def run(case: Case, ctx) -> None:
    if case.error is not None:
        with pytest.raises(case.error) as info:
            case.call(ctx)
        message = str(info.value)
        for fragment in case.names:
            assert str(fragment) in message, f"{case.label}: message {message!r} does not name {fragment!r}"
    else:
        result = case.call(ctx)
        assert case.check(result, ctx), f"{case.label}: wrong result {result!r}"[:500]
