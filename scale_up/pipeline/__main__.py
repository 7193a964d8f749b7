"""``torchrun --nproc-per-node P -m scale_up.pipeline``: train GLM pipeline-parallel over P processes.

How it works
------------
Every rank builds the same ``GLM`` (same seed), keeps its stages (``build_pipeline``), and runs ``--steps`` AdamW
steps on seeded GLM-shaped batches (``example_batch``, seed ``--seed`` + step), with the chosen schedule and
micro-batch count. It writes into ``--out``: ``metrics.jsonl`` (rank 0: step, loss, seconds), with ``--record``
``events/step_{k}_rank_{r}.json`` (the executed forward/backward events, recording.py), with ``--dump`` ``rank_{r}.pt``
(this rank's gradients of the last step and parameters after it, by full-model name), and with ``--save-every``
sharded checkpoints in ``checkpoints/`` (checkpoint.py); ``--resume`` continues from them, on any layout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

from glm_mini import GLM, PRESETS

from .checkpoint import load_pipeline_checkpoint, save_pipeline_checkpoint
from .example_batch import example_batch
from .recording import save_events
from .schedule import SCHEDULES, build_pipeline


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m scale_up.pipeline", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output folder (metrics, events, dumps, checkpoints)")
    ap.add_argument("--schedule", default="1f1b", choices=sorted(SCHEDULES), help="pipeline schedule")
    ap.add_argument("--microbatches", type=int, default=4, help="micro-batches per step (m)")
    ap.add_argument("--virtual-stages", type=int, default=None,
                    help="stages per rank (interleaved-1f1b only; default 2)")
    ap.add_argument("--pp", type=int, default=None, help="pipeline ranks; must equal the world size (default: it)")
    ap.add_argument("--preset", default="nano", choices=sorted(PRESETS), help="glm_mini preset")
    ap.add_argument("--num-layers", type=int, default=None, help="override the preset's num_layers")
    ap.add_argument("--hidden-size", type=int, default=None, help="override the preset's hidden_size")
    ap.add_argument("--batch-size", type=int, default=8, help="samples per step (split into micro-batches)")
    ap.add_argument("--seq-len", type=int, default=32, help="tokens per sample")
    ap.add_argument("--steps", type=int, default=1, help="optimizer steps to reach")
    ap.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate")
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
    if args.batch_size % args.microbatches:
        ap.error(f"--batch-size {args.batch_size} must be divisible by --microbatches {args.microbatches}")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if args.pp is not None and args.pp != world:
        ap.error(f"--pp {args.pp} does not match the world size {world} (torchrun --nproc-per-node)")
    return args


def model_config(args):
    changes = {k: v for k, v in (("num_layers", args.num_layers), ("hidden_size", args.hidden_size)) if v}
    return PRESETS[args.preset].replace(**changes)


def run(args) -> None:
    out = Path(args.out)
    torch.manual_seed(args.seed)
    model = GLM(model_config(args))
    pipe = build_pipeline(model, args.schedule, args.microbatches, virtual_stages=args.virtual_stages,
                          record=args.record)
    optimizer = torch.optim.AdamW(pipe.parameters(), lr=args.lr)
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
            torch.save({"grads": {n: p.grad.clone() for n, p in pipe.named_parameters()}, "loss": loss},
                       out / f"rank_{rank}_grads.pt")
        optimizer.step()
        step += 1
        if args.record:
            (out / "events").mkdir(exist_ok=True)
            save_events(pipe.events, out / "events" / f"step_{step}_rank_{rank}.json")
        if rank == 0:
            with open(out / "metrics.jsonl", "a") as f:
                f.write(json.dumps({"step": step, "loss": loss, "seconds": seconds}) + "\n")
        if args.save_every and step % args.save_every == 0:
            save_pipeline_checkpoint(pipe, optimizer, ckpt_dir, step)
    if args.dump:
        torch.save({n: p.detach().clone() for n, p in pipe.named_parameters()}, out / f"rank_{rank}_params.pt")


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
