"""The command line of ``python -m scale_up.pipeline`` (the demo trainer), shared with its single-process twin.

How it works
------------
``parse_args`` reads and checks the flags (the layout must multiply to the world size torchrun started, the batch
must split into ``--dp`` × ``--micro-batches`` equal parts), and ``model_config`` applies the model overrides to the
preset. ``reference.single_process_run`` reads the same flags, so a parity check is one list of arguments.
"""

from __future__ import annotations

import argparse
import os

from glm_mini import PRESETS

from glm_mini.cli.vocabulary import hidden_alias

from ..devices import DEVICES
from .mesh import check_layout
from .schedule import SCHEDULES


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m scale_up.pipeline",
                                 description="Train GLM pipeline-parallel (x TP x DP) over torchrun's processes.")
    ap.add_argument("--out", required=True, help="output folder (metrics, events, dumps, checkpoints)")
    ap.add_argument("--schedule", default="1f1b", choices=sorted(SCHEDULES), help="pipeline schedule")
    ap.add_argument("--micro-batches", dest="microbatches", type=int, default=4, help="micro-batches per step (m)")
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
    ap.add_argument("--max-steps", dest="steps", type=int, default=1, help="optimizer steps to reach")
    ap.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    ap.add_argument("--optimizer", default="adamw", choices=("adamw", "sgd"),
                    help="AdamW (training) or plain SGD (parity checks: Adam turns rounding noise in exactly-zero "
                         "gradients, such as the key rows of the QKV bias, into full-size steps)")
    ap.add_argument("--seed", type=int, default=0, help="model init and data seed")
    ap.add_argument("--device", default="cpu", choices=DEVICES,
                    help="where each rank computes (cuda: cuda:LOCAL_RANK with NCCL; auto: CUDA when present)")
    ap.add_argument("--record", action="store_true", help="record the executed schedule of every step")
    ap.add_argument("--dump", action="store_true", help="write each rank's last gradients and parameters")
    ap.add_argument("--save-every", type=int, default=0, help="save a sharded checkpoint every K steps (0: never)")
    ap.add_argument("--stop-after-step", type=int, default=None, help="stop after this step (to test resuming)")
    ap.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in OUT/checkpoints "
                    "(saved on any layout)")
    hidden_alias(ap, "--microbatches", "--micro-batches")
    hidden_alias(ap, "--steps", "--max-steps")
    args = ap.parse_args(argv)
    for dest, flag in (("microbatches", "--micro-batches"), ("batch_size", "--batch-size"), ("seq_len", "--seq-len"),
                       ("steps", "--max-steps")):
        if getattr(args, dest) < 1:
            ap.error(f"{flag} must be >= 1, got {getattr(args, dest)}")
    for flag in ("save_every",):
        if getattr(args, flag) < 0:
            ap.error(f"--{flag.replace('_', '-')} must be >= 0, got {getattr(args, flag)}")
    if args.stop_after_step is not None and not 1 <= args.stop_after_step <= args.steps:
        ap.error(f"--stop-after-step: expected a step in [1, --max-steps={args.steps}], got {args.stop_after_step}")
    if args.lr != args.lr or args.lr <= 0 or args.lr == float("inf"):
        ap.error(f"--lr: expected a positive finite learning rate, got {args.lr}")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if args.pp is None and args.tp >= 1 and args.dp >= 1:
        args.pp = max(1, world // (args.tp * args.dp))
    try:
        check_layout(args.dp, args.tp, args.pp, world)
        model_config(args)
    except ValueError as err:
        ap.error(f"--dp/--tp/--pp/--preset: {err} (torchrun --nproc-per-node)")
    if args.batch_size % (args.dp * args.microbatches):
        ap.error(f"--batch-size {args.batch_size} must be divisible by --dp x --micro-batches "
                 f"= {args.dp * args.microbatches}")
    return args


def model_config(args):
    changes = {k: v for k, v in (("num_layers", args.num_layers), ("hidden_size", args.hidden_size)) if v is not None}
    return PRESETS[args.preset].replace(**changes)
