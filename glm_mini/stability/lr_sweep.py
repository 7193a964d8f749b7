"""Learning-rate sweeps: final loss against peak learning rate for each normalization scheme, at several depths.

How it works
------------
Wortsman et al. 2023 ("Small-scale proxies for large-scale Transformer training instabilities", arXiv 2309.14322)
reproduce large-model instabilities in small models by raising the learning rate, and compare mitigations by the
curve of final loss against learning rate over orders of magnitude. A ``Sweep`` is such a grid:

    schemes × depths × peak learning rates × seeds,   everything else equal

Each grid point (a *cell*) is one run of the kit's trainer, ``glm_mini.train.train`` (GLM-130B's recipe and the GLM
objective as the course trains it: short warm-up, cosine decay, AdamW, clipping at 1.0) on the ``plain`` corpus
(``SWEEP_CORPUS``: the kit's documents without the evaluation lessons' kinds) at the ``nano`` width with
``num_layers`` = the depth and the scheme's ``GLMConfig`` switches (``SCHEMES``, including DeepNorm with only its
α or only its β, notebook 04's ablation), with an ``AttentionLogitProbe`` attached. A cell lives in
``OUT/lr-sweep/<scheme>-L<depth>-lr<lr>-seed<s>-<hash>/`` (the hash covers the whole trainer config, so other
settings never collide); its summary ``cell.json`` is written last and atomically, so a rerun reuses finished cells
and retrains an interrupted one (its checkpoint is deleted once summarized: a sweep keeps numbers, not weights).
Cells are independent, so ``workers`` processes (one torch thread each) train them side by side.

A cell's summary: the validation loss at the last step (the sweep's y-axis); per step (``SERIES``) the training
loss, the total and the embedding's gradient norm (before clipping) and the largest attention logit (max over
layers); the largest attention logit per layer and over the whole run (``attn_logit_peak``); each layer's gradient
norm averaged over the first ``early_steps`` steps (the mechanism notebook 04 draws); the global clip's statistics
(``glm_mini.stability.clipping.clipping_stats``) and the trainer's spike count (notebook 05).

The results (``run_sweep``) add the loss of a model that has collapsed to predicting token frequencies: the
cross-entropy of each seed's validation targets under the training targets' add-one-smoothed frequencies
(``glm_mini.training.metrics.unigram_cross_entropy``), i.e. the unigram entropy of what the objective asks for.
``compact=True`` (the files committed under ``data/reference/sweeps/``) keeps every scalar but only steps
1..``early_steps`` and every ``COMPACT_EVERY``-th step of the per-step lists, to 4 significant digits; the results
name the steps kept in ``series_steps``. Each cell is written on one line.

The course's sweeps (notebooks 04 and 05) are named in ``glm_mini.experiments``, whose CLI runs them:
``python -m glm_mini.experiments deepnorm --mode full --workers 2``.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import math
import multiprocessing
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from glm_mini.training.checkpoint import write_atomic

SCHEMES: dict[str, dict] = {  # scheme name -> GLMConfig switches
    "pre-ln": {"normalization": "pre-ln"},
    "post-ln": {"normalization": "post-ln"},
    "sandwich": {"normalization": "sandwich"},
    "deepnorm": {"normalization": "deepnorm"},
    "alpha-only": {"normalization": "deepnorm", "deepnorm_scale_init": False},  # α = (2N)^½, post-ln's init
    "beta-only": {"normalization": "deepnorm", "deepnorm_scale_residual": False},  # α = 1, DeepNorm's β init
    # notebook 05: embedding gradient shrink on DeepNorm ("deepnorm" itself is α = 1)
    "egs-0.1": {"normalization": "deepnorm", "embedding_gradient_shrink_alpha": 0.1},  # both paths (the default)
    "egs-0.1-input": {"normalization": "deepnorm", "embedding_gradient_shrink_alpha": 0.1,
                      "shrink_logit_embedding_gradient": False},  # the input path alone
}
DEFAULT_OUT = "build/experiments"
CELL_FILE = "cell.json"
SUMMARY_VERSION = 2  # a cell.json of another version is summarized again from its metrics.jsonl (no retraining)
SERIES = ("loss", "grad_norm", "grad_norm_embedding", "attn_logit_max")  # the per-step lists of a summary
COMPACT_EVERY = 5
SWEEP_CORPUS = "plain"  # the corpus the committed sweeps were trained on (glm_mini.data.corpus, "Two corpora")
WIDTH = {"hidden_size": 64, "num_attention_heads": 4, "inner_hidden_size": 176}  # the "nano" width


@dataclass(frozen=True)
class Sweep:
    name: str
    schemes: tuple[str, ...]
    depths: tuple[int, ...]
    lrs: tuple[float, ...]
    seeds: tuple[int, ...]
    train: dict  # TrainConfig fields shared by every cell (max_steps, batch_size, seq_len, warmup_steps, ...)
    model: dict = field(default_factory=lambda: dict(WIDTH))  # GLMConfig overrides on "nano" shared by every cell
    early_steps: int = 20  # per-layer gradient norms are averaged over steps 1..early_steps

    def __post_init__(self):
        unknown = [s for s in self.schemes if s not in SCHEMES]
        if unknown or not self.schemes:
            raise ValueError(f"Sweep.schemes: expected names among {sorted(SCHEMES)}, got {list(self.schemes)}")
        for name in ("depths", "lrs", "seeds"):
            if not getattr(self, name):
                raise ValueError(f"Sweep.{name}: expected at least one value, got {getattr(self, name)!r}")
        if any(not (isinstance(d, int) and d >= 1) for d in self.depths):
            raise ValueError(f"Sweep.depths: expected ints >= 1, got {list(self.depths)}")
        if any(not (isinstance(x, (int, float)) and x > 0 and math.isfinite(x)) for x in self.lrs):
            raise ValueError(f"Sweep.lrs: expected positive learning rates, got {list(self.lrs)}")
        if not (isinstance(self.early_steps, int) and 1 <= self.early_steps <= self.train.get("max_steps", 100)):
            raise ValueError(f"Sweep.early_steps: expected an int in [1, max_steps], got {self.early_steps!r}")

    def cells(self) -> list[Cell]:
        return [Cell(scheme, depth, float(lr), seed) for depth in self.depths for lr in self.lrs
                for seed in self.seeds for scheme in self.schemes]


@dataclass(frozen=True)
class Cell:
    scheme: str
    depth: int
    lr: float
    seed: int


# ------------------------------------------------------------------------------------------------------------------
# one cell

def train_config(sweep: Sweep, cell: Cell, out: str = ""):
    """The ``TrainConfig`` of ``cell`` (``out`` filled in by the caller)."""
    from glm_mini.train import TrainConfig

    overrides = {**sweep.model, "num_layers": cell.depth, **SCHEMES[cell.scheme]}
    return TrainConfig(preset="nano", corpus=SWEEP_CORPUS, out=out, seed=cell.seed, lr=cell.lr,
                       config_overrides=overrides, **sweep.train)


def cell_dir(sweep: Sweep, cell: Cell, out_root: str | Path = DEFAULT_OUT) -> Path:
    settings = {k: v for k, v in train_config(sweep, cell).to_json().items() if k not in ("out", "resume")}
    digest = hashlib.sha1(json.dumps([settings, sweep.early_steps], sort_keys=True).encode()).hexdigest()[:8]
    return Path(out_root) / "lr-sweep" / f"{cell.scheme}-L{cell.depth}-lr{cell.lr:g}-seed{cell.seed}-{digest}"


def _rounded(values, digits: int = 5) -> list:
    return [float(f"{v:.{digits}g}") if math.isfinite(v) else v for v in values]


def summarize_cell(rows: list[dict], cell: Cell, early_steps: int, clip_grad: float = 1.0) -> dict:
    """A cell's summary (module docstring) from its ``metrics.jsonl`` rows."""
    from glm_mini.stability.attention_logits import read_attention_logits
    from glm_mini.stability.clipping import clipping_stats

    logits = read_attention_logits(rows, cell.depth)  # [steps][layers]
    early = rows[:early_steps]
    val = next((r["val_loss"] for r in reversed(rows) if "val_loss" in r), None)
    grad_norm, grad_norm_embedding = [r["grad_norm"] for r in rows], [r["grad_norm_embedding"] for r in rows]
    return {**asdict(cell), "summary_version": SUMMARY_VERSION, "steps": len(rows), "val_loss": val,
            "final_loss": rows[-1]["loss"], "loss": _rounded([r["loss"] for r in rows]),
            "grad_norm": _rounded(grad_norm), "grad_norm_embedding": _rounded(grad_norm_embedding),
            "clipping": clipping_stats(grad_norm, grad_norm_embedding, clip_grad, early_steps),
            "spikes": sum(1 for r in rows if r["spike"]),
            "attn_logit_peak": max(max(step) for step in logits),
            "attn_logit_max": _rounded([max(step) for step in logits]),
            "attn_logit_max_by_layer": _rounded([max(step[i] for step in logits) for i in range(cell.depth)]),
            "grad_norm_layers_early": _rounded([sum(r[f"grad_norm_layer_{i}"] for r in early) / len(early)
                                               for i in range(cell.depth)]),
            "finite": all(math.isfinite(r["loss"]) for r in rows),
            "seconds": round(sum(r["seconds"] for r in rows), 2)}


