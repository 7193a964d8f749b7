"""The README's Python blocks run as written (a block that crashes fails the test), in a fresh folder where the
model the generation block loads, `build/tour/06_mini`, is a short run of the kit's own trainer."""

import os
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(text: str) -> list[str]:
    return BLOCK.findall(text)


def test_python_blocks_are_found():
    blocks = python_blocks((REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 2, "the README shows the model in five lines and generation; both must be found"
    assert python_blocks("text\n```python\nx = 1\n```\n```bash\nls\n```\n") == ["x = 1\n"]


@pytest.mark.slow
def test_every_python_block_of_the_readme_runs(tmp_path, monkeypatch, capsys):
    from glm_mini.train import TrainConfig, train

    # the run `make tour` leaves in build/tour/06_mini, in miniature (nano, 2 steps), trained by the kit itself
    train(TrainConfig(preset="nano", max_steps=2, batch_size=2, seq_len=64, val_batches=1,
                      out=str(tmp_path / "build" / "tour" / "06_mini")), progress=False)
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks((REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    for i, block in enumerate(blocks, 1):
        namespace = {"__name__": f"readme_block_{i}"}
        try:
            exec(compile(block, f"README.md python block {i}", "exec"), namespace)
        except Exception as err:  # the message names the block, then pytest shows the traceback
            raise AssertionError(f"README.md python block {i} crashed: {type(err).__name__}: {err}\n{block}") from err
    assert os.getcwd() == str(tmp_path)
    assert capsys.readouterr().out.strip(), "the generation block prints its answer"
