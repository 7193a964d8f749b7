"""scale_up.generate: KV-cache greedy decoding equals recomputing everything; TP=2 under torchrun (loading a TP=1
checkpoint, resharded on load) generates the same tokens as one process; bad inputs are named."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from glm_mini import GLM, PRESETS, prefix_causal_mask
from scale_up.generate import greedy_continuation, main
from scale_up.sharded_checkpoint import save_sharded_checkpoint

REPO = Path(__file__).resolve().parents[1]
PROMPT = [5, 17, 42, 7]


def greedy_without_cache(model, ids, n):
    s = ids.shape[1]
    for _ in range(n):
        t = ids.shape[1]
        mask = prefix_causal_mask(torch.tensor([s]), t)  # the prompt bidirectional, the rest causal
        ids = torch.cat((ids, model(ids, attention_mask=mask).logits[:, -1:].argmax(-1)), dim=1)
    return ids


def test_kv_cache_decoding_equals_full_recompute():
    torch.manual_seed(3)
    model = GLM(PRESETS["nano"]).eval()
    prompt = torch.tensor([PROMPT])
    with torch.no_grad():
        assert greedy_continuation(model, PROMPT, 6) == greedy_without_cache(model, prompt, 6)[0, len(PROMPT):].tolist()


def test_tp2_torchrun_generates_what_one_process_does(tmp_path):
    torch.manual_seed(3)
    model = GLM(PRESETS["nano"]).eval()
    save_sharded_checkpoint(tmp_path / "ckpt", 0, model)  # written at TP=1, loaded at TP=2
    expected = greedy_continuation(model, PROMPT, 6)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m",
           "scale_up.generate", "--checkpoint", str(tmp_path / "ckpt"), "--prompt-ids", ",".join(map(str, PROMPT)),
           "--max-new-tokens", "6", "--out", str(tmp_path / "out.json"), "--device", "cpu", "--mode", "greedy"]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["tp"] == 2 and result["output_ids"] == expected


@pytest.mark.parametrize("argv, message", [
    (["--prompt-ids", "1,2", "--prompt", "hi"], "give exactly one source of prompts (got --prompt, --prompt-ids)"),
    ([], "give exactly one source of prompts (got none)"),
    (["--prompt-ids", "1,x"], "expected comma-separated token ids"),
    (["--prompt-ids", "1,5000"], "--prompt-ids: expected ids in [0, 1024)"),
    (["--prompt-ids", "1", "--max-new-tokens", "0"], "--max-new-tokens: expected an int >= 1"),
    (["--prompt", "hi", "--tokenizer", "missing.model"], "--tokenizer: no such file"),
    (["--prompt-ids", "1", "--top-k", "5"], "--top-k: shape sampling, which is off; add --do-sample"),
    (["--prompt-ids", "1", "--do-sample", "--num-beams", "2"], "num_beams: beam search is deterministic"),
    (["--prompt-ids", "1", "--mode", "greedy", "--num-beams", "2"], "--mode greedy: takes the most likely token"),
    (["--prompt-ids", "1", "--tp", "2"], "--tp: 2 tensor-parallel ranks asked, but 1 processes run"),
    (["--prompt-ids", "1", "--precision", "fp8"], "--precision: invalid choice"),
    (["--prompt-ids", "1", "--dtype", "int8"], "now spelled --precision"),
])
def test_cli_bad_inputs(argv, message, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert message in capsys.readouterr().err


def test_function_bad_inputs():
    model = GLM(PRESETS["nano"])
    with pytest.raises(ValueError, match="prompt: expected at least one token"):
        greedy_continuation(model, [], 2)
    with pytest.raises(ValueError, match="max_new_tokens: expected an int >= 0"):
        greedy_continuation(model, PROMPT, -1)


def test_help_names_every_flag(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(f in out for f in ("--preset", "--checkpoint", "--seed", "--prompt-ids", "--prompt", "--tokenizer",
                                  "--max-new-tokens", "--out", "--timeout-s"))
