"""Notebook 09's exercise checks: pass on the reference, fail (naming the mismatch) on the classic mistakes, and the
references equal scale_up's own tensor-parallel math; the f/g check runs on forked gloo ranks."""

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

from scale_up.exercises import nb09_tensor_parallel as ex
from scale_up.exercises.forked_ranks import run_on_forked_ranks
from scale_up.tensor_parallel.mappings import CopyToTensorParallel, ReduceFromTensorParallel, all_reduce_sum
from scale_up.tp_layout import shard_tensor


def test_checks_pass_on_the_references(capsys):
    assert ex.check_column_parallel(ex.column_parallel_outputs)
    assert ex.check_row_parallel(ex.row_parallel_output)
    assert ex.check_interleaved_qkv_shard(ex.interleaved_qkv_shard)
    assert ex.check_geglu_shard(ex.geglu_shard)
    assert capsys.readouterr().out.count(": PASS (4 cases)") == 4


def test_checks_fail_on_classic_mistakes(capsys):
    def split_on_inputs(x, weight, bias, tp):  # splits the wrong dim of W
        return [F.linear(x, weight, bias).chunk(tp, dim=0)[r] for r in range(tp)]

    def bias_on_every_rank(x, weight, bias, tp):  # adds the bias before the reduce: tp times
        parts = [F.linear(xr, wr, bias) for xr, wr in zip(x.chunk(tp, -1), weight.chunk(tp, 1))]
        return torch.stack(parts).sum(0)

    def plain_chunk(weight, *args):  # ignores the layout: a contiguous chunk of rows
        tp, rank = args[-2], args[-1]
        return weight.chunk(tp, dim=0)[rank]

    assert not ex.check_column_parallel(split_on_inputs)
    assert not ex.check_row_parallel(bias_on_every_rank)
    assert not ex.check_interleaved_qkv_shard(plain_chunk)
    assert not ex.check_geglu_shard(plain_chunk)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Exercise 9.1: FAIL on case 'b=2 in=8 out=8 tp=2': result")
    assert out[1].startswith("Exercise 9.2: FAIL on case 'b=2 in=8 out=8 tp=2': result[")
    assert out[2].startswith("Exercise 9.4: FAIL on case 'nh=4 d=2 tp=2 rank=1': result[")
    assert out[3].startswith("Exercise 9.5: FAIL on case 'f=8 tp=2 rank=1': result[")


def test_not_implemented_is_reported(capsys):
    def todo(*args):
        raise NotImplementedError("Exercise 9.5: line the halves up")

    assert not ex.check_geglu_shard(todo)
    assert "Exercise 9.5: not yet implemented" in capsys.readouterr().out


def test_references_equal_the_package_math():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(24, 5, generator=g)
    assert all(torch.equal(ex.geglu_shard(w, 3, r), shard_tensor(w, "glu", 3, r)) for r in range(3))
    x, w, b = torch.randn(2, 3, 8, generator=g), torch.randn(6, 8, generator=g), torch.randn(6, generator=g)
    assert torch.allclose(ex.row_parallel_output(x, w, b, 4), F.linear(x, w, b), atol=1e-6)
    assert torch.allclose(torch.cat(ex.column_parallel_outputs(x, w, b, 3), -1), F.linear(x, w, b), atol=1e-6)
    nh, d, h = 4, 2, 8  # GLM's interleaved rows, cut contiguously by the official layout, are the same heads
    stacked = torch.randn(3 * h, h, generator=g)
    interleaved = ex.interleaved_qkv_shard(stacked, nh, 1, 0)
    assert all(torch.equal(ex.interleaved_qkv_shard(stacked, nh, 2, r), shard_tensor(interleaved, "rows", 2, r))
               for r in range(2))


def _function(forward, backward):
    """A torch.autograd.Function from a forward(x, group) and a backward(grad, group), as a student might write."""

    class Op(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, group):
            ctx.group = group
            return forward(x, group)

        @staticmethod
        def backward(ctx, grad):
            return backward(grad, ctx.group), None

    return Op


def test_f_and_g_check_passes_on_the_package_operators(capsys):
    assert ex.check_f_and_g(CopyToTensorParallel, ReduceFromTensorParallel)
    assert capsys.readouterr().out.strip() == "Exercise 9.3: PASS (4 cases)"


