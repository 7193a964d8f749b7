"""The shipped reference models (data/reference/): they load, they still measure what their manifests record, and
their recipe retrains the recorded curve.

Tolerances: the manifest's numbers were measured on the bf16 weights as shipped, so reloading them gives the same
fp32 tensors; only the CPU's float summation order can differ (AVX2 vs AVX-512 kernels, thread count). That moves a
loss by ~1e-6 relative, so the validation loss is checked at rtol 1e-4, and an accuracy may flip an item sitting on a
tie, so accuracies are checked within 2 items. Retraining compares the first ``CURVE_STEPS_CHECKED`` (5) steps at
rtol 1e-3: differences in summation order grow with every step, and five steps keep them far below that (a wrong
recipe, corpus or seed moves the first loss by more than 1e-2).
"""

import dataclasses
import json

import pytest
import torch

from glm_mini.reference import (REFERENCE_DIR, VARIANTS, accuracies, disagreements, load_reference, measure,
                                read_manifest, recipe, validation_loss)
from shipped_models import assert_recipe_retrains_the_curve

SHIPPED = [v for v in VARIANTS if (REFERENCE_DIR / f"{v}.json").is_file()]
needs_shipped = pytest.mark.skipif(not SHIPPED, reason="no reference model shipped in data/reference/")


@needs_shipped
@pytest.mark.parametrize("variant", SHIPPED)
def test_shipped_model_loads_on_cpu_in_eval_mode(variant):
    model, tokenizer = load_reference(variant)
    manifest = read_manifest(variant)
    assert not model.training
    assert all(p.device.type == "cpu" and p.dtype == torch.float32 for p in model.parameters())
    assert dataclasses.asdict(model.config) == manifest["model"]
    assert len(tokenizer) == model.config.vocab_size
    assert manifest["recipe"]["seed"] == 0 and len(manifest["seeds"]) >= 2, "effect sizes need two seeds or more"


@needs_shipped
@pytest.mark.parametrize("variant", SHIPPED)
def test_shipped_model_still_measures_its_recorded_metrics(variant):
    model, tokenizer = load_reference(variant)
    manifest = read_manifest(variant)
    check, tol = manifest["check"], manifest["check_tolerance"]
    cfg = recipe(variant, 0)
    assert validation_loss(model, cfg) == pytest.approx(check["val_loss"], rel=tol["val_loss_rtol"])
    again = measure(model, tokenizer, variant, quick=True)
    assert accuracies(again) and not disagreements(again, check, tol["accuracy_atol_items"])


def test_disagreements_count_items_not_points():
    record = {"right_context": {"GLM, one pass": 0.5}, "right_context_n": 60, "completion": {"completed": 0.4, "n": 30}}
    assert not disagreements(record, record, 2)
    two_items = {**record, "right_context": {"GLM, one pass": 0.5 + 2 / 60}}
    three_items = {**record, "completion": {"completed": 0.4 + 3 / 30, "n": 30}}
    assert not disagreements(two_items, record, 2) and disagreements(three_items, record, 2) == ["completion/completed"]
    assert disagreements({"right_context_n": 60}, record, 2) == ["completion/completed", "right_context/GLM, one pass"]


@needs_shipped
@pytest.mark.parametrize("variant", SHIPPED)
def test_recipe_retrains_the_recorded_curve(variant, tmp_path):
    assert_recipe_retrains_the_curve(read_manifest(variant), recipe(variant, 0, tmp_path))


@needs_shipped
def test_a_missing_or_damaged_reference_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="make reference"):
        load_reference("glm", reference_dir=tmp_path)
    with pytest.raises(ValueError, match="variant"):
        load_reference("bert")
    manifest = read_manifest(SHIPPED[0])
    (tmp_path / f"{SHIPPED[0]}.json").write_text(json.dumps(manifest))
    (tmp_path / f"{SHIPPED[0]}.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ValueError, match="cannot be loaded"):
        load_reference(SHIPPED[0], reference_dir=tmp_path)


def test_a_failed_run_never_replaces_a_shipped_file(tmp_path):
    from glm_mini.reference import ship

    shipped = tmp_path / "reference"
    shipped.mkdir()
    (shipped / "glm.json").write_text('{"good": true}')
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the runs folder should be")  # the training run cannot create its folder
    with pytest.raises(OSError):
        ship("glm", seeds=1, out_root=blocked, reference_dir=shipped)
    assert (shipped / "glm.json").read_text() == '{"good": true}'
    assert sorted(p.name for p in shipped.iterdir()) == ["glm.json"]


def test_the_docs_table_of_the_shipped_models_is_generated_from_their_manifests(tmp_path):
    from glm_mini.generated_block import read_block
    from glm_mini.mask_share_sweep import load_sweep, sweep_table
    from glm_mini.reference import (DOCS, SWEEP_END, SWEEP_START, TABLE_END, TABLE_START, seed_values, shipped_table,
                                    update_docs)

    table = shipped_table()
    sweep = sweep_table(load_sweep(), seed_values("causal", "right_neighbour_fill", "causal"))
    for start, end, block in ((TABLE_START, TABLE_END, table), (SWEEP_START, SWEEP_END, sweep)):
        assert read_block(DOCS, start, end) == block, "docs/reference_models.md: run python -m glm_mini.reference " \
                                                      "--update-docs"
    assert table.count("\n") == 1 + sum(len(read_manifest(v)["seeds"]) for v in VARIANTS)  # header, rule, one per seed
    stale = tmp_path / "doc.md"
    stale.write_text(f"intro\n{SWEEP_START}\n| old |\n{SWEEP_END}\nmiddle\n{TABLE_START}\n| old |\n{TABLE_END}\nafter\n",
                     encoding="utf-8")
    assert update_docs(stale) and read_block(stale, TABLE_START, TABLE_END) == table
    assert read_block(stale, SWEEP_START, SWEEP_END) == sweep and not update_docs(stale)
    assert stale.read_text(encoding="utf-8").endswith(f"{TABLE_END}\nafter\n")
