"""Pipeline pieces in one process: the partition rule, stages by deletion, the micro-batch loss, the bubble formula
and the replay of a schedule (the multi-process parity tests are in test_pipeline_parallel.py)."""

import math

import pytest
import torch

from glm_mini import GLM, PRESETS
from glm_mini.training.step import masked_cross_entropy as glm_loss
from scale_up.pipeline import (Event, build_stage_module, bubble_formula, masked_targets, measured_bubble,
                               MicroBatchLoss, partition_layers, stage_costs, sum_tied_embedding_grads)
from scale_up.pipeline.loss import count_loss_tokens
from scale_up.pipeline.example_batch import example_batch
from scale_up.pipeline.partition import end_units
from scale_up.pipeline.recording import replay


def test_partition_reproduces_the_papers_glm130b_layout():
    """70 layers + 2 embedding units over 8 stages: 9 units each, end stages 8 layers + an embedding."""
    ranges = partition_layers(70, 8)
    assert [len(r) for r in ranges] == [8] + [9] * 6 + [8]
    assert stage_costs(70, 8) == [9] * 8


@pytest.mark.parametrize("num_layers,num_stages", [(n, s) for n in range(1, 13) for s in range(1, n + 1)])
def test_partition_is_contiguous_complete_and_balanced(num_layers, num_stages):
    ranges = partition_layers(num_layers, num_stages)
    assert [i for r in ranges for i in r] == list(range(num_layers))
    assert all(len(r) >= 1 for r in ranges)
    lower_bound = max(math.ceil((num_layers + 2) / num_stages), 1 + max(end_units(i, num_stages)
                                                                        for i in range(num_stages)))
    assert max(stage_costs(num_layers, num_stages)) == lower_bound


@pytest.mark.parametrize("args,name", [((2, 3), "num_layers"), ((4, 0), "num_stages"), ((0, 1), "num_layers"),
                                       ((True, 1), "num_layers")])
def test_partition_rejects_bad_input(args, name):
    with pytest.raises(ValueError, match=name):
        partition_layers(*args)


def _nano(num_layers=4):
    torch.manual_seed(0)
    return GLM(PRESETS["nano"].replace(num_layers=num_layers))


@pytest.mark.parametrize("num_stages", [1, 2, 3])
def test_stages_chained_equal_the_model_with_unchanged_names(num_stages):
    model = _nano()
    batch = example_batch(model.config, 4, 24, seed=3)
    stages = [build_stage_module(model, i, num_stages) for i in range(num_stages)]
    full = dict(model.state_dict())
    for i, stage in enumerate(stages):
        layers = {int(k.split(".")[2]) for k in stage.state_dict() if k.startswith("transformer.layers.")}
        assert layers == set(stage.layer_ids)
        assert ("transformer.word_embeddings.weight" in stage.state_dict()) == (i in (0, num_stages - 1))
        assert all(torch.equal(t, full[k]) for k, t in stage.state_dict().items())
    assert set().union(*(s.state_dict() for s in stages)) == set(full)

    ref = glm_loss(model(batch["input_ids"], position_ids=batch["position_ids"],
                         attention_mask=batch["attention_mask"]).logits, batch["targets"], batch["loss_mask"])
    ref.backward()
    x = (batch["input_ids"], batch["position_ids"], batch["attention_mask"])
    for stage in stages:
        x = stage(*x)
    loss = glm_loss(x, batch["targets"], batch["loss_mask"])
    loss.backward()
    sum_tied_embedding_grads(stages, group=None)
    assert torch.equal(loss, ref)
    grads = dict(model.named_parameters())
    for stage in stages:
        for name, p in stage.named_parameters():
            torch.testing.assert_close(p.grad, grads[name].grad, rtol=1e-6, atol=1e-9, msg=name)


def test_stage_module_rejects_bad_input():
    model = _nano(2)
    with pytest.raises(TypeError, match="model"):
        build_stage_module(torch.nn.Linear(2, 2), 0, 2)
    with pytest.raises(ValueError, match="stage_index"):
        build_stage_module(model, 2, 2)
    with pytest.raises(ValueError, match="num_layers"):
        build_stage_module(model, 0, 3)
    stage = build_stage_module(model, 0, 2)
    batch = example_batch(model.config, 2, 8)
    with pytest.raises(ValueError, match="attention_mask"):
        stage(batch["input_ids"], batch["position_ids"], batch["attention_mask"].float())


