"""Train a GLM with GLM-130B's recipe: ``python -m glm_mini.train --preset nano --max-steps 20 --out build/runs/x``
(or ``--config recipes/notebook06_mini.toml``: the same flags in a TOML file, the command line on top).

How it works
------------
One optimizer step t (docs/glm130b_facts.md §2.1-§2.6; each piece lives in ``glm_mini/training/``):

1. draw B(t) windows of ``seq_len`` corpus tokens (batch-size ramp-up, ``schedule.batch_size_at``) and turn them into
   GLM samples (``glm_mini.objective.sample_batch``: 30% ``[MASK]`` / 70% ``[gMASK]`` sequences, MIP at 5% of tokens;
   ``--mask-share`` changes the 30% (``--mask-ratio`` and ``--span-lambda`` the spans' share and mean length),
   ``--objective causal`` trains the left-to-right twin: ``objective_config``);
   steps inside ``--skip-steps`` ranges draw their batch and stop here (the paper's loss-spike remedy);
2. set lr(t) (warm-up, cosine to 10%) and the EGS α(t); forward under the chosen precision and take the token mean of
   the cross-entropy over the loss mask (Part B / the [gMASK] suffix / the MIP answer):
       loss = Σ_i m_i · CE(logits_i, y_i) / Σ_i m_i
3. backward (×S under fp16 loss scaling, then ÷S), gradient norms per module before clipping, spike check, clip the
   total norm at 1.0, AdamW step (β 0.9/0.95, wd 0.1 except LayerNorms and biases);
4. append the step's row to ``metrics.jsonl``, evaluate on fixed validation batches every ``--eval-every`` steps,
   and checkpoint atomically every ``--save-every`` steps (and at the end, and at ``--stop-after-step``). A step
   whose loss is NaN or infinite writes its row and stops the run (``NonFiniteLoss``, exit 2 from the CLI).

Every random draw comes from state that the checkpoint saves (torch's generator for init and dropout, the objective's
``random.Random``, the data cursor), so a run stopped at step k and resumed with ``--resume`` computes exactly the
losses the uninterrupted run computes. ``DIR`` holds ``config.json``, ``metrics.jsonl``, ``checkpoints/`` and
``plots.png``; a non-empty ``DIR`` without the trainer's ``config.json`` is someone else's folder and is refused
before anything is written, and a run folder may be moved or copied and resumed where it now is.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch

from glm_mini.cli.config_file import add_config_flag, parse_args
from glm_mini.cli.vocabulary import add_progress_flag
from glm_mini.config import PRESETS, GLMConfig
from glm_mini.data.corpus import NAMED_CORPORA
from glm_mini.model import GLM
from glm_mini.training.checkpoint import (CheckpointError, latest_checkpoint, load_checkpoint, rng_state,
                                          save_checkpoint, set_rng_state, write_atomic)
from glm_mini.training.metrics import MetricsLog, read_metrics
from glm_mini.training.optimizer import build_adamw
from glm_mini.training.precision import PRECISIONS, check_precision, grad_scaler
from glm_mini.training.schedule import egs_alpha_at
from glm_mini.training.spikes import SpikeDetector, in_ranges, parse_skip_ranges
from glm_mini.training.step import (LocalModel, NonFiniteLoss, forward_loss,  # noqa: F401
                                    masked_cross_entropy, next_batch, train_step)

CONFIG_FILE = "config.json"
# fields a resumed run may change: they decide where the run lives, when to stop, save, evaluate or skip, never what
# a step computes ("out" differs when the run folder was moved or copied)
RESUMABLE_FIELDS = ("out", "resume", "stop_after_step", "save_every", "eval_every", "skip_steps", "spike_action",
                    "keep_checkpoints")
# what a checkpoint must hold to resume from it
RESUME_KEYS = ("step", "model", "optimizer", "scaler", "spikes", "data", "objective_rng", "rng", "config")
MAX_LR = 1.0  # AdamW moves every weight by about lr per step: above 1 a step outgrows the weights (130B: 8e-5)
SEED_RANGE = (0, 2**32 - 1)  # seeds torch, the data order (seed * 1_000_003 + epoch) and random.Random alike


@dataclass(frozen=True)
class TrainConfig:
    preset: str = "nano"
    max_steps: int = 100
    out: str = "build/runs/glm"
    resume: bool = False
    save_every: int = 0  # 0: only at the end (and at stop_after_step)
    stop_after_step: int | None = None
    eval_every: int = 0  # 0: only at the last step
    seed: int = 0
    corpus: str = "default"
    text_column: str = "text"  # the column of a user corpus that holds the text
    precision: str = "fp32"
    batch_size: int = 8
    seq_len: int = 128
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int | None = None  # None: 5% of max_steps, at least 1
    batch_size_start: int | None = None  # None: batch_size * 192/4224 (the paper's ratio), at least 1
    batch_rampup_steps: int | None = None  # None: 2.5% of max_steps (the paper's share)
    weight_decay: float = 0.1
    clip_grad: float = 1.0
    egs_ramp: tuple[int, int] | None = None  # (x1, x2): EGS α ramps linearly to 1 between these steps
    skip_steps: str = ""  # "a-b,c-d": steps whose batches are drawn but not trained on
    spike_factor: float = 1.5
    spike_window: int = 20
    spike_action: str = "warn"  # "warn": flag only; "skip": also drop the spiking step's update
    mip: bool | None = None  # None: on for the default corpus, off for a user corpus
    objective: str = "glm"  # "glm" (blank infilling) or "causal" (the left-to-right twin)
    mask_share: float | None = None  # share of self-supervised rows that are [MASK] rows; None: the paper's 0.3
    mask_ratio: float = 0.15  # share of a [MASK] sample's text that its spans cover (the paper's 15%)
    mip_ratio: float = 0.05  # share of rows (= tokens) from instruction data when MIP is on (the paper's 5%)
    span_lambda: float = 3.0  # Poisson mean of a [MASK] span's length (the paper's 3)
    val_batches: int = 4
    keep_checkpoints: int = 2
    device: str = "auto"
    config_overrides: dict = field(default_factory=dict)  # GLMConfig fields, e.g. {"num_layers": 4}

    def __post_init__(self):
        def need(ok: bool, name: str, expected: str):
            if not ok:
                raise ValueError(f"TrainConfig.{name}: expected {expected}, got {getattr(self, name)!r}")

        def number(name: str) -> bool:
            value = getattr(self, name)
            return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

        need(self.preset in PRESETS, "preset", f"one of {sorted(PRESETS)}")
        need(isinstance(self.seed, int) and not isinstance(self.seed, bool)
             and SEED_RANGE[0] <= self.seed <= SEED_RANGE[1], "seed", f"an int in [{SEED_RANGE[0]}, 2**32 - 1]")
        for name in ("max_steps", "batch_size", "seq_len", "val_batches"):
            need(isinstance(getattr(self, name), int) and getattr(self, name) >= 1, name, "an int >= 1")
        for name in ("save_every", "eval_every", "keep_checkpoints"):
            need(isinstance(getattr(self, name), int) and getattr(self, name) >= 0, name, "an int >= 0")
        need(self.stop_after_step is None or 1 <= self.stop_after_step <= self.max_steps, "stop_after_step",
             f"None or a step in [1, max_steps={self.max_steps}]")
        need(self.precision in PRECISIONS, "precision", f"one of {PRECISIONS}")
        need(number("lr") and 0 < self.lr <= MAX_LR, "lr", f"a learning rate in (0, {MAX_LR}]")
        need(number("min_lr_ratio") and 0.0 <= self.min_lr_ratio <= 1.0, "min_lr_ratio", "a ratio in [0, 1]")
        need(self.warmup_steps is None or 0 <= self.warmup_steps <= self.max_steps, "warmup_steps",
             f"None or in [0, max_steps={self.max_steps}]")
        need(self.batch_size_start is None or 1 <= self.batch_size_start <= self.batch_size, "batch_size_start",
             f"None or in [1, batch_size={self.batch_size}]")
        need(self.batch_rampup_steps is None or self.batch_rampup_steps >= 0, "batch_rampup_steps", "None or >= 0")
        need(number("weight_decay") and 0 <= self.weight_decay * self.lr < 1, "weight_decay",
             f"a finite value >= 0 with lr x weight_decay < 1 (AdamW scales every decayed weight by "
             f"1 - lr x weight_decay per step; lr={self.lr})")
        need(number("clip_grad") and self.clip_grad > 0, "clip_grad", "a positive finite norm")
        need(number("spike_factor") and self.spike_factor > 1, "spike_factor", "a finite multiple > 1 of the median")
        need(self.spike_action in ("warn", "skip"), "spike_action", "'warn' or 'skip'")
        need(self.device in ("auto", "cpu", "cuda"), "device", "'auto', 'cpu' or 'cuda'")
        need(isinstance(self.config_overrides, dict), "config_overrides", "a dict of GLMConfig fields")
        need(isinstance(self.text_column, str) and self.text_column != "", "text_column", "a column name")
        skip = parse_skip_ranges(self.skip_steps)
        last = self.stop_after_step or self.max_steps
        need(not in_ranges(last, skip) and not in_ranges(self.max_steps, skip), "skip_steps",
             f"ranges that leave step {last}{' and the last step' * (last != self.max_steps)} to train (the run "
             f"checkpoints and evaluates there)")
        self.objective_config()  # validates objective and mask_share
        SpikeDetector(self.spike_factor, self.spike_window)
        self.model_config()  # validates config_overrides and seq_len against the model
        if self.egs_ramp is not None:
            egs_alpha_at(1, 1.0, tuple(self.egs_ramp))

    # --- what the defaults resolve to -------------------------------------------------------------------------
    def model_config(self) -> GLMConfig:
        config = PRESETS[self.preset].replace(**self.config_overrides)
        if self.seq_len > config.max_sequence_length:
            raise ValueError(f"TrainConfig.seq_len: expected at most the model's max_sequence_length "
                             f"{config.max_sequence_length}, got {self.seq_len}")
        return config

    def objective_config(self):
        from glm_mini.objective import objective_config

        try:
            return objective_config(self.objective, self.mask_share, mask_ratio=self.mask_ratio, mip_ratio=self.mip_ratio,
                                    span_lambda=self.span_lambda,
                                    two_d=PRESETS[self.preset].replace(**self.config_overrides).position_encoding_2d)
        except ValueError as err:
            raise ValueError(f"TrainConfig.{str(err)}") from None

    @property
    def warmup(self) -> int:
        return self.warmup_steps if self.warmup_steps is not None else max(1, round(0.05 * self.max_steps))

    @property
    def batch_start(self) -> int:
        return self.batch_size_start or max(1, round(self.batch_size * 192 / 4224))

    @property
    def rampup(self) -> int:
        return self.batch_rampup_steps if self.batch_rampup_steps is not None else round(0.025 * self.max_steps)

    @property
    def use_mip(self) -> bool:
        return self.corpus in NAMED_CORPORA if self.mip is None else self.mip

    def to_json(self) -> dict:
        """The fields, plus ``model``: the resolved GLMConfig (so a run survives a later change to its preset)."""
        d = dataclasses.asdict(self)
        d["egs_ramp"] = list(self.egs_ramp) if self.egs_ramp is not None else None
        d["model"] = dataclasses.asdict(self.model_config())
        return d


@dataclass
class TrainResult:
    out_dir: Path
    steps_done: int  # the run's last completed step
    losses: list[float]  # training loss of every step that trained, from metrics.jsonl
    final_loss: float | None
    final_val_loss: float | None  # the last val_loss in metrics.jsonl
    tokens_per_second: float  # tokens (batch x seq_len) per second of this call (0 when it trained nothing)


# ------------------------------------------------------------------------------------------------------------------
# pieces of the loop

@torch.no_grad()
def evaluate(model: GLM, batches: list[dict[str, torch.Tensor]], precision: str, device: torch.device) -> float:
    """Loss-token mean of the validation loss over ``batches`` (eval mode: no dropout)."""
    if not batches or sum(int(b["loss_mask"].sum()) for b in batches) == 0:
        raise ValueError(f"batches: expected validation batches with at least one loss token, got {len(batches)} "
                         "batches and none")
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in batches:
        batch = {k: v.to(device) for k, v in batch.items()}
        n = int(batch["loss_mask"].sum())
        total += float(forward_loss(model, batch, precision, device)) * n
        count += n
    model.train(was_training)
    return total / count


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' was asked for but torch sees no CUDA device")
    return torch.device(name)


def _check_out_dir(cfg: TrainConfig) -> Path:
    """The run folder, after checking it is this trainer's: a new or empty folder, or (with ``--resume``) one whose
    ``config.json`` is a run of the same config. A non-empty folder without the trainer's ``config.json`` is someone
    else's: refused, naming what is in it, before anything is written."""
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out: {out} is a file, not a folder; choose a folder for the run (nothing was "
                                 "touched)")
    saved = out / CONFIG_FILE
    previous = _run_config(saved) if saved.exists() else None
    if previous is None:
        present = sorted(p.name + "/" * p.is_dir() for p in out.iterdir()) if out.is_dir() else []
        if present:
            shown = ", ".join(present[:8]) + (f" and {len(present) - 8} more" if len(present) > 8 else "")
            raise FileExistsError(f"out: {out} is not empty and holds no glm_mini.train run (no trainer's "
                                  f"{CONFIG_FILE}): it has {shown}; choose a new or empty folder (nothing was touched)")
        if cfg.resume:
            raise FileNotFoundError(f"resume: {saved} does not exist, so {out} holds no run to resume")
        return out
    if not cfg.resume:
        raise FileExistsError(f"out: {out} already holds a run ({saved.name} exists); pass --resume to continue it, "
                              "or choose another --out (nothing was overwritten)")
    _check_same_run(previous, cfg, f"the run in {out}")
    read_metrics(out)  # a missing file or a corrupt line is named now, before the resume writes anything
    return out


