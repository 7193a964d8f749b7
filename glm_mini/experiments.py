"""Stability experiments: small models that differ in ONE switch, trained on the same data and seeds, compared.

How it works
------------
An ``Experiment`` names one ``GLMConfig`` field (the switch), the values to compare (one *arm* each), the model
shared by all arms and a FAST and a FULL training setting. ``run_experiment`` trains every arm through
``glm_mini.train.train`` (the kit's one training loop; same seed, so the same init draws, data order and objective
samples) into ``OUT/<name>-<mode>/seed<S>-<hash of the trainer configs>/<switch>=<value>/`` (so runs with other
settings never collide), then reads each arm's ``metrics.jsonl`` and writes
``OUT/<name>-<mode>.json`` (atomically) with, per arm: losses, gradient norms (total, embedding, rest, per layer),
update sizes, the trainer's spike flags and the divergence events defined here:

    diverged(t) ⇔ ℓ_t is NaN/inf  or  ℓ_t > ρ · min_{t' ≤ t} ℓ_{t'}        (ρ = DIVERGENCE_FACTOR = 1.5)

i.e. a loss that climbs half as much again above the best it has reached (for a model at loss 4 that means above 6,
close to knowing nothing). An arm whose last step is not such an event *recovered* (a transient jump); one whose
last step is one *diverged*. A spike is the trainer's flag (``glm_mini.training.spikes``: ℓ_t above 1.5× the median of
the last 20 losses). ``resume=True`` continues every arm from its latest checkpoint with the trainer's own resume (a
finished arm trains nothing), so a FULL run killed part-way (or ended with ``stop_after_step``) picks up where it
stopped; FULL checkpoints every ``save_every`` steps.

Torch runs on one thread while training (``threads``): these models are a few hundred thousand parameters, each op
is tiny, and on a shared 2-core machine two threads spent most of their time waiting on each other (measured 20×
slower per step under load).

CLI: ``python -m glm_mini.experiments deepnorm --mode fast`` (``--help`` for every flag).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from glm_mini.cli.vocabulary import add_progress_flag
from glm_mini.training.checkpoint import CheckpointError, write_atomic

DIVERGENCE_FACTOR = 1.5
MODES = ("fast", "full")
DEFAULT_OUT = "build/experiments"

# a deep, thin model: the depth is what the normalization schemes are about, the width keeps it CPU-fast
_DEEP_THIN = {"num_layers": 24, "hidden_size": 32, "num_attention_heads": 2, "inner_hidden_size": 64}


@dataclass(frozen=True)
class Experiment:
    name: str
    switch: str  # the GLMConfig field that differs between arms
    values: tuple  # one arm per value
    question: str
    model: dict  # GLMConfig overrides shared by every arm (on top of the "nano" preset)
    fast: dict  # TrainConfig fields for FAST (notebook budget)
    full: dict = field(default_factory=dict)  # TrainConfig fields for FULL (a longer run)
    full_model: dict = field(default_factory=dict)  # extra GLMConfig overrides for FULL


EXPERIMENTS: dict[str, Experiment] = {
    "deepnorm": Experiment(
        name="deepnorm", switch="normalization", values=("pre-ln", "post-ln", "sandwich", "deepnorm"),
        question="at a learning rate high enough to hurt, which normalization scheme still trains a deep model?",
        model=_DEEP_THIN,
        fast={"max_steps": 30, "batch_size": 8, "seq_len": 64, "lr": 3e-2, "warmup_steps": 3, "spike_window": 5},
        full={"max_steps": 300, "batch_size": 16, "seq_len": 64, "lr": 3e-2, "warmup_steps": 30, "save_every": 50},
        full_model={"num_layers": 48}),
    "egs": Experiment(
        name="egs", switch="embedding_gradient_shrink_alpha", values=(1.0, 0.1),
        question="does shrinking the embedding gradient (alpha = 0.1) reduce loss spikes at a spike-prone setting?",
        model={"num_layers": 4, "hidden_size": 64, "num_attention_heads": 4, "inner_hidden_size": 176},
        fast={"max_steps": 80, "batch_size": 8, "seq_len": 64, "lr": 2e-2, "warmup_steps": 0},
        full={"max_steps": 600, "batch_size": 16, "seq_len": 64, "lr": 2e-2, "warmup_steps": 0, "save_every": 100}),
}


# ------------------------------------------------------------------------------------------------------------------
# reading a run

def divergence_steps(steps: list[int], losses: list[float], factor: float = DIVERGENCE_FACTOR) -> list[int]:
    """The steps where the loss is not finite or above ``factor`` × its running minimum (module docstring)."""
    if len(steps) != len(losses):
        raise ValueError(f"steps/losses: expected equal lengths, got {len(steps)} steps and {len(losses)} losses")
    if not factor > 1.0:
        raise ValueError(f"factor: expected a multiple > 1 of the running minimum, got {factor}")
    events, best = [], math.inf
    for step, loss in zip(steps, losses):
        if not math.isfinite(loss):
            events.append(step)
            continue
        best = min(best, loss)
        if loss > factor * best:
            events.append(step)
    return events


def summarize_arm(rows: list[dict], num_layers: int, factor: float = DIVERGENCE_FACTOR) -> dict:
    """One arm's record for the results JSON, from its ``metrics.jsonl`` rows."""
    steps = [r["step"] for r in rows]
    losses = [r["loss"] for r in rows]
    finite = [x for x in losses if math.isfinite(x)]
    events = divergence_steps(steps, losses, factor)
    return {
        "steps": steps, "loss": losses, "lr": [r["lr"] for r in rows],
        "grad_norm": [r["grad_norm"] for r in rows], "grad_norm_embedding": [r["grad_norm_embedding"] for r in rows],
        "grad_norm_rest": [r["grad_norm_rest"] for r in rows],
        "grad_norm_layers": [[r[f"grad_norm_layer_{i}"] for i in range(num_layers)] for r in rows],
        "update_norm": [r["update_norm"] for r in rows], "update_ratio": [r["update_ratio"] for r in rows],
        "update_norm_embedding": [r["update_norm_embedding"] for r in rows],
        "spike_steps": [r["step"] for r in rows if r["spike"]],
        "divergence_steps": events, "diverged_at": events[0] if events else None,
        "recovered": bool(events) and bool(losses) and events[-1] != steps[-1],
        "final_loss": losses[-1] if losses else None, "min_loss": min(finite) if finite else None,
        "val_loss": next((r["val_loss"] for r in reversed(rows) if "val_loss" in r), None),
        "train_seconds": sum(r["seconds"] for r in rows),
    }