def test_micro_batch_losses_sum_to_the_batch_loss():
    """Σ_k CE-sum_k / T equals the batch's mean CE, though micro-batches hold different numbers of loss tokens."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(8, 12, 50, generator=g)
    targets = torch.randint(0, 50, (8, 12), generator=g)
    loss_mask = torch.rand(8, 12, generator=g) < 0.4
    counts = loss_mask.view(4, 2, 12).sum((1, 2))
    assert len(set(counts.tolist())) > 1  # the case the normalisation is for
    loss_fn = MicroBatchLoss(int(loss_mask.sum()))
    masked = masked_targets(targets, loss_mask)
    total = sum(loss_fn(lc, tc) for lc, tc in zip(logits.chunk(4), masked.chunk(4)))
    reference = torch.nn.functional.cross_entropy(logits[loss_mask], targets[loss_mask])
    torch.testing.assert_close(total, reference)
    torch.testing.assert_close(glm_loss(logits, targets, loss_mask), reference)


def test_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="loss_mask"):
        masked_targets(torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="loss_mask"):
        count_loss_tokens(torch.zeros(1, 3, dtype=torch.bool))


def test_bubble_formula_and_the_papers_figure():
    assert bubble_formula(8, 176) == 7 / 183
    assert round(100 * bubble_formula(8, 176), 1) == 3.8  # the paper's 3.8% (App. B.4)
    assert bubble_formula(1, 5) == 0.0
    assert bubble_formula(4, 8, v=2) == 3 / 19
    for kwargs, name in (({"p": 0, "m": 1}, "p"), ({"p": 2, "m": 0}, "m"), ({"p": 2, "m": 2, "v": 0}, "v")):
        with pytest.raises(ValueError, match=name):
            bubble_formula(**kwargs)


def _gpipe_order(p, m):
    """GPipe's per-stage order (all forwards, then all backwards), timestamps only fixing the order per rank."""
    return [Event(kind, s, mb, t, t, rank=s) for s in range(p)
            for t, (kind, mb) in enumerate([("F", i) for i in range(m)] + [("B", i) for i in range(m)])]


@pytest.mark.parametrize("p,m", [(2, 4), (4, 8), (3, 1)])
def test_replayed_gpipe_bubble_is_the_formula(p, m):
    timeline = replay(_gpipe_order(p, m))
    bubbles = measured_bubble(timeline)
    assert set(bubbles) == set(range(p))
    for b in bubbles.values():
        assert b == pytest.approx(bubble_formula(p, m), abs=1e-12)


def test_replay_and_measure_reject_bad_input():
    with pytest.raises(ValueError, match="events"):
        measured_bubble([])
    with pytest.raises(ValueError, match="events"):
        replay([])
    backward_first = [Event("B", 0, 0, 0.0, 0.0, rank=0), Event("F", 0, 0, 1.0, 1.0, rank=0)]
    with pytest.raises(ValueError, match="order"):
        replay(backward_first)


def test_read_checkpoint_names_what_is_missing(tmp_path):
    from scale_up.pipeline.checkpoint import FORMAT, PipelineCheckpointError, rank_file, read_checkpoint

    with pytest.raises(FileNotFoundError, match="latest.json"):
        read_checkpoint(tmp_path)
    (tmp_path / "step_00000001").mkdir()
    empty = {"format": FORMAT, "coords": {"tp": 0}, "model": {}, "optimizer": None, "trainer": {}}
    torch.save(empty, tmp_path / "step_00000001" / rank_file(0))
    (tmp_path / "latest.json").write_text('{"step": 1, "folder": "step_00000001", "world_size": 2}')
    with pytest.raises(FileNotFoundError, match="rank_00001"):
        read_checkpoint(tmp_path)
    (tmp_path / "latest.json").write_text('{"step": 1, "folder": "../elsewhere", "world_size": 1}')
    with pytest.raises(PipelineCheckpointError, match="'folder' must name a step_XXXXXXXX folder"):
        read_checkpoint(tmp_path)
