"""Run GLM-130B (or any kit model) on text prompts: ``torchrun --nproc-per-node TP -m scale_up.generate ...``.

How it works
------------
The model is loaded once, then answers every prompt: ``--prompt`` (repeatable), ``--prompt-file`` (one per line, or
JSONL) or ``--interactive`` (a terminal loop), or token ids with ``--prompt-ids`` (``generation_io``). Every rank
holds its official TP shard (``apply_tensor_parallel``) and runs glm_mini's own decoding on the same ids:

- ``--mode fill-blanks`` (the default) is GLM-130B's ``generate.py``: each ``[MASK]``/``[sMASK]`` of the prompt is
  filled where it stands, else ``[gMASK]`` (appended when the prompt has no mask) continues the text
  (``glm_mini.generate.fill_blanks_ids`` on the tensor-parallel model; docs/glm130b_facts.md §1.5). Greedy by
  default, as the official ``BaseStrategy``; ``--num-beams N`` is the official beam search with
  ``--length-penalty``; ``--do-sample`` draws with ``--temperature``/``--top-k``/``--top-p`` from a generator
  seeded by ``--seed``, the same on every rank. ``--mode greedy`` is a plain greedy continuation of the prompt read
  bidirectionally (``greedy_continuation``).
- The all-gathered logits are identical on every rank, so every rank picks (or draws) the same token and the ranks
  never disagree on what comes next.
- A checkpoint in the official layout (``scale_up.convert``'s output, FP16 or ``--bits 4|8``, ``.pt`` or
  ``.safetensors`` shards) at the run's TP degree is loaded one shard per rank (``rank_loading.load_rank``); a kit
  sharded checkpoint (``sharded_checkpoint``, recognised by its keys) loads at any TP degree; without
  ``--checkpoint`` the weights are random, seeded by ``--seed`` (a CPU rehearsal). ``--preset`` and the official
  model arguments (``--num-layers``, ``--hidden-size``, ...) give the configuration.
- ``--device`` places every rank (``cuda:LOCAL_RANK``); the collective backend follows it: NCCL with CUDA, gloo on
  the CPU (``devices.backend_for``). ``--tokenizer PATH/ice_text.model`` reads prompts with GLM-130B's icetk ids.
- Rank 0 prints each answer and writes them as JSONL to ``--out`` (``generation_io.AnswerWriter``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from glm_mini import GLM, PRESETS, GLMConfig, SpecialTokens
from glm_mini.cli.config_file import add_config_flag, parse_args
from glm_mini.cli.progress import progress_bar
from glm_mini.cli.vocabulary import add_progress_flag, dtype_as_precision, hidden_alias
from glm_mini.decoding import SamplingConfig, decode

from .convert import source_shards
from .devices import BACKENDS, DEVICES, backend_for, rank_device
from .fault_tolerance import end_worker, fail_fast, init_distributed, shutdown_distributed
from .generation_io import AnswerWriter, PromptFileError, load_tokenizer, read_prompt_file
from .quantized_parallel import quantize_parallel_
from .rank_loading import load_rank
from .safe_load import load_tensor_file
from .sharded_checkpoint import load_sharded_checkpoint
from .tensor_parallel import apply_tensor_parallel

OFFICIAL_SPECIAL = "150000,150001,150002,150003,150004,150005,20002,0"  # icetk ids (docs/glm130b_facts.md §1.2)
MODEL_ARGS = {"num_layers": "--num-layers", "hidden_size": "--hidden-size",
              "num_attention_heads": "--num-attention-heads", "inner_hidden_size": "--inner-hidden-size",
              "vocab_size": "--vocab-size", "max_sequence_length": "--max-sequence-length"}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
SAMPLING_FLAGS = ("temperature", "top_k", "top_p")


def greedy_continuation(model: nn.Module, prompt: list[int], max_new_tokens: int,
                        eos_id: int | None = None) -> list[int]:
    """The greedy continuation of ``prompt`` (read bidirectionally), by glm_mini's decoder with the KV cache."""
    if not prompt:
        raise ValueError("prompt: expected at least one token id, got none")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens: expected an int >= 0, got {max_new_tokens!r}")
    if max_new_tokens == 0:
        return []
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
    if files[0].suffix == ".safetensors":
        return False  # only the official layout is written as safetensors (scale_up.convert --format)
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scale_up.generate",
                                description=__doc__.splitlines()[0])
    m = p.add_argument_group("the model")
    m.add_argument("--preset", default="nano", choices=sorted(PRESETS), help="model configuration")
    m.add_argument("--checkpoint", type=Path, help="checkpoint folder (with `latest`): the official layout at this TP "
                   "degree, or a kit sharded checkpoint at any; none: random weights seeded by --seed")
    m.add_argument("--tp", type=int, default=None, help="tensor-parallel degree; must equal the number of processes "
                   "(default: the number of processes torchrun started)")
    m.add_argument("--bits", "--quantization-bit-width", type=int, choices=(4, 8, 16), default=16,
                   help="weight bits of the block linears: 16 as stored, 8 or 4 quantized (an FP16 checkpoint is "
                        "quantized on load)")
    m.add_argument("--precision", choices=tuple(DTYPES), default=None,
                   help="compute precision (default: the checkpoint's; fp32 for random weights; fp32 is the fast one "
                        "on a CPU)")
    m.add_argument("--device", default="auto", choices=DEVICES,
                   help="where each rank computes (cuda: cuda:LOCAL_RANK with NCCL; auto: CUDA when there is a GPU "
                        "for every process)")
    m.add_argument("--backend", default="auto", choices=BACKENDS, help="torch.distributed backend (auto: nccl on "
                   "CUDA, gloo on the CPU; nccl moves CUDA tensors only)")
    m.add_argument("--timeout-s", type=float, default=60.0, help="process-group timeout in seconds")
    for field, flag in MODEL_ARGS.items():
        m.add_argument(flag, dest=field, type=int, help=f"official model argument: the preset's {field}")
    q = p.add_argument_group("prompts (one source)")
    q.add_argument("--prompt", action="append", default=[], help="a text prompt, with [MASK] or [gMASK] where the "
                   "model should write (repeatable)")
    q.add_argument("--prompt-file", type=Path, help="prompts, one per line; a .jsonl file: one {\"prompt\": ...} "
                   "object (or JSON string) per line")
    q.add_argument("--interactive", action="store_true", help="read prompts from the terminal, one per line, until "
                   "end of input (Ctrl-D)")
    q.add_argument("--prompt-ids", type=_parse_ids, action="append", default=[],
                   help="a prompt as comma-separated token ids (repeatable; no tokenizer needed)")
    q.add_argument("--tokenizer", type=Path, help="sentencepiece .model file; a file named ice_text.model is read "
                   "with GLM-130B's icetk ids (default: the kit's tokenizer for the preset)")
    q.add_argument("--corpus", default="default", help="without --tokenizer: the kit corpus whose tokenizer reads "
                   "text prompts ('default'; 'lessons' for the reference models of data/reference/)")
    q.add_argument("--special-ids", default=OFFICIAL_SPECIAL,
                   help="mask,gmask,smask,eod,sop,eop,eos,pad ids for --prompt-ids (default: GLM-130B's icetk ids)")
    d = p.add_argument_group("decoding")
    d.add_argument("--mode", default="fill-blanks", choices=("fill-blanks", "greedy"),
                   help="GLM-130B's blank filling ([MASK]/[gMASK]), or a plain greedy continuation")
    d.add_argument("--max-new-tokens", type=int, default=32, help="new tokens per blank")
    d.add_argument("--num-beams", type=int, default=1, help="beam search with this many beams (the official "
                   "BeamSearchStrategy)")
    d.add_argument("--length-penalty", type=float, default=1.0, help="beam search's length penalty")
    d.add_argument("--do-sample", action="store_true", help="sample instead of taking the most likely token")
    d.add_argument("--temperature", type=float, default=None, help="with --do-sample: divide the logits by this "
                   "(default 1)")
    d.add_argument("--top-k", type=int, default=None, help="with --do-sample: keep the k most likely tokens "
                   "(default 0: all)")
    d.add_argument("--top-p", type=float, default=None, help="with --do-sample: keep the smallest set of tokens whose "
                   "probability reaches p (default 1)")
    d.add_argument("--seed", type=int, default=0, help="seed of the sampling draws (and of random weights without "
                   "--checkpoint)")
    o = p.add_argument_group("answers")
    o.add_argument("--out", type=Path, help="JSONL file for the answers, one line per prompt (written by rank 0)")
    add_progress_flag(o, "a progress bar over the prompts, with its ETA")
    add_config_flag(p)
    hidden_alias(p, "--dtype", "--precision", convert=dtype_as_precision)
    return p


