"""Dry run: every rank's part of a GLM (the 130B one by default) built on ``meta`` by the real code paths, with its
parameter shapes and bytes, without a byte of weights.

How it works
------------
For each pipeline stage p and tensor-parallel rank r of a (TP, PP, bits) layout:

1. ``GLM(config)`` is built under ``torch.device("meta")``: shapes and dtypes, no storage, no init cost.
2. Stage p is made by the pipeline's own stage builder (``pipeline.build_stage_module``, split by
   ``partition_layers``: the embedding and the tied head count as one layer each, docs/glm130b_facts.md §3): the
   other layers are deleted, ``final_layernorm`` and the output head survive on the last stage only and
   ``word_embeddings`` on the first and the last (tied head).
3. ``apply_tensor_parallel`` runs as on a real rank r, inside a single-process ``fake`` process group of world size
   TP (torch's testing backend: ``get_rank() = r``, collectives are no-ops, nothing is sent), so the shard shapes come
   from ``tp_layout.shard_state_dict`` itself.
4. With bits 8 or 4 the block linears become the official quantized format (``quantize_parallel_``).

The model is cast to FP16 first (the official checkpoints' dtype). A rank's bytes are the sum of
``numel · element_size`` over its state dict, so they equal ``plan.weight_bytes_per_gpu`` (a formula, tested).
"""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import dataclass

import torch
import torch.distributed as dist

from glm_mini import GLM, PRESETS, GLMConfig
from glm_mini.cli.config_file import add_config_flag, parse_args

from .pipeline.stage_module import build_stage_module
from .quantization.measure import tensor_bytes
from .quantized_parallel import quantize_parallel_
from .tensor_parallel import apply_tensor_parallel
from .tp_layout import check_tp_degree


@dataclass(frozen=True)
class RankPart:
    """One GPU's part of the model: its pipeline stage, TP rank, ``{name: (shape, dtype)}`` and bytes."""

    stage: int
    tp_rank: int
    layers: tuple[int, ...]
    shapes: dict[str, tuple[tuple[int, ...], torch.dtype]]
    bytes: int


@contextlib.contextmanager
def fake_rank(rank: int, world_size: int):
    """This process plays rank ``rank`` of ``world_size`` in torch's ``fake`` process group (no communication)."""
    from torch.testing._internal.distributed.fake_pg import FakeStore

    if dist.is_initialized():
        raise RuntimeError("dry_run: a torch.distributed process group is already initialized in this process; "
                           "run the dry run in its own process")
    dist.init_process_group("fake", store=FakeStore(), rank=rank, world_size=world_size)
    try:
        yield
    finally:
        dist.destroy_process_group()


def meta_model(config: GLMConfig) -> GLM:
    """The whole GLM on ``meta`` in FP16: every shape and dtype, no storage."""
    with torch.device("meta"):
        return GLM(config).half()


def rank_part(model: GLM, tp: int, pp: int, bits: int, stage: int, tp_rank: int) -> RankPart:
    """Build (stage, tp_rank)'s part of the meta ``model`` as a real rank would and describe its state dict."""
    model = build_stage_module(model, stage, pp)
    with fake_rank(tp_rank, tp):
        apply_tensor_parallel(model, gather_logits=False)
        if bits != 16:
            quantize_parallel_(model, bits)
        state = model.state_dict()
    shapes = {k: (tuple(t.shape), t.dtype) for k, t in state.items()}
    size = tensor_bytes(state.values())
    return RankPart(stage, tp_rank, tuple(int(k) for k in model.transformer.layers.keys()), shapes, size)


def dry_run(config: GLMConfig, tp: int, pp: int = 1, bits: int = 16,
            tp_ranks: list[int] | None = None) -> list[RankPart]:
    """Every (stage, tp rank) part of ``config`` under TP × PP at ``bits`` (``tp_ranks``: only those ranks)."""
    if not isinstance(config, GLMConfig):
        raise TypeError(f"config: expected a GLMConfig, got {type(config).__name__}")
    if bits not in (16, 8, 4):
        raise ValueError(f"bits: expected 16, 8 or 4, got {bits!r}")
    check_tp_degree(config, tp)
    if not isinstance(pp, int) or isinstance(pp, bool) or not 1 <= pp <= config.num_layers:
        raise ValueError(f"pp: expected an int in [1, num_layers={config.num_layers}], got {pp!r}")
    ranks = range(tp) if tp_ranks is None else tp_ranks
    bad = [r for r in ranks if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r < tp]
    if bad:
        raise ValueError(f"tp_ranks: expected ranks in [0, tp={tp}), got {bad}")
    model = meta_model(config)
    return [rank_part(model, tp, pp, bits, stage, r) for stage in range(pp) for r in ranks]


def format_part(part: RankPart, layer_keys: int = 1) -> str:
    """A readable table of one rank's shapes (the first ``layer_keys`` layers in full, the rest summarized)."""
    lines = [f"stage {part.stage}, tp rank {part.tp_rank}: layers {part.layers[0]}..{part.layers[-1]} "
             f"({len(part.layers)}), {part.bytes / 2**30:.2f} GiB"]
    shown = {str(i) for i in part.layers[:layer_keys]}
    for name, (shape, dtype) in part.shapes.items():
        if name.startswith("transformer.layers.") and name.split(".")[2] not in shown:
            continue
        lines.append(f"  {name:<58} {str(list(shape)):<16} {str(dtype).replace('torch.', '')}")
    return "\n".join(lines)


def _divides(config: GLMConfig, tp: int) -> bool:
    try:
        check_tp_degree(config, tp)
    except ValueError:
        return False
    return True


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="scale_up.dry_run", description=__doc__.splitlines()[0])
    ap.add_argument("--tp", type=int, default=None,
                    help="tensor-parallel degree (GPUs per stage; default: the largest of 1..8 the preset allows)")
    ap.add_argument("--pp", type=int, default=1, help="pipeline stages")
    ap.add_argument("--bits", type=int, default=16, choices=(16, 8, 4), help="weight bits (8/4: weight-only)")
    ap.add_argument("--preset", default="glm-130b", choices=sorted(PRESETS), help="model configuration")
    ap.add_argument("--all-ranks", action="store_true", help="print every rank (default: TP rank 0 of each stage)")
    add_config_flag(ap)
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = parse_args(ap, argv, "scale_up.dry_run")
    config = PRESETS[args.preset]
    if args.tp is None:
        args.tp = max(t for t in range(1, 9) if _divides(config, t))
    try:
        parts = dry_run(config, args.tp, args.pp, args.bits, None if args.all_ranks else [0])
    except ValueError as err:
        ap.error(str(err))
    for part in parts:
        print(format_part(part))
    per_gpu = max(p.bytes for p in parts)
    label = "FP16" if args.bits == 16 else f"INT{args.bits}"
    print(f"{args.preset} TP={args.tp} PP={args.pp} {label}: {args.tp * args.pp} GPUs, largest rank "
          f"{per_gpu / 2**30:.2f} GiB ({per_gpu / 2**20:.1f} MiB) of weights")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
