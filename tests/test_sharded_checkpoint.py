"""Sharded checkpoints (scale_up/sharded_checkpoint.py): per-rank files in the official layout, atomic saves,
exact resume, resharding on load."""


import pytest
import torch

import scale_up.sharded_checkpoint as ckpt
from distributed_launch import run_workers
from parallel_cases import CFG, TOL, batch, forward, loss_of, params, reference_model
from scale_up import apply_tensor_parallel
from scale_up.sharded_checkpoint import latest_step, load_sharded_checkpoint, save_sharded_checkpoint
from scale_up.tp_layout import shard_state_dict

LR = 1e-3
DATA_SEEDS = (1, 2, 3)


def train(model, optimizer, seeds):
    for seed in seeds:
        data = batch(b=2, seed=seed)
        optimizer.zero_grad()
        loss_of(forward(model, data), data["targets"]).backward()
        optimizer.step()


def fresh(seed=0, tp=False):
    model = reference_model(seed)
    if tp:
        apply_tensor_parallel(model, None)
    return model, torch.optim.AdamW(model.parameters(), lr=LR)


def resume_worker(rank, world, folder):
    uninterrupted, opt = fresh(tp=True)
    train(uninterrupted, opt, DATA_SEEDS)

    first, opt = fresh(tp=True)
    train(first, opt, DATA_SEEDS[:2])
    save_sharded_checkpoint(folder / "tp2", 2, first, opt, extra={"note": "two steps"})
    resumed, opt = fresh(seed=7, tp=True)  # different weights: everything must come from the checkpoint
    info = load_sharded_checkpoint(folder / "tp2", resumed, opt)
    assert info == {"step": 2, "extra": {"note": "two steps"}, "source_tp": 2}
    train(resumed, opt, DATA_SEEDS[2:])
    for name, p in params(uninterrupted).items():
        assert torch.equal(params(resumed)[name], p), f"resumed != uninterrupted at {name}"

    # a TP=1 checkpoint (written by the test process) loads here resharded to TP=2: weights and Adam moments
    model, opt = fresh(seed=7, tp=True)
    assert load_sharded_checkpoint(folder / "tp1", model, opt)["source_tp"] == 1
    saved = torch.load(folder / "tp1" / "2" / "mp_rank_00_model_states.pt", weights_only=True)
    expected = shard_state_dict(saved["module"], world, rank, CFG)
    assert all(torch.equal(model.state_dict()[k], expected[k]) for k in expected)
    moments = {n: opt.state[p]["exp_avg_sq"] for n, p in model.named_parameters()}
    saved_moments = {n: s["exp_avg_sq"] for n, s in saved["optimizer"]["state"].items()}
    assert all(torch.equal(moments[n], v) for n, v in shard_state_dict(saved_moments, world, rank, CFG).items())
    torch.save(params(uninterrupted), folder / f"uninterrupted_rank{rank}.pt")


def test_resume_and_reshard(tmp_path):
    one, opt = fresh()
    train(one, opt, DATA_SEEDS[:2])
    save_sharded_checkpoint(tmp_path / "tp1", 2, one, opt)
    run_workers(resume_worker, 2, tmp_path)
    assert sorted(p.name for p in (tmp_path / "tp2" / "2").iterdir()) == ["mp_rank_00_model_states.pt",
                                                                          "mp_rank_01_model_states.pt"]
    assert latest_step(tmp_path / "tp2") == 2

    # TP=2 -> TP=1: continue one step in this process; equals the uninterrupted TP=2 run (fp32 rounding only)
    model, opt = fresh(seed=7)
    assert load_sharded_checkpoint(tmp_path / "tp2", model, opt)["source_tp"] == 2
    train(model, opt, DATA_SEEDS[2:])
    shards = [torch.load(tmp_path / f"uninterrupted_rank{r}.pt") for r in range(2)]
    expected = shard_state_dict(params(model), 2, 0, CFG)
    worst = max((shards[0][k] - expected[k]).abs().max() for k in expected)
    assert worst / max(v.abs().max() for v in expected.values()) <= TOL
    with pytest.raises(ValueError, match="written at tp=2 but the model runs at tp=1"):
        load_sharded_checkpoint(tmp_path / "tp2", fresh()[0], reshard=False)


def test_an_interrupted_save_leaves_the_previous_checkpoint_loadable(tmp_path, monkeypatch):
    model, opt = fresh()
    train(model, opt, DATA_SEEDS[:1])
    save_sharded_checkpoint(tmp_path, 1, model, opt)
    good = {k: v.clone() for k, v in model.state_dict().items()}
    train(model, opt, DATA_SEEDS[1:2])

    real_save = torch.save

    def crash_mid_write(obj, f):  # half a file on disk, then the process "dies"
        real_save(obj, f)
        f.flush()
        f.truncate(100)
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(ckpt.torch, "save", crash_mid_write)
    with pytest.raises(KeyboardInterrupt):
        save_sharded_checkpoint(tmp_path, 2, model, opt)
    monkeypatch.undo()
    assert latest_step(tmp_path) == 1 and not (tmp_path / "2").exists()
    restored, opt2 = fresh(seed=7)
    assert load_sharded_checkpoint(tmp_path, restored, opt2)["step"] == 1
    assert all(torch.equal(restored.state_dict()[k], v) for k, v in good.items())
    save_sharded_checkpoint(tmp_path, 2, model, opt)  # the next save goes through
    assert latest_step(tmp_path) == 2


def test_bad_inputs(tmp_path):
    model = fresh()[0]
    with pytest.raises(FileNotFoundError, match="folder: no checkpoint"):
        load_sharded_checkpoint(tmp_path, model)
    with pytest.raises(ValueError, match="step: expected an int >= 0"):
        save_sharded_checkpoint(tmp_path, -1, model)
    save_sharded_checkpoint(tmp_path, 3, model)
    with pytest.raises(FileExistsError, match="folder: checkpoint .* already exists"):
        save_sharded_checkpoint(tmp_path, 3, model)
    with pytest.raises(ValueError, match="optimizer: checkpoint .* holds no optimizer state"):
        load_sharded_checkpoint(tmp_path, model, torch.optim.AdamW(model.parameters()))
    (tmp_path / "latest").write_text("4")
    (tmp_path / "4").mkdir()
    with pytest.raises(FileNotFoundError, match="no complete set of mp_rank_XX shards"):
        load_sharded_checkpoint(tmp_path, model)


def existing_step_worker(rank, world, folder):
    """Every rank must refuse an existing step at once (it used to be rank 0 alone, the others hanging)."""
    import time

    model, opt = fresh(tp=True)
    save_sharded_checkpoint(folder, 1, model, opt)
    start = time.monotonic()
    try:
        save_sharded_checkpoint(folder, 1, model, opt)
    except FileExistsError as err:
        (folder / f"refused_{rank}.txt").write_text(f"{time.monotonic() - start:.3f} {err}")


def test_every_rank_refuses_an_existing_step(tmp_path):
    run_workers(existing_step_worker, 2, tmp_path, timeout=60)
    for rank in range(2):
        seconds, message = (tmp_path / f"refused_{rank}.txt").read_text().split(" ", 1)
        assert "already exists" in message and float(seconds) < 10
