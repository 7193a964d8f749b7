"""The [MASK] share sweep: its recipe is the reference recipe with one knob changed, its committed file agrees with
the shipped glm model, and the trade-off is read from the numbers."""

import dataclasses

import pytest

from glm_mini.lessons.verdict import MARGIN, MIN_COMPLETION
from glm_mini.mask_share_sweep import SHARES, load_sweep, share_recipe, tradeoff
from glm_mini.reference import MASK_SHARE, read_manifest, recipe


def test_a_share_recipe_differs_from_the_reference_glm_in_the_share_only():
    for share in SHARES:
        cfg = share_recipe(share, seed=1)
        assert dataclasses.replace(cfg, mask_share=MASK_SHARE, out=recipe("glm", 1).out) == recipe("glm", 1)
        assert cfg.mask_share == share and f"ms{share:g}-seed1" in cfg.out
    with pytest.raises(ValueError, match="share"):
        share_recipe(1.5, 0)


def test_the_committed_sweep_holds_the_shipped_glm_runs():
    sweep = load_sweep()
    assert [float(s) for s in sweep["runs"]] == list(SHARES) and MASK_SHARE in SHARES
    shipped = read_manifest("glm")
    assert [r["metrics"] for r in sweep["runs"][f"{MASK_SHARE:g}"]] == [r["metrics"] for r in shipped["seeds"]]
    assert sweep["recipe"] == {k: v for k, v in shipped["recipe"].items() if k != "mask_share"}


def test_tradeoff_reads_the_margins_from_the_numbers():
    def run(fill, done):
        return {"metrics": {"right_neighbour_fill": {"GLM [MASK]": fill}, "completion": {"completed": done},
                            "right_context": {"GLM, one pass": 0.5}}}

    sweep = {"runs": {"0.5": [run(0.60, 0.7), run(0.64, 0.5)], "0.7": [run(0.80, 0.3), run(0.84, 0.4)]}}
    rows = tradeoff(sweep, causal_fill=[0.5, 0.54])
    assert [r["share"] for r in rows] == [0.5, 0.7]
    assert rows[0]["fill_margin"] == pytest.approx(0.62 - 0.52) and rows[1]["fill_margin"] == pytest.approx(0.30)
    assert [r["fill_clears"] for r in rows] == [0.10 >= MARGIN, True]
    assert [r["completion_clears"] for r in rows] == [True, 0.35 >= MIN_COMPLETION]
