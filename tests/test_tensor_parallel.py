"""Tensor parallelism on gloo CPU processes equals one process: logits, loss, every gradient, one optimizer step, the
official shard layout, the vocab-parallel loss, and DTensor's parallelize_module on the same model."""

import copy
import json

import pytest
import torch

from distributed_launch import run_workers
from parallel_cases import (CFG, TOL, assert_close_dicts, batch, forward, grads, loss_of, params, reference_model,
                            rel_err)
from scale_up import apply_tensor_parallel, vocab_parallel_cross_entropy
from scale_up.tp_layout import shard_state_dict


def _dtensor_twin(ref, world, tp_rank_shards):
    """The same model parallelized by DTensor; dense_h_to_4h rows permuted so each contiguous chunk is [x1_r; x2_r]."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    model = copy.deepcopy(ref)
    plan = {}
    for n, layer in model.transformer.layers.items():
        w, b = layer.mlp.dense_h_to_4h.weight, layer.mlp.dense_h_to_4h.bias
        key = f"transformer.layers.{n}.mlp.dense_h_to_4h."
        with torch.no_grad():  # rows reordered [x1_0; x2_0; x1_1; x2_1; ...] (the GeGLU trap, fixed)
            w.copy_(torch.cat([tp_rank_shards[r][key + "weight"] for r in range(world)]))
            b.copy_(torch.cat([tp_rank_shards[r][key + "bias"] for r in range(world)]))
        p = f"transformer.layers.{n}."
        plan |= {p + "attention.query_key_value": ColwiseParallel(), p + "attention.dense": RowwiseParallel(),
                 p + "mlp.dense_h_to_4h": ColwiseParallel(), p + "mlp.dense_4h_to_h": RowwiseParallel()}
    return parallelize_module(model, init_device_mesh("cpu", (world,)), plan)


def tp_worker(rank, world, out_dir):
    try:  # every rank must shard the same full weights; a per-rank seed is caught, not silently wrong
        apply_tensor_parallel(reference_model(seed=rank), None)
        raise AssertionError("different full weights per rank were not detected")
    except ValueError as error:
        assert "model: rank 1 of the tensor-parallel group holds different full weights" in str(error)
    ref = reference_model()
    data = batch()
    tp = apply_tensor_parallel(copy.deepcopy(ref), None)
    sharded = apply_tensor_parallel(copy.deepcopy(ref), None, gather_logits=False)
    full_shards = [shard_state_dict(ref.state_dict(), world, r, CFG) for r in range(world)]
    dt = _dtensor_twin(ref, world, full_shards)

    # the official layout, key for key
    assert_close_dicts(tp.state_dict(), full_shards[rank], "state_dict", tol=0.0)

    ref_logits = forward(ref, data)
    ref_loss = loss_of(ref_logits, data["targets"])
    ref_loss.backward()
    ref_grads = shard_state_dict(grads(ref), world, rank, CFG)

    logits = forward(tp, data)
    loss = loss_of(logits, data["targets"])
    loss.backward()
    local_logits = forward(sharded, data)
    parallel_loss = vocab_parallel_cross_entropy(local_logits, data["targets"]).mean()
    parallel_loss.backward()
    errors = {
        "logits": rel_err(logits, ref_logits),
        "sharded_logits": rel_err(local_logits, ref_logits.chunk(world, dim=-1)[rank]),
        "loss": rel_err(loss, ref_loss),
        "vocab_parallel_loss": rel_err(parallel_loss, ref_loss),
        "grads": assert_close_dicts(grads(tp), ref_grads, "grad"),
        "vocab_parallel_grads": assert_close_dicts(grads(sharded), ref_grads, "vocab-parallel grad"),
    }
    for what in ("logits", "sharded_logits", "loss", "vocab_parallel_loss"):
        assert errors[what] <= TOL, f"{what}: relative error {errors[what]:.2e}"

    # DTensor cross-check: same logits; same local gradient shards of the four linear layers
    dt_logits = forward(dt, data)
    loss_of(dt_logits, data["targets"]).backward()
    errors["dtensor_vs_ours_logits"] = rel_err(dt_logits, logits)
    assert errors["dtensor_vs_ours_logits"] <= TOL
    dt_grads = {n: p.grad.to_local() for n, p in dt.named_parameters() if "dense" in n or "query_key_value" in n}
    errors["dtensor_vs_ours_grads"] = assert_close_dicts(dt_grads, {n: grads(tp)[n] for n in dt_grads}, "DTensor")

    # one optimizer step on each: the parameters stay each other's shard. (SGD: Adam divides by |g| and so turns
    # rounding noise in near-zero gradients, such as the key biases', into full-size steps; test_data_parallel
    # checks Adam through ZeRO.)
    for model in (ref, tp):
        torch.optim.SGD(model.parameters(), lr=0.1).step()
    errors["after_step"] = assert_close_dicts(params(tp), shard_state_dict(params(ref), world, rank, CFG), "param")
    if rank == 0:
        (out_dir / f"tp{world}.json").write_text(json.dumps(errors))


@pytest.mark.parametrize("world", [2, 4])
def test_tensor_parallel_equals_one_process(world, tmp_path):
    run_workers(tp_worker, world, tmp_path)
    errors = json.loads((tmp_path / f"tp{world}.json").read_text())
    print(f"TP={world} max relative errors:", {k: f"{v:.1e}" for k, v in errors.items()})
    assert max(errors.values()) <= TOL
