"""One flag for one idea, in every tool of the kit, and the old spellings kept as hidden aliases.

How it works
------------
``VOCABULARY`` maps each idea that several tools share to the one flag they all spell it with (the list of the
kit's design, DESIGN.md §4). A tool adds its flags with argparse as usual, spelled from this table; where the
official GLM-130B tools (``tools/convert_tp.py``, ``initialize.py``) have their own name for the idea, that name is a
second option string of the same argument (``OFFICIAL_ALIASES``), so it shows in ``--help`` and works, as in the
official scripts. Spellings the kit itself used before (``OLD_SPELLINGS``: ``--microbatches``, ``--steps``,
``--num-gpus``, ``--dtype``, ...) still parse, so scripts that use them keep running, but ``hidden_alias`` keeps
them out of ``--help``: a reader sees one vocabulary. ``tests/test_cli_vocabulary.py`` reads every tool's ``--help``
and checks it against these tables.
"""

from __future__ import annotations

import argparse

VOCABULARY = {
    "tensor-parallel degree": "--tp",
    "pipeline-parallel degree": "--pp",
    "data-parallel degree": "--dp",
    "weight bits": "--bits",
    "micro-batches per step": "--micro-batches",
    "numeric precision": "--precision",
    "optimizer steps": "--max-steps",
    "where to compute": "--device",
    "random seed": "--seed",
    "where results go": "--out",
    "a file of flags": "--config",
    "the checkpoint to read": "--checkpoint",
    "progress bars": "--progress",
}

# the official GLM-130B names, accepted by the tools whose official counterpart has them
OFFICIAL_ALIASES = {
    "--input-folder": ("--checkpoint", ("scale_up.convert",)),  # tools/convert_tp.py
    "--output-folder": ("--out", ("scale_up.convert",)),  # tools/convert_tp.py
    "--target-tp": ("--tp", ("scale_up.convert",)),  # tools/convert_tp.py
    "--quantization-bit-width": ("--bits", ("scale_up.convert", "scale_up.generate")),  # convert_tp.py, initialize.py
}

# spellings the kit used before the vocabulary, and what they are now (still parsed, never shown)
OLD_SPELLINGS = {
    "--microbatches": "--micro-batches",
    "--steps": "--max-steps",
    "--num-gpus": "--tp",
    "--dtype": "--precision",
    "--nproc": "--nproc-per-node",
    "--column": "--text-column",
}

# --dtype's values, as --precision spells them
DTYPE_TO_PRECISION = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


def hidden_alias(parser: argparse.ArgumentParser, old: str, new: str, convert=None) -> None:
    """Let ``old`` set what ``new`` sets, without showing ``old`` in ``--help``.

    Without ``convert`` the old spelling is one more name of the very same argument (registered with the parser but
    not listed in the argument's option strings, which is all ``--help`` shows), so it is read, checked and counted
    as given (for a required flag) exactly as ``new``. ``convert`` turns the old spelling's value into the new one's
    (``--dtype float32`` -> ``fp32``) through a hidden argument of its own."""
    target = parser._option_string_actions.get(new)
    if target is None:
        raise ValueError(f"hidden_alias: {parser.prog} has no {new} to alias {old} to")
    if old in parser._option_string_actions:
        raise ValueError(f"hidden_alias: {parser.prog} already has {old}")
    if convert is None:
        parser._option_string_actions[old] = target
        return

    def read(text: str):
        value = convert(text)
        value = target.type(value) if target.type is not None else value
        if target.choices is not None and value not in target.choices:
            raise argparse.ArgumentTypeError(f"{text!r} is {new} {value!r}, which is not one of {list(target.choices)}")
        return value

    parser.add_argument(old, dest=target.dest, type=read, default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def refused_alias(parser: argparse.ArgumentParser, old: str, new: str, why: str) -> None:
    """``old`` is refused with a message naming ``new`` (for an old spelling whose name now means something else)."""

    class Refuse(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            parser.error(f"{old}: renamed {new} ({why})")

    parser.add_argument(old, action=Refuse, nargs="?", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def dtype_as_precision(text: str) -> str:
    """``--dtype``'s value (float32/bfloat16/float16) as ``--precision`` spells it (fp32/bf16/fp16)."""
    if text not in DTYPE_TO_PRECISION:
        raise argparse.ArgumentTypeError(f"expected one of {sorted(DTYPE_TO_PRECISION)} (now spelled --precision "
                                         f"{'|'.join(DTYPE_TO_PRECISION.values())}), got {text!r}")
    return DTYPE_TO_PRECISION[text]


def add_progress_flag(parser: argparse.ArgumentParser, what: str = "a progress bar with its ETA") -> None:
    """``--progress/--no-progress``: default on when stderr is a terminal, off otherwise (a log file, a notebook
    running the tool, CI)."""
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help=f"{what} (default: on when stderr is a terminal)")
