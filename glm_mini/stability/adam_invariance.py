"""Why shrinking one parameter's whole gradient does (almost) nothing under Adam, and what breaks the invariance.

How it works
------------
Adam's update for a parameter fed gradients g_1..g_t is (``glm_mini/training/optimizer.py``)

    m_t = β1·m_{t-1} + (1 − β1)·g_t,    v_t = β2·v_{t-1} + (1 − β2)·g_t²,    Δθ_t = −lr · m̂_t / (√v̂_t + ε)

Feed it α·g instead: m scales by α, √v by |α|, and Δθ = −lr · α·m̂ / (α·√v̂ + ε), the same step up to ε. With the
kit's default (``shrink_logit_embedding_gradient=True``) embedding gradient shrink multiplies the *whole* gradient of
the tied word embedding by α (both paths into it), so AdamW undoes it. What sees the raw scale does not: the global
gradient clip (``glm_mini.stability.clipping``), fp16 loss scaling, and EGS on the input path alone (then only part
of the embedding's gradient shrinks, which changes its direction).

``adam_update`` is one tensor's total Adam update (``torch.optim.Adam``, no weight decay), the reference of notebook
05's exercise. ``egs_path_difference`` measures the invariance on the real model: two runs of the kit's trainer that
differ only in α (same seed, data and init) and the relative distance between where they end,

    d = ‖θ_α − θ_1‖ / ‖θ_1 − θ_0‖      (θ_0 the shared initialization),

over all weights and per group (the embedding, the rest). d ≈ 0 means α changed nothing; d ≈ 1 means the runs went
as far apart as each went from the start.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shutil
from pathlib import Path

import torch

DEFAULT_OUT = "build/experiments"


def adam_update(grads: torch.Tensor, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.95),
                eps: float = 1e-8) -> torch.Tensor:
    """θ_T − θ_0 after Adam steps with the gradients ``grads[0], ..., grads[T-1]`` (each the shape of θ)."""
    if not isinstance(grads, torch.Tensor) or grads.dim() < 1 or grads.shape[0] < 1:
        raise ValueError(f"grads: expected a tensor [steps, ...] with at least one step, got "
                         f"{tuple(grads.shape) if isinstance(grads, torch.Tensor) else type(grads).__name__}")
    theta = torch.zeros_like(grads[0], requires_grad=True)
    optimizer = torch.optim.Adam([theta], lr=lr, betas=betas, eps=eps)
    for g in grads:
        theta.grad = g.clone()
        optimizer.step()
    return theta.detach()


def _run(settings: dict, alpha: float, out_root: Path):
    from glm_mini.train import TrainConfig, train
    from glm_mini.training.checkpoint import latest_checkpoint, load_checkpoint

    overrides = {**settings.get("config_overrides", {}), "embedding_gradient_shrink_alpha": alpha}
    if alpha == 1.0:  # no shrink: which paths it would act on changes nothing, so every α = 1 twin is one run
        overrides.pop("shrink_logit_embedding_gradient", None)
    cfg = TrainConfig(**{**settings, "config_overrides": overrides, "out": ""})
    key = json.dumps({k: v for k, v in cfg.to_json().items() if k not in ("out", "resume")}, sort_keys=True)
    out = out_root / f"alpha{alpha:g}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    if not (out / "checkpoints").is_dir():
        if out.exists():
            shutil.rmtree(out)  # an interrupted run: train it again
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            train(dataclasses.replace(cfg, out=str(out)), progress=False, plots=False)
        finally:
            torch.set_num_threads(previous)
    return cfg, load_checkpoint(latest_checkpoint(out))["model"]


def egs_path_difference(alpha: float = 0.1, clip_grad: float = 1e9, max_steps: int = 20, lr: float = 3e-3,
                        seed: int = 0, config_overrides: dict | None = None, out_root: str | Path = DEFAULT_OUT,
                        **train_fields) -> dict[str, float]:
    """``{"total", "embedding", "rest"}``: d (module docstring) between a run with EGS α = ``alpha`` and one with α = 1.

    ``clip_grad`` 1e9 switches the global clip off in practice; 1.0 is GLM-130B's. The runs (``glm_mini.train.train``
    on the ``nano`` preset with ``config_overrides``) go to ``OUT/adam-invariance/`` and are reused by a rerun."""
    from glm_mini.model import GLM

    if not (isinstance(alpha, (int, float)) and 0 < alpha <= 1):
        raise ValueError(f"alpha: expected the EGS factor in (0, 1], got {alpha!r}")
    settings = {"preset": "nano", "max_steps": max_steps, "lr": lr, "seed": seed, "clip_grad": clip_grad,
                "warmup_steps": 0, "batch_size": 8, "seq_len": 64, "val_batches": 1,
                "config_overrides": dict(config_overrides or {}), **train_fields}
    root = Path(out_root) / "adam-invariance"
    cfg, shrunk = _run(settings, float(alpha), root)
    _, plain = _run(settings, 1.0, root)
    torch.manual_seed(seed)  # the trainer's init draw (glm_mini.train.train seeds, then builds the model)
    start = GLM(cfg.model_config()).state_dict()
    apart = {"embedding": 0.0, "rest": 0.0}
    travelled = {"embedding": 0.0, "rest": 0.0}
    for name, theta in plain.items():
        if not theta.is_floating_point() or name not in start:
            continue
        group = "embedding" if name == "transformer.word_embeddings.weight" else "rest"
        apart[group] += float((shrunk[name].double() - theta.double()).pow(2).sum())
        travelled[group] += float((theta.double() - start[name].double()).pow(2).sum())
    out = {g: math.sqrt(apart[g] / travelled[g]) for g in apart}
    out["total"] = math.sqrt(sum(apart.values()) / sum(travelled.values()))
    return out
