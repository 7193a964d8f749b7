"""Tensor-parallel greedy inference: ``torchrun --nproc-per-node TP -m scale_up.generate ...``.

How it works
------------
Every rank holds its official TP shard (``apply_tensor_parallel``, loaded from a sharded checkpoint in any TP
degree, resharded on load) and runs glm_mini's own decoder (``glm_mini.decoding.decode``) on the same token ids:

1. the prompt goes through once with GLM's mask: bidirectional over the prompt, as for a ``[gMASK]`` context
   (docs/glm130b_facts.md §1.5), filling each rank's KV cache for its own heads;
2. each new token is fed alone with the cache; the all-gathered logits are identical on every rank, so every
   rank's argmax is the same token and the ranks never disagree on what comes next.

``--mode greedy`` is this plain continuation. ``--mode fill-blanks`` runs GLM-130B's blank filling
(``[MASK]``/``[gMASK]`` prompts, ``[sop]``/``[eop]``, the official positions) through
``glm_mini.generate.fill_blanks_ids`` itself on the tensor-parallel model: it only calls the model, whose gathered
logits are the same on every rank. An official checkpoint (``scale_up.convert``'s output, FP16 or
``--quantization-bit-width 4|8``) at the run's TP degree is loaded one shard per rank (``rank_loading.load_rank``);
a kit checkpoint (``sharded_checkpoint``, recognised by its keys, read with ``weights_only=True``) loads at any TP
degree. ``--preset`` and the official model arguments (``--num-layers``, ``--hidden-size``, ...) give the
configuration for both. ``--device`` places every rank (``cuda:LOCAL_RANK`` with NCCL, or the CPU with gloo).
Rank 0 writes the result as JSON, atomically.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from glm_mini import GLM, PRESETS, GLMConfig, GLMTokenizer, SpecialTokens
from glm_mini.decoding import decode
from glm_mini.generate import fill_blanks_ids
from glm_mini.training.checkpoint import write_atomic

from .convert import source_shards
from .devices import BACKENDS, DEVICES, backend_for, rank_device
from .fault_tolerance import end_worker, fail_fast, init_distributed, shutdown_distributed
from .quantized_parallel import quantize_parallel_
from .rank_loading import load_rank
from .safe_load import load_tensor_file
from .sharded_checkpoint import load_sharded_checkpoint
from .tensor_parallel import apply_tensor_parallel

OFFICIAL_SPECIAL = "150000,150001,150002,150003,150004,150005,20002,0"  # icetk ids (docs/glm130b_facts.md §1.2)
MODEL_ARGS = {"num_layers": "--num-layers", "hidden_size": "--hidden-size",
              "num_attention_heads": "--num-attention-heads", "inner_hidden_size": "--inner-hidden-size",
              "vocab_size": "--vocab-size", "max_sequence_length": "--max-sequence-length"}


def greedy_continuation(model: nn.Module, prompt: list[int], max_new_tokens: int,
                        eos_id: int | None = None) -> list[int]:
    """The greedy continuation of ``prompt`` (read bidirectionally), by glm_mini's decoder with the KV cache."""
    if not prompt:
        raise ValueError("prompt: expected at least one token id, got none")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens: expected an int >= 0, got {max_new_tokens!r}")
    return decode(model, [list(prompt)], [list(range(len(prompt)))], [len(prompt)], [None], max_new_tokens,
                  () if eos_id is None else (eos_id,), pad_id=0)[0]


def build_model(config: GLMConfig, seed: int, checkpoint: Path | None, device, group=None) -> GLM:
    """This rank's TP shard of ``config`` on ``device``: seeded alike on every rank, or a kit sharded checkpoint
    (any TP degree)."""
    torch.manual_seed(seed)
    model = apply_tensor_parallel(GLM(config).to(device), group)
    if checkpoint is not None:
        load_sharded_checkpoint(checkpoint, model)
    return model.eval()


def is_kit_checkpoint(folder: Path) -> bool:
    """A ``save_sharded_checkpoint`` folder (its shards also hold ``rng`` and ``extra``) rather than the official
    layout (``{"module": state dict}`` only); the keys are read with ``weights_only=True``, memory-mapped."""
    files, _ = source_shards(folder)
    payload = load_tensor_file(files[0], "--checkpoint", mmap=True)
    return isinstance(payload, dict) and "rng" in payload and "extra" in payload


def model_config(args):
    """The preset with the official model arguments given on the command line applied."""
    overrides = {field: getattr(args, field) for field in MODEL_ARGS if getattr(args, field) is not None}
    return dataclasses.replace(PRESETS[args.preset], **overrides)