def outcome_line(results: dict) -> str:
    """One line: each arm's outcome, e.g. ``post-ln diverged at step 14 (...); deepnorm trained to loss 5.1``."""
    parts = []
    for value, arm in results["arms"].items():
        n = len(arm["divergence_steps"])
        events = f"{n} step{'s' * (n != 1)} over {results['divergence_factor']}x its best loss or non-finite"
        if arm["diverged_at"] is not None and not arm["recovered"]:
            what = f"{value} diverged at step {arm['diverged_at']} ({events})"
        elif arm["diverged_at"] is not None:
            what = f"{value} jumped at step {arm['diverged_at']} ({events}) and recovered to loss {arm['final_loss']:.3f}"
        else:
            what = f"{value} trained to loss {arm['final_loss']:.3f}"
        spikes = len(arm["spike_steps"])
        parts.append(f"{what}, {spikes} spike{'s' * (spikes != 1)}")
    s = results["settings"]
    return (f"{results['experiment']} ({results['mode']}, {s['model']['num_layers']} layers, lr {s['train']['lr']:g}, "
            f"{s['train']['max_steps']} steps, seed {results['seed']}): " + "; ".join(parts))


# ------------------------------------------------------------------------------------------------------------------
# running

def results_path(name: str, mode: str, out_root: str | Path = DEFAULT_OUT) -> Path:
    _check_name_mode(name, mode)
    return Path(out_root) / f"{name}-{mode}.json"


def load_results(name: str, mode: str = "fast", out_root: str | Path = DEFAULT_OUT) -> dict:
    """The results JSON ``run_experiment`` wrote (FileNotFoundError naming the file if it has not run yet)."""
    path = results_path(name, mode, out_root)
    if not path.is_file():
        raise FileNotFoundError(f"no results for experiment {name!r} ({mode}): {path} does not exist; run "
                                f"python -m glm_mini.experiments {name} --mode {mode}")
    return json.loads(path.read_text())


def _check_name_mode(name: str, mode: str) -> None:
    if name not in EXPERIMENTS:
        raise ValueError(f"name: expected one of {sorted(EXPERIMENTS)}, got {name!r}")
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")


