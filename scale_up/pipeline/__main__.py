"""``torchrun --nproc-per-node N -m scale_up.pipeline``: train GLM pipeline-parallel (× TP × DP) over N processes.

How it works
------------
Every rank builds the same ``GLM`` (same seed), keeps its stages on the ``--dp`` × ``--tp`` × ``--pp`` layout
(``build_parallel_pipeline``; the default is pure pipeline parallel over all N), and runs ``--max-steps`` AdamW
steps on seeded GLM-shaped batches (``example_batch``, seed ``--seed`` + step), with the chosen schedule and
micro-batch count, on ``--device`` (gloo on the CPU, NCCL on CUDA). It writes into ``--out``: ``metrics.jsonl``
(rank 0: step, loss, seconds), with ``--record`` ``events/step_{k}_rank_{r}.json`` (the executed forward/backward
events, recording.py), with ``--dump`` ``rank_{r}_grads.pt``/``rank_{r}_params.pt`` (this rank's gradients of the
last step and parameters after it, by full-model name, TP shards as the official layout has them), and with
``--save-every`` sharded checkpoints in ``checkpoints/`` (checkpoint.py); ``--resume`` continues from them, on any
layout. A folder that already holds a run is refused without ``--resume``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

from glm_mini import GLM
from glm_mini.training.checkpoint import write_atomic
from glm_mini.training.metrics import METRICS_FILE, MetricsLog

from ..devices import backend_for, rank_device
from ..fault_tolerance import end_worker, fail_fast, init_distributed, shutdown_distributed
from .checkpoint import load_pipeline_checkpoint, save_pipeline_checkpoint
from .example_batch import example_batch
from .mesh import build_parallel_pipeline
from .options import model_config, parse_args
from .recording import save_events


def run(args, device: torch.device) -> None:
    out = Path(args.out)
    torch.manual_seed(args.seed)
    model = GLM(model_config(args))
    pipe, mesh = build_parallel_pipeline(model, args.dp, args.tp, args.pp, args.schedule, args.microbatches,
                                         virtual_stages=args.virtual_stages, record=args.record, device=device)
    coords = {dim: mesh.get_local_rank(dim) for dim in ("pp", "dp", "tp")} | {"tp_size": args.tp}
    layout = {k: getattr(args, k) for k in ("dp", "tp", "pp", "schedule", "virtual_stages", "microbatches")}
    rank = dist.get_rank()
    if rank == 0:
        write_atomic(out / "config.json", lambda f: f.write(json.dumps(dataclasses.asdict(model.config)).encode()))
    optimizer_cls = torch.optim.AdamW if args.optimizer == "adamw" else torch.optim.SGD
    optimizer = optimizer_cls(pipe.parameters(), lr=args.lr)
    ckpt_dir = out / "checkpoints"
    step = load_pipeline_checkpoint(pipe, optimizer, ckpt_dir, coords, layout)[0] if args.resume else 0
    log = MetricsLog(out, resume_step=step if args.resume else None) if rank == 0 else None
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
            grads = {"tensors": {n: p.grad.cpu().clone() for n, p in pipe.named_parameters()}, "loss": loss,
                     "tp_rank": coords["tp"]}
            write_atomic(out / f"rank_{rank}_grads.pt", lambda f: torch.save(grads, f))
        optimizer.step()
        step += 1
        if args.record:
            (out / "events").mkdir(exist_ok=True)
            save_events(pipe.events, out / "events" / f"step_{step}_rank_{rank}.json")
        if log is not None:
            log.write({"step": step, "loss": loss, "seconds": seconds})
        if args.save_every and step % args.save_every == 0:
            save_pipeline_checkpoint(pipe, optimizer, ckpt_dir, step, coords, layout)
    if log is not None:
        log.close()
    if args.dump:
        params = {"tensors": {n: p.detach().cpu().clone() for n, p in pipe.named_parameters()}, "loss": None,
                  "tp_rank": coords["tp"]}
        write_atomic(out / f"rank_{rank}_params.pt", lambda f: torch.save(params, f))


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    if not args.resume and ((out / METRICS_FILE).exists() or (out / "checkpoints").exists()):
        print(f"error: --out: {out} already holds a run ({METRICS_FILE} or checkpoints/); pass --resume to continue "
              "it or choose another folder (nothing was overwritten)", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    device = rank_device(args.device)
    init_distributed(backend=backend_for(device))
    with fail_fast():
        run(args, device)
    shutdown_distributed()
    return 0


if __name__ == "__main__":
    end_worker(main())