def sampling(args) -> SamplingConfig:
    """The decoding options of the flags (``SamplingConfig`` checks their values)."""
    chosen = {k: getattr(args, k) for k in SAMPLING_FLAGS if getattr(args, k) is not None}
    if chosen and not args.do_sample:
        names = ", ".join("--" + k.replace("_", "-") for k in chosen)
        raise ValueError(f"{names}: shape sampling, which is off; add --do-sample (the default is greedy, as "
                         "GLM-130B's BaseStrategy)")
    return SamplingConfig(do_sample=args.do_sample, num_beams=args.num_beams, length_penalty=args.length_penalty,
                          **chosen)


def check_args(parser: argparse.ArgumentParser, args) -> tuple:
    """Everything that can be checked before a process group exists: (config, tokenizer or None, prompts, special).

    ``prompts`` is a list of ``{"prompt": text}``/``{"prompt_ids": ids}`` records, or None for ``--interactive``."""
    given = (("--prompt", args.prompt), ("--prompt-file", args.prompt_file), ("--interactive", args.interactive),
             ("--prompt-ids", args.prompt_ids))
    sources = [name for name, value in given if value]
    if len(sources) != 1:
        parser.error(f"--prompt / --prompt-file / --interactive / --prompt-ids: give exactly one source of prompts "
                     f"(got {', '.join(sources) or 'none'})")
    if args.max_new_tokens < 1:
        parser.error(f"--max-new-tokens: expected an int >= 1, got {args.max_new_tokens}")
    if not args.timeout_s > 0 or args.timeout_s == float("inf"):
        parser.error(f"--timeout-s: expected a positive finite number of seconds, got {args.timeout_s}")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if args.tp is not None and args.tp != world:
        parser.error(f"--tp: {args.tp} tensor-parallel ranks asked, but {world} processes run; start "
                     f"torchrun --nproc-per-node {args.tp} (one process per rank)")
    if args.checkpoint is not None and not args.checkpoint.exists():
        parser.error(f"--checkpoint: no such folder {args.checkpoint}")
    try:
        config = model_config(args)
        options = sampling(args)
        if args.mode == "greedy" and (options.do_sample or options.num_beams > 1):
            raise ValueError("--mode greedy: takes the most likely token; --do-sample and --num-beams work with "
                             "--mode fill-blanks")
        records = read_prompt_file(args.prompt_file) if args.prompt_file else (
            [{"prompt": t} for t in args.prompt] + [{"prompt_ids": ids} for ids in args.prompt_ids])
        texts = args.interactive or any("prompt" in r for r in records)
        tokenizer = load_tokenizer(args.tokenizer, config.vocab_size, args.corpus) if texts or args.tokenizer else None
    except (ValueError, TypeError, argparse.ArgumentTypeError, FileNotFoundError) as err:
        parser.error(str(err))
    try:
        special = tokenizer.special if tokenizer is not None else SpecialTokens(*_parse_ids(args.special_ids))
    except (TypeError, ValueError, argparse.ArgumentTypeError) as err:
        parser.error(f"--special-ids: expected 8 comma-separated ids (mask,gmask,smask,eod,sop,eop,eos,pad): {err}")
    for i, r in enumerate(records):
        ids = r.get("prompt_ids")
        if ids is not None and (not ids or max(ids) >= config.vocab_size or min(ids) < 0):
            parser.error(f"--prompt-ids: expected ids in [0, {config.vocab_size}), got {ids} (prompt {i + 1})")
    return config, tokenizer, (None if args.interactive else records), special


