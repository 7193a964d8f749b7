"""Layering: glm_mini never imports scale_up (DESIGN.md §1), at import time or later, in any module."""

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def scale_up_imports(path: Path, root: Path = ROOT) -> list[str]:
    """``file:line`` of every import statement in ``path`` that names scale_up, wherever it stands."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        if any(n == "scale_up" or n.startswith("scale_up.") for n in names):
            found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_no_glm_mini_module_imports_scale_up():
    offenders = [hit for path in sorted((ROOT / "glm_mini").rglob("*.py")) for hit in scale_up_imports(path)]
    assert offenders == []


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "probe.py"
    module.write_text("import os\ndef f():\n    from scale_up.plan import inference_plan\n    import scale_up\n")
    assert scale_up_imports(module, tmp_path) == ["probe.py:3", "probe.py:4"]


def test_importing_every_glm_mini_module_loads_no_scale_up():
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "glm_mini").rglob("*.py")
                     if p.name != "__main__.py")
    code = ("import importlib, sys\n"
            f"for name in {[m.removesuffix('.__init__') for m in modules]!r}:\n"
            "    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m == 'scale_up' or m.startswith('scale_up.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
