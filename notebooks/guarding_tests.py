"""Which test files guard a package file: the ``tests/test_*.py`` that import it, found by reading their imports.

How it works
------------
Each test file's ``import`` statements are parsed (``ast``), and every imported name is resolved to the module that
defines it: ``from glm_mini.objective import mask_sample`` follows ``glm_mini/objective/__init__.py``'s own
``from .sample import mask_sample`` to ``glm_mini.objective.sample``; ``from glm_mini import GLM`` follows
``glm_mini/__init__.py`` to ``glm_mini.model``. Nearly every test builds a ``GLM``, so reaching a module is not yet
guarding it. A test **guards** a package file when it names the file's module in an import (``from glm_mini.rope
import ...``, or a module inside a folder such as ``glm_mini/objective/``), or when it reaches the module through a
re-export and is named after it (``test_model.py`` for ``glm_mini/model.py``). Nothing is typed by hand, so the
course outline's "tests" column follows the test suite as it changes.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

import runner

TESTS_DIR = runner.REPO_ROOT / "tests"


def _module_file(module: str) -> Path | None:
    """The source of a kit module (``glm_mini.rope`` -> glm_mini/rope.py, a package -> its __init__.py)."""
    base = runner.REPO_ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


@lru_cache(maxsize=None)
def _reexports(module: str) -> dict[str, str]:
    """``{name: defining module}`` for the names a package's ``__init__`` imports from its own submodules."""
    path = _module_file(module)
    if path is None or path.name != "__init__.py":
        return {}
    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ImportFrom) and node.module is not None:
            source = f"{module}.{node.module}" if node.level else node.module
            if source.split(".")[0] == module.split(".")[0]:
                for alias in node.names:
                    found[alias.asname or alias.name] = resolve(source, alias.name)
    return found


def resolve(module: str, name: str | None = None) -> str:
    """The module that defines ``name`` as imported ``from module``; ``module`` itself for ``import module``."""
    if name is None:
        return module
    if _module_file(f"{module}.{name}") is not None:
        return f"{module}.{name}"  # a submodule
    return _reexports(module).get(name, module)


@lru_cache(maxsize=None)
def _imports(test_file: Path) -> tuple[ast.AST, ...]:
    """The import statements of a test file, parsed once."""
    tree = ast.parse(Path(test_file).read_text(encoding="utf-8"))
    return tuple(node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)))


@lru_cache(maxsize=None)
def imported_modules(test_file: Path, through_reexports: bool = True) -> frozenset[str]:
    """The kit modules (``glm_mini.*``, ``scale_up.*``) a test file imports; with ``through_reexports=False`` only
    those it names, not the ones behind ``from glm_mini import GLM``."""
    modules = set()
    for node in _imports(Path(test_file)):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            top_level = "." not in node.module
            for alias in node.names:
                module = resolve(node.module, alias.name)
                if through_reexports or not top_level or module == f"{node.module}.{alias.name}":
                    modules.add(module)
    return frozenset(m for m in modules if m.split(".")[0] in ("glm_mini", "scale_up"))


def _module_of(package_file: str) -> tuple[str, bool]:
    """``glm_mini/rope.py`` -> (``glm_mini.rope``, False); ``glm_mini/objective/`` -> (``glm_mini.objective``, True)."""
    folder = package_file.endswith("/")
    return package_file.rstrip("/").removesuffix(".py").replace("/", "."), folder


def _reaches(modules: set[str], module: str, folder: bool) -> bool:
    return any(m == module or (folder and m.startswith(module + ".")) for m in modules)


@lru_cache(maxsize=None)
def guarding_tests(package_files: tuple[str, ...], tests_dir: Path = TESTS_DIR) -> tuple[str, ...]:
    """The test files (names, sorted) that guard any of ``package_files`` (see the module docstring)."""
    names = []
    for test_file in sorted(Path(tests_dir).glob("test_*.py")):
        named, reached = imported_modules(test_file, through_reexports=False), imported_modules(test_file)
        for module, folder in map(_module_of, package_files):
            stem = module.rsplit(".", 1)[-1]
            if _reaches(named, module, folder) or (stem in test_file.stem and _reaches(reached, module, folder)):
                names.append(test_file.name)
                break
    return tuple(names)