def _parse_ids(text: str) -> list[int]:
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated token ids such as 5,17,42, got {text!r}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="scale_up.generate", description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="nano", choices=sorted(PRESETS), help="model configuration")
    parser.add_argument("--checkpoint", type=Path, help="sharded checkpoint folder (with `latest`); any TP degree")
    parser.add_argument("--seed", type=int, default=0, help="weight seed when no --checkpoint is given")
    parser.add_argument("--prompt-ids", type=_parse_ids, help="prompt as comma-separated token ids")
    parser.add_argument("--prompt", help="prompt text (needs --tokenizer)")
    parser.add_argument("--tokenizer", type=Path, help="sentencepiece .model file for --prompt and decoding")
    parser.add_argument("--max-new-tokens", type=int, default=16, help="tokens to generate")
    parser.add_argument("--out", type=Path, help="JSON file for the result (written by rank 0)")
    parser.add_argument("--timeout-s", type=float, default=60.0, help="process-group timeout in seconds")
    parser.add_argument("--mode", default="greedy", choices=("greedy", "fill-blanks"),
                        help="greedy continuation, or GLM-130B's blank filling (fill_blanks_ids)")
    parser.add_argument("--quantization-bit-width", type=int, choices=(4, 8),
                        help="run the block linears in INT8/INT4 (an FP16 checkpoint is quantized on load)")
    parser.add_argument("--special-ids", default=OFFICIAL_SPECIAL,
                        help="mask,gmask,smask,eod,sop,eop,eos,pad ids for --mode fill-blanks without --tokenizer "
                             "(default: GLM-130B's icetk ids)")
    parser.add_argument("--dtype", choices=("float16", "bfloat16", "float32"),
                        help="compute dtype (default: the checkpoint's; float32 is faster on CPU)")
    parser.add_argument("--device", default="auto", choices=DEVICES,
                        help="where each rank computes (cuda: cuda:LOCAL_RANK; auto: CUDA when there is a GPU for "
                             "every process)")
    parser.add_argument("--backend", default="auto", choices=BACKENDS, help="torch.distributed backend (auto: "
                        "nccl on CUDA, gloo on the CPU; nccl moves CUDA tensors only)")
    for field, flag in MODEL_ARGS.items():
        parser.add_argument(flag, dest=field, type=int, help=f"official model argument: the preset's {field}")
    args = parser.parse_args(argv)
    if (args.prompt is None) == (args.prompt_ids is None):
        parser.error("--prompt / --prompt-ids: give exactly one of them")
    if args.prompt is not None and args.tokenizer is None:
        parser.error("--prompt: a text prompt needs --tokenizer FILE")
    if args.tokenizer is not None and not args.tokenizer.is_file():
        parser.error(f"--tokenizer: no such file {args.tokenizer}")
    if args.max_new_tokens < 0:
        parser.error(f"--max-new-tokens: expected an int >= 0, got {args.max_new_tokens}")
    tokenizer = GLMTokenizer.from_file(args.tokenizer) if args.tokenizer else None
    prompt = tokenizer.encode(args.prompt) if args.prompt is not None else args.prompt_ids
    try:
        config = model_config(args)
    except ValueError as err:
        parser.error(str(err))
    vocab = config.vocab_size
    special = tokenizer.special if tokenizer is not None else None
    if args.mode == "fill-blanks" and special is None:
        try:
            special = SpecialTokens(*_parse_ids(args.special_ids))
        except (TypeError, ValueError, argparse.ArgumentTypeError) as err:
            parser.error(f"--special-ids: expected 8 comma-separated ids (mask,gmask,smask,eod,sop,eop,eos,pad): "
                         f"{err}")
    if args.checkpoint is not None and not args.checkpoint.exists():
        parser.error(f"--checkpoint: no such folder {args.checkpoint}")
    if not prompt or max(prompt) >= vocab or min(prompt) < 0:
        parser.error(f"--prompt-ids: expected ids in [0, {vocab}), got {prompt}")
    if not args.timeout_s > 0 or args.timeout_s == float("inf"):
        parser.error(f"--timeout-s: expected a positive finite number of seconds, got {args.timeout_s}")
    try:
        kit = args.checkpoint is not None and is_kit_checkpoint(args.checkpoint)
        device = rank_device(args.device)
        backend = backend_for(device, args.backend)
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))

    torch.set_num_threads(1)
    init_distributed(args.timeout_s, backend=backend)
    dtype = getattr(torch, args.dtype) if args.dtype else None
    with fail_fast():
        if args.checkpoint is not None and not kit:
            model = load_rank(config, args.checkpoint, bits=args.quantization_bit_width, device=device, dtype=dtype)
        else:
            model = build_model(config, args.seed, args.checkpoint if kit else None, device)
            if dtype is not None:
                model.to(dtype)
            if args.quantization_bit_width:
                quantize_parallel_(model, args.quantization_bit_width)
        if args.mode == "fill-blanks":
            answers, ids = fill_blanks_ids(model, prompt, special, args.max_new_tokens)
            result = {"tp": dist.get_world_size(), "prompt_ids": prompt, "output_ids": ids, "answers": answers}
        else:
            ids = greedy_continuation(model, prompt, args.max_new_tokens)
            result = {"tp": dist.get_world_size(), "prompt_ids": prompt, "output_ids": ids}
        if tokenizer is not None:
            result["text"] = tokenizer.decode(result["output_ids"])
        if dist.get_rank() == 0:
            print(json.dumps(result, ensure_ascii=False))
            if args.out is not None:
                text = json.dumps(result, ensure_ascii=False)
                write_atomic(args.out, lambda f: f.write(text.encode()))
        dist.barrier()
    shutdown_distributed()
    return 0


if __name__ == "__main__":
    end_worker(main())
