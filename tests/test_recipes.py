"""Every recipe under ``recipes/`` runs: the CPU ones for a few steps (and they are what they say they are: notebook
06's run, the shipped reference model's recipe, the README's WikiText-103 command), the 130B ones through the planner,
a dry run on ``meta`` and, for INT4, the conversion on a small checkpoint of the official layout."""

import ast
import contextlib
import io
import json
import shlex
import tomllib
from dataclasses import replace
from pathlib import Path

import datasets
import pytest
import torch
from convert_fixtures import make_checkpoint
from corpus_fixtures import small_corpus

from glm_mini.cli.config_file import parse_args
from glm_mini.config import PRESETS
from glm_mini.reference import recipe as reference_recipe
from glm_mini.train import TrainConfig, build_parser, main as train_main, train_options
from scale_up import convert, dry_run, generate, plan
from scale_up.gpus import GPUS

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
CPU_RECIPES = ("notebook06_mini", "reference_glm", "wikitext103_mini")
GPU_RECIPES = ("glm130b_8xa100_fp16", "glm130b_4x3090_int4")


def recipe_config(name: str, *extra: str) -> TrainConfig:
    args = parse_args(build_parser(), ["--config", str(RECIPES / f"{name}.toml"), *extra], "glm_mini.train")
    return TrainConfig(**train_options(args))


def command_config(command: str) -> TrainConfig:
    """The TrainConfig of a ``python -m glm_mini.train ...`` command line as a document shows it."""
    words = shlex.split(command.replace("\\\n", " "))
    return TrainConfig(**train_options(build_parser().parse_args(words[words.index("glm_mini.train") + 1:])))


def test_every_recipe_is_tested():
    assert sorted(p.stem for p in RECIPES.glob("*.toml")) == sorted(CPU_RECIPES + GPU_RECIPES)


def test_the_notebook_recipe_is_notebook_06s_run():
    source = (REPO / "notebooks" / "06_pretraining_glm_mini.py").read_text(encoding="utf-8")
    call = next(n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "run" for t in n.targets))
    notebook = eval(ast.get_source_segment(source, call), {"TrainConfig": TrainConfig, "FAST": True, "REPO": REPO,
                                                           "str": str})
    cfg = recipe_config("notebook06_mini")
    assert replace(cfg, out="") == replace(notebook, out="")
    assert REPO / cfg.out == Path(notebook.out)
    shown = next(line for line in source.splitlines() if line.startswith("# `python -m glm_mini.train"))
    assert command_config(shown.strip("# `")) == cfg  # the command the notebook shows, too


def test_the_reference_recipe_is_the_one_glm_mini_reference_trains():
    cfg = recipe_config("reference_glm")
    shipped = reference_recipe("glm", seed=0)
    assert replace(cfg, out="") == replace(shipped, out="")
    assert REPO / cfg.out == Path(shipped.out)


def test_the_wikitext_recipe_is_the_readme_command():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("python -m glm_mini.train --corpus data/external"))
    command = lines[start] + (" " + lines[start + 1].strip() if lines[start].endswith("\\") else "")
    assert command_config(command.replace("\\", "")) == recipe_config("wikitext103_mini")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["notebook06_mini", "reference_glm"])
def test_a_cpu_recipe_trains_a_few_steps(name, tmp_path, capsys):
    assert train_main(["--config", str(RECIPES / f"{name}.toml"), "--max-steps", "2", "--out", str(tmp_path / "run"),
                       "--no-progress"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and "val_loss" in rows[-1]
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["seq_len"] == recipe_config(name).seq_len and saved["preset"] == recipe_config(name).preset


@pytest.mark.slow
def test_the_real_corpus_recipe_trains_on_a_folder_with_wikitext_103s_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("GLM_KIT_DATA_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "wikitext-103-raw-v1"
    folder.mkdir()
    texts = [r["text"] for r in small_corpus()["train"][:120]]
    parts = {"train-00000-of-00002": texts[:60], "train-00001-of-00002": texts[60:100],
             "validation-00000-of-00001": texts[100:110], "test-00000-of-00001": texts[110:]}
    for part, rows in parts.items():  # the Hub's file names for Salesforce/wikitext (the kit's own text inside)
        datasets.Dataset.from_dict({"text": rows}).to_parquet(str(folder / f"{part}.parquet"))
    assert train_main(["--config", str(RECIPES / "wikitext103_mini.toml"), "--corpus", str(folder), "--max-steps", "2",
                       "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and "val_loss" in rows[-1]


def tables(name: str) -> dict:
    return tomllib.loads((RECIPES / f"{name}.toml").read_text(encoding="utf-8"))["scale_up"]


def printed(call) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        call()
    return out.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize("name", GPU_RECIPES)
def test_a_130b_recipe_is_an_official_setup_that_fits_by_the_planner_and_the_dry_run(name):
    path = RECIPES / f"{name}.toml"
    t = tables(name)
    gpu, tp, bits = t["plan"]["gpu"], t["plan"]["tp"], t["plan"]["bits"]
    assert (gpu, tp, bits, True) in plan.OFFICIAL_SETUPS  # the official README serves GLM-130B this way
    for tool in t.values():  # every table says the same layout
        assert (tool["tp"], tool.get("bits", bits), tool.get("preset", "glm-130b")) == (tp, bits, "glm-130b")
    assert printed(lambda: plan.main(["inference", "--config", str(path)])).splitlines()[0].endswith(": fits")
    assert plan.inference_plan(PRESETS["glm-130b"], gpu, tp, bits).fits
    shown = printed(lambda: dry_run.main(["--config", str(path)])).splitlines()[-1]
    assert shown.startswith(f"glm-130b TP={tp} PP=1 {'FP16' if bits == 16 else f'INT{bits}'}: {tp} GPUs")
    largest = max(p.bytes for p in dry_run.dry_run(PRESETS["glm-130b"], tp, 1, bits, [0]))
    assert largest < GPUS[gpu].memory_bytes  # each GPU's share of the weights, built by the real code on meta
    args = parse_args(generate.build_parser(), ["--config", str(path)], "scale_up.generate")
    assert (args.tp, args.bits, args.device, args.precision) == (tp, bits, "cuda", "fp16")
    assert args.tokenizer.name == "ice_text.model"  # GLM-130B's ids


@pytest.mark.slow
def test_the_int4_recipe_converts_a_small_official_checkpoint(tmp_path):
    path = RECIPES / "glm130b_4x3090_int4.toml"
    make_checkpoint(tmp_path / "glm-130b-sat", tp=8)
    assert convert.main(["--config", str(path), "--checkpoint", str(tmp_path / "glm-130b-sat"), "--out",
                         str(tmp_path / "int4"), "--num-attention-heads", "8", "--no-progress"]) == 0
    shards = sorted((tmp_path / "int4" / "49300").glob("mp_rank_*_model_states.pt"))
    assert len(shards) == tables("glm130b_4x3090_int4")["convert"]["tp"]
    state = torch.load(shards[0], weights_only=True)["module"]
    weight = state["transformer.layers.0.mlp.dense_4h_to_h.weight"]
    assert weight.dtype == torch.int8 and "transformer.layers.0.mlp.dense_4h_to_h.weight_scale" in state
    assert weight.shape[1] == 176 // 4 // 2  # INT4: two values per byte of this rank's columns
