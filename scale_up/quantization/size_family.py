"""The INT4-scale family: GLM models of three sizes, trained alike, to measure INT4's quality gap against size.

How it works
------------
GLM-130B's §4 ("GLM's INT4 weight quantization scaling law", Fig. 5 right; docs/glm130b_facts.md §4.6) reports that
the gap between a GLM in INT4 and in FP16 shrinks as the model grows, and ties INT4's quality to how narrow the
linear layers' weight distributions are. To put that claim to a measurement the kit trains one family of models that
differ only in size (``SIZES``: widths 32, 64 and 128 at two layers, 16x apart in the weights INT4 quantizes) with
one recipe otherwise (``RECIPE``: the first reference ``glm`` recipe, 1,500 steps of 8 x 128 tokens of the default
corpus, GLM's blank infilling with MIP), for seeds 0 and 1. The reference models have moved to a second recipe
for the evaluation lessons (``glm_mini.reference``); the family keeps the one it was trained with, since it compares
sizes with one another.

Every run is measured on its bf16-rounded weights, as shipped (``measure_member``):

- the quality per weight format (``quality.measure_quality``: validation loss and next-token accuracy on the same
  ``QUALITY_BATCHES`` fixed validation batches for every model) and, beside it, ``chance_levels``;
- the weight statistics of the four block linears (``weight_stats``), trained and at initialisation (the same seed
  rebuilds the trainer's initial model: ``initial_model``), and how far training moved them, ‖W − W₀‖ / ‖W₀‖.

The runs, manifests and files are made by ``glm_mini.reference``'s machinery for a second family (``train_run``,
``manifest_header``, ``write_shipped``, ``load_shipped``), so they are saved and checked as the reference models
are: ``data/reference/int4-scale/<size>.json`` (recipe, hashes, commit, curve, every seed's measurements) and one
``<size>-seed<S>.safetensors`` per seed (bf16). ``python -m scale_up.quantization.size_family`` (``make int4-scale``;
not part of ``make test``) retrains and measures them; a finished run in ``build/reference/int4-scale/`` is reused.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch

from glm_mini.model import GLM
from glm_mini.reference import (BUILD_DIR, CURVE_STEPS_CHECKED, REFERENCE_DIR, add_run_arguments, load_shipped,
                                manifest_header, read_manifest_file, train_run, write_shipped)

from .quality import chance_levels, measure_quality
from .weight_stats import distance_from, model_weight_stats

FAMILY = "int4-scale"
FAMILY_DIR = REFERENCE_DIR / FAMILY
RUNS_DIR = BUILD_DIR / FAMILY
# inner = 8/3 · hidden rounded to a multiple of 8, as the reference model's 168 for 64 and the mini preset's 344 for 128
SIZES = {
    "h32": {"num_layers": 2, "hidden_size": 32, "num_attention_heads": 4, "inner_hidden_size": 88},
    "h64": {"num_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "inner_hidden_size": 168},
    "h128": {"num_layers": 2, "hidden_size": 128, "num_attention_heads": 4, "inner_hidden_size": 344},
}
RECIPE = dict(preset="mini", corpus="default", seq_len=128, batch_size=8, max_steps=1500, lr=2e-3, mask_ratio=0.3,
              span_lambda=3.0, mip_ratio=0.1, eval_every=250, val_batches=4, save_every=500, keep_checkpoints=0,
              precision="fp32")
FLAGS = dict(objective="glm", mask_share=0.7, mip=True)  # GLM's blank infilling with MIP, [MASK] on 70% of its rows
SEEDS = 2
QUALITY_FORMATS = ("fp32", "int8", "int4")
QUALITY_BATCHES = 16  # 16 x 8 x 128 tokens of the validation split, ~7,000 loss tokens; the same for every model
CHANCE_BATCHES = 100  # training batches whose targets give the chance levels
RETRAIN = "`make int4-scale` (python -m scale_up.quantization.size_family)"


def recipe(size: str, seed: int = 0, out_root: str | Path = RUNS_DIR):
    """The ``TrainConfig`` of one run of the family: the reference ``glm`` recipe with the model of ``size``."""
    from glm_mini.train import TrainConfig

    _check_size(size)
    return TrainConfig(out=str(Path(out_root) / f"{size}-seed{seed}"), seed=seed,
                       **{**RECIPE, "config_overrides": SIZES[size]}, **FLAGS)


def _check_size(size: str) -> None:
    if size not in SIZES:
        raise ValueError(f"size: expected one of {tuple(SIZES)}, got {size!r}")


def initial_model(size: str, seed: int) -> GLM:
    """The model the trainer starts run (``size``, ``seed``) from: it seeds torch, then builds the model."""
    config = recipe(size, seed).model_config()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GLM(config).eval()


def quality_batches():
    """``(val_batches, chance)``: the fixed validation batches every model of the family is measured on, and the
    chance levels of their targets (``quality.chance_levels``)."""
    from glm_mini.training.data import load_train_data, target_counts, validation_batches

    cfg = recipe("h64", 0)  # only the data side is used: the same for every size
    vocab = cfg.model_config().vocab_size
    data = load_train_data(cfg.corpus, vocab, cfg.seq_len, cfg.use_mip)
    objective, special = cfg.objective_config(), data.tokenizer.special
    val = validation_batches(data, QUALITY_BATCHES, cfg.batch_size, cfg.seq_len, special, 0, objective)
    counts = target_counts(data, CHANCE_BATCHES, cfg.batch_size, cfg.seq_len, special, vocab, 0, objective)
    return val, chance_levels(counts, val)


def measure_member(model: GLM, start: GLM, val_batches: list[dict]) -> dict:
    """What the family records for one model: quality per format, weight statistics trained and at ``start`` (its
    initialisation), and the distance travelled from it."""
    return {"quality": {q.fmt: dataclasses.asdict(q) for q in measure_quality(model, val_batches, QUALITY_FORMATS)},
            "weights": {k: dataclasses.asdict(s) for k, s in model_weight_stats(model).items()},
            "weights_at_init": {k: dataclasses.asdict(s) for k, s in model_weight_stats(start).items()},
            "moved_from_init": distance_from(model, start)}


def parameter_counts(config) -> dict[str, int]:
    """``{"total": all parameters, "quantized": the block linears' weights that INT4 stores}``."""
    with torch.device("meta"):
        model = GLM(config)
    from .weight_stats import linear_weights

    quantized = sum(w.numel() for ws in linear_weights(model).values() for w in ws)
    return {"total": sum(p.numel() for p in model.parameters()), "quantized": quantized}


def ship_size(size: str, seeds: int = SEEDS, out_root: str | Path = RUNS_DIR, family_dir: str | Path = FAMILY_DIR,
              threads: int = 1, progress: bool = False) -> Path:
    """Train ``size`` for seeds ``0..seeds-1`` (or reuse finished runs), measure, and write its files."""
    _check_size(size)
    if not (isinstance(seeds, int) and seeds >= 1):
        raise ValueError(f"seeds: expected an int >= 1, got {seeds!r}")
    val, chance = quality_batches()
    records, models = [], []
    for seed in range(seeds):
        def measure_run(model: GLM, run_dir: Path, seed=seed) -> dict:
            return measure_member(model, initial_model(size, seed), val)

        model, record = train_run(recipe(size, seed, out_root), measure_run, threads, progress)
        records.append(record)
        models.append(model)
    cfg = recipe(size, 0, out_root)
    command = f"python -m scale_up.quantization.size_family --sizes {size} --seeds {seeds}"
    manifest = {
        "family": FAMILY, "size": size, "differs_by": SIZES[size],
        **manifest_header(cfg, models[0], command, code=("glm_mini", "scale_up")),
        "parameters": parameter_counts(models[0].config), "chance": chance,
        "quality_batches": QUALITY_BATCHES, "chance_batches": CHANCE_BATCHES,
        "files": {str(seed): weights_name(size, seed) for seed in range(seeds)},
        "check_tolerance": {"val_loss_rtol": 1e-4, "accuracy_atol_tokens": 2, "weights_rtol": 1e-6},
        "curve": records[0]["curve"], "curve_steps_checked": CURVE_STEPS_CHECKED, "curve_rtol": 1e-3,
        "seeds": records,
    }
    weights = {weights_name(size, seed): (model, {"family": FAMILY, "size": size, "seed": str(seed)})
               for seed, model in enumerate(models)}
    return write_shipped(family_dir, weights, f"{size}.json", manifest)


def weights_name(size: str, seed: int) -> str:
    return f"{size}-seed{seed}.safetensors"


def read_size_manifest(size: str, family_dir: str | Path = FAMILY_DIR) -> dict:
    _check_size(size)
    return read_manifest_file(Path(family_dir) / f"{size}.json", f"the {FAMILY} model {size!r}", RETRAIN)


def load_member(size: str, seed: int = 0, family_dir: str | Path = FAMILY_DIR) -> GLM:
    """The shipped model (``size``, ``seed``) in eval mode on CPU, in fp32."""
    manifest = read_size_manifest(size, family_dir)
    if str(seed) not in manifest["files"]:
        raise ValueError(f"seed: {FAMILY} {size} ships seeds {sorted(manifest['files'])}, got {seed!r}")
    model, _ = load_shipped(Path(family_dir) / manifest["files"][str(seed)], manifest, True, RETRAIN)
    return model


def shipped_sizes(family_dir: str | Path = FAMILY_DIR) -> list[str]:
    """The sizes whose manifest is in ``family_dir``, smallest first."""
    return [s for s in SIZES if (Path(family_dir) / f"{s}.json").is_file()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scale_up.quantization.size_family", description=__doc__.split("\n")[0])
    p.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    add_run_arguments(p, "train seeds 0..SEEDS-1; every seed's weights are shipped", RUNS_DIR, "--family-dir",
                      FAMILY_DIR)
    args = p.parse_args(argv)
    for size in args.sizes:
        print(f"{size}: {ship_size(size, args.seeds, args.out, args.family_dir, args.threads, args.progress)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
