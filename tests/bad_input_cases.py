"""One bad or edge input tried on a public surface, and how the bad-input test modules run and count them.

Each ``Case`` either expects an error (its type, and a fragment of the message that names the argument or file) or
a right result (a predicate on the return value). ``params`` turns a list of cases into pytest parameters whose ids
start with ``error-`` or ``right-``, so ``tests/bad_input_table.py`` can count, per surface, the cases tried, the
clear errors and the right results from a real run; a failing case is a silent or wrong answer.

A case may also declare the user's files it must leave alone: ``keeps(ctx)`` writes them (or finds them) and
returns their paths (a folder stands for every file under it). ``run`` records each file's bytes before the call and
compares them after it, whatever the call did; a file that changed or vanished fails the case with ``DATA LOSS``,
which the table counts in its own column.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

DATA_LOSS = "DATA LOSS"  # the table counts a failure whose message holds this as a data loss


@dataclass
class Case:
    label: str
    call: Callable  # call(ctx) -> result; ctx is whatever the module's fixture provides (tmp paths, a tokenizer)
    error: type[BaseException] | None = None  # expected exception type, for an error case
    names: tuple[str, ...] = ()  # fragments the error message must contain: the argument or file it names
    check: Callable | None = None  # check(result, ctx) -> bool, for a right-result case
    keeps: Callable | None = None  # keeps(ctx) -> paths of the user's files the call must leave byte for byte

    @property
    def kind(self) -> str:
        return "error" if self.error else "right"


def error(label, call, kind, *names, keeps=None) -> Case:
    return Case(label, call, error=kind, names=names, keeps=keeps)


def right(label, call, check, keeps=None) -> Case:
    return Case(label, call, check=check, keeps=keeps)


def params(cases: list[Case]) -> list:
    labels = [c.label for c in cases]
    assert len(set(labels)) == len(labels), "case labels must be unique"
    return [pytest.param(c, id=f"{c.kind}-{c.label}") for c in cases]


@contextlib.contextmanager
def umask(mask: int):
    """The process's umask set to ``mask`` inside the block (new files and folders: 0o666/0o777 without it)."""
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(Path(path).stat().st_mode)


def file_bytes(paths) -> dict[Path, bytes]:
    """Every file under ``paths`` (a file, or a folder's files recursively) with its bytes."""
    found = {}
    for path in map(Path, paths):
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        assert files, f"keeps: {path} holds no file to protect (the case must write the user's files first)"
        found.update({p: p.read_bytes() for p in files})
    return found


def lost_files(before: dict[Path, bytes]) -> list[str]:
    """What happened to each file of ``before`` that no longer has its bytes."""
    return [f"{p} {'was deleted' if not p.is_file() else 'was changed'}" for p, data in before.items()
            if not p.is_file() or p.read_bytes() != data]


def run(case: Case, ctx) -> None:
    before = file_bytes(case.keeps(ctx)) if case.keeps else {}
    try:
        _outcome(case, ctx)
    finally:
        lost = lost_files(before)
        if lost:
            raise AssertionError(f"{DATA_LOSS} in {case.label}: {'; '.join(lost)}")


def _outcome(case: Case, ctx) -> None:
    if case.error is not None:
        with pytest.raises(case.error) as info:
            case.call(ctx)
        message = str(info.value)
        for fragment in case.names:
            assert str(fragment) in message, f"{case.label}: message {message!r} does not name {fragment!r}"
    else:
        result = case.call(ctx)
        assert case.check(result, ctx), f"{case.label}: wrong result {result!r}"[:500]