def _run_config(saved: Path) -> dict:
    """``config.json`` of a run folder; ``FileExistsError`` naming it when it is not this trainer's (unreadable, not
    a JSON object, or without the trainer's fields)."""
    try:
        previous = json.loads(saved.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        problem = f"cannot be read as JSON ({type(err).__name__}: {err})"
    else:
        if isinstance(previous, dict) and {"preset", "max_steps", "seed"} <= set(previous):
            return previous
        problem = "is not a glm_mini.train run config (a JSON object with 'preset', 'max_steps', 'seed')"
    raise FileExistsError(f"out: {saved} {problem}; the folder holds someone else's files, so the trainer neither "
                          "resumes nor writes there: choose another --out (nothing was touched)")


def _check_same_run(previous: dict, cfg: TrainConfig, what: str) -> None:
    """ValueError naming every field (but the resumable ones) where ``previous`` differs from ``cfg``."""
    if not isinstance(previous, dict):
        raise CheckpointError(f"resume: {what} records its config as a {type(previous).__name__}, expected a dict")
    current = cfg.to_json()
    previous = _with_added_fields(previous, current)
    differ = sorted(k for k in set(previous) | set(current)
                    if k not in RESUMABLE_FIELDS and previous.get(k) != current.get(k))
    if differ:
        detail = ", ".join(f"{k}: run has {previous.get(k)!r}, asked {current.get(k)!r}" for k in differ)
        raise ValueError(f"resume: the config does not match {what} ({detail}); resume with the run's settings "
                         "or choose another --out")


def _with_added_fields(previous: dict, current: dict) -> dict:
    """``previous`` (a run's saved config) with the fields a later version of the kit added to ``TrainConfig`` or
    ``GLMConfig`` filled in at their defaults: a run saved before a new switch existed resumes when the switch is
    left at its default (it trained with that behaviour), and is refused when it is set otherwise."""
    def defaults(cls) -> dict:
        return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}

    filled = {**{k: v for k, v in defaults(TrainConfig).items() if k in current and k not in previous}, **previous}
    model, asked = previous.get("model"), current.get("model")
    if isinstance(model, dict) and isinstance(asked, dict):
        filled["model"] = {**{k: v for k, v in defaults(GLMConfig).items() if k in asked and k not in model}, **model}
    return filled