def run_cell(sweep: Sweep, cell: Cell, out_root: str | Path = DEFAULT_OUT) -> dict:
    """Train ``cell`` (or read its finished ``cell.json``) and return its summary."""
    import torch

    from glm_mini.stability.attention_logits import AttentionLogitProbe
    from glm_mini.train import train

    out = cell_dir(sweep, cell, out_root)
    done = out / CELL_FILE
    if done.is_file():
        summary = json.loads(done.read_text())
        if summary.get("summary_version") == SUMMARY_VERSION:
            return summary
        return _write_summary(sweep, cell, out)  # summarized by an older version: read its metrics again
    if out.exists():  # an interrupted cell: train it again from the start
        shutil.rmtree(out)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # a few hundred thousand parameters: one thread per run, runs side by side
    try:
        train(train_config(sweep, cell, str(out)), progress=False, probes=[AttentionLogitProbe()], plots=False)
    finally:
        torch.set_num_threads(previous)
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    return _write_summary(sweep, cell, out)


def _write_summary(sweep: Sweep, cell: Cell, out: Path) -> dict:
    from glm_mini.train import read_metrics

    summary = summarize_cell(read_metrics(out), cell, sweep.early_steps, train_config(sweep, cell).clip_grad)
    text = json.dumps(summary) + "\n"
    write_atomic(out / CELL_FILE, lambda f: f.write(text.encode()))
    return summary


