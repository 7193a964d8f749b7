"""The golden 20-step loss curve of the nano preset: a change that alters what the trainer computes shows up here.

The stored values were produced by this code; regenerate them (after an intended change) with
    PYTHONPATH=. .venv/bin/python tests/test_train_golden.py --regenerate
"""

import json
import sys
import tempfile
from pathlib import Path

import pytest

from glm_mini.train import TrainConfig, train

GOLDEN = Path(__file__).resolve().parent / "data" / "train_golden_nano.json"
COMMAND = "PYTHONPATH=. .venv/bin/python tests/test_train_golden.py --regenerate"


def golden_config(out: str) -> TrainConfig:
    return TrainConfig(preset="nano", max_steps=20, out=out, seq_len=64, batch_size=4, eval_every=10, val_batches=2,
                       seed=0)


def run_curve() -> dict:
    with tempfile.TemporaryDirectory() as out:
        result = train(golden_config(out), progress=False)
    return {"losses": result.losses, "final_val_loss": result.final_val_loss}


def test_golden_nano_loss_curve():
    stored = json.loads(GOLDEN.read_text())
    got = run_curve()
    assert len(got["losses"]) == len(stored["losses"]) == 20
    # tolerance: float summation order differs across CPUs and thread counts, not the arithmetic
    assert got["losses"] == pytest.approx(stored["losses"], abs=2e-3)
    assert got["final_val_loss"] == pytest.approx(stored["final_val_loss"], abs=2e-3)


if __name__ == "__main__":
    if sys.argv[1:] != ["--regenerate"]:
        sys.exit(f"usage: {COMMAND}")
    curve = run_curve()
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps({"command": COMMAND, **curve}, indent=1) + "\n")
    print(f"wrote {GOLDEN}: losses {curve['losses'][0]:.4f} ... {curve['losses'][-1]:.4f}")
