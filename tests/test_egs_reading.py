"""glm_mini.stability.egs_reading: the EGS search table and lesson line, computed from (synthetic) runs."""

import pytest

from glm_mini.stability.clipping import clipping_stats
from glm_mini.stability.egs_reading import lesson_line, search_table


def _cell(arm, lr, seed, loss, g, e):
    return {"scheme": arm, "depth": 6, "lr": lr, "seed": seed, "val_loss": loss, "loss": [7.0, loss],
            "clipping": clipping_stats(g, e), "spikes": seed}


def _results(losses):
    """{(arm, lr): [loss seed 0, loss seed 1]}; α = 1 has a clipped embedding-heavy gradient, α = 0.1 does not."""
    cells = []
    for (arm, lr), pair in losses.items():
        g, e = ([2.0, 0.5], [1.6, 0.3]) if arm == "deepnorm" else ([1.25, 0.4], [0.16, 0.03])
        cells += [_cell(arm, lr, seed, loss, g, e) for seed, loss in enumerate(pair)]
    return {"cells": cells, "unigram_val_loss": {"0": 4.7}}


def test_search_table_rows_and_clip_statistics():
    rows = search_table(_results({("deepnorm", 1e-3): [4.0, 4.2], ("egs-0.1", 1e-3): [4.1, 4.1],
                                  ("egs-0.1-input", 1e-3): [4.5, 4.6]}))
    assert [(r["lr"], r["arm"]) for r in rows] == [(1e-3, "deepnorm"), (1e-3, "egs-0.1"), (1e-3, "egs-0.1-input")]
    first = rows[0]
    assert first["clipped"] == pytest.approx(0.5) and first["share"] == pytest.approx((0.64 + 0.36) / 2)
    assert first["kept"] == pytest.approx((0.6 + 1.0) / 2)  # step 1: 0.5 / (1 / 1.2)
    assert (first["mean"], first["lo"], first["hi"], first["seeds"]) == (pytest.approx(4.1), 4.0, 4.2, 2)
    assert first["spikes"] == 1  # summed over the seeds
    with pytest.raises(ValueError, match="arms"):
        search_table({"cells": []})


def test_lesson_line_needs_every_alpha_01_seed_below_every_alpha_1_seed():
    shown = lesson_line(_results({("deepnorm", 1e-3): [4.3, 4.4], ("egs-0.1", 1e-3): [4.0, 4.1],
                                  ("deepnorm", 3e-3): [3.6, 3.7], ("egs-0.1", 3e-3): [3.65, 3.7]}))
    assert shown.startswith("lesson egs: shown (at 6 layers over lr 0.001-0.003 x 2 seeds: largest gain of alpha 0.1 "
                            "(both paths) over alpha 1 +0.300 nat at lr 0.001 (4.050 [4.000, 4.100] vs 4.350")
    assert ("where the clip fired most (lr 0.001: 50% of alpha 1's steps, embedding 50% of the squared norm) alpha "
            "0.1 cut it to 50% (embedding 1%) and moved the loss by -0.300 nat") in shown
    overlap = lesson_line(_results({("deepnorm", 1e-3): [4.0, 4.4], ("egs-0.1", 1e-3): [4.1, 4.2]}))
    assert overlap.startswith("lesson egs: not shown (no learning rate where every alpha 0.1 seed beats every alpha 1")
    assert "largest seed spread 0.400" in overlap
    worse = lesson_line(_results({("deepnorm", 1e-3): [4.0, 4.1], ("egs-0.1", 1e-3): [4.3, 4.4]}))
    assert worse.startswith("lesson egs: not shown") and "-0.300 nat" in worse
