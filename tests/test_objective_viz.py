"""glm_mini.objective.viz: the visualizer's sample builder and figures (headless)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from glm_mini import SpecialTokens  # noqa: E402
from glm_mini.objective import gmask_sample, mask_sample  # noqa: E402
from glm_mini.objective.viz import draw_sample, infilling_example, plot_attention_mask, token_label  # noqa: E402

SP = SpecialTokens(mask=1000, gmask=1001, smask=1002, eod=1003, sop=1004, eop=1005, eos=2, pad=0)
TEXT = list(range(10, 50))


def test_infilling_example_follows_the_knobs():
    s = infilling_example(TEXT, SP, "mask", mask_ratio=0.4, seed=3)
    n_spans = int((s.input_ids == SP.mask).sum())
    assert int(s.loss_mask.sum()) - n_spans >= int(0.4 * len(TEXT))  # masked tokens reach the ratio
    assert infilling_example(TEXT, SP, "mask", 0.4, 3).input_ids.tolist() == s.input_ids.tolist()  # seeded
    g = infilling_example(TEXT, SP, "gmask", seed=1)
    assert int((g.input_ids == SP.gmask).sum()) == 1 and len(g) == len(TEXT) + 1
    s2 = infilling_example(TEXT, SP, "mask", two_d=True)
    assert s2.position_ids.shape == (2, len(s2))


def test_infilling_example_bad_objective():
    with pytest.raises(ValueError, match="objective: expected 'mask' or 'gmask', got 'bert'"):
        infilling_example(TEXT, SP, "bert")


def test_figures_draw_the_boundary_and_legend():
    s = mask_sample([11, 12, 13, 14, 15, 16], [(2, 3), (4, 6)], SP, span_order=[1, 0])
    fig = draw_sample(s)
    table_ax, mask_ax = fig.axes
    assert [t.get_text() for t in mask_ax.get_legend().get_texts()][-1] == "Part A | Part B (division = 5)"
    assert [round(line.get_xdata()[0], 1) for line in mask_ax.lines if line.get_xdata()[0] == 4.5]  # the boundary
    assert len(mask_ax.get_xticks()) == len(s)  # one integer tick per token
    plt.close(fig)
    ax = plot_attention_mask(gmask_sample(list(range(10, 110)), 30, SP).attention_mask)
    assert all(float(t).is_integer() for t in ax.get_xticks())
    plt.close("all")


def test_token_label():
    from corpus_fixtures import small_tokenizer

    tok = small_tokenizer()
    label = token_label(tok)
    town, zh = tok.encode(" town"), tok.encode("镇")
    assert label(town[-1]).endswith("town") and "\u2581" not in label(town[-1])
    assert all(label(i) == f"#{i}" for i in zh)  # no CJK glyphs in the default fonts: ids instead
    assert label(tok.mask_id) == "[MASK]"