def _write_config(out: Path, cfg: TrainConfig) -> None:
    text = json.dumps(cfg.to_json(), indent=2) + "\n"
    write_atomic(out / CONFIG_FILE, lambda f: f.write(text.encode()))


# ------------------------------------------------------------------------------------------------------------------
# the loop

def train(cfg: TrainConfig, progress: bool | None = True, probes: Sequence = (), plots: bool = True) -> TrainResult:
    """Train (or, with ``cfg.resume``, continue) the run in ``cfg.out``; see the module docstring.

    ``progress``: show the progress bar (None: only when stderr is a terminal, ``glm_mini.cli.progress``).
    ``probes``: measurements that watch the model without changing what a step computes (e.g.
    ``glm_mini.stability.AttentionLogitProbe``): each gets ``attach(model)`` once the model is built, its
    ``read()`` dict is added to every step's metrics row, and ``detach()`` ends it. ``plots=False`` skips
    ``plots.png`` (about 2 s a run, which a sweep of many short runs does not need)."""
    from glm_mini.cli.progress import progress_bar
    from glm_mini.training.data import DataCursor, load_train_data, validation_batches

    out = _check_out_dir(cfg)
    device = resolve_device(cfg.device)
    check_precision(cfg.precision, device)
    model_config = cfg.model_config()
    skip_ranges = parse_skip_ranges(cfg.skip_steps)

    data = load_train_data(cfg.corpus, model_config.vocab_size, cfg.seq_len, cfg.use_mip, cfg.text_column)
    special = data.tokenizer.special
    objective = cfg.objective_config()
    val = validation_batches(data, cfg.val_batches, cfg.batch_size, cfg.seq_len, special, cfg.seed, objective)

    torch.manual_seed(cfg.seed)
    model = GLM(model_config).to(device)
    optimizer = build_adamw(model, cfg.lr, cfg.weight_decay)
    scaler = grad_scaler(cfg.precision, device)
    detector = SpikeDetector(cfg.spike_factor, cfg.spike_window)
    cursor = DataCursor(len(data.train), cfg.seed)
    objective_rng = random.Random(f"{cfg.seed}/objective")

    start = 0
    if cfg.resume:
        path = latest_checkpoint(out)
        state = load_checkpoint(path, required=RESUME_KEYS)
        _check_same_run(state["config"], cfg, f"checkpoint {path}")
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise CheckpointError(f"checkpoint in {out} does not fit this model/optimizer: {err}") from err
        if state["scaler"]:
            scaler.load_state_dict(state["scaler"])
        detector.load_state_dict(state["spikes"])
        cursor.load_state_dict(state["data"])
        objective_rng.setstate(state["objective_rng"])
        set_rng_state(state["rng"])
        start = state["step"]
    _write_config(out, cfg)
    log = MetricsLog(out, resume_step=start)
    for probe in probes:
        probe.attach(model)

    def checkpoint(step: int) -> None:
        save_checkpoint(out, step, {
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler.is_enabled() else {}, "spikes": detector.state_dict(),
            "data": cursor.state_dict(), "objective_rng": objective_rng.getstate(), "rng": rng_state(),
            "config": cfg.to_json()}, keep=cfg.keep_checkpoints)

    last = cfg.stop_after_step or cfg.max_steps
    bar = progress_bar(total=cfg.max_steps, initial=start, enabled=progress, desc=f"train {model_config.num_layers}L",
                       unit="step")
    tokens_seen, seconds, done = 0, 0.0, start
    local = LocalModel(model, cfg.precision, device)
    model.train()
    try:
        for step in range(start + 1, last + 1):
            t0 = time.perf_counter()
            batch = next_batch(step, cfg, data, cursor, objective_rng, objective)
            if in_ranges(step, skip_ranges):
                done = step
                bar.update(1)
                continue
            batch = {k: v.to(device) for k, v in batch.items()}
            row = train_step(local, optimizer, scaler, detector, cfg, step, batch,
                             model_config.embedding_gradient_shrink_alpha, t0)
            row.update({k: v for probe in probes for k, v in probe.read().items()})  # observers only (stability lab)
            loss_value, spike, skipped = row["loss"], row["spike"], row["skipped"]
            tokens_seen, seconds = tokens_seen + row["tokens"], seconds + row["seconds"]
            if spike:
                bar.write(f"step {step}: loss {loss_value:.3f} is a spike (> {cfg.spike_factor} x the median of the "
                          f"last {cfg.spike_window}); {'update dropped' if skipped else 'kept'}. The paper's remedy: "
                          f"resume from an earlier checkpoint with --skip-steps covering this step")
            if (cfg.eval_every and step % cfg.eval_every == 0) or step == last:
                row["val_loss"] = evaluate(model, val, cfg.precision, device)
            log.write(row)
            if not math.isfinite(loss_value):  # the weights or the forward went bad: nothing after this step is real
                raise NonFiniteLoss(step, loss_value, log.path)
            bar.set_postfix(loss=f"{loss_value:.3f}", lr=f"{row['lr']:.2e}", refresh=False)
            bar.update(1)
            if (cfg.save_every and step % cfg.save_every == 0) or step == last:
                checkpoint(step)
            done = step
    except KeyboardInterrupt:
        # a step cut short has moved the data cursor and RNGs: only a checkpoint already on disk is safe to resume from
        bar.write(f"interrupted in step {done + 1}; resume with --resume from the last checkpoint in {out}/checkpoints")
        raise
    finally:
        bar.close()
        log.close()
        for probe in probes:
            probe.detach()

    rows = read_metrics(out)
    losses = [r["loss"] for r in rows]
    val_losses = [r["val_loss"] for r in rows if "val_loss" in r]
    if rows and done == cfg.max_steps and plots:
        from glm_mini.training.plots import save_training_plots

        save_training_plots(rows, out / "plots.png")
    return TrainResult(out, done, losses, losses[-1] if losses else None,
                       val_losses[-1] if val_losses else None, tokens_seen / seconds if seconds else 0.0)


