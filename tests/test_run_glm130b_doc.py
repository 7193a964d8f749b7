"""docs/run_glm130b.md: every kit command it shows parses with that tool's own parser (its recipes included), and its
CPU-sized twin runs as written: the shipped reference model, converted to the official layout at TP 2, answers a
prompt file in one launch on 2 gloo processes, each answer equal to ``glm_mini.generate.fill_blanks`` in one
process."""

import importlib
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from glm_mini.cli.config_file import parse_args
from glm_mini.generate import fill_blanks
from glm_mini.reference import load_reference

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "run_glm130b.md"


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, re.S)


def command_lines(block: str) -> list[str]:
    """The block's commands, continuation lines joined."""
    return [line.strip() for line in re.sub(r"\\\n\s*", " ", block).splitlines() if line.strip()]


def kit_command(line: str) -> tuple[str, list[str]] | None:
    """(module, argv) of a ``python -m scale_up.X`` or ``torchrun ... -m scale_up.X`` line; None for other lines."""
    words = shlex.split(line, comments=True)
    if words[:1] == ["python"] and words[1:2] == ["-m"] and words[2].startswith("scale_up."):
        return words[2], words[3:]
    if words[:1] == ["torchrun"]:
        at = words.index("-m")
        return words[at + 1], words[at + 2:]
    return None


def test_every_command_of_the_guide_parses(monkeypatch):
    monkeypatch.chdir(REPO)  # the recipes' paths are relative to the repository
    found = [c for block in bash_blocks(DOC.read_text(encoding="utf-8")) for line in command_lines(block)
             if (c := kit_command(line))]
    tools = {module for module, _ in found}
    assert {"scale_up.plan", "scale_up.dry_run", "scale_up.gpu_check", "scale_up.convert", "scale_up.generate"} <= tools
    for module, argv in found:
        args = parse_args(importlib.import_module(module).build_parser(), argv, module)
        if "--config" in argv:
            assert args.config.is_file()


@pytest.mark.slow
def test_the_cpu_twin_answers_a_prompt_file_on_two_ranks_as_fill_blanks_does(tmp_path):
    text = DOC.read_text(encoding="utf-8")
    twin = bash_blocks(text[text.index("## 8."):])[0]
    script = re.sub(r"^python -m", f"{sys.executable} -m", twin.replace("build/twin", str(tmp_path)), flags=re.M)
    script = re.sub(r"^torchrun", f"{sys.executable} -m torch.distributed.run", script, flags=re.M)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(["bash", "-ec", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    prompts = (tmp_path / "prompts.txt").read_text(encoding="utf-8").splitlines()
    answers = [json.loads(line) for line in (tmp_path / "answers.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(prompts) >= 2 and [a["prompt"] for a in answers] == prompts  # one line per prompt, in order
    torch.set_num_threads(1)  # as each rank runs: the same summation order
    model, tokenizer = load_reference("glm")
    for got in answers:
        assert got["tp"] == 2
        assert (got["output"], got["answers"]) == fill_blanks(model, tokenizer, got["prompt"], max_new_tokens=32)
    assert any(a.strip() for got in answers for a in got["answers"]), "the trained model writes text"
