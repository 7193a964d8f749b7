"""Reference models the kit trains with its own trainer, ships under ``data/reference/`` and can retrain.

How it works
------------
The evaluation lessons (notebook 07) need models that learned something, and a notebook's budget cannot train them.
So the kit ships four small models trained *identically but for one factor* (the issue's decision; llama2.c and
d2l ship their tiny models the same way: the file, the exact command, the numbers):

============  ================================================================================================
variant       what differs
============  ================================================================================================
``glm``       GLM's blank infilling with MIP (``RECIPE``: ``[MASK]`` on ``MASK_SHARE`` of the self-supervised rows)
``causal``    the same model, data and steps, trained left to right (``--objective causal``)
``no-mip``    ``glm`` without the instruction data (``--no-mip``)
``no-gmask``  ``glm`` without ``[gMASK]`` rows: every self-supervised row is a ``[MASK]`` row (``--mask-share 1``)
============  ================================================================================================

``python -m glm_mini.reference`` (``make reference``; ``make reference SEEDS=3`` for more seeds) trains every
variant for seeds ``0..SEEDS-1`` on the lesson corpus (``TrainConfig(corpus="lessons")``: ``glm_mini.data.corpus``,
"Two corpora") with ``glm_mini.train.train`` into ``build/reference/<variant>-seed<S>/``, then for
each variant writes ``data/reference/<variant>.safetensors`` (seed 0's weights in bf16) and ``<variant>.json``, the
manifest: the trainer config (recipe and flags), the corpus config and the SHA-256 of its cache manifest and of the
tokenizer, the git commit, the seed, the training curve, the final metrics measured on the bf16 weights
(``measure``) and every seed's metrics. Both files are written atomically, and only after every run of the variant
finished and was measured, so a failed run never replaces a good shipped file.

``load_reference(variant)`` returns ``(model, tokenizer)``: the model in eval mode on CPU, in fp32, and the kit's
tokenizer, checked against the manifest's hash (a changed corpus or tokenizer is named, not silently used).

The pieces are shared with any other family of shipped models: ``train_run`` (train or resume one run, measure its
bf16-rounded model with the family's own measure, record both), ``manifest_header`` (what every manifest records
first), ``write_shipped`` (safetensors and manifest, atomically) and ``load_shipped``. The second family is notebook
08's INT4-scale models (``scale_up.quantization.size_family``, ``data/reference/int4-scale/``), which measure what
``glm_mini`` cannot import (the quantized formats), so it lives in ``scale_up`` and calls these.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from glm_mini.cli.vocabulary import add_progress_flag
from glm_mini.config import GLMConfig
from glm_mini.data.corpus import LESSON_CORPUS
from glm_mini.model import GLM
from glm_mini.training.checkpoint import write_atomic

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO_ROOT / "data" / "reference"
BUILD_DIR = REPO_ROOT / "build" / "reference"
VARIANTS = ("glm", "causal", "no-mip", "no-gmask")
MASK_SHARE = 0.6  # chosen by measurement (docs/reference_models.md, "The [MASK] share"): 60% [MASK] rows
# the mini preset's vocabulary, made narrower and shallower: it trains ~3x faster per token on a loaded 2-core machine
MODEL = {"num_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "inner_hidden_size": 168}
MASK_RATIO = 0.3  # a [MASK] sample's spans cover 30% of its text (the paper's 15%): twice the right-context targets
MIP_RATIO = 0.1  # instruction rows: twice the paper's 5%, so the facts questions are seen often enough in 1500 steps
SPAN_LAMBDA = 1.0  # shorter spans (the paper's λ = 3): a hidden word's right neighbour stays visible twice as often
RECIPE = dict(preset="mini", corpus="lessons", config_overrides=MODEL, seq_len=128, batch_size=16, max_steps=1500,
              lr=2e-3, mask_ratio=MASK_RATIO, mip_ratio=MIP_RATIO, span_lambda=SPAN_LAMBDA, eval_every=250,
              val_batches=4, save_every=500, keep_checkpoints=0, precision="fp32")
VARIANT_FLAGS = {
    "glm": dict(objective="glm", mask_share=MASK_SHARE, mip=True),
    "causal": dict(objective="causal", mask_share=None, mip=True),
    "no-mip": dict(objective="glm", mask_share=MASK_SHARE, mip=False),
    "no-gmask": dict(objective="glm", mask_share=1.0, mip=True),
}
COMPLETION_LAYOUT = {"glm": "gmask", "no-mip": "gmask", "causal": "causal", "no-gmask": "mask"}
RECORD_FILE = "reference_record.json"  # a finished run's measured metrics and curve, beside its metrics.jsonl
CURVE_STEPS_CHECKED = 5  # tests retrain this many steps and compare them with the recorded curve
SHIPPED_DTYPE = torch.bfloat16


def recipe(variant: str, seed: int = 0, out_root: str | Path = BUILD_DIR):
    """The ``TrainConfig`` of one reference run."""
    from glm_mini.train import TrainConfig

    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {VARIANTS}, got {variant!r}")
    return TrainConfig(out=str(Path(out_root) / f"{variant}-seed{seed}"), seed=seed, **RECIPE, **VARIANT_FLAGS[variant])


def git_commit(code: tuple[str, ...] = ("glm_mini",)) -> str:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *code], cwd=REPO_ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
        return commit + (f"+uncommitted changes in {', '.join(c + '/' for c in code)}" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def _data_identity(vocab_size: int, corpus: str) -> dict:
    """The kit corpus named ``corpus`` (``NAMED_CORPORA``) and its tokenizer, by config and hashes."""
    from glm_mini.data.corpus import NAMED_CORPORA, corpus_path
    from glm_mini.manifest import file_sha256
    from glm_mini.data.corpus_tokenizer import default_tokenizer

    config = NAMED_CORPORA[corpus]
    tokenizer = default_tokenizer(vocab_size, config)
    return {"corpus_config": dataclasses.asdict(config), "corpus_key": config.key(),
            "corpus_manifest_sha256": file_sha256(corpus_path(config) / "manifest.json"),
            "tokenizer_sha256": _sha256(tokenizer.model_proto)}


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def rounded(model: GLM) -> GLM:
    """``model`` with every weight rounded to the shipped dtype and back to fp32 (what ``load_reference`` gives)."""
    state = {k: v.to(SHIPPED_DTYPE).float() for k, v in model.state_dict().items()}
    out = GLM(model.config)
    out.load_state_dict(state)
    return out.eval()


_POSITIONS: dict = {}


def fill_positions(tokenizer, limit: int):
    """Validation documents (ids) and their first ``limit`` right-neighbour-fixed positions, computed once per
    tokenizer (encoding the training split takes seconds)."""
    from glm_mini.data import load_corpus
    from glm_mini.lessons.right_context import right_fixed_positions

    key = (_sha256(tokenizer.model_proto), limit)
    if key not in _POSITIONS:
        corpus = load_corpus(LESSON_CORPUS)
        train_docs = tokenizer.encode_batch([r["text"] for r in corpus["train"]], parse_special=False)
        val_docs = tokenizer.encode_batch([r["text"] for r in corpus["validation"]], parse_special=False)
        _POSITIONS[key] = val_docs, right_fixed_positions(train_docs, val_docs, len(tokenizer), limit=limit)
    return _POSITIONS[key]


def measure(model: GLM, tokenizer, variant: str, run_dir: Path | None = None, quick: bool = False) -> dict:
    """The metrics recorded per seed (the lessons' numbers for this one model): see ``glm_mini.lessons``."""
    from glm_mini.data import load_corpus
    from glm_mini.lessons.generation import completion_scores, fact_scores
    from glm_mini.lessons.right_context import accuracy, clean_items, rank_scores, single_token_fill

    corpus = load_corpus(LESSON_CORPUS)
    n_rc, n_fill, n_done = (60, 60, 30) if quick else (200, 300, 100)
    items = clean_items(tokenizer, corpus["right_context_test"])[:n_rc]
    causal = VARIANT_FLAGS[variant]["objective"] == "causal"
    methods = ("causal, from the left", "causal, rescoring") if causal else ("GLM, one pass",
                                                                            "GLM, right context removed")
    out: dict = {"right_context": {m: accuracy(rank_scores(model, tokenizer, items, m), items) for m in methods},
                 "right_context_n": len(items)}
    val_docs, positions = fill_positions(tokenizer, n_fill)
    fill_methods = ("causal",) if causal else ("GLM [MASK]", "GLM [MASK], right removed")
    out["right_neighbour_fill"] = {m: single_token_fill(model, val_docs, positions, tokenizer.special, m)
                                   for m in fill_methods}
    out["right_neighbour_n"] = len(positions)
    facts = corpus["facts_test"] if not quick else corpus["facts_test"][::5]  # 5: every template kind and language
    layout = "causal" if causal else "mip"
    for template in ("train", "held-out"):
        chosen = [r for r in facts if r["template"] == template]
        out[f"facts_{template}_template"] = dataclasses.asdict(fact_scores(model, tokenizer, chosen, layout))
    completions = corpus["completion_test"][:n_done]
    out["completion"] = dataclasses.asdict(completion_scores(model, tokenizer, completions,
                                                             COMPLETION_LAYOUT[variant]))
    if run_dir is not None:
        from glm_mini.training.metrics import read_metrics

        rows = read_metrics(run_dir)
        out["val_loss"] = next(r["val_loss"] for r in reversed(rows) if "val_loss" in r)
    return out


def accuracies(metrics: dict) -> dict[str, tuple[float, int]]:
    """Every accuracy of a ``measure`` dict as ``"group/name" -> (value, number of items it is over)``."""
    counts = {"right_context": metrics.get("right_context_n"), "right_neighbour_fill": metrics.get("right_neighbour_n")}
    out = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            n = value.get("n", counts.get(key))
            out.update({f"{key}/{k}": (v, n) for k, v in value.items() if k not in ("n", "mean_new_tokens")})
    return out


def disagreements(measured: dict, recorded: dict, atol_items: int) -> list[str]:
    """The accuracies of ``measured`` that differ from ``recorded`` (two ``measure`` dicts over the same items) by
    more than ``atol_items`` items, or that only one of them has: empty when a re-measurement matches the record."""
    got, want = accuracies(measured), accuracies(recorded)
    out = sorted(set(got) ^ set(want))
    out += [k for k, (v, n) in want.items() if k in got and abs(got[k][0] - v) > atol_items / n + 1e-9]
    return out


def validation_loss(model: GLM, cfg) -> float:
    """The trainer's validation loss of ``model`` on ``cfg``'s fixed validation batches (fp32, eval mode)."""
    from glm_mini.train import evaluate
    from glm_mini.training.data import load_train_data, validation_batches

    data = load_train_data(cfg.corpus, model.config.vocab_size, cfg.seq_len, cfg.use_mip)
    val = validation_batches(data, cfg.val_batches, cfg.batch_size, cfg.seq_len, data.tokenizer.special, cfg.seed,
                             cfg.objective_config())
    return evaluate(model, val, "fp32", torch.device("cpu"))


def train_run(cfg, measure_run, threads: int = 1, progress: bool | None = False) -> tuple[GLM, dict]:
    """Train the run ``cfg`` (resuming it if its folder holds one), measure its bf16-rounded model with
    ``measure_run(model, run_dir) -> dict`` and record both beside the run (``RECORD_FILE``): any family's runs."""
    from glm_mini.train import load_model, train
    from glm_mini.training.metrics import read_metrics

    finished = (Path(cfg.out) / "plots.png").exists()
    saved = Path(cfg.out) / RECORD_FILE
    if finished and saved.is_file():  # trained and measured by an earlier call: the record is reused
        return rounded(load_model(cfg.out)), json.loads(saved.read_text())
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        started = time.perf_counter()
        if not finished:
            train(dataclasses.replace(cfg, resume=(Path(cfg.out) / "config.json").exists()), progress=progress)
        seconds = time.perf_counter() - started
        model = rounded(load_model(cfg.out))
        metrics = measure_run(model, Path(cfg.out))
    finally:
        torch.set_num_threads(previous)
    rows = read_metrics(cfg.out)
    curve = {"step": [r["step"] for r in rows], "loss": [r["loss"] for r in rows],
             "val_step": [r["step"] for r in rows if "val_loss" in r],
             "val_loss": [r["val_loss"] for r in rows if "val_loss" in r]}
    record = {"seed": cfg.seed, "metrics": metrics, "curve": curve,
              "train_seconds": sum(r["seconds"] for r in rows), "this_call_seconds": seconds}
    text = json.dumps(record, indent=1) + "\n"
    write_atomic(saved, lambda f: f.write(text.encode()))
    return model, record


def train_variant(variant: str, seed: int, out_root: str | Path = BUILD_DIR, threads: int = 1,
                  progress: bool | None = False) -> tuple[GLM, dict]:
    """Train one reference run (resuming it if its folder holds one) and measure its bf16-rounded model."""
    from glm_mini.data.corpus_tokenizer import default_tokenizer

    def measure_run(model: GLM, run_dir: Path) -> dict:
        return measure(model, default_tokenizer(model.config.vocab_size, LESSON_CORPUS), variant, run_dir)

    return train_run(recipe(variant, seed, out_root), measure_run, threads, progress)


def manifest_header(cfg, model: GLM, command: str, code: tuple[str, ...] = ("glm_mini",)) -> dict:
    """What every shipped manifest records first: the recipe, the model, the dtype, the command that retrains it, the
    git commit (marked when the folders ``code`` have uncommitted changes), the corpus and tokenizer hashes and the
    torch version."""
    return {"recipe": {k: v for k, v in cfg.to_json().items() if k not in ("out", "resume")},
            "model": dataclasses.asdict(model.config), "dtype": str(SHIPPED_DTYPE).removeprefix("torch."),
            "command": command, "git_commit": git_commit(code), **_data_identity(model.config.vocab_size, cfg.corpus),
            "torch": torch.__version__}


def write_shipped(folder: str | Path, weights: dict[str, tuple[GLM, dict]], manifest_name: str,
                  manifest: dict) -> Path:
    """Write each ``file name -> (model, metadata)`` of ``weights`` as safetensors in the shipped dtype, then the
    manifest, every file atomically (a failure leaves the files already there as they were)."""
    from safetensors.torch import save

    folder = Path(folder)
    for name, (model, metadata) in weights.items():
        blob = save({k: v.to(SHIPPED_DTYPE).contiguous() for k, v in model.state_dict().items()}, metadata=metadata)
        write_atomic(folder / name, lambda f, blob=blob: f.write(blob))
    text = json.dumps(manifest, indent=1) + "\n"
    write_atomic(folder / manifest_name, lambda f: f.write(text.encode()))
    return folder / manifest_name


def ship(variant: str, seeds: int = 2, out_root: str | Path = BUILD_DIR, reference_dir: str | Path = REFERENCE_DIR,
         threads: int = 1, progress: bool | None = False) -> Path:
    """Train ``variant`` for seeds ``0..seeds-1`` and write its safetensors and manifest (module docstring)."""
    if not (isinstance(seeds, int) and seeds >= 1):
        raise ValueError(f"seeds: expected an int >= 1, got {seeds!r}")
    records, shipped = [], None
    for seed in range(seeds):
        model, record = train_variant(variant, seed, out_root, threads, progress)
        records.append(record)
        shipped = shipped or model
    cfg = recipe(variant, 0, out_root)
    from glm_mini.data.corpus_tokenizer import default_tokenizer

    tokenizer = default_tokenizer(shipped.config.vocab_size, LESSON_CORPUS)
    check = {"val_loss": validation_loss(shipped, cfg), **measure(shipped, tokenizer, variant, quick=True)}
    header = manifest_header(cfg, shipped, f"python -m glm_mini.reference --variants {variant} --seeds {seeds}")
    manifest = {
        "variant": variant, "differs_by": VARIANT_FLAGS[variant], **header,
        "seed": 0, "metrics": records[0]["metrics"], "curve": records[0]["curve"],
        "check": check, "check_tolerance": {"val_loss_rtol": 1e-4, "accuracy_atol_items": 2},
        "curve_steps_checked": CURVE_STEPS_CHECKED, "curve_rtol": 1e-3,
        "seeds": records,
    }
    weights = {f"{variant}.safetensors": (shipped, {"variant": variant, "seed": "0"})}
    return write_shipped(reference_dir, weights, f"{variant}.json", manifest)


def read_manifest(variant: str = "glm", reference_dir: str | Path = REFERENCE_DIR) -> dict:
    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {VARIANTS}, got {variant!r}")
    return read_manifest_file(Path(reference_dir) / f"{variant}.json", f"the reference model {variant!r}",
                              "`make reference` (python -m glm_mini.reference)")


def read_manifest_file(path: str | Path, what: str, retrain: str) -> dict:
    """The JSON manifest at ``path`` (of ``what``); a missing or broken one is named with how to ``retrain`` it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: {what} is not shipped here; retrain it with {retrain}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not a valid manifest ({err})") from None


def seed_values(variant: str, *keys: str, reference_dir: str | Path = REFERENCE_DIR) -> list[float]:
    """One recorded metric for every seed of ``variant``, e.g.
    ``seed_values("glm", "right_context", "GLM, one pass")``."""
    values = []
    for record in read_manifest(variant, reference_dir)["seeds"]:
        value = record["metrics"]
        for key in keys:
            value = value[key]
        values.append(value)
    return values


def load_reference(variant: str = "glm", reference_dir: str | Path = REFERENCE_DIR, check_tokenizer: bool = True):
    """``(model, tokenizer)``: the shipped reference model ``variant`` in eval mode on CPU (fp32) and its tokenizer."""
    manifest = read_manifest(variant, reference_dir)
    return load_shipped(Path(reference_dir) / f"{variant}.safetensors", manifest, check_tokenizer, "`make reference`")


def load_shipped(weights: str | Path, manifest: dict, check_tokenizer: bool = True,
                 retrain: str = "`make reference`"):
    """``(model, tokenizer)``: the model of ``manifest`` with the shipped ``weights`` file, in eval mode on CPU (fp32),
    and the kit's tokenizer, checked against the manifest's hash."""
    from safetensors.torch import load_file

    from glm_mini.data.corpus import NAMED_CORPORA
    from glm_mini.data.corpus_tokenizer import default_tokenizer

    weights = Path(weights)
    if not weights.is_file():
        raise FileNotFoundError(f"{weights} does not exist beside its manifest; retrain with {retrain}")
    model = GLM(GLMConfig(**manifest["model"]))
    try:
        state = load_file(str(weights), device="cpu")
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except Exception as err:  # safetensors raises its own error types for a damaged file
        raise ValueError(f"{weights}: cannot be loaded as the model its manifest describes ({err})") from None
    tokenizer = default_tokenizer(model.config.vocab_size, NAMED_CORPORA[manifest["recipe"]["corpus"]])
    if check_tokenizer and _sha256(tokenizer.model_proto) != manifest["tokenizer_sha256"]:
        raise ValueError(f"{weights}: was trained with another tokenizer (manifest tokenizer_sha256 "
                         f"{manifest['tokenizer_sha256'][:12]}, the kit's now {_sha256(tokenizer.model_proto)[:12]}): "
                         f"the corpus or tokenizer changed; retrain with {retrain}")
    return model.eval(), tokenizer


DOCS = REPO_ROOT / "docs" / "reference_models.md"
TABLE_START = "<!-- shipped:start (generated by python -m glm_mini.reference --update-docs) -->"
TABLE_END = "<!-- shipped:end -->"


def shipped_table(reference_dir: str | Path = REFERENCE_DIR) -> str:
    """The per-seed metrics of every shipped variant as a markdown table, read from the manifests (the block of
    ``docs/reference_models.md`` between ``TABLE_START`` and ``TABLE_END``)."""
    def pct(x: float) -> str:
        return f"{100 * x:.1f}"

    rows = ["| variant | seed | right-context | right-neighbour fill | facts format, train / held-out template "
            "| countdowns completed / stopped | val loss | training |", "|---|---|---|---|---|---|---|---|"]
    for variant in VARIANTS:
        manifest = read_manifest(variant, reference_dir)
        for record in manifest["seeds"]:
            m = record["metrics"]
            rc = "; ".join(f"{k} {pct(v)}" for k, v in m["right_context"].items())
            fill = "; ".join(f"{k} {pct(v)}" for k, v in m["right_neighbour_fill"].items())
            facts = f"{pct(m['facts_train_template']['format'])} / {pct(m['facts_held-out_template']['format'])}"
            done = f"{pct(m['completion']['completed'])} / {pct(m['completion']['stopped'])}"
            rows.append(f"| {variant} | {record['seed']} | {rc} (n={m['right_context_n']}) | {fill} "
                        f"(n={m['right_neighbour_n']}) | {facts} | {done} | {m['val_loss']:.3f} "
                        f"| {record['train_seconds'] / 60:.1f} min |")
    return "\n".join(rows)


SWEEP_START = "<!-- mask-share:start (generated by python -m glm_mini.reference --update-docs) -->"
SWEEP_END = "<!-- mask-share:end -->"


def update_docs(path: str | Path = DOCS, reference_dir: str | Path = REFERENCE_DIR) -> bool:
    """Rewrite the two generated tables of ``path`` from the shipped files: the shipped models' (``shipped_table``)
    and the [MASK] share sweep's (``glm_mini.mask_share_sweep.sweep_table``); True when the file changed."""
    from glm_mini.generated_block import replace_block
    from glm_mini.mask_share_sweep import load_sweep, sweep_table

    causal_fill = seed_values("causal", "right_neighbour_fill", "causal", reference_dir=reference_dir)
    sweep = sweep_table(load_sweep(Path(reference_dir) / "mask-share-sweep.json"), causal_fill)
    changed = replace_block(path, SWEEP_START, SWEEP_END, sweep)
    return replace_block(path, TABLE_START, TABLE_END, shipped_table(reference_dir)) or changed


def add_run_arguments(p: argparse.ArgumentParser, seeds_help: str, out: Path, shipped_flag: str, shipped: Path) -> None:
    """The flags every family's command shares: --seeds, --out, the shipped folder, --threads, --progress."""
    p.add_argument("--seeds", type=int, default=2, help=seeds_help)
    p.add_argument("--out", default=str(out), help="folder for the training runs")
    p.add_argument(shipped_flag, default=str(shipped), help="where the shipped files are written")
    p.add_argument("--threads", type=int, default=1, help="torch threads per run")
    add_progress_flag(p, "the trainer's progress bars")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m glm_mini.reference", description=__doc__.split("\n")[0])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    add_run_arguments(p, "train seeds 0..SEEDS-1; seed 0's weights are shipped", BUILD_DIR, "--reference-dir",
                      REFERENCE_DIR)
    p.add_argument("--update-docs", action="store_true",
                   help=f"only rewrite the table of the shipped models in {DOCS.relative_to(REPO_ROOT)} from the "
                        "manifests (no training)")
    args = p.parse_args(argv)
    if args.update_docs:
        print(f"{DOCS}: {'updated' if update_docs(DOCS, args.reference_dir) else 'already up to date'}")
        return 0
    for variant in args.variants:
        path = ship(variant, args.seeds, args.out, args.reference_dir, args.threads, args.progress)
        print(f"{variant}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
