"""Notebook 09's exercise checks: pass on the reference, fail (naming the mismatch) on the classic mistakes, and the
references equal scale_up's own tensor-parallel math."""

import torch
import torch.nn.functional as F

from scale_up.exercises import nb09_tensor_parallel as ex
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
    assert out[2].startswith("Exercise 9.3: FAIL on case 'nh=4 d=2 tp=2 rank=1': result[")
    assert out[3].startswith("Exercise 9.4: FAIL on case 'f=8 tp=2 rank=1': result[")


def test_not_implemented_is_reported(capsys):
    def todo(*args):
        raise NotImplementedError("Exercise 9.4: take [c_r; c_{tp+r}]")

    assert not ex.check_geglu_shard(todo)
    assert "Exercise 9.4: not yet implemented" in capsys.readouterr().out


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