def read_run_config(out_dir: str | Path) -> TrainConfig:
    """The ``TrainConfig`` a run in ``out_dir`` was trained with (its ``config.json``), e.g. to train a twin that
    differs in one field: ``dataclasses.replace(read_run_config(d), out=..., mip=False)``."""
    saved = Path(out_dir) / CONFIG_FILE
    if not saved.is_file():
        raise FileNotFoundError(f"out_dir: {out_dir} holds no training run ({saved} does not exist)")
    try:
        fields = json.loads(saved.read_text())
        fields.pop("model", None)  # derived from the preset and the overrides
        if fields.get("egs_ramp") is not None:
            fields["egs_ramp"] = tuple(fields["egs_ramp"])
        return TrainConfig(**fields)
    except (json.JSONDecodeError, AttributeError, TypeError) as err:
        raise ValueError(f"{saved}: expected a training run's config, got {type(err).__name__}: {err}") from None


def load_model(out_dir: str | Path) -> GLM:
    """The model of the latest checkpoint of the run in ``out_dir``, on CPU, in eval mode."""
    out = Path(out_dir)
    saved = out / CONFIG_FILE
    if not saved.is_file():
        raise FileNotFoundError(f"out_dir: {out} holds no training run ({saved} does not exist)")
    try:
        model_fields = json.loads(saved.read_text())["model"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{saved}: expected a training run's config with a 'model' entry (the resolved GLMConfig "
                         f"that newer runs record), got {type(err).__name__}: {err}; retrain into a new folder"
                         ) from None
    model_config = GLMConfig(**model_fields)
    state = load_checkpoint(latest_checkpoint(out), required=("model",))
    model = GLM(model_config)
    model.load_state_dict(state["model"])
    return model.eval()


