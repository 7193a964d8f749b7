"""Progress bars with an ETA (tqdm) that stay quiet where nobody watches them.

How it works
------------
``progress_bar(iterable, enabled=...)`` is a tqdm bar on stderr: items done, rate and the estimated time left.
``enabled=None`` (what the tools' ``--progress/--no-progress`` leave when neither is given) lets tqdm decide: the
bar shows when stderr is a terminal and stays off in a log file, under CI, or in a notebook that runs a tool as a
subprocess. ``enabled=True`` always shows it (``tqdm.auto``: a widget in Jupyter), ``False`` never does.
"""

from __future__ import annotations


def progress_bar(iterable=None, *, enabled: bool | None = None, **options):
    """A tqdm bar over ``iterable`` (or of ``total=...`` steps), shown as ``enabled`` says (module docstring)."""
    if enabled is None:
        from tqdm import tqdm as bar  # the terminal bar: disable=None turns it off unless stderr is a terminal
    else:
        from tqdm.auto import tqdm as bar
    return bar(iterable, disable=None if enabled is None else not enabled, dynamic_ncols=True, **options)