@pytest.mark.parametrize("f, g, case, quantity", [
    (_function(lambda x, gr: x.view_as(x), lambda d, gr: d), ReduceFromTensorParallel,  # f without its all-reduce
     "f alone, 2 ranks", "['dL/dx']"),
    (CopyToTensorParallel, _function(all_reduce_sum, all_reduce_sum),  # g all-reduces both ways: t times the gradient
     "g alone, 2 ranks", "['dL/dx_r']"),
    (CopyToTensorParallel, _function(lambda x, gr: x.view_as(x), lambda d, gr: d),  # g forgets to sum
     "g alone, 2 ranks", "['g(x_r)']"),
    (_function(lambda x, gr: all_reduce_sum(x, gr) / dist.get_world_size(), lambda d, gr: d),  # f averages, f/g swapped
     ReduceFromTensorParallel, "f alone, 2 ranks", "['dL/dx']"),
])
def test_f_and_g_check_fails_on_the_classic_mistakes(capsys, f, g, case, quantity):
    assert not ex.check_f_and_g(f, g)
    out = capsys.readouterr().out
    assert out.startswith(f"Exercise 9.3: FAIL on case '{case}': result[") and quantity in out, out


def test_the_mlp_case_compares_every_rank_with_one_process():
    """The gradient test itself: the package's f and g on forked ranks equal the unsplit MLP's autograd."""
    got = ex.on_ranks("mlp", CopyToTensorParallel, ReduceFromTensorParallel, 2, 7, (2, 3, 8, 16))
    expected = ex.one_process_mlp(2, 7, (2, 3, 8, 16))
    for rank in range(2):
        for key, tensor in expected[rank].items():
            torch.testing.assert_close(got[rank][key], tensor, rtol=1e-5, atol=1e-6, msg=f"rank {rank} {key}")
    assert not torch.equal(expected[0]["dL/dW1 (this rank's rows)"], expected[1]["dL/dW1 (this rank's rows)"])


def test_a_stub_and_a_missing_gradient_are_reported(capsys):
    class Stub(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, group):
            raise NotImplementedError("Exercise 9.3: keep the group in ctx")

    assert not ex.check_f_and_g(Stub, Stub)
    assert "Exercise 9.3: not yet implemented (NotImplementedError: Exercise 9.3: keep the group in ctx)" in \
        capsys.readouterr().out

    class OneGradient(torch.autograd.Function):  # backward forgets the None for the group
        @staticmethod
        def forward(ctx, x, group):
            return x.view_as(x)

        @staticmethod
        def backward(ctx, grad):
            return grad

    assert not ex.check_f_and_g(OneGradient, ReduceFromTensorParallel)
    assert "raised RuntimeError: rank 0 raised RuntimeError" in capsys.readouterr().out


def test_forked_ranks_return_in_rank_order_and_name_a_failing_rank():
    def sum_of_ranks(rank, world):
        t = torch.tensor([float(rank)])
        dist.all_reduce(t)
        return {"rank": torch.tensor(rank), "sum": t}

    answers = run_on_forked_ranks(sum_of_ranks, 3)
    assert [int(a["rank"]) for a in answers] == [0, 1, 2] and all(float(a["sum"]) == 3.0 for a in answers)

    def fails_on_rank_1(rank, world):
        if rank == 1:
            raise ValueError("bad shard")
        return torch.zeros(1)

    with pytest.raises(RuntimeError, match="rank 1 raised ValueError: bad shard"):
        run_on_forked_ranks(fails_on_rank_1, 2)
    with pytest.raises(ValueError, match="world_size: expected a positive int"):
        run_on_forked_ranks(sum_of_ranks, 0)


def test_a_rank_that_waits_for_a_collective_no_one_calls_times_out():
    def only_rank_0_reduces(rank, world):
        if rank == 0:
            dist.all_reduce(torch.ones(1))
        else:
            import time
            time.sleep(30)
        return torch.zeros(1)

    with pytest.raises(TimeoutError, match="sent nothing within 2 s"):
        run_on_forked_ranks(only_rank_0_reduces, 2, timeout=2)
