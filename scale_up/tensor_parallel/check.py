"""``torchrun --nproc-per-node TP -m scale_up.tensor_parallel.check --out DIR``: TP vs one process, measured.

How it works
------------
Every rank builds the same seeded full model, keeps it as the single-process reference, and makes a copy this
rank's tensor-parallel shard (``apply_tensor_parallel``). It runs one forward and backward of both on the same
GLM-masked batch (``pipeline.example_batch``) and records the largest relative error of the logits, the loss and every
gradient (against ``shard_state_dict`` of the reference gradients), the collective bytes per transformer layer forward
and backward (a 2-layer minus a 1-layer model, counted by ``CollectiveCounter``) beside the Megatron count 2·b·s·h
values each way, and the step times. Rank 0 writes ``DIR/tp<TP>.json``; notebooks, benchmarks and ``scale_up.gpu_check``
read that file. ``--device cuda`` runs every rank on its own GPU with NCCL (gloo on the CPU otherwise).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from glm_mini import GLM, PRESETS

from glm_mini.training.checkpoint import write_atomic

from ..devices import DEVICES, backend_for, rank_device
from ..fault_tolerance import end_worker, fail_fast, init_distributed, shutdown_distributed
from ..pipeline.example_batch import example_batch
from ..tp_layout import shard_state_dict
from .apply import apply_tensor_parallel
from .collective_counter import CollectiveCounter


def _step(model, data):
    """One forward and the loss; returns (logits, loss, the perf_counter at the start)."""
    start = time.perf_counter()
    logits = model(data["input_ids"], position_ids=data["position_ids"],
                   attention_mask=data["attention_mask"]).logits  # [b, s, V]
    loss = F.cross_entropy(logits.flatten(0, 1), data["targets"].flatten())
    return logits, loss, start


def relative_error(got, expected) -> float:
    """max |got − expected| / max |expected|."""
    return ((got - expected).abs().max() / expected.abs().max().clamp_min(1e-30)).item()


def _collective_bytes(config, data, seed: int, device) -> dict:
    """Forward and backward collective bytes of a TP model with this config."""
    torch.manual_seed(seed)
    model = apply_tensor_parallel(GLM(config).to(device), None)
    with CollectiveCounter() as counter:
        _, loss, _ = _step(model, data)
        first_backward = len(counter.records)
        loss.backward()
    return {"forward": counter.total(since=0) - counter.total(since=first_backward),
            "backward": counter.total(since=first_backward),
            "forward_calls": first_backward, "backward_calls": len(counter.records) - first_backward}


def measure(preset: str, batch_size: int, seq_len: int, seed: int = 0, repeats: int = 3, device="cpu") -> dict:
    """The parity errors, collective bytes and step times of this rank's TP shard (a process group must exist)."""
    config = PRESETS[preset]
    tp, rank = dist.get_world_size(), dist.get_rank()
    data = {k: v.to(device) for k, v in example_batch(config, batch_size, seq_len, seed + 1).items()}
    torch.manual_seed(seed)
    ref = GLM(config).to(device)
    model = apply_tensor_parallel(copy.deepcopy(ref), None)
    times, outputs = {"single_process_s": [], "tensor_parallel_s": []}, {}
    for _ in range(repeats):
        for name, m in (("single_process_s", ref), ("tensor_parallel_s", model)):
            m.zero_grad()
            logits, loss, start = _step(m, data)
            loss.backward()
            if data["input_ids"].is_cuda:
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
            outputs[name] = (logits.detach(), loss.detach())
    (ref_logits, ref_loss), (tp_logits, tp_loss) = outputs["single_process_s"], outputs["tensor_parallel_s"]
    ref_grads = shard_state_dict({n: p.grad for n, p in ref.named_parameters()}, tp, rank, config)
    grad_err = max(relative_error(p.grad, ref_grads[n]) for n, p in model.named_parameters())
    errors = torch.tensor([relative_error(tp_logits, ref_logits), relative_error(tp_loss, ref_loss), grad_err],
                          dtype=torch.float64)
    dist.all_reduce(errors, op=dist.ReduceOp.MAX)  # the worst rank
    one, two = (_collective_bytes(config.replace(num_layers=n), data, seed, device) for n in (1, 2))
    b, s, h = batch_size, seq_len, config.hidden_size
    return {
        "tp": tp, "preset": preset, "batch_size": b, "seq_len": s, "hidden_size": h, "num_layers": config.num_layers,
        "max_rel_error": dict(zip(("logits", "loss", "grads"), errors.tolist())),
        "per_layer_bytes": {"forward": two["forward"] - one["forward"], "backward": two["backward"] - one["backward"],
                            "forward_collectives": two["forward_calls"] - one["forward_calls"],
                            "backward_collectives": two["backward_calls"] - one["backward_calls"]},
        "megatron_per_layer_bytes": {"forward": 2 * b * s * h * 4, "backward": 2 * b * s * h * 4},  # fp32: 4 B
        "whole_model_bytes": _collective_bytes(config, data, seed, device),
        "step_seconds": {k: min(v) for k, v in times.items()}, "device": str(device),
        "backend": dist.get_backend(),
    }


def launch_check(tp: int, out, preset: str = "nano", batch_size: int = 2, seq_len: int = 16,
                 timeout_s: float = 180.0, device: str = "cpu") -> dict:
    """Run this check on ``tp`` CPU processes through torchrun and return what rank 0 wrote to ``out/tp<tp>.json``."""
    if not isinstance(tp, int) or tp < 1:
        raise ValueError(f"tp: expected a positive int, got {tp!r}")
    root = Path(__file__).resolve().parents[2]  # the repository (scale_up/ and glm_mini/ live here)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={tp}",
           "-m", "scale_up.tensor_parallel.check", "--out", str(out), "--preset", preset,
           "--batch-size", str(batch_size), "--seq-len", str(seq_len), "--device", device]
    done = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"torchrun with {tp} processes failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads((Path(out) / f"tp{tp}.json").read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], prog="scale_up.tensor_parallel.check")
    parser.add_argument("--out", required=True, type=Path, help="folder for tp<TP>.json (written by rank 0)")
    parser.add_argument("--preset", default="nano", choices=sorted(PRESETS), help="glm_mini preset to shard")
    parser.add_argument("--batch-size", type=int, default=2, help="sequences per step (b)")
    parser.add_argument("--seq-len", type=int, default=16, help="tokens per sequence (s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights (the batch uses seed + 1)")
    parser.add_argument("--timeout-s", type=float, default=60.0, help="process-group timeout in seconds")
    parser.add_argument("--device", default="cpu", choices=DEVICES,
                        help="where each rank computes (cuda: cuda:LOCAL_RANK with NCCL)")
    args = parser.parse_args(argv)
    for flag in ("batch_size", "seq_len"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')}: expected a positive int, got {getattr(args, flag)}")
    if not args.timeout_s > 0 or args.timeout_s == float("inf"):
        parser.error(f"--timeout-s: expected a positive finite number of seconds, got {args.timeout_s}")
    torch.set_num_threads(1)
    try:
        device = rank_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    init_distributed(args.timeout_s, backend=backend_for(device))
    with fail_fast():
        result = measure(args.preset, args.batch_size, args.seq_len, args.seed, device=device)
        if dist.get_rank() == 0:
            text = json.dumps(result, indent=1)
            write_atomic(args.out / f"tp{result['tp']}.json", lambda f: f.write(text.encode()))
        dist.barrier()
    shutdown_distributed()
    return 0


if __name__ == "__main__":
    end_worker(main())
