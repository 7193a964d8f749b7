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

The budget is a promise, so ``main`` enforces it: in FAST mode a notebook that runs longer than
``BUDGET_FACTOR`` (2) times its stated budget fails the run (non-zero exit), like a failing cell. The factor leaves
room for a slower or busier laptop, and kernel start-up counts against it; FULL mode (``GLM_KIT_FAST=0``) runs the
longer experiments the budget does not cover, so there it is reported, not enforced. ``--budget-factor 0`` turns the
rule off. Each successful run's time is merged into ``<out>/timings.json`` (the course outline in ``00_tour`` and the
README read the FAST times from there). The cache folders named by ``IPYTHONDIR``, ``MPLCONFIGDIR`` and
``JUPYTER_*`` are created before the first kernel starts, so a first run prints no warning about a missing folder.

``python notebooks/runner.py --out build/notebooks`` is what ``make tour`` calls; the tests call ``execute``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parent
REPO_ROOT = NOTEBOOK_DIR.parent
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
BUDGET_FACTOR = 2.0
TIMINGS_FILE = "timings.json"
CACHE_VARS = ("IPYTHONDIR", "MPLCONFIGDIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR")


@dataclass
class NotebookRun:
    name: str
    seconds: float
    budget_s: float | None
    summary: str


def notebook_paths(names: list[str] | None = None) -> list[Path]:
    """The numbered notebooks in order; ``names`` picks some by prefix (``["00", "03"]``) or full stem.

    A name that matches no notebook is an error (ValueError naming it and listing the notebooks there are).
    """
    paths = sorted(NOTEBOOK_DIR.glob(NOTEBOOK_GLOB))
    if not names:
        return paths
    unknown = [n for n in names if not any(p.stem == n or p.stem.startswith(f"{n}_") for p in paths)]
    if unknown:
        raise ValueError(f"names: no notebook in {NOTEBOOK_DIR} matches {unknown}; "
                         f"expected a number or a name among {[p.stem for p in paths]}")
    return [p for p in paths if any(p.stem == n or p.stem.startswith(f"{n}_") for n in names)]


def prepare_cache_dirs() -> None:
    """Create the cache folders the environment names (a missing IPYTHONDIR makes IPython warn on start)."""
    for var in CACHE_VARS:
        if os.environ.get(var):
            Path(os.environ[var]).mkdir(parents=True, exist_ok=True)


def over_budget(run: NotebookRun, factor: float = BUDGET_FACTOR) -> bool:
    """True when a FAST run took more than ``factor`` times its stated budget (``factor`` 0 disables the rule)."""
    return bool(factor and run.budget_s and run.seconds > factor * run.budget_s)


def read_timings(out_dir: Path = REPO_ROOT / "build" / "notebooks") -> dict:
    """``{notebook: {"FAST"|"FULL": {"seconds", "budget_s", "measured", "cpus"}}}``; {} when absent or unreadable."""
    path = out_dir / TIMINGS_FILE
    if not path.exists():
        return {}
    try:
        timings = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        timings = None
    if not isinstance(timings, dict):
        print(f"note: {path} is not a JSON object of timings; it is ignored and rewritten", flush=True)
        return {}
    return timings


def record_timings(runs: list[NotebookRun], out_dir: Path, fast: bool) -> Path:
    """Merge these runs' wall times into ``out_dir/timings.json`` (atomic write); other notebooks' entries stay."""
    path = out_dir / TIMINGS_FILE
    timings = read_timings(out_dir)
    mode = "FAST" if fast else "FULL"
    for run in runs:
        timings.setdefault(run.name, {})[mode] = {
            "seconds": round(run.seconds, 1), "budget_s": run.budget_s,
            "measured": time.strftime("%Y-%m-%d %H:%M"), "cpus": os.cpu_count()}
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{TIMINGS_FILE}.tmp"
    tmp.write_text(json.dumps(timings, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


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
    prepare_cache_dirs()
    env_fast = "1" if fast else "0"
    os.environ["GLM_KIT_FAST"] = env_fast
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if str(REPO_ROOT) not in paths:  # the kernel imports the packages from this checkout
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), *paths) if p)
    # log_level=ERROR: the kernel's start-up warnings (e.g. about its local TCP transport) are noise in `make tour`;
    # a cell's own output and errors come back through the notebook, not this log
    client = nbclient.NotebookClient(nb, timeout=timeout, startup_timeout=300, kernel_name="python3",
                                     extra_arguments=["--IPKernelApp.log_level=ERROR"],
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


def budget_note(run: NotebookRun, fast: bool) -> str:
    """`` (budget 60 s)`` in FAST mode; in FULL mode says the budget is FAST mode's, so nobody compares the two."""
    if not run.budget_s:
        return ""
    return f" (budget {run.budget_s:g} s)" if fast else f" (FULL mode; the {run.budget_s:g} s budget is FAST mode's)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="notebook prefixes to run (default: all, in order)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "notebooks",
                        help="folder for the executed copies")
    parser.add_argument("--timeout", type=int, default=600, help="per-cell timeout in seconds")
    parser.add_argument("--budget-factor", type=float, default=BUDGET_FACTOR,
                        help=f"FAST mode: fail a notebook that takes more than this many times its stated budget "
                             f"(default {BUDGET_FACTOR:g}; 0 turns the check off)")
    parser.add_argument("--edition", choices=["student", "instructor"],
                        help="run this edition of each notebook (notebooks/editions.py), written first to "
                             "<out>/unexecuted/, instead of the committed notebook")
    args = parser.parse_args(argv)
    if args.budget_factor < 0:
        parser.error(f"--budget-factor: expected a number >= 0, got {args.budget_factor}")
    fast = os.environ.get("GLM_KIT_FAST", "1") != "0"
    try:
        paths = notebook_paths(args.names)
    except ValueError as err:
        parser.error(str(err))

    runs, failed = [], []
    for path in paths:
        edition = f", {args.edition} edition" if args.edition else ""
        print(f"\n=== {path.stem} ({'FAST' if fast else 'FULL'}{edition}) ===", flush=True)
        try:
            if args.edition:
                import editions  # notebooks/editions.py, beside this file

                path = editions.write_edition(path.with_suffix(".py"), args.edition, args.out / "unexecuted")
            run = execute(path, args.out, fast=fast, timeout=args.timeout)
        except Exception as err:  # report every notebook, then fail at the end
            failed.append(path.stem)
            print(f"FAILED: {type(err).__name__}: {str(err)[-2000:]}", flush=True)
            continue
        runs.append(run)
        print(run.summary or "(no summary cell output)")
        print(f"--- {run.seconds:.1f} s{budget_note(run, fast)}; executed copy: "
              f"{args.out / (path.stem + '.ipynb')}", flush=True)
        if fast and over_budget(run, args.budget_factor):
            failed.append(path.stem)
            print(f"FAILED: {path.stem} took {run.seconds:.0f} s, more than {args.budget_factor:g} × its "
                  f"{run.budget_s:g} s budget", flush=True)

    if runs:
        record_timings(runs, args.out, fast)
    total = sum(r.seconds for r in runs)
    print(f"\n{len(runs)} notebooks executed in {total:.0f} s" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
