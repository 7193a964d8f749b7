"""Execute the numbered tutorial notebooks headless and report what each one reproduced.

How it works
------------
Each numbered notebook exists twice: ``NN_name.py`` (jupytext py:percent, the source of truth) and the paired,
outputs-free ``NN_name.ipynb``. This runner executes the ``.ipynb`` with nbclient (a real Jupyter kernel, exactly
what JupyterLab would run), in the ``notebooks/`` folder, with ``GLM_KIT_FAST`` set (1 by default: small presets and
few steps). Cells tagged ``skip-execution`` (GPU or real-130B-weights cells) are skipped; each has a CPU twin above.

Conventions every notebook follows, which this runner relies on:
- its first markdown cell states its budget as ``Budget: N s`` (FAST mode, 2-core CPU);
- its last code cell is tagged ``summary`` and prints what the notebook reproduced (numbers it measured).

``python notebooks/runner.py --out build/notebooks`` is what ``make tour`` calls; the tests call ``execute``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parent
REPO_ROOT = NOTEBOOK_DIR.parent
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"


@dataclass
class NotebookRun:
    name: str
    seconds: float
    budget_s: float | None
    summary: str


def notebook_paths(names: list[str] | None = None) -> list[Path]:
    """The numbered notebooks in order; ``names`` picks some by prefix (``["00", "03"]``) or full stem."""
    paths = sorted(NOTEBOOK_DIR.glob(NOTEBOOK_GLOB))
    if names:
        paths = [p for p in paths if any(p.stem == n or p.stem.startswith(f"{n}_") for n in names)]
        if not paths:
            raise SystemExit(f"no notebook in {NOTEBOOK_DIR} matches {names}")
    return paths


def stated_budget(nb) -> float | None:
    """The ``Budget: N s`` its first markdown cell states, or None."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"Budget:\s*(\d+(?:\.\d+)?)\s*s", cell.source)
            return float(match.group(1)) if match else None
    return None


def summary_text(nb) -> str:
    """Text printed by the cells tagged ``summary``."""
    chunks = []
    for cell in nb.cells:
        if cell.cell_type == "code" and "summary" in cell.metadata.get("tags", []):
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream":
                    chunks.append(out.get("text", ""))
    return "".join(chunks).rstrip()


def execute(path: Path, out_dir: Path | None = None, fast: bool = True, timeout: int = 600) -> NotebookRun:
    """Run one notebook top to bottom; raise nbclient's CellExecutionError on the first failing cell.

    The executed copy (outputs, plots) is written to ``out_dir/<name>.ipynb`` when ``out_dir`` is given; the
    committed source is never modified.
    """
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    env_fast = "1" if fast else "0"
    os.environ["GLM_KIT_FAST"] = env_fast
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(REPO_ROOT) not in paths:  # the kernel imports the packages from this checkout
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), *paths) if p)
    client = nbclient.NotebookClient(nb, timeout=timeout, startup_timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        seconds = time.perf_counter() - start
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            tmp = out_dir / f".{path.name}.tmp"
            nbformat.write(nb, tmp)
            tmp.replace(out_dir / path.name)  # atomic: a half-written notebook never replaces a good one
    return NotebookRun(path.stem, seconds, stated_budget(nb), summary_text(nb))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="notebook prefixes to run (default: all, in order)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "notebooks",
                        help="folder for the executed copies")
    parser.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds")
    args = parser.parse_args(argv)
    fast = os.environ.get("GLM_KIT_FAST", "1") != "0"

    runs, failed = [], []
    for path in notebook_paths(args.names):
        print(f"\n=== {path.stem} ({'FAST' if fast else 'FULL'}) ===", flush=True)
        try:
            run = execute(path, args.out, fast=fast, timeout=args.timeout)
        except Exception as err:  # report every notebook, then fail at the end
            failed.append(path.stem)
            print(f"FAILED: {type(err).__name__}: {str(err)[-2000:]}", flush=True)
            continue
        runs.append(run)
        budget = f" (budget {run.budget_s:.0f} s)" if run.budget_s else ""
        print(run.summary or "(no summary cell output)")
        print(f"--- {run.seconds:.1f} s{budget}; executed copy: {args.out / (path.stem + '.ipynb')}", flush=True)

    total = sum(r.seconds for r in runs)
    print(f"\n{len(runs)} notebooks executed in {total:.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
