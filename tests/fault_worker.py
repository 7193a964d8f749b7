"""One rank of the fault test (a script, given torchrun's variables): a TP=2 step; the victim dies or hangs mid-forward."""

import copy
import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parallel_cases import batch, forward, loss_of, reference_model  # noqa: E402

from scale_up import apply_tensor_parallel  # noqa: E402
from scale_up.fault_tolerance import fail_fast, init_distributed  # noqa: E402


def main(victim: int, out_dir: Path, mode: str) -> None:
    torch.set_num_threads(1)
    rank, _ = init_distributed(timeout_s=20, heartbeat_s=0.3)
    group = dist.new_group(timeout=timedelta(seconds=3)) if mode == "hang" else None  # the TP group's own timeout
    model = apply_tensor_parallel(copy.deepcopy(reference_model()), group)
    data = batch(b=2)

    def die(*_):
        (out_dir / "killed_at").write_text(repr(time.time()))
        if mode == "hang":  # alive (its heartbeat goes on) but never reaches the next collective
            time.sleep(120)
        os.kill(os.getpid(), signal.SIGKILL)

    if rank == victim:  # die in the middle of the second layer's forward, after the first layer's all-reduces
        model.transformer.layers["1"].register_forward_pre_hook(die)
    with fail_fast():
        loss_of(forward(model, data), data["targets"]).backward()


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