def load_model(args, config: GLMConfig, device: torch.device) -> nn.Module:
    """This rank's shard, loaded once (module docstring)."""
    dtype = DTYPES[args.precision] if args.precision else None
    bits = None if args.bits == 16 else args.bits
    kit = args.checkpoint is not None and is_kit_checkpoint(args.checkpoint)
    if args.checkpoint is not None and not kit:
        return load_rank(config, args.checkpoint, bits=bits, device=device, dtype=dtype)
    model = build_model(config, args.seed, args.checkpoint if kit else None, device)
    if dtype is not None:
        model.to(dtype)
    if bits:
        quantize_parallel_(model, bits)
    return model


def answer(model: nn.Module, record: dict, tokenizer, special: SpecialTokens, args, options: SamplingConfig) -> dict:
    """One prompt's answer record (the JSONL line), computed alike on every rank."""
    from glm_mini.generate import fill_blanks_ids

    ids = record["prompt_ids"] if "prompt_ids" in record else tokenizer.encode(record["prompt"])
    if args.mode == "fill-blanks":
        answers, output = fill_blanks_ids(model, ids, special, args.max_new_tokens, seed=args.seed,
                                          **dataclasses.asdict(options))
    else:
        output = greedy_continuation(model, ids, args.max_new_tokens)
        answers = [output]
    result = {k: v for k, v in record.items() if k != "prompt_ids"}
    result |= {"tp": dist.get_world_size(), "prompt_ids": ids, "answer_ids": answers, "output_ids": output}
    if tokenizer is not None:
        result["answers"] = [tokenizer.decode(a) for a in answers]
        result["output"] = tokenizer.decode(output)
    return result


