"""``--config FILE``: a tool's flags in a TOML file, with the command line on top.

How it works
------------
A config file holds a tool's flags under their long names, without the dashes (``max-steps`` or ``max_steps`` for
``--max-steps``), one TOML key each::

    preset = "mini"
    max-steps = 400
    egs-ramp = [100, 200]          # a flag that takes several values: a list
    mip = false                    # --mip / --no-mip
    set = {num_layers = 2}         # a repeatable KEY=VALUE flag: a table (--set num_layers=2)

A recipe that drives several tools (plan, convert, generate) holds one table per tool, named by its module, and
each tool reads its own table: ``[scale_up.plan]``, ``[scale_up.generate]`` (TOML reads these as nested tables).

``parse_args(parser, argv, tool)`` turns the file's table into command-line words and puts them *before* the words
typed, so that argparse checks every value of the file exactly as it checks a typed flag, and a flag typed on the
command line overrides the file's (argparse keeps the last value; a repeatable flag gets the file's values, then
the typed ones). For a tool with sub-commands (``scale_up.plan inference``) the words of the sub-command's flags go
right after the sub-command typed. Before anything runs, every key is checked: a key the tool does not know, or a
value the flag would refuse, is an error that names the key and the file (and the table); so is a file that is not
TOML or a recipe without a table for this tool. TOML is read by Python's own ``tomllib``, so ``--config`` needs no
package beyond the standard library.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

PACKAGES = ("glm_mini", "scale_up")  # the top-level tables of a recipe with one table per tool


def add_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", type=Path,
                        help="a TOML file of this tool's flags (a recipe under recipes/); flags given on the command "
                             "line override it")


def read_table(path: Path, tool: str) -> tuple[dict, str]:
    """The table of ``tool``'s flags in ``path`` and how to name it in errors; ``ValueError`` naming the problem."""
    if not path.is_file():
        raise ValueError(f"--config: {path} is not a file (expected a TOML file of flags)")
    if path.suffix.lower() != ".toml":
        raise ValueError(f"--config: {path}: expected a TOML file ending in .toml, got {path.suffix or 'no suffix'}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ValueError(f"--config: {path} is not valid TOML: {err}") from None
    if not any(isinstance(data.get(p), dict) for p in PACKAGES):
        return data, str(path)
    stray = sorted(k for k in data if k not in PACKAGES)
    if stray:
        raise ValueError(f"--config: {path}: key {stray[0]!r} lies outside every tool's table ([glm_mini.X] or "
                         "[scale_up.X]); put it in the table of the tool that takes it")
    package, _, name = tool.partition(".")
    table = data.get(package, {}).get(name)
    if not isinstance(table, dict):
        present = [f"[{p}.{n}]" for p in PACKAGES for n in data.get(p, {}) if isinstance(data[p][n], dict)]
        raise ValueError(f"--config: {path} has no [{tool}] table (it has {', '.join(present) or 'none'})")
    return table, f"{path} [{tool}]"


def _long_options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Key (long option without dashes) -> action, for every flag shown in ``--help`` but --help and --config."""
    options = {}
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or not action.option_strings or action.dest in ("help", "config"):
            continue
        for option in action.option_strings:
            if option.startswith("--") and not (isinstance(action, argparse.BooleanOptionalAction)
                                                and option.startswith("--no-")):
                options[option[2:]] = action
    return options


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _words(key: str, value, action: argparse.Action, where: str) -> list[str]:
    """The command-line words that say ``key = value``, each value checked as the flag checks it."""
    option = f"--{key}"

    def bad(expected: str):
        return ValueError(f"--config: {where}: {key} = {value!r}: expected {expected}")

    if isinstance(action, argparse.BooleanOptionalAction) or action.nargs == 0:
        if not isinstance(value, bool):
            raise bad("true or false")
        if isinstance(action, argparse.BooleanOptionalAction):
            return [option if value else f"--no-{key}"]
        return [option] if value == (action.const is True) else []
    if isinstance(value, dict):
        if not isinstance(action, argparse._AppendAction):
            raise bad("one value, not a table")
        items = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in value.items()]
        return [w for item in items for w in (option, _checked(item, action, key, where))]
    if isinstance(value, list):
        values = [_checked(_text(v), action, key, where) for v in value]
        if isinstance(action, argparse._AppendAction):
            return [w for v in values for w in (option, v)]
        if action.nargs in (None, "?"):
            raise bad("one value, not a list")
        if isinstance(action.nargs, int) and len(values) != action.nargs:
            raise bad(f"a list of {action.nargs} values")
        return [option, *values]
    if isinstance(action.nargs, int) and action.nargs > 1:
        raise bad(f"a list of {action.nargs} values")
    return [option, _checked(_text(value), action, key, where)]


def _checked(text: str, action: argparse.Action, key: str, where: str) -> str:
    """``text`` when the flag would accept it; else ``ValueError`` naming the key and the file."""
    try:
        value = action.type(text) if callable(action.type) else text
    except (argparse.ArgumentTypeError, TypeError, ValueError) as err:
        raise ValueError(f"--config: {where}: {key} = {text!r}: {err}") from None
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"--config: {where}: {key} = {text!r}: expected one of {list(action.choices)}")
    return text


def config_words(parsers: list[argparse.ArgumentParser], path: Path, tool: str) -> list[list[str]]:
    """The command-line words of ``tool``'s table in ``path``, one list per parser (a tool, then its sub-command
    when one was typed), each key given to the first parser that has its flag (module docstring)."""
    table, where = read_table(path, tool)
    options = [_long_options(p) for p in parsers]
    words: list[list[str]] = [[] for _ in parsers]
    for raw_key, value in table.items():
        key = raw_key.replace("_", "-")
        owner = next((i for i, o in enumerate(options) if key in o), None)
        if owner is None:
            known = ", ".join(sorted(set().union(*options)))
            raise ValueError(f"--config: {where}: unknown key {raw_key!r}: {parsers[-1].prog} has no --{key} (its "
                             f"flags: {known})")
        words[owner] += _words(key, value, options[owner][key], where)
    return words


def _subcommand(parser: argparse.ArgumentParser, argv: list[str]):
    """(index in argv, sub-parser) of the sub-command typed, or (None, None)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for i, word in enumerate(argv):
                if word in action.choices:
                    return i, action.choices[word]
    return None, None


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None, tool: str) -> argparse.Namespace:
    """``parser.parse_args`` with ``--config FILE``'s flags under the command line's (module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--config", type=Path, action="append", default=[])
    found, rest = pre.parse_known_args(argv)
    if not found.config:
        return parser.parse_args(argv)
    if len(found.config) > 1:
        parser.error(f"--config: given {len(found.config)} times ({', '.join(map(str, found.config))}); give one file")
    path = found.config[0]
    index, sub = _subcommand(parser, rest)
    try:
        if sub is None:
            rest = config_words([parser], path, tool)[0] + rest
        else:
            main, inner = config_words([parser, sub], path, tool)
            rest = main + rest[: index + 1] + inner + rest[index + 1:]
    except ValueError as err:
        parser.error(str(err))
    args = parser.parse_args(rest)
    args.config = path
    return args