# ------------------------------------------------------------------------------------------------------------------
# command line

def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _checked(convert, ok, expected: str):
    """An argparse type: ``convert(text)``, refused with "expected ..." unless ``ok(value)`` (NaN fails every
    comparison, so it is refused too)."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value
    return parse


def _override(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected FIELD=VALUE (a GLMConfig field), got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m glm_mini.train", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", default=d.preset, choices=sorted(PRESETS), help="model size (glm_mini.PRESETS)")
    p.add_argument("--max-steps", type=_positive_int, required=True,
                   help="optimizer steps of the whole run; also the length of the LR schedule")
    p.add_argument("--out", required=True, help="run folder: config.json, metrics.jsonl, checkpoints/, plots.png")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    p.add_argument("--save-every", type=_non_negative_int, default=d.save_every,
                   help="checkpoint every K steps (0: only at the end)")
    p.add_argument("--stop-after-step", type=_positive_int, default=None,
                   help="end after step K with a checkpoint, as if interrupted (resume later with --resume)")
    p.add_argument("--eval-every", type=_non_negative_int, default=d.eval_every,
                   help="validation loss every K steps (0: only at the last step)")
    p.add_argument("--seed", type=_checked(int, lambda v: SEED_RANGE[0] <= v <= SEED_RANGE[1],
                                           "an int in [0, 2**32 - 1]"), default=d.seed, help="seed of init, data order, objective and dropout")
    p.add_argument("--corpus", default=d.corpus,
                   help="'default' (the kit's generated EN/ZH corpus), 'lessons' or 'plain' (its variants the "
                        "reference models and the stability sweeps train on), a folder saved with datasets' "
                        "save_to_disk, a .txt/.jsonl/.json/.parquet file or glob pattern of files, or a Hub dataset "
                        "name")
    p.add_argument("--text-column", default=d.text_column, help="the column of --corpus that holds the text")
    p.add_argument("--precision", default=d.precision, choices=PRECISIONS,
                   help="fp32; bf16 autocast (CPU or GPU); fp16 autocast with dynamic loss scaling (GPU only)")
    p.add_argument("--batch-size", type=_positive_int, default=d.batch_size, help="global batch after ramp-up")
    p.add_argument("--seq-len", type=_positive_int, default=d.seq_len, help="tokens per sequence")
    p.add_argument("--lr", type=_checked(float, lambda v: 0 < v <= MAX_LR, f"a learning rate in (0, {MAX_LR}]"),
                   default=d.lr, help="peak learning rate (the paper: 8e-5 at 130B)")
    p.add_argument("--min-lr-ratio", type=_checked(float, lambda v: 0 <= v <= 1, "a ratio in [0, 1]"),
                   default=d.min_lr_ratio, help="cosine floor as a share of --lr")
    p.add_argument("--warmup-steps", type=_non_negative_int, default=None,
                   help="linear warm-up steps (default: 5%% of --max-steps, at least 1)")
    p.add_argument("--batch-size-start", type=_positive_int, default=None,
                   help="batch size at step 1 (default: --batch-size x 192/4224, the paper's ratio)")
    p.add_argument("--batch-rampup-steps", type=_non_negative_int, default=None,
                   help="steps to ramp the batch size up to --batch-size (default: 2.5%% of --max-steps)")
    p.add_argument("--weight-decay", type=_checked(float, lambda v: 0 <= v < math.inf, "a finite value >= 0"),
                   default=d.weight_decay, help="AdamW weight decay (not on LN/bias)")
    p.add_argument("--clip-grad", type=_positive_float, default=d.clip_grad, help="max total gradient norm")
    p.add_argument("--egs-ramp", type=_positive_int, nargs=2, metavar=("X1", "X2"), default=None,
                   help="ramp the embedding-gradient-shrink alpha linearly to 1 between steps X1 and X2")
    p.add_argument("--skip-steps", default=d.skip_steps,
                   help="steps whose batches are drawn but not trained on, e.g. '40701-40900,42401-42600'")
    p.add_argument("--spike-factor", type=_checked(float, lambda v: 1 < v < math.inf, "a finite multiple > 1"),
                   default=d.spike_factor,
                   help="a loss above this x the median of the last --spike-window losses is a spike")
    p.add_argument("--spike-window", type=_positive_int, default=d.spike_window, help="losses the median is over")
    p.add_argument("--spike-action", default=d.spike_action, choices=("warn", "skip"),
                   help="on a spike: only flag it, or also drop that step's update")
    p.add_argument("--mip", action=argparse.BooleanOptionalAction, default=None,
                   help="mix in multi-task instruction data at 5%% of tokens (default: on for the kit's own corpora)")
    p.add_argument("--objective", default=d.objective, choices=("glm", "causal"),
                   help="glm: GLM's blank infilling; causal: the same model trained left to right (the causal twin)")
    p.add_argument("--mask-share", type=float, default=None,
                   help="share of self-supervised rows that are [MASK] rows (default: the paper's 0.3; 0 for causal)")
    p.add_argument("--mask-ratio", type=float, default=d.mask_ratio,
                   help="share of a [MASK] sample's text covered by its spans (the paper's 0.15)")
    p.add_argument("--mip-ratio", type=float, default=d.mip_ratio,
                   help="share of rows (= of tokens) from instruction data when MIP is on (the paper's 0.05)")
    p.add_argument("--span-lambda", type=float, default=d.span_lambda,
                   help="Poisson mean of a [MASK] span's length (the paper's 3)")
    p.add_argument("--val-batches", type=_positive_int, default=d.val_batches, help="batches per validation")
    p.add_argument("--keep-checkpoints", type=_non_negative_int, default=d.keep_checkpoints,
                   help="newest checkpoints kept (0: keep all)")
    p.add_argument("--device", default=d.device, choices=("auto", "cpu", "cuda"), help="where to train")
    p.add_argument("--set", dest="config_overrides", type=_override, action="append", default=[],
                   metavar="FIELD=VALUE", help="override a GLMConfig field, e.g. --set num_layers=4 (repeatable)")
    add_progress_flag(p, "the progress bar with its ETA")
    add_config_flag(p)
    return p


def train_options(args: argparse.Namespace, skip: tuple[str, ...] = ()) -> dict:
    """The ``TrainConfig`` fields of parsed flags (without the command line's own: --progress, --config, ``skip``)."""
    options = {k: v for k, v in vars(args).items() if k not in ("progress", "config") + skip}
    options["config_overrides"] = dict(options["config_overrides"])
    options["egs_ramp"] = tuple(options["egs_ramp"]) if options["egs_ramp"] else None
    return options


def main(argv: list[str] | None = None) -> int:
    args = parse_args(build_parser(), argv, "glm_mini.train")
    options = train_options(args)
    try:
        result = train(TrainConfig(**options), progress=args.progress)
    except (ValueError, OSError, CheckpointError, NonFiniteLoss) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    val = f", val loss {result.final_val_loss:.4f}" if result.final_val_loss is not None else ""
    loss = f"loss {result.final_loss:.4f}" if result.final_loss is not None else "no step trained yet"
    print(f"{result.out_dir}: step {result.steps_done}, {loss}{val}, {result.tokens_per_second:.0f} tokens/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
