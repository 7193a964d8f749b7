"""scale_up/tensor_parallel/block_trace.py: the f/g picture of notebook 09 is read off a real tensor-parallel forward."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch.distributed as dist  # noqa: E402

from glm_mini import PRESETS  # noqa: E402
from scale_up.tensor_parallel.block_trace import draw_tp_block, trace_tp_layer  # noqa: E402
from scale_up.tensor_parallel.mappings import CopyToTensorParallel, ReduceFromTensorParallel  # noqa: E402

NANO = PRESETS["nano"]


@pytest.mark.parametrize("tp", [1, 2, 4])
def test_trace_is_megatrons_order_with_this_ranks_shapes(tp):
    steps = trace_tp_layer(NANO, tp)
    h, f = NANO.hidden_size, NANO.ffn_hidden_size
    assert [(s.name, s.cls) for s in steps] == [
        ("input_layernorm", "LayerNorm"), ("f", "CopyToTensorParallel"),
        ("attention.query_key_value", "ColumnParallelLinear"), ("attention.dense", "RowParallelLinear"),
        ("g", "ReduceFromTensorParallel"), ("post_attention_layernorm", "LayerNorm"), ("f", "CopyToTensorParallel"),
        ("mlp.dense_h_to_4h", "ColumnParallelLinear"), ("mlp.dense_4h_to_h", "RowParallelLinear"),
        ("g", "ReduceFromTensorParallel")]
    shapes = {s.name: s.weight_shape for s in steps if s.kind == "module"}
    assert shapes["attention.query_key_value"] == (3 * h // tp, h) and shapes["attention.dense"] == (h, h // tp)
    assert shapes["mlp.dense_h_to_4h"] == (2 * f // tp, h) and shapes["mlp.dense_4h_to_h"] == (h, f // tp)


def test_tracing_leaves_the_operators_and_the_process_alone():
    forwards = (CopyToTensorParallel.forward, ReduceFromTensorParallel.forward)
    trace_tp_layer(NANO, 2)
    assert (CopyToTensorParallel.forward, ReduceFromTensorParallel.forward) == forwards
    assert not dist.is_initialized()


def test_the_drawing_labels_every_step_and_the_local_work():
    ax = draw_tp_block(trace_tp_layer(NANO, 2), NANO, 2)
    texts = [t.get_text() for t in ax.texts]
    assert sum(t == "f" for t in texts) == 2 and sum(t == "g" for t in texts) == 2
    assert any("2 of 4 heads" in t for t in texts) and any("88 of 176" in t for t in texts)
    assert any("[96 × 64]" in t for t in texts), "this rank's query_key_value shape, read from the module"
