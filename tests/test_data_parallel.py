"""Data parallel (DDP + ZeRO-1) and DP2×TP2 on a 2-D device mesh equal one process on the whole batch; the pipeline's
own bucketed all-reduce sums every gradient over the replicas."""

import copy
import json

import pytest
import torch
from torch.distributed.optim import ZeroRedundancyOptimizer
from torch.nn.parallel import DistributedDataParallel as DDP

from distributed_launch import run_workers
from parallel_cases import CFG, TOL, assert_close_dicts, batch, forward, grads, loss_of, params, reference_model
from scale_up import apply_tensor_parallel
from scale_up.tp_layout import shard_state_dict

LR = 1e-3


def _step_pair(ref, model, data, rows, shard):
    """One AdamW step on the whole batch (ref) and on this rank's rows (model, ZeRO-1); returns max errors."""
    opt_ref = torch.optim.AdamW(ref.parameters(), lr=LR)
    opt = ZeroRedundancyOptimizer(model.parameters(), optimizer_class=torch.optim.AdamW, lr=LR,
                                  process_group=model.process_group)
    loss_of(forward(ref, data), data["targets"]).backward()
    loss_of(forward(model, data, rows), data["targets"][rows]).backward()  # DDP averages over the DP group
    errors = {"grads": assert_close_dicts(grads(model.module), shard(grads(ref)), "grad")}
    before = shard(params(ref))
    before = {k: v.clone() for k, v in before.items()}
    opt_ref.step()
    opt.step()
    # Adam turns rounding noise in near-zero gradients into steps of up to lr, so the step is compared in units of lr
    moved = {k: (p - before[k]) / LR for k, p in params(model.module).items()}
    moved_ref = {k: (p - before[k]) / LR for k, p in shard(params(ref)).items()}
    errors["step_in_lr_units"] = max((moved[k] - moved_ref[k]).abs().max().item() for k in moved)
    got, expected = params(model.module), shard(params(ref))
    errors["params_after_step"] = (max((got[k] - expected[k]).abs().max() for k in got)
                                   / max(v.abs().max() for v in expected.values())).item()  # relative to all params
    return errors


def dp_worker(rank, world, out_dir):
    ref, data = reference_model(), batch(b=4)
    model = DDP(copy.deepcopy(ref))
    rows = slice(rank * 2, rank * 2 + 2)
    errors = _step_pair(ref, model, data, rows, lambda d: dict(d))
    if rank == 0:
        (out_dir / "dp2.json").write_text(json.dumps(errors))


def dp_tp_worker(rank, world, out_dir):
    from torch.distributed.device_mesh import init_device_mesh

    mesh = init_device_mesh("cpu", (2, 2), mesh_dim_names=("dp", "tp"))
    dp_rank, tp_rank = mesh["dp"].get_local_rank(), mesh["tp"].get_local_rank()
    ref, data = reference_model(), batch(b=4)
    tp_model = apply_tensor_parallel(copy.deepcopy(ref), mesh["tp"].get_group())
    model = DDP(tp_model, process_group=mesh["dp"].get_group())
    rows = slice(dp_rank * 2, dp_rank * 2 + 2)
    errors = _step_pair(ref, model, data, rows, lambda d: shard_state_dict(d, 2, tp_rank, CFG))
    if rank == 0:
        (out_dir / "dp2tp2.json").write_text(json.dumps(errors))


def test_ddp_zero1_equals_one_process(tmp_path):
    run_workers(dp_worker, 2, tmp_path)
    errors = json.loads((tmp_path / "dp2.json").read_text())
    print("DP=2 (DDP + ZeRO-1):", errors)
    assert errors["grads"] <= TOL and errors["params_after_step"] <= TOL and errors["step_in_lr_units"] <= 1e-2


def test_dp2_tp2_equals_one_process(tmp_path):
    run_workers(dp_tp_worker, 4, tmp_path)
    errors = json.loads((tmp_path / "dp2tp2.json").read_text())
    print("DP2×TP2:", errors)
    assert errors["grads"] <= TOL and errors["params_after_step"] <= TOL and errors["step_in_lr_units"] <= 1e-2


def bucket_worker(rank, world, out_dir):
    """Each rank's gradients differ; after the bucketed all-reduce every rank holds their sum, for any bucket size."""
    from scale_up.pipeline.data_parallel import all_reduce_gradients

    shapes = [(3, 5), (7,), (2, 2, 2), (11,), (1,)]
    results = {}
    for bucket_bytes in (1, 40, 200, 10**9):
        params = []
        for i, shape in enumerate(shapes):
            p = torch.nn.Parameter(torch.zeros(shape, dtype=torch.float64 if i == 3 else torch.float32))
            g = torch.Generator().manual_seed(100 * rank + i)
            p.grad = torch.randn(shape, generator=g).to(p.dtype)
            params.append(p)
        params.append(torch.nn.Parameter(torch.zeros(4)))  # no gradient: left alone
        calls = all_reduce_gradients(params, None, bucket_bytes)
        expected = [sum(torch.randn(shape, generator=torch.Generator().manual_seed(100 * r + i))
                        for r in range(world)) for i, shape in enumerate(shapes)]
        errors = [(p.grad.float() - e).abs().max().item() for p, e in zip(params, expected)]
        results[bucket_bytes] = {"calls": calls, "max_error": max(errors), "untouched": params[-1].grad is None}
    if rank == 0:
        (out_dir / "buckets.json").write_text(json.dumps(results))


def test_bucketed_all_reduce_sums_every_gradient(tmp_path):
    run_workers(bucket_worker, 2, tmp_path)
    results = {int(k): v for k, v in json.loads((tmp_path / "buckets.json").read_text()).items()}
    print("bucketed all-reduce:", results)
    assert all(r["max_error"] < 1e-6 and r["untouched"] for r in results.values())
    # one message per gradient when nothing fits together; fp32 and fp64 never share one; all fp32 in one at 1 GB
    assert [results[b]["calls"] for b in (1, 40, 200, 10**9)] == [5, 5, 3, 3]


def test_gradient_buckets_rejects_a_bad_size():
    from scale_up.pipeline.data_parallel import gradient_buckets

    with pytest.raises(ValueError, match="bucket_bytes"):
        gradient_buckets([torch.zeros(2)], 0)