@contextlib.contextmanager
def _torch_threads(n: int):
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_experiment(name: str, mode: str = "fast", out_root: str | Path = DEFAULT_OUT, seed: int = 0,
                   resume: bool = False, lr: float | None = None, max_steps: int | None = None,
                   stop_after_step: int | None = None, divergence_factor: float = DIVERGENCE_FACTOR, threads: int = 1,
                   progress: bool | None = False) -> dict:
    """Train every arm of ``EXPERIMENTS[name]`` (or continue them, ``resume=True``) and write the results JSON."""
    from glm_mini.train import TrainConfig, read_metrics, train

    _check_name_mode(name, mode)
    if not (isinstance(seed, int) and not isinstance(seed, bool)):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    if lr is not None and not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr: expected a positive learning rate or None, got {lr!r}")
    if max_steps is not None and not (isinstance(max_steps, int) and max_steps >= 1):
        raise ValueError(f"max_steps: expected an int >= 1 or None, got {max_steps!r}")
    if stop_after_step is not None and not (isinstance(stop_after_step, int) and stop_after_step >= 1):
        raise ValueError(f"stop_after_step: expected an int >= 1 or None, got {stop_after_step!r}")
    if not divergence_factor > 1.0:
        raise ValueError(f"divergence_factor: expected a multiple > 1 of the running minimum, got {divergence_factor}")
    if not (isinstance(threads, int) and threads >= 1):
        raise ValueError(f"threads: expected an int >= 1, got {threads!r}")

    exp = EXPERIMENTS[name]
    settings = dict(exp.fast if mode == "fast" else exp.full)
    settings.update({k: v for k, v in (("lr", lr), ("max_steps", max_steps)) if v is not None})
    if settings.get("warmup_steps", 0) > settings["max_steps"]:
        settings["warmup_steps"] = settings["max_steps"]
    if stop_after_step is not None and stop_after_step > settings["max_steps"]:
        raise ValueError(f"stop_after_step: expected at most max_steps={settings['max_steps']}, got {stop_after_step}")
    model = {**exp.model, **(exp.full_model if mode == "full" else {})}
    configs = {value: TrainConfig(preset="nano", out="", seed=seed, stop_after_step=stop_after_step,
                                  config_overrides={**model, exp.switch: value}, **settings) for value in exp.values}
    # the folder is named after everything a step computes (the trainer's whole config but where and when to stop),
    # so runs made with other settings, or by a trainer that records more, never collide with these
    key = json.dumps([{k: v for k, v in cfg.to_json().items() if k not in ("out", "resume", "stop_after_step")}
                      for cfg in configs.values()], sort_keys=True)
    run_dir = Path(out_root) / f"{name}-{mode}" / f"seed{seed}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    arms, started = {}, time.perf_counter()
    with _torch_threads(threads):
        for value, cfg in configs.items():
            out = run_dir / f"{exp.switch}={value}"
            cfg = dataclasses.replace(cfg, out=str(out), resume=resume and (out / "config.json").exists())
            train(cfg, progress=progress)
            arm = summarize_arm(read_metrics(out), model["num_layers"], divergence_factor)
            arms[str(value)] = {"complete": bool(arm["steps"]) and arm["steps"][-1] == settings["max_steps"], **arm}
    results = {"experiment": name, "mode": mode, "seed": seed, "switch": exp.switch, "question": exp.question,
               "run_dir": str(run_dir),
               "divergence_factor": divergence_factor, "settings": {"model": model, "train": settings},
               "wall_seconds": time.perf_counter() - started, "arms": arms}
    text = json.dumps(results, indent=1) + "\n"
    path = results_path(name, mode, out_root)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: f.write(text.encode()))
    return results


# ------------------------------------------------------------------------------------------------------------------
# command line

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m glm_mini.experiments", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("name", choices=sorted(EXPERIMENTS), help="which experiment: " + "; ".join(
        f"{e.name}: {e.switch} in {list(e.values)}" for e in EXPERIMENTS.values()))
    p.add_argument("--mode", default="fast", choices=MODES,
                   help="fast: the notebook's setting (about a minute on 2 CPU cores); full: deeper/longer runs")
    p.add_argument("--out", default=DEFAULT_OUT,
                   help="folder for the runs (OUT/NAME-MODE/...) and the results OUT/NAME-MODE.json")
    p.add_argument("--seed", type=int, default=0, help="seed of init, data order and objective, shared by all arms")
    p.add_argument("--resume", action="store_true",
                   help="continue each arm from its latest checkpoint (a finished arm is only re-read)")
    p.add_argument("--lr", type=float, default=None, help="override the experiment's peak learning rate")
    p.add_argument("--max-steps", type=int, default=None, help="override the experiment's number of steps")
    p.add_argument("--stop-after-step", type=int, default=None,
                   help="end each arm after step K with a checkpoint, as if interrupted (continue with --resume)")
    p.add_argument("--divergence-factor", type=float, default=DIVERGENCE_FACTOR,
                   help="a loss above this x its running minimum (or NaN/inf) counts as a divergence event")
    p.add_argument("--threads", type=int, default=1, help="torch threads while training")
    add_progress_flag(p, "the trainer's progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        results = run_experiment(args.name, args.mode, args.out, args.seed, args.resume, args.lr, args.max_steps,
                                 args.stop_after_step, args.divergence_factor, args.threads, args.progress)
    except (ValueError, TypeError, FileExistsError, FileNotFoundError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(outcome_line(results))
    print(f"results: {results_path(args.name, args.mode, args.out)} ({results['wall_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
