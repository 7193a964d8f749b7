"""Official shards loaded one per rank: a TP=1 load equals the kit model; ``torchrun -m scale_up.generate --mode
fill-blanks`` on 2 gloo ranks (FP16 and INT4 checkpoints from scale_up.convert) fills the same blanks as one process
running glm_mini.generate.fill_blanks_ids on the same weights; mismatches are named."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from convert_fixtures import SMALL, kit_model, make_checkpoint, read_shards
from glm_mini import SpecialTokens
from glm_mini.generate import fill_blanks_ids
from scale_up.convert import convert
from scale_up.quantization import unpack_int4
from scale_up.rank_loading import load_rank
from scale_up.tp_layout import merge_state_dicts

REPO = Path(__file__).resolve().parents[1]
SPECIAL = SpecialTokens(mask=1000, gmask=1001, smask=1002, eod=1003, sop=1004, eop=1005, eos=1006, pad=0)
PROMPT = [5, 17, 42, 1000, 7, 9, 1001]  # a [MASK] blank, then a [gMASK] blank at the end
SMALL_ARGS = ["--num-layers", "2", "--hidden-size", "64", "--num-attention-heads", "8", "--inner-hidden-size", "176",
              "--vocab-size", "1024", "--max-sequence-length", "256"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("official")
    full = make_checkpoint(root / "tp8", tp=8)
    for name, tp, bits in (("tp1", 1, None), ("tp2", 2, None), ("tp2_int4", 2, 4)):
        convert(root / "tp8", root / name, tp, bits, num_attention_heads=8)
    return root, full


def dequantized_model(folder: Path):
    """One process holding exactly the weights the INT4 ranks multiply by: q·scale per shard, merged."""
    shards = []
    for shard in read_shards(folder):
        out = {}
        for key, t in shard.items():
            if key.endswith("weight_scale"):
                continue
            scale = shard.get(key + "_scale") if key.endswith(".weight") else None
            out[key] = t if scale is None else unpack_int4(t).float() * scale.float().unsqueeze(1)
        shards.append(out)
    return kit_model(merge_state_dicts(shards, SMALL))


def test_tp1_load_equals_the_kit_model(checkpoints):
    root, full = checkpoints
    model = load_rank(SMALL, root / "tp1", dtype=torch.float32)
    ids = torch.tensor([PROMPT[:3]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, kit_model(full)(ids).logits)
    int4 = load_rank(SMALL, root / "tp1", bits=4, dtype=torch.float32)
    (converted,) = read_shards(_int4_tp1(root))  # quantizing on load writes the converter's very bytes
    loaded = int4.state_dict()
    for key, t in converted.items():
        if t.dtype == torch.int8 or key.endswith("weight_scale"):
            assert torch.equal(loaded[key], t), key


def run_generate(checkpoint: Path, out: Path, *extra: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m",
           "scale_up.generate", "--checkpoint", str(checkpoint), "--mode", "fill-blanks", "--precision", "fp32",
           "--prompt-ids", ",".join(map(str, PROMPT)), "--max-new-tokens", "5", "--out", str(out),
           "--special-ids", "1000,1001,1002,1003,1004,1005,1006,0", *SMALL_ARGS, *extra]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_tp2_fill_blanks_fp16_and_int4_match_one_process(checkpoints, tmp_path):
    root, full = checkpoints
    expected = fill_blanks_ids(kit_model(full), PROMPT, SPECIAL, 5)
    got = run_generate(root / "tp2", tmp_path / "fp16.json")
    assert got["tp"] == 2 and (got["answer_ids"], got["output_ids"]) == (expected[0], expected[1])
    expected4 = fill_blanks_ids(dequantized_model(root / "tp2_int4"), PROMPT, SPECIAL, 5)
    got4 = run_generate(root / "tp2_int4", tmp_path / "int4.json")
    assert (got4["answer_ids"], got4["output_ids"]) == (expected4[0], expected4[1])


def test_bad_inputs_are_named(checkpoints, tmp_path):
    root, _ = checkpoints
    with pytest.raises(ValueError, match="checkpoint: .* holds 2 tensor-parallel shards but this run has tp=1"):
        load_rank(SMALL, root / "tp2")
    with pytest.raises(ValueError, match="bits: the checkpoint .* is INT4; it cannot run at INT8"):
        load_rank(SMALL, _int4_tp1(root), bits=8)
    with pytest.raises(FileNotFoundError, match="--input-folder: missing .*latest"):
        load_rank(SMALL, tmp_path)
    with pytest.raises(ValueError, match="bits: expected 4, 8 or None"):
        load_rank(SMALL, root / "tp1", bits=3)


def _int4_tp1(root: Path) -> Path:
    if not (root / "tp1_int4").exists():
        convert(root / "tp8", root / "tp1_int4", 1, 4, num_attention_heads=8)
    return root / "tp1_int4"


@pytest.mark.parametrize("argv, message", [
    (["--mode", "fill-blanks", "--special-ids", "1,2"], "--special-ids: expected 8 comma-separated ids"),
    (["--checkpoint", "no/such/folder"], "--checkpoint: no such folder"),
    (["--quantization-bit-width", "3"], "--quantization-bit-width: invalid choice"),
    (["--num-attention-heads", "5"], "num_attention_heads"),
    (["--mode", "beam"], "--mode: invalid choice"),
    (["--backend", "mpi"], "--backend: invalid choice"),
    (["--precision", "int8"], "--precision: invalid choice"),
])
def test_generate_cli_bad_inputs_are_named(argv, message, capsys):
    from scale_up.generate import main
    with pytest.raises(SystemExit):
        main(["--prompt-ids", "1,2", *argv])
    assert message in capsys.readouterr().err
