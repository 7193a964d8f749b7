"""Collective bytes per transformer layer per step under tensor parallelism, counted vs the Megatron formula.

Each run is ``torchrun --nproc-per-node TP -m scale_up.tensor_parallel.check`` on CPU processes (gloo): the
collectives are counted by wrapping ``torch.distributed``'s (``CollectiveCounter``), per layer as a 2-layer minus
a 1-layer model. Megatron's count: per layer, two all-reduces of b·s·h values forward (after attention and after
the MLP) and two backward (before QKV and before dense_h_to_4h), 4 bytes each in fp32. Also printed: the step time
of TP vs one process in the same run (on a shared 2-core CPU, TP is slower: communication, no extra cores).
Run: ``make bench``.
"""

import pytest

from scale_up.tensor_parallel.check import launch_check

CASES = [(2, 2, 16), (2, 4, 32), (4, 2, 16)]  # (tp, b, s)


@pytest.mark.parametrize("tp, b, s", CASES)
def test_collective_bytes_per_layer_match_megatron(tp, b, s, tmp_path):
    r = launch_check(tp, tmp_path, batch_size=b, seq_len=s)
    got, formula = r["per_layer_bytes"], r["megatron_per_layer_bytes"]
    ring = 2 * (tp - 1) / tp
    print(f"\nTP={tp} b={b} s={s} h={r['hidden_size']}: per layer forward {got['forward']} B in "
          f"{got['forward_collectives']} all-reduces (formula 2·b·s·h·4 = {formula['forward']} B), backward "
          f"{got['backward']} B in {got['backward_collectives']} (formula {formula['backward']} B); ring traffic "
          f"per rank {ring * (got['forward'] + got['backward']):.0f} B; whole model {r['whole_model_bytes']}; "
          f"max rel error {r['max_rel_error']}; step {r['step_seconds']} (measured while the machine was shared)")
    assert got["forward"] == formula["forward"] and got["backward"] == formula["backward"]
    assert got["forward_collectives"] == 2 and got["backward_collectives"] == 2
