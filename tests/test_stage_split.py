"""One stage split everywhere: for every (layers, stages) pair up to 80 layers, no stage is empty and the planner's,
the pipeline's and the dry run's splits are the same function (``partition_layers``); the dry run works for every
preset at every TP degree that divides it and every PP degree up to its layers (GLM-130B: the degrees GPUs come in)."""

import pytest
import torch

from glm_mini import GLM, PRESETS
from scale_up.dry_run import dry_run, main as dry_run_main
from scale_up.pipeline import build_stage_module, partition_layers
from scale_up.plan import training_plan

PAIRS = [(n, s) for n in range(1, 81) for s in range(1, n + 1)]


def test_every_pair_up_to_80_layers_has_no_empty_stage_and_one_split():
    config = PRESETS["nano"]
    for n, s in PAIRS:
        ranges = partition_layers(n, s)
        assert len(ranges) == s and all(len(r) >= 1 for r in ranges), (n, s)
        assert [i for r in ranges for i in r] == list(range(n)), (n, s)  # contiguous, in order, complete
        plan = training_plan(config.replace(num_layers=n), dp=1, tp=1, pp=s, micro_batches=s, micro_batch_size=1,
                             seq_len=64, gpu="a100-80g")
        assert list(plan.stage_layers) == [len(r) for r in ranges], (n, s)


@pytest.mark.parametrize("n,s", [(6, 4), (70, 8), (70, 70), (80, 3), (9, 7), (2, 2)])
def test_the_pipeline_and_the_dry_run_build_the_planned_split(n, s):
    config = PRESETS["nano"].replace(num_layers=n)
    with torch.device("meta"):
        model = GLM(config)
    built = [tuple(int(k) for k in build_stage_module(model, i, s).transformer.layers) for i in range(s)]
    assert built == [tuple(r) for r in partition_layers(n, s)]
    parts = dry_run(config, tp=1, pp=s, tp_ranks=[0])
    assert [p.layers for p in parts] == built


def _tp_degrees(config):
    return [t for t in range(1, config.num_attention_heads + 1) if config.num_attention_heads % t == 0
            and config.vocab_size % t == 0 and config.ffn_hidden_size % t == 0]


@pytest.mark.parametrize("preset", ["nano", "mini"])
def test_dry_run_works_for_every_tp_and_pp_of_the_small_presets(preset):
    config = PRESETS[preset]
    for tp in _tp_degrees(config):
        for pp in range(1, config.num_layers + 1):
            parts = dry_run(config, tp=tp, pp=pp, tp_ranks=[0])
            assert len(parts) == pp and all(p.layers for p in parts), (tp, pp)


@pytest.mark.slow
def test_dry_run_works_for_glm130b_at_every_tp_and_pp(capsys):
    """The two reported failures (a stage with no layers) and the degrees GPUs come in: every TP up to 8 at PP 1, and
    PP 1..10, the divisors of 70 and the largest at TP 8 (the split itself is tested for every pair above)."""
    config = PRESETS["glm-130b"]
    for tp in (t for t in _tp_degrees(config) if t <= 8):
        (part,) = dry_run(config, tp=tp, pp=1, tp_ranks=[0])
        assert len(part.layers) == 70
    for pp in (*range(1, 11), 14, 35, 69, 70):
        parts = dry_run(config, tp=8, pp=pp, tp_ranks=[0])
        assert [len(p.layers) for p in parts] == [len(r) for r in partition_layers(70, pp)]
    assert dry_run_main(["--preset", "glm-130b", "--pp", "70"]) == 0
    assert dry_run_main(["--preset", "mini", "--tp", "1", "--pp", "4"]) == 0
    out = capsys.readouterr().out
    assert "glm-130b TP=8 PP=70 FP16: 560 GPUs" in out and "mini TP=1 PP=4 FP16: 4 GPUs" in out