def interactive_prompts():
    """Prompts typed on rank 0's terminal, handed to every rank; ends at end of input."""
    while True:
        line = [None]
        if dist.get_rank() == 0:
            try:
                line = [input("prompt> ")]
            except EOFError:
                line = [None]
        dist.broadcast_object_list(line, src=0)
        if line[0] is None:
            return
        if line[0].strip():
            yield {"prompt": line[0]}


def main(argv=None) -> int:
    parser = build_parser()
    args = parse_args(parser, argv, "scale_up.generate")
    config, tokenizer, records, special = check_args(parser, args)
    options = sampling(args)
    try:
        device = rank_device(args.device)
        backend = backend_for(device, args.backend)
        if args.checkpoint is not None:
            is_kit_checkpoint(args.checkpoint)  # an unreadable checkpoint is named before the ranks start
    except (ValueError, FileNotFoundError) as err:
        parser.error(str(err))

    torch.set_num_threads(1)
    init_distributed(args.timeout_s, backend=backend)
    with fail_fast():
        model = load_model(args, config, device)
        rank0 = dist.get_rank() == 0
        writer = AnswerWriter(args.out) if rank0 else AnswerWriter(None)
        prompts = interactive_prompts() if records is None else progress_bar(
            records, enabled=args.progress if rank0 else False, desc="prompts", unit="prompt")
        try:
            for record in prompts:
                result = answer(model, record, tokenizer, special, args, options)
                if rank0:
                    print(json.dumps(result, ensure_ascii=False), flush=True)
                    writer.write(result)
            writer.finish()
        finally:
            writer.close()
        dist.barrier()
    shutdown_distributed()
    return 0


if __name__ == "__main__":
    end_worker(main())
