"""The stability lab's experiments (notebooks 04 and 05): which learning-rate sweeps the course runs, and their CLI.

How it works
------------
Each experiment is a ``glm_mini.stability.lr_sweep.Sweep`` in two sizes: ``fast``, the cells a notebook trains live
in FAST mode (the ones its verdict rests on, within its budget), and ``full``, the whole grid, whose results file is
committed under ``data/reference/sweeps/`` (the command, seeds, settings and git commit recorded inside) and drawn
beside the live cells. FAST cells are FULL cells (same settings), so a FULL run reuses the ones a notebook trained.

- ``deepnorm`` (04): final loss against peak learning rate for Pre-LN, Post-LN, Sandwich-LN and DeepNorm at two
  depths (Wortsman et al. 2023's learning-rate sensitivity); FAST: Post-LN and DeepNorm at 6 layers.
- ``deepnorm-ablation`` (04): DeepNorm's α alone and β alone beside Post-LN and DeepNorm.
- ``egs`` (05): embedding gradient shrink α = 1 ("deepnorm"), α = 0.1 on both paths into the tied embedding
  (the kit's default) and α = 0.1 on the input path alone, over learning rates from where the global clip fires on
  most steps (the lowest) to where it rarely does; FAST: the lowest.

Every cell is one run of the kit's trainer (``glm_mini.train.train``: GLM objective, AdamW, clipping at 1.0) for 150
steps of 8 × 64 tokens with 10 warm-up steps, on the ``nano`` width (hidden 64, 4 heads).

CLI: ``python -m glm_mini.experiments deepnorm --mode full --workers 2`` (``--help`` for every flag).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from glm_mini.cli.vocabulary import add_progress_flag
from glm_mini.stability.lr_sweep import DEFAULT_OUT, Sweep, load_sweep_results, run_sweep

MODES = ("fast", "full")
COMMITTED = Path(__file__).resolve().parents[1] / "data" / "reference" / "sweeps"

_TRAIN = {"max_steps": 150, "batch_size": 8, "seq_len": 64, "warmup_steps": 10, "val_batches": 4}
_LRS = (3e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 3e-2)  # two decades, up to where every scheme has broken
_EGS = ("deepnorm", "egs-0.1", "egs-0.1-input")
SWEEPS: dict[str, dict[str, Sweep]] = {
    "deepnorm": {
        "fast": Sweep("deepnorm", ("post-ln", "deepnorm"), (6,), (1e-3, 5e-3, 1e-2), (0, 1), _TRAIN),
        "full": Sweep("deepnorm", ("pre-ln", "post-ln", "sandwich", "deepnorm"), (6, 12), _LRS, (0, 1), _TRAIN),
    },
    "deepnorm-ablation": {
        "fast": Sweep("deepnorm-ablation", ("alpha-only", "beta-only"), (6,), (5e-3,), (0, 1), _TRAIN),
        "full": Sweep("deepnorm-ablation", ("post-ln", "alpha-only", "beta-only", "deepnorm"), (6,), _LRS, (0, 1),
                      _TRAIN),
    },
    "egs": {
        "fast": Sweep("egs", _EGS, (6,), (3e-4,), (0, 1), _TRAIN),
        "full": Sweep("egs", _EGS, (6,), (3e-4, 1e-3, 3e-3, 5e-3, 1e-2), (0, 1), _TRAIN),
    },
}


def get_sweep(name: str, mode: str = "fast") -> Sweep:
    if name not in SWEEPS:
        raise ValueError(f"name: expected one of {sorted(SWEEPS)}, got {name!r}")
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
    return SWEEPS[name][mode]


def results_path(name: str, mode: str = "fast", out_root: str | Path = DEFAULT_OUT) -> Path:
    """Where ``run`` writes the results of ``name`` in ``mode``: ``OUT/lr-sweep-<name>-<mode>.json``."""
    get_sweep(name, mode)
    return Path(out_root) / f"lr-sweep-{name}-{mode}.json"


def committed_results_path(name: str) -> Path:
    """The committed FULL results of ``name``: ``data/reference/sweeps/lr-sweep-<name>-full.json``."""
    get_sweep(name, "full")
    return COMMITTED / f"lr-sweep-{name}-full.json"


def load_committed(name: str) -> dict:
    """The committed FULL results of ``name`` (FileNotFoundError naming the file and the command that makes it)."""
    return load_sweep_results(committed_results_path(name))


def run(name: str, mode: str = "fast", out_root: str | Path = DEFAULT_OUT, workers: int = 2,
        results: str | Path | None = None, progress: bool = False, compact: bool = False) -> dict:
    """Train (or re-read) the cells of experiment ``name`` in ``mode`` and write its results file."""
    command = f"python -m glm_mini.experiments {name} --mode {mode} --workers {workers}" + " --compact" * compact
    return run_sweep(get_sweep(name, mode), out_root, workers, mode, results or results_path(name, mode, out_root),
                     progress=progress, command=command, compact=compact)


def run_beside_committed(name: str, mode: str = "fast", out_root: str | Path = DEFAULT_OUT,
                         workers: int = 2) -> tuple[dict, dict | None, str]:
    """``run(name, mode)`` and the committed FULL results (None when absent), with one line saying what each is."""
    started = time.perf_counter()
    live = run(name, mode, out_root, workers)
    text = (f"{mode}: {len(live['cells'])} runs trained or re-read in {time.perf_counter() - started:.0f} s "
            f"({live['train_seconds']:.0f} s of training in total)")
    try:
        committed = load_committed(name)
    except FileNotFoundError as err:
        return live, None, f"{text}; no committed sweep ({err})"
    return live, committed, (f"{text}; committed sweep {committed_results_path(name).name}: "
                             f"{len(committed['cells'])} runs made by `{committed['command']}` at commit "
                             f"{committed['git_commit']}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m glm_mini.experiments", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("name", choices=sorted(SWEEPS), help="which experiment")
    p.add_argument("--mode", default="fast", choices=MODES,
                   help="fast: the cells a notebook trains live; full: the whole grid (an hour or more on 2 cores)")
    p.add_argument("--out", default=DEFAULT_OUT, help="folder of the cells (OUT/lr-sweep/...) and the results file")
    p.add_argument("--workers", type=int, default=2, help="processes training cells side by side (one thread each)")
    p.add_argument("--results", default=None, help="where to write the results JSON (default "
                   "OUT/lr-sweep-NAME-MODE.json; data/reference/sweeps/lr-sweep-NAME-full.json is the committed one)")
    p.add_argument("--compact", action="store_true",
                   help="thin the per-step lists (every 5th step after the first 20), as the committed files are")
    add_progress_flag(p, "a line per finished cell (default: on)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        results = run(args.name, args.mode, args.out, args.workers, args.results, progress=args.progress is not False,
                      compact=args.compact)
    except (ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{len(results['cells'])} cells, {results['train_seconds']:.0f} s of training, "
          f"{results['wall_seconds']:.0f} s wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
