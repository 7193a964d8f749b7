"""A block of a hand-written document that code generates: the text between two marker lines is rewritten.

How it works
------------
``replace_block(path, start, end, body)`` keeps everything outside the ``start`` and ``end`` marker lines and puts
``body`` between them (atomically, ``glm_mini.atomic_write``); a file without exactly one of each marker is an error
naming the file and the markers. ``read_block`` returns what is there now, so a test can compare it with what the
code would write. The README's course outline (``notebooks/outline.py``) and the table of the shipped reference
models in ``docs/reference_models.md`` (``glm_mini.reference.shipped_table``) are such blocks: their numbers are
never typed in by hand.
"""

from __future__ import annotations

from pathlib import Path

from glm_mini.atomic_write import write_atomic


def _split(text: str, path: Path, start: str, end: str) -> tuple[str, str, str]:
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"{path}: expected one {start!r} line and, after it, one {end!r} line around the generated "
                         "block")
    head, rest = text.split(start)
    body, tail = rest.split(end)
    return head, body, tail


def read_block(path: str | Path, start: str, end: str) -> str:
    """The text between the markers, without the newlines that frame it."""
    path = Path(path)
    return _split(path.read_text(encoding="utf-8"), path, start, end)[1].strip("\n")


def replace_block(path: str | Path, start: str, end: str, body: str) -> bool:
    """Put ``body`` between the markers of ``path`` (atomic write); True when the file changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    head, _, tail = _split(text, path, start, end)
    new = f"{head}{start}\n{body.strip(chr(10))}\n{end}{tail}"
    if new == text:
        return False
    write_atomic(path, lambda f: f.write(new.encode("utf-8")))
    return True
