"""Helpers of the scale_up bad-input tables: a crafted pickle that would run code, and command lines as cases.

``crafted_pickle(path, marker)`` writes a ``torch.save`` file whose unpickling would create ``marker`` (its
``__reduce__`` calls ``pathlib.Path.touch``): a loader that unpickles it runs code, one that loads with
``weights_only=True`` refuses it. ``refused_safely(call, marker)`` runs a loader on such a file: it passes on the
loader's error when the marker was not created and the message does not advise ``weights_only=False``, else raises
``CodeRan``/``UnsafeAdvice``, which the tables count as unclear. ``cli(main, argv)`` runs a command's ``main`` in
process and turns a refusal (non-zero exit or ``SystemExit``) into ``CLIRefused`` carrying what it printed to stderr,
so a case can check that the message names the flag.
"""

import contextlib
import io
import pathlib

import torch


class CodeRan(AssertionError):
    """The crafted file's code ran: the loader unpickled it."""


class UnsafeAdvice(AssertionError):
    """The error told the user to load with ``weights_only=False``."""


class CLIRefused(Exception):
    """A command line that refused its input: exit status and stderr."""


class _Payload:
    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def crafted_pickle(path: pathlib.Path, marker: pathlib.Path, wrap=lambda payload: {"module": payload}) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(wrap(_Payload(marker)), path)


def refused_safely(call, marker: pathlib.Path):
    try:
        result = call()
    except BaseException as err:
        if marker.exists():
            raise CodeRan(f"the crafted file ran code ({marker} exists)") from err
        text = str(err)
        if "weights_only=False" in text or "safe_globals" in text:
            raise UnsafeAdvice(f"the message advises loading unsafely: {text[:300]}") from err
        raise
    if marker.exists():
        raise CodeRan(f"the crafted file ran code ({marker} exists)")
    return result


def cli(main, argv_of):
    """A case's call: ``main(argv_of(ctx))``; a non-zero exit raises ``CLIRefused`` with the stderr text."""
    def call(ctx):
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main([str(a) for a in argv_of(ctx)])
        except SystemExit as exit_:
            code = exit_.code
        if code not in (0, None):
            text = err.getvalue()
            if "weights_only=False" in text or "safe_globals" in text:
                raise UnsafeAdvice(f"the message advises loading unsafely: {text[-300:]}")
            raise CLIRefused(f"exit {code}: {text.strip()[-600:]}")
        return code
    return call
