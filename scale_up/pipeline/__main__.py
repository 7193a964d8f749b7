"""``torchrun --nproc-per-node N -m scale_up.pipeline``: train GLM pipeline-parallel (× TP × DP) over N processes.

How it works
------------
Every rank builds the same ``GLM`` (same seed), keeps its stages on the ``--dp`` × ``--tp`` × ``--pp`` layout
(``build_parallel_pipeline``; the default is pure pipeline parallel over all N), and runs ``--steps`` AdamW
steps on seeded GLM-shaped batches (``example_batch``, seed ``--seed`` + step), with the chosen schedule and
micro-batch count. It writes into ``--out``: ``metrics.jsonl`` (rank 0: step, loss, seconds), with ``--record``
``events/step_{k}_rank_{r}.json`` (the executed forward/backward events, recording.py), with ``--dump`` ``rank_{r}.pt``
(this rank's gradients of the last step and parameters after it, by full-model name, TP shards as the official
layout has them), and with ``--save-every``
sharded checkpoints in ``checkpoints/`` (checkpoint.py); ``--resume`` continues from them, on any layout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

from glm_mini import GLM, PRESETS
from glm_mini.training.checkpoint import write_atomic

from .checkpoint import load_pipeline_checkpoint, save_pipeline_checkpoint
from .example_batch import example_batch
from .mesh import build_parallel_pipeline, check_layout
from .recording import save_events
from .schedule import SCHEDULES


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m scale_up.pipeline", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output folder (metrics, events, dumps, checkpoints)")
    ap.add_argument("--schedule", default="1f1b", choices=sorted(SCHEDULES), help="pipeline schedule")
    ap.add_argument("--microbatches", type=int, default=4, help="micro-batches per step (m)")
    ap.add_argument("--virtual-stages", type=int, default=None,
                    help="stages per rank (interleaved-1f1b only; default 2)")
    ap.add_argument("--pp", type=int, default=None,
                    help="pipeline-parallel degree (default: world size / (tp x dp)); dp x tp x pp = world size")
    ap.add_argument("--tp", type=int, default=1, help="tensor-parallel degree")
    ap.add_argument("--dp", type=int, default=1, help="data-parallel degree (each replica takes batch/dp samples)")
    ap.add_argument("--preset", default="nano", choices=sorted(PRESETS), help="glm_mini preset")
    ap.add_argument("--num-layers", type=int, default=None, help="override the preset's num_layers")
    ap.add_argument("--hidden-size", type=int, default=None, help="override the preset's hidden_size")
    ap.add_argument("--batch-size", type=int, default=8, help="samples per step (split into micro-batches)")
    ap.add_argument("--seq-len", type=int, default=32, help="tokens per sample")
    ap.add_argument("--steps", type=int, default=1, help="optimizer steps to reach")
    ap.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    ap.add_argument("--optimizer", default="adamw", choices=("adamw", "sgd"),
                    help="AdamW (training) or plain SGD (parity checks: Adam turns rounding noise in exactly-zero "
                         "gradients, such as the key rows of the QKV bias, into full-size steps)")
    ap.add_argument("--seed", type=int, default=0, help="model init and data seed")
    ap.add_argument("--record", action="store_true", help="record the executed schedule of every step")
    ap.add_argument("--dump", action="store_true", help="write each rank's last gradients and parameters")
    ap.add_argument("--save-every", type=int, default=0, help="save a sharded checkpoint every K steps (0: never)")
    ap.add_argument("--stop-after-step", type=int, default=None, help="stop after this step (to test resuming)")
    ap.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in OUT/checkpoints")
    args = ap.parse_args(argv)
    for flag in ("microbatches", "batch_size", "seq_len", "steps"):
        if getattr(args, flag) < 1:
            ap.error(f"--{flag.replace('_', '-')} must be >= 1, got {getattr(args, flag)}")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if args.pp is None and args.tp >= 1 and args.dp >= 1:
        args.pp = max(1, world // (args.tp * args.dp))
    try:
        check_layout(args.dp, args.tp, args.pp, world)
    except ValueError as err:
        ap.error(f"--dp/--tp/--pp: {err} (torchrun --nproc-per-node)")
    if args.batch_size % (args.dp * args.microbatches):
        ap.error(f"--batch-size {args.batch_size} must be divisible by --dp x --microbatches "
                 f"= {args.dp * args.microbatches}")
    if args.tp > 1 and (args.save_every or args.resume):
        ap.error("--save-every/--resume: pipeline checkpoints hold whole tensors; use --tp 1 "
                 "(scale_up.sharded_checkpoint reshards TP checkpoints)")
    return args


def model_config(args):
    changes = {k: v for k, v in (("num_layers", args.num_layers), ("hidden_size", args.hidden_size)) if v}
    return PRESETS[args.preset].replace(**changes)


def run(args) -> None:
    out = Path(args.out)
    torch.manual_seed(args.seed)
    model = GLM(model_config(args))
    pipe, mesh = build_parallel_pipeline(model, args.dp, args.tp, args.pp, args.schedule, args.microbatches,
                                         virtual_stages=args.virtual_stages, record=args.record)
    tp_rank = mesh.get_local_rank("tp")
    if dist.get_rank() == 0:
        write_atomic(out / "config.json", lambda f: f.write(json.dumps(dataclasses.asdict(model.config)).encode()))
    optimizer_cls = torch.optim.AdamW if args.optimizer == "adamw" else torch.optim.SGD
    optimizer = optimizer_cls(pipe.parameters(), lr=args.lr)
    ckpt_dir = out / "checkpoints"
    step = load_pipeline_checkpoint(pipe, optimizer, ckpt_dir) if args.resume else 0
    rank = dist.get_rank()
    last = min(args.steps, args.stop_after_step or args.steps)
    while step < last:
        batch = example_batch(model.config, args.batch_size, args.seq_len, seed=args.seed + step)
        pipe.zero_grad()
        pipe.events.clear()
        dist.barrier()
        start = time.monotonic()
        loss = pipe.step(**batch)
        seconds = time.monotonic() - start
        if args.dump and step + 1 == last:
            grads = {"tensors": {n: p.grad.clone() for n, p in pipe.named_parameters()}, "loss": loss,
                     "tp_rank": tp_rank}
            write_atomic(out / f"rank_{rank}_grads.pt", lambda f: torch.save(grads, f))
        optimizer.step()
        step += 1
        if args.record:
            (out / "events").mkdir(exist_ok=True)
            save_events(pipe.events, out / "events" / f"step_{step}_rank_{rank}.json")
        if rank == 0:
            with open(out / "metrics.jsonl", "a") as f:  # append-only log, one line per step
                f.write(json.dumps({"step": step, "loss": loss, "seconds": seconds}) + "\n")
        if args.save_every and step % args.save_every == 0:
            save_pipeline_checkpoint(pipe, optimizer, ckpt_dir, step)
    if args.dump:
        params = {"tensors": {n: p.detach().clone() for n, p in pipe.named_parameters()}, "loss": None,
                  "tp_rank": tp_rank}
        write_atomic(out / f"rank_{rank}_params.pt", lambda f: torch.save(params, f))


def main(argv=None) -> int:
    args = parse_args(argv)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    try:
        run(args)
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
