"""``scale_up.generate`` answers text prompts with the model loaded once: a JSONL file with sampling, a terminal loop
with beam search (the shipped reference model, converted to the official layout), and GLM-130B's icetk ids; every
answer equals ``glm_mini.generate.fill_blanks`` in one process. A prompt file on 2 tensor-parallel ranks is
docs/run_glm130b.md's CPU twin, run by tests/test_run_glm130b_doc.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from glm_mini import GLM, PRESETS
from glm_mini.generate import fill_blanks, fill_blanks_ids
from glm_mini.reference import load_reference
from scale_up.convert import convert
from scale_up.generate import main
from scale_up.pipeline.launch import run_torchrun

REPO = Path(__file__).resolve().parents[1]
PROMPTS = ["Tom went to the [MASK] and bought three apples.", "The river was cold, so the children [gMASK]",
           "Lena opened the door and"]  # [MASK], [gMASK], and no blank: [gMASK] is appended
# the reference model's shape: the mini preset made narrower (glm_mini.reference.MODEL)
REFERENCE_ARGS = ["--preset", "mini", "--num-layers", "2", "--hidden-size", "64", "--num-attention-heads", "4",
                  "--inner-hidden-size", "168", "--precision", "fp32", "--device", "cpu", "--corpus", "lessons"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The shipped reference model "glm" (one process), and its weights as an official-layout checkpoint at TP=1
    (``scale_up.convert`` reads the shipped safetensors file as a TP=1 state dict)."""
    model, tokenizer = load_reference("glm")
    root = tmp_path_factory.mktemp("reference")
    convert(REPO / "data" / "reference" / "glm.safetensors", root / "glm-tp1", 1, num_attention_heads=4)
    return model, tokenizer, root


@pytest.fixture(autouse=True)
def one_thread():
    torch.set_num_threads(1)  # as each rank runs: the same summation order, so the same logits bit for bit


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.slow
def test_a_jsonl_file_with_sampling_keeps_its_fields_and_draws_as_fill_blanks_does(reference, tmp_path):
    model, tokenizer, root = reference
    tp1 = root / "glm-tp1"
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "a", "prompt": PROMPTS[0]}) + "\n" + json.dumps(PROMPTS[1]) + "\n")
    out = tmp_path / "sampled.jsonl"
    options = dict(do_sample=True, top_k=20, top_p=0.9, temperature=0.8, seed=3)
    run_torchrun(1, "scale_up.generate", "--checkpoint", str(tp1), *REFERENCE_ARGS, "--prompt-file", str(prompts),
                 "--max-new-tokens", "6", "--do-sample", "--top-k", "20", "--top-p", "0.9", "--temperature", "0.8",
                 "--seed", "3", "--out", str(out), timeout=300)
    got = lines(out)
    assert got[0]["id"] == "a" and "id" not in got[1]
    for g, text in zip(got, PROMPTS[:2]):
        assert (g["output"], g["answers"]) == fill_blanks(model, tokenizer, text, max_new_tokens=6, **options)


@pytest.mark.slow
def test_the_interactive_loop_answers_each_line_with_beam_search(reference, tmp_path):
    model, tokenizer, root = reference
    tp1 = root / "glm-tp1"
    out = tmp_path / "interactive.jsonl"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=1", "-m",
           "scale_up.generate", "--checkpoint", str(tp1), *REFERENCE_ARGS, "--interactive", "--num-beams", "3",
           "--max-new-tokens", "6", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=REPO, env=env, input=f"{PROMPTS[0]}\n\n{PROMPTS[2]}\n", capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = lines(out)
    assert [g["prompt"] for g in got] == [PROMPTS[0], PROMPTS[2]]
    for g in got:
        assert (g["output"], g["answers"]) == fill_blanks(model, tokenizer, g["prompt"], max_new_tokens=6,
                                                          num_beams=3)


@pytest.mark.slow
def test_an_ice_text_model_gives_glm_130b_ids(tmp_path):
    """``--tokenizer .../ice_text.model`` reads prompts with icetk's ids (text = sentencepiece id + 20000, blanks at
    150000+): the answers equal fill_blanks with the kit's IceTokenizer on the same random weights."""
    from test_icetk_tokenizer import _ice_text_model

    from scale_up.icetk_tokenizer import IceTokenizer

    path = tmp_path / "icetk" / "ice_text.model"
    path.parent.mkdir()
    path.write_bytes(_ice_text_model())
    out = tmp_path / "ice.jsonl"
    run_torchrun(1, "scale_up.generate", "--preset", "nano", "--vocab-size", "150528", "--seed", "5",
                 "--tokenizer", str(path), "--prompt", PROMPTS[0], "--prompt", PROMPTS[1], "--max-new-tokens", "4",
                 "--device", "cpu", "--out", str(out), timeout=300)
    torch.manual_seed(5)
    model = GLM(PRESETS["nano"].replace(vocab_size=150528)).eval()
    ice = IceTokenizer.from_file(path)
    got = lines(out)
    for g, text in zip(got, PROMPTS):
        assert g["prompt_ids"] == ice.encode(text) and min(g["prompt_ids"]) >= 20000
        answers, output = fill_blanks_ids(model, ice.encode(text), ice.special, 4)
        assert (g["answer_ids"], g["output_ids"]) == (answers, output)
    assert 150000 in got[0]["prompt_ids"]  # [MASK] is icetk's 150000


@pytest.mark.parametrize("content, name, message", [
    ('{"prompt": "a"}\nnot json\n', "p.jsonl", "p.jsonl line 2 is not JSON"),
    ('{"text": "a"}\n', "p.jsonl", 'p.jsonl line 1: expected an object with a non-empty "prompt" string'),
    ("\n\n", "p.txt", "p.txt holds no prompt"),
])
def test_a_bad_prompt_file_is_named_by_file_and_line_before_anything_loads(tmp_path, capsys, content, name, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(SystemExit):
        main(["--prompt-file", str(tmp_path / name)])
    assert message in capsys.readouterr().err


def test_an_icetk_tokenizer_needs_a_model_with_its_vocabulary(tmp_path, capsys):
    from test_icetk_tokenizer import _ice_text_model

    path = tmp_path / "ice_text.model"
    path.write_bytes(_ice_text_model())
    with pytest.raises(SystemExit):
        main(["--tokenizer", str(path), "--prompt", "hello"])  # the nano preset has 1024 ids
    assert "has ids up to 150007, but the model's vocabulary has 1024 rows" in capsys.readouterr().err
