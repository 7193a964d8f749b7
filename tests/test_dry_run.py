"""scale_up.dry_run: the 130B model's TP=8 shard shapes equal the official checkpoint table (docs/glm130b_facts.md
§5), rank bytes equal the planner's formula, pipeline stages split the layers as the planner does, bad inputs named."""

import pytest
import torch

from glm_mini import PRESETS
from scale_up.dry_run import dry_run, main
from scale_up.pipeline.partition import layers_per_stage
from scale_up.plan import weight_bytes_per_gpu

GLM130B = PRESETS["glm-130b"]
NANO = PRESETS["nano"]

# The official TP=8 shard shapes (the facts file's table, from THUDM/GLM-130B tools/convert_tp.py and SAT's modules).
OFFICIAL_TP8 = {
    "transformer.word_embeddings.weight": (18816, 12288),
    "transformer.layers.0.input_layernorm.weight": (12288,),
    "transformer.layers.0.attention.query_key_value.weight": (4608, 12288),
    "transformer.layers.0.attention.query_key_value.bias": (4608,),
    "transformer.layers.0.attention.dense.weight": (12288, 1536),
    "transformer.layers.0.attention.dense.bias": (12288,),
    "transformer.layers.0.post_attention_layernorm.bias": (12288,),
    "transformer.layers.0.mlp.dense_h_to_4h.weight": (8192, 12288),
    "transformer.layers.0.mlp.dense_h_to_4h.bias": (8192,),
    "transformer.layers.0.mlp.dense_4h_to_h.weight": (12288, 4096),
    "transformer.layers.0.mlp.dense_4h_to_h.bias": (12288,),
    "transformer.final_layernorm.weight": (12288,),
}


def test_glm130b_tp8_shapes_and_bytes_match_the_official_table_and_planner():
    (part,) = dry_run(GLM130B, tp=8, pp=1, bits=16, tp_ranks=[5])
    for key, shape in OFFICIAL_TP8.items():
        assert part.shapes[key] == (shape, torch.float16), key
    assert len(part.layers) == 70 and part.tp_rank == 5
    assert part.bytes == weight_bytes_per_gpu(GLM130B, tp=8, bits=16)


@pytest.mark.parametrize("bits", [8, 4])
def test_glm130b_quantized_rank_matches_planner(bits):
    (part,) = dry_run(GLM130B, tp=4, pp=1, bits=bits, tp_ranks=[0])
    q = part.shapes["transformer.layers.3.mlp.dense_4h_to_h.weight"]
    assert q == ((12288, 8192 * bits // 8), torch.int8)
    assert part.shapes["transformer.layers.3.mlp.dense_4h_to_h.weight_scale"] == ((12288,), torch.float16)
    assert part.bytes == weight_bytes_per_gpu(GLM130B, tp=4, bits=bits)


def test_pipeline_stages_partition_layers_and_ends():
    cfg = PRESETS["mini"]  # 6 layers
    parts = dry_run(cfg, tp=2, pp=3, bits=16)
    assert [(p.stage, p.tp_rank) for p in parts] == [(s, r) for s in range(3) for r in range(2)]
    layers = [p.layers for p in parts if p.tp_rank == 0]
    assert [len(ls) for ls in layers] == layers_per_stage(cfg.num_layers, 3)
    assert sum(layers, ()) == tuple(range(cfg.num_layers))
    first, middle, last = (p for p in parts if p.tp_rank == 0)
    assert "transformer.word_embeddings.weight" in first.shapes
    assert "transformer.final_layernorm.weight" not in first.shapes
    assert not any("word_embeddings" in k or "final_layernorm" in k for k in middle.shapes)
    assert "transformer.word_embeddings.weight" in last.shapes and "transformer.final_layernorm.bias" in last.shapes
    final_ln = 2 * 2 * cfg.hidden_size
    assert middle.bytes == weight_bytes_per_gpu(cfg, tp=2, layers=len(middle.layers), embedding=False)
    assert first.bytes == weight_bytes_per_gpu(cfg, tp=2, layers=len(first.layers)) - final_ln
    assert last.bytes == weight_bytes_per_gpu(cfg, tp=2, layers=len(last.layers))


def test_bad_inputs_name_the_argument(capsys):
    with pytest.raises(ValueError, match="tp: num_attention_heads=4 is not divisible by tp=3"):
        dry_run(NANO, tp=3)
    with pytest.raises(ValueError, match="bits: expected 16, 8 or 4"):
        dry_run(NANO, tp=2, bits=2)
    with pytest.raises(ValueError, match="pp: expected an int"):
        dry_run(NANO, tp=2, pp=5)
    with pytest.raises(TypeError, match="config: expected a GLMConfig"):
        dry_run("glm-130b", tp=2)
    with pytest.raises(SystemExit):
        main(["--preset", "nano", "--tp", "3"])
    assert "tp: num_attention_heads=4" in capsys.readouterr().err


def test_cli_prints_rank_table(capsys):
    assert main(["--preset", "nano", "--tp", "2", "--pp", "2", "--bits", "4"]) == 0
    out = capsys.readouterr().out
    assert "stage 1, tp rank 0" in out and "weight_scale" in out and "INT4: 4 GPUs" in out
