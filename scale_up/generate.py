"""Tensor-parallel greedy inference: ``torchrun --nproc-per-node TP -m scale_up.generate ...``.

How it works
------------
Every rank holds its official TP shard (``apply_tensor_parallel``, loaded from a sharded checkpoint in any TP
degree, resharded on load) and runs the same loop on the same token ids:

1. the prompt goes through once with GLM's mask: bidirectional over the prompt, as for a ``[gMASK]`` context
   (docs/glm130b_facts.md §1.5), filling each rank's KV cache for its own heads;
2. each new token is fed alone with ``past_key_values``; the all-gathered logits are identical on every rank, so
   every rank's argmax is the same token and the ranks never disagree on what comes next.

``--mode greedy`` is this plain continuation. ``--mode fill-blanks`` runs GLM-130B's blank filling
(``[MASK]``/``[gMASK]`` prompts, ``[sop]``/``[eop]``, the official positions) through
``glm_mini.generate.fill_blanks_ids`` itself on the tensor-parallel model: it only calls the model, whose gathered
logits are the same on every rank. An official checkpoint (``scale_up.convert``'s output, FP16 or
``--quantization-bit-width 4|8``) at the run's TP degree is loaded one shard per rank (``rank_loading.load_rank``);
``--preset glm-130b`` or the official model arguments (``--num-layers``, ``--hidden-size``, ...) give the
configuration. Rank 0 writes the result as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn

from glm_mini import GLM, PRESETS, GLMTokenizer, SpecialTokens, prefix_causal_mask
from glm_mini.generate import fill_blanks_ids

from .convert import source_shards
from .fault_tolerance import end_worker, fail_fast, init_distributed, shutdown_distributed
from .quantized_parallel import quantize_parallel_
from .rank_loading import load_rank
from .sharded_checkpoint import load_sharded_checkpoint
from .tensor_parallel import apply_tensor_parallel

OFFICIAL_SPECIAL = "150000,150001,150002,150003,150004,150005,20002,0"  # icetk ids (docs/glm130b_facts.md §1.2)
MODEL_ARGS = {"num_layers": "--num-layers", "hidden_size": "--hidden-size",
              "num_attention_heads": "--num-attention-heads", "inner_hidden_size": "--inner-hidden-size",
              "vocab_size": "--vocab-size", "max_sequence_length": "--max-sequence-length"}


@torch.no_grad()
def greedy_generate(model: nn.Module, prompt_ids: Tensor, max_new_tokens: int, eos_id: int | None = None) -> Tensor:
    """``prompt_ids [b, s]`` -> ``[b, s + n]``: greedy tokens with the KV cache (works sharded or not)."""
    if prompt_ids.dim() != 2 or prompt_ids.shape[1] == 0:
        raise ValueError(f"prompt_ids: expected a [batch, seq] tensor with seq >= 1, got {tuple(prompt_ids.shape)}")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens: expected an int >= 0, got {max_new_tokens!r}")
    b, s = prompt_ids.shape
    mask = prefix_causal_mask(torch.full((b,), s), s).to(prompt_ids.device)  # [b, 1, s, s]: prompt bidirectional
    out = model(prompt_ids, attention_mask=mask, use_cache=True)
    tokens, done = [prompt_ids], torch.zeros(b, dtype=torch.bool, device=prompt_ids.device)
    for _ in range(max_new_tokens):
        nxt = out.logits[:, -1].argmax(dim=-1)  # [b], identical on every rank (full, gathered logits)
        tokens.append(nxt.unsqueeze(1))
        if eos_id is not None:
            done |= nxt == eos_id
            if done.all():
                break
        out = model(nxt.unsqueeze(1), past_key_values=out.past_key_values, use_cache=True)  # causal over the past
    return torch.cat(tokens, dim=1)  # [b, s + n]


def build_model(preset: str, seed: int, checkpoint: Path | None, group=None) -> GLM:
    """This rank's TP shard: the preset seeded alike on every rank, or a sharded checkpoint (any TP degree)."""
    torch.manual_seed(seed)
    model = apply_tensor_parallel(GLM(PRESETS[preset]), group)
    if checkpoint is not None:
        load_sharded_checkpoint(checkpoint, model)
    return model.eval()


def _is_kit_checkpoint(folder: Path) -> bool:
    """A ``save_sharded_checkpoint`` folder (it also stores the RNG state), as opposed to the official layout."""
    files, _ = source_shards(folder)
    return "rng" in torch.load(files[0], map_location="cpu", mmap=True, weights_only=False)


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
    parser.add_argument("--backend", default="gloo", choices=("gloo", "nccl"), help="torch.distributed backend "
                        "(nccl: one GPU per rank, cuda:LOCAL_RANK)")
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

    torch.set_num_threads(1)
    init_distributed(args.timeout_s, backend=args.backend)
    device = f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if args.backend == "nccl" else "cpu"
    if args.backend == "nccl":
        torch.cuda.set_device(device)
    dtype = getattr(torch, args.dtype) if args.dtype else None
    with fail_fast():
        if args.checkpoint is not None and not _is_kit_checkpoint(args.checkpoint):
            model = load_rank(config, args.checkpoint, bits=args.quantization_bit_width, device=device, dtype=dtype)
        else:
            model = build_model(args.preset, args.seed, args.checkpoint).to(device)
            if args.quantization_bit_width:
                quantize_parallel_(model, args.quantization_bit_width)
        if args.mode == "fill-blanks":
            answers, ids = fill_blanks_ids(model, prompt, special, args.max_new_tokens)
            result = {"tp": dist.get_world_size(), "prompt_ids": prompt, "output_ids": ids, "answers": answers}
        else:
            ids = greedy_generate(model, torch.tensor([prompt], device=device), args.max_new_tokens)[0].tolist()
            result = {"tp": dist.get_world_size(), "prompt_ids": prompt, "output_ids": ids[len(prompt):]}
        if tokenizer is not None:
            result["text"] = tokenizer.decode(result["output_ids"])
        if dist.get_rank() == 0:
            print(json.dumps(result, ensure_ascii=False))
            if args.out is not None:
                tmp = args.out.with_name(f".{args.out.name}.tmp{os.getpid()}")
                tmp.write_text(json.dumps(result, ensure_ascii=False))
                os.replace(tmp, args.out)
        dist.barrier()
    shutdown_distributed()
    return 0


if __name__ == "__main__":
    end_worker(main())