def _run_cell_job(args: tuple) -> dict:  # top-level, so a spawned worker can unpickle it
    sweep, cell, out_root = args
    return run_cell(sweep, cell, out_root)


# ------------------------------------------------------------------------------------------------------------------
# the grid

def unigram_losses(sweep: Sweep) -> dict[str, float]:
    """``{seed: cross-entropy of the seed's validation targets under the training targets' frequencies}``."""
    import torch

    from glm_mini.objective import ObjectiveConfig
    from glm_mini.training.data import load_train_data, target_counts, validation_batches
    from glm_mini.training.metrics import unigram_cross_entropy

    cfg = train_config(sweep, Cell(sweep.schemes[0], sweep.depths[0], sweep.lrs[0], sweep.seeds[0]))
    model = cfg.model_config()
    data = load_train_data(cfg.corpus, model.vocab_size, cfg.seq_len, cfg.use_mip)
    objective = ObjectiveConfig(two_d=model.position_encoding_2d)
    out = {}
    for seed in sweep.seeds:
        counts = target_counts(data, 64, cfg.batch_size, cfg.seq_len, data.tokenizer.special, model.vocab_size, seed,
                               objective)
        val = validation_batches(data, cfg.val_batches, cfg.batch_size, cfg.seq_len, data.tokenizer.special, seed,
                                 objective)
        targets = torch.cat([b["targets"][b["loss_mask"]] for b in val])  # [n_val_targets]
        out[str(seed)] = unigram_cross_entropy(counts, targets)
    return out


