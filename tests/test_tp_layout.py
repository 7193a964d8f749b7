"""The official TP shard layout (scale_up/tp_layout.py): roles, GeGLU halves, whole heads, exact resharding."""

import pytest
import torch

from glm_mini import GLM, PRESETS
from scale_up.tp_layout import (check_tp_degree, merge_state_dicts, parameter_role, reshard_state_dicts,
                                shard_state_dict)

CFG = PRESETS["nano"]  # 4 heads, f = 176, V = 1024: all divisible by 1, 2 and 4


@pytest.fixture(scope="module")
def full():
    torch.manual_seed(0)
    return GLM(CFG).state_dict()


def test_roles_follow_convert_tp():
    assert parameter_role("transformer.word_embeddings.weight") == "rows"
    assert parameter_role("transformer.layers.1.attention.query_key_value.bias") == "rows"
    assert parameter_role("transformer.layers.0.attention.dense.weight") == "cols"
    assert parameter_role("transformer.layers.0.attention.dense.bias") == "replicated"
    assert parameter_role("transformer.layers.0.mlp.dense_h_to_4h.weight") == "glu"
    assert parameter_role("transformer.layers.0.mlp.dense_4h_to_h.weight") == "cols"
    assert parameter_role("transformer.final_layernorm.bias") == "replicated"


def test_shard_shapes(full):
    h, f, v, tp = CFG.hidden_size, CFG.ffn_hidden_size, CFG.vocab_size, 4
    shard = shard_state_dict(full, tp, 3, CFG)
    assert list(shard) == list(full)
    p = "transformer.layers.0."
    assert shard["transformer.word_embeddings.weight"].shape == (v // tp, h)
    assert shard[p + "attention.query_key_value.weight"].shape == (3 * h // tp, h)
    assert shard[p + "attention.dense.weight"].shape == (h, h // tp)
    assert shard[p + "attention.dense.bias"].shape == (h,)
    assert shard[p + "mlp.dense_h_to_4h.weight"].shape == (2 * f // tp, h)
    assert shard[p + "mlp.dense_4h_to_h.weight"].shape == (h, f // tp)


@pytest.mark.parametrize("tp", [2, 4])
def test_each_rank_owns_its_own_geglu_halves(full, tp):
    f = CFG.ffn_hidden_size
    for key in ("transformer.layers.1.mlp.dense_h_to_4h.weight", "transformer.layers.1.mlp.dense_h_to_4h.bias"):
        x1, x2 = full[key].chunk(2, dim=0)  # each [f, ...]
        for r in range(tp):
            mine1, mine2 = shard_state_dict(full, tp, r, CFG)[key].chunk(2, dim=0)
            rows = slice(r * f // tp, (r + 1) * f // tp)
            assert torch.equal(mine1, x1[rows]) and torch.equal(mine2, x2[rows])


def test_each_rank_owns_whole_interleaved_heads(full):
    nh, d, tp = CFG.num_attention_heads, CFG.head_dim, 2
    key = "transformer.layers.0.attention.query_key_value.weight"
    heads = full[key].view(nh, 3 * d, -1)  # [nh, 3d, h]: per head [q_j; k_j; v_j]
    for r in range(tp):
        mine = shard_state_dict(full, tp, r, CFG)[key].view(nh // tp, 3 * d, -1)  # [nh/tp, 3d, h]
        assert torch.equal(mine, heads[r * nh // tp:(r + 1) * nh // tp])


def test_reshard_2_to_1_to_4_round_trips_exactly(full):
    two = [shard_state_dict(full, 2, r, CFG) for r in range(2)]
    one = merge_state_dicts(two, CFG)
    assert all(torch.equal(one[k], full[k]) for k in full)
    four = reshard_state_dicts(two, 4, CFG)
    assert all(torch.equal(four[r][k], shard_state_dict(full, 4, r, CFG)[k]) for r in range(4) for k in full)
    back = reshard_state_dicts(four, 2, CFG)
    assert all(torch.equal(back[r][k], two[r][k]) for r in range(2) for k in full)


def test_glu_merge_matches_convert_tp_pairwise_rule(full):
    """convert_tp merges k source shards into one by concatenating their first halves, then their second halves."""
    key = "transformer.layers.0.mlp.dense_h_to_4h.weight"
    four = [shard_state_dict(full, 4, r, CFG) for r in range(4)]
    for target in range(2):  # 4 -> 2: target rank t merges source ranks 2t, 2t+1
        pair = [four[2 * target + i][key].chunk(2, dim=0) for i in range(2)]
        expected = torch.cat([pair[0][0], pair[1][0], pair[0][1], pair[1][1]], dim=0)
        assert torch.equal(shard_state_dict(full, 2, target, CFG)[key], expected)


@pytest.mark.parametrize("change, field", [({"num_attention_heads": 8, "hidden_size": 64, "inner_hidden_size": 192,
                                              "vocab_size": 1026}, "vocab_size"),
                                             ({"inner_hidden_size": 190}, "inner_hidden_size"),
                                             ({"num_attention_heads": 2}, "num_attention_heads")])
def test_indivisible_layouts_name_the_field(change, field):
    with pytest.raises(ValueError, match=rf"tp: {field}.*not divisible by tp=4"):
        check_tp_degree(CFG.replace(**change), 4)


def test_bad_inputs(full):
    with pytest.raises(ValueError, match="tp: expected a positive int"):
        shard_state_dict(full, 0, 0, CFG)
    with pytest.raises(ValueError, match=r"rank: expected an int in \[0, 2\)"):
        shard_state_dict(full, 2, 2, CFG)
    with pytest.raises(ValueError, match="key 'transformer.extra.weight'"):
        shard_state_dict({"transformer.extra.weight": torch.zeros(2)}, 2, 0, CFG)
    with pytest.raises(ValueError, match="shards: expected a non-empty list"):
        merge_state_dicts([], CFG)
    two = [shard_state_dict(full, 2, r, CFG) for r in range(2)]
    del two[1]["transformer.final_layernorm.bias"]
    with pytest.raises(ValueError, match=r"shards\[1\]: keys differ"):
        merge_state_dicts(two, CFG)