def git_commit() -> str | None:
    """The kit's git commit (with ``+dirty`` when the work tree has changes), or None outside a git checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=30)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def run_sweep(sweep: Sweep, out_root: str | Path = DEFAULT_OUT, workers: int = 1, mode: str = "",
              results: str | Path | None = None, progress: bool = False, command: str | None = None,
              compact: bool = False) -> dict:
    """Train (or re-read) every cell of ``sweep`` with ``workers`` processes; write and return the results.

    The results JSON goes to ``results`` (default ``OUT/lr-sweep-<name>-<mode>.json``), atomically, with the sweep's
    settings, ``command`` (how to make it again), the git commit, the unigram losses and every cell's summary
    (``compact``: per-step lists thinned, module docstring)."""
    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep: expected a Sweep, got {type(sweep).__name__}")
    if not (isinstance(workers, int) and not isinstance(workers, bool) and workers >= 1):
        raise ValueError(f"workers: expected an int >= 1, got {workers!r}")
    started, commit = time.perf_counter(), git_commit()  # the code that trains the cells, read before they train
    unigram = unigram_losses(sweep)  # also loads the corpus into this process's cache, which forked workers share
    cells = sweep.cells()
    pending = [c for c in cells if not (cell_dir(sweep, c, out_root) / CELL_FILE).is_file()]
    by_cell: dict[Cell, dict] = {}
    if workers == 1 or len(pending) <= 1:
        for cell in cells:
            by_cell[cell] = run_cell(sweep, cell, out_root)
            if progress:
                print(_progress_line(by_cell[cell], len(by_cell), len(cells)), flush=True)
    else:
        for cell in cells:
            if cell not in pending:
                by_cell[cell] = run_cell(sweep, cell, out_root)
        with concurrent.futures.ProcessPoolExecutor(min(workers, len(pending)), mp_context=_worker_context()) as pool:
            futures = {pool.submit(_run_cell_job, (sweep, c, str(out_root))): c for c in pending}
            for future in concurrent.futures.as_completed(futures):
                by_cell[futures[future]] = future.result()
                if progress:
                    print(_progress_line(by_cell[futures[future]], len(by_cell), len(cells)), flush=True)
    out = {"sweep": sweep.name, "mode": mode, "settings": asdict(sweep),
           "command": command or f"run_sweep({sweep.name!r}, mode={mode!r})",
           "git_commit": commit, "unigram_val_loss": unigram,
           "train_seconds": round(sum(by_cell[c]["seconds"] for c in cells), 1),
           "wall_seconds": round(time.perf_counter() - started, 1),
           "series_steps": list(range(1, sweep.train["max_steps"] + 1)), "cells": [by_cell[c] for c in cells]}
    if compact:
        out = compact_results(out)
    path = Path(results) if results is not None else Path(out_root) / f"lr-sweep-{sweep.name}-{mode or 'custom'}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    head = json.dumps({k: v for k, v in out.items() if k != "cells"}, indent=1)
    text = head[:-2] + ',\n "cells": [\n' + ",\n".join(json.dumps(c) for c in out["cells"]) + "\n ]\n}\n"
    write_atomic(path, lambda f: f.write(text.encode()))
    return out


def compact_results(results: dict, every: int = COMPACT_EVERY) -> dict:
    """``results`` with each per-step list cut to steps 1..early_steps and every ``every``-th step after, to 4
    significant digits; ``series_steps`` names the steps kept. Scalars (losses, peaks, clip statistics) are kept."""
    steps = results["series_steps"]
    early = results["settings"]["early_steps"]
    keep = [i for i, step in enumerate(steps) if step <= early or step % every == 0]

    def thin(values):
        return [float(f"{values[i]:.4g}") if math.isfinite(values[i]) else values[i] for i in keep]

    cells = [{**c, **{k: thin(c[k]) for k in SERIES}} for c in results["cells"]]
    return {**results, "series_steps": [steps[i] for i in keep], "cells": cells}


def _worker_context():
    """Linux: fork, as torch's DataLoader does (workers inherit the imported modules and the loaded corpus, and set
    one torch thread themselves); elsewhere spawn (a fresh interpreter per worker, a few seconds of imports)."""
    if sys.platform == "linux":
        import torch._dynamo  # noqa: F401  (AdamW's first use imports it: once here rather than in every worker)

        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _progress_line(summary: dict, done: int, total: int) -> str:
    return (f"[{done}/{total}] {summary['scheme']} L{summary['depth']} lr {summary['lr']:g} seed {summary['seed']}: "
            f"val loss {summary['val_loss']:.3f} ({summary['seconds']:.0f} s)")


def load_sweep_results(path: str | Path) -> dict:
    """A results JSON ``run_sweep`` wrote (FileNotFoundError / ValueError naming the file and what is wrong)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no sweep results at {path}; run python -m glm_mini.experiments NAME --mode MODE")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not a JSON file ({err})") from None
    missing = [k for k in ("sweep", "settings", "cells", "unigram_val_loss") if k not in data]
    if missing:
        raise ValueError(f"{path}: expected a sweep results file, the keys {missing} are missing")
    return data
