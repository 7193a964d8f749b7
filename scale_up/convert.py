"""Convert an official GLM-130B checkpoint to another tensor-parallel degree (optionally INT8/INT4), streaming one
shard at a time: ``python -m scale_up.convert --input-folder SRC --output-folder DST --target-tp N``.

How it works
------------
The layout is the official one (docs/glm130b_facts.md §5): ``FOLDER/latest`` names the iteration and
``FOLDER/<iteration>/mp_rank_XX_model_states.pt`` holds ``{"module": state_dict}`` of TP rank XX. The official
``tools/convert_tp.py`` loads every source shard at once (≈260 GB of host RAM for GLM-130B). Here each output shard is
assembled from the source shards it overlaps, one source at a time:

- every key has the role ``tp_layout.parameter_role`` gives it. On its split axis a ``rows``/``cols`` tensor of full
  length n is cut into equal consecutive blocks, so source rank s holds ``[s·n/S, (s+1)·n/S)`` and target rank t
  needs ``[t·n/T, (t+1)·n/T)``: t copies the overlap of the two intervals from each source that has one;
- a ``glu`` tensor (``dense_h_to_4h``) is ``[x1; x2]`` and each rank holds ``[x1_r; x2_r]``, so the same interval
  rule applies to each half separately (x1 at the front of every shard, x2 at the back);
- ``replicated`` tensors come from the first source shard read.

This is ``tp_layout``'s merge-then-split, element for element (a test compares them bit for bit), but the whole
tensor never exists: peak host memory is one source shard (memory-mapped, ``torch.load(mmap=True)``) plus the output
shard being built. With ``--quantization-bit-width`` the four block linears of each finished output shard are
quantized per output row in FP16 (``quantize_weight``; ``pack_int4`` for INT4) and get their ``weight_scale``, as the
official converter does, so the bytes are identical to its.

Writing is atomic: everything goes to a hidden temporary folder beside DST, renamed to DST at the end, with a
marker file ``scale_up_convert.json``. A non-empty DST is refused unless it holds that marker (a previous
conversion, whose listed files are then replaced). ``--input-folder``/``--output-folder`` may also be a single
``.pt`` file holding a ``glm_mini.GLM`` state dict (the kit's TP=1 format): in, it is one TP=1 shard; out, the
merged model is saved as such a file (``--target-tp 1``, RoPE's ``inv_freq`` buffers dropped so ``GLM`` loads it
with ``strict=True``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from torch import Tensor

from .quantization import QUANTIZED_LINEARS, pack_int4, quantize_weight
from .tp_layout import parameter_role

SHARD = "mp_rank_{:02d}_model_states.pt"
MARKER = "scale_up_convert.json"
DEFAULT_HEADS = 96  # GLM-130B (configs/model_glm_130b.sh)


class ConversionError(ValueError):
    """A checkpoint that cannot be converted as asked (the message names the file or argument)."""


# --- reading ---------------------------------------------------------------------------------------------------
def source_shards(src: Path) -> tuple[list[Path], str]:
    """The source shard files in rank order and the iteration name (``"single"`` for a kit state-dict file)."""
    if src.is_file():
        return [src], "single"
    if not src.is_dir():
        raise FileNotFoundError(f"--input-folder: {src} does not exist")
    latest = src / "latest"
    if not latest.is_file():
        raise FileNotFoundError(f"--input-folder: missing {latest} (it names the iteration folder to convert)")
    iteration = latest.read_text().strip()
    files = sorted((src / iteration).glob("mp_rank_*_model_states.pt"))
    expected = [src / iteration / SHARD.format(r) for r in range(len(files))]
    if not files or files != expected:
        raise FileNotFoundError(f"--input-folder: {src / iteration} holds no complete set of mp_rank_XX shards "
                                f"(found {[f.name for f in files]})")
    return files, iteration


def load_state(path: Path) -> dict[str, Tensor]:
    """One shard's state dict, memory-mapped when the file allows it (pages are read as they are touched)."""
    try:
        payload = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except RuntimeError:  # a legacy (non-zip) file cannot be memory-mapped
        payload = torch.load(path, map_location="cpu", weights_only=True)
    state = payload["module"] if isinstance(payload, dict) and "module" in payload else payload
    if not isinstance(state, dict) or not all(torch.is_tensor(t) for t in state.values()):
        raise ConversionError(f"--input-folder: {path} does not hold a state dict (or {{'module': state dict}})")
    return state


def is_quantized(state: dict[str, Tensor]) -> bool:
    return any(key.endswith("weight_scale") for key in state)


# --- the interval rule -----------------------------------------------------------------------------------------
def _segments(role: str, length: int) -> list[tuple[int, int]]:
    """(offset inside the shard, length) of each independently split segment: one, or the two GeGLU halves."""
    return [(0, length // 2), (length // 2, length // 2)] if role == "glu" else [(0, length)]


def copy_overlap(out: Tensor, out_rank: int, out_tp: int, src: Tensor, src_rank: int, src_tp: int, role: str) -> bool:
    """Copy into target shard ``out`` the part of source shard ``src`` that it shares; True when they overlap."""
    dim = 1 if role == "cols" else 0
    touched = False
    for (o_off, o_len), (s_off, s_len) in zip(_segments(role, out.shape[dim]), _segments(role, src.shape[dim])):
        o_start, s_start = out_rank * o_len, src_rank * s_len  # positions on the full (merged) segment axis
        lo, hi = max(o_start, s_start), min(o_start + o_len, s_start + s_len)
        if lo < hi:
            out.narrow(dim, o_off + lo - o_start, hi - lo).copy_(src.narrow(dim, s_off + lo - s_start, hi - lo))
            touched = True
    return touched


def target_shape(shape: torch.Size, role: str, src_tp: int, tgt_tp: int) -> list[int]:
    dim = 1 if role == "cols" else 0
    out = list(shape)
    if role != "replicated":
        out[dim] = shape[dim] * src_tp // tgt_tp
    return out


# --- checks ------------------------------------------------------------------------------------------------------
def check_target(first: dict[str, Tensor], src_tp: int, tgt_tp: int, heads: int, path: Path) -> None:
    if isinstance(tgt_tp, bool) or not isinstance(tgt_tp, int) or tgt_tp < 1:
        raise ConversionError(f"--target-tp: expected a positive int, got {tgt_tp!r}")
    if heads % tgt_tp:
        raise ConversionError(f"--target-tp: {tgt_tp} does not divide --num-attention-heads={heads}; every rank "
                              "must hold whole heads")
    if is_quantized(first):
        raise ConversionError(f"--input-folder: {path} is already quantized (it has weight_scale keys); convert "
                              "the FP16 checkpoint instead")
    dtypes = {t.dtype for t in first.values()}
    if len(dtypes) != 1:
        raise ConversionError(f"--input-folder: {path} mixes dtypes {sorted(map(str, dtypes))}; expected one "
                              "floating-point dtype (FP16 for the official checkpoint)")
    for key, t in first.items():
        role = parameter_role(key)
        if role == "replicated":
            continue
        dim = 1 if role == "cols" else 0
        full = t.shape[dim] * src_tp
        unit, what = (2 * tgt_tp, "GeGLU half-pairs") if role == "glu" else (tgt_tp, "parts")
        if full % unit:
            raise ConversionError(f"--target-tp: {key} has {full} {'columns' if dim else 'rows'} in all, which "
                                  f"do not split into {tgt_tp} equal {what}")
    qkv = [t for k, t in first.items() if k.endswith("attention.query_key_value.weight")]
    if qkv and (qkv[0].shape[0] * src_tp) % (3 * heads):
        raise ConversionError(f"--num-attention-heads: {heads} heads do not divide the {qkv[0].shape[0] * src_tp} "
                              "query_key_value rows into whole [q; k; v] heads")


def quantize_state(state: dict[str, Tensor], bits: int) -> dict[str, Tensor]:
    """The official quantized shard: each block linear's weight as int8 (INT4: packed), plus its FP16 scale."""
    out = {}
    for key, t in state.items():
        name = key[: -len(".weight")] if key.endswith(".weight") else None
        if name is not None and name.endswith(QUANTIZED_LINEARS):
            q, scale = quantize_weight(t, bits)
            out[key] = pack_int4(q) if bits == 4 else q
            out[f"{name}.weight_scale"] = scale
        else:
            out[key] = t
    return out


# --- assembling and writing --------------------------------------------------------------------------------------
def build_target_shard(files: list[Path], tgt_rank: int, tgt_tp: int,
                       layout: dict[str, tuple[torch.Size, torch.dtype]]) -> dict[str, Tensor]:
    """Target rank ``tgt_rank``'s state dict, reading the overlapping source shards one at a time.

    ``layout``: ``{key: (shape, dtype)}`` of source shard 0, the reference every other shard must match.
    """
    src_tp = len(files)
    roles = {key: parameter_role(key) for key in layout}
    out = {key: torch.empty(target_shape(shape, roles[key], src_tp, tgt_tp), dtype=dtype)
           for key, (shape, dtype) in layout.items()}
    done_replicated = False
    for s, path in enumerate(files):
        lo, hi = s * tgt_tp, (s + 1) * tgt_tp  # source s spans [s/S, (s+1)/S) of every axis: scaled by S·T
        if hi <= tgt_rank * src_tp or lo >= (tgt_rank + 1) * src_tp:
            continue  # no overlap with target rank on any split axis
        state = load_state(path)
        if list(state) != list(layout):
            raise ConversionError(f"--input-folder: {path} has different keys from {files[0].name}")
        for key, t in state.items():
            if t.dtype != layout[key][1]:
                raise ConversionError(f"--input-folder: {path} stores {key} as {t.dtype} but {files[0].name} as "
                                      f"{layout[key][1]}; mixed dtypes cannot be converted")
            if roles[key] == "replicated":
                if not done_replicated:
                    out[key].copy_(t)
            else:
                copy_overlap(out[key], tgt_rank, tgt_tp, t, s, src_tp, roles[key])
        done_replicated = True
        del state
    return out


def _save(obj, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _check_output(dst: Path) -> None:
    if dst.is_file() or (dst.is_dir() and any(dst.iterdir()) and not (dst / MARKER).is_file()):
        raise FileExistsError(f"--output-folder: {dst} exists and is not empty (and holds no {MARKER} of a "
                              "previous conversion); choose a new folder")


def _install(tmp: Path, dst: Path) -> None:
    """Move the finished conversion into place; a previous conversion's own files are removed, nothing else."""
    if dst.is_dir() and (dst / MARKER).is_file():
        previous = json.loads((dst / MARKER).read_text())
        for rel in previous.get("files", []) + [MARKER]:
            (dst / rel).unlink(missing_ok=True)
        for folder in sorted({(dst / rel).parent for rel in previous.get("files", [])}, reverse=True):
            if folder != dst and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    if dst.is_dir():  # empty now (or left with the user's own files: then move ours in beside them)
        for item in tmp.iterdir():
            os.replace(item, dst / item.name)
        tmp.rmdir()
    else:
        os.replace(tmp, dst)


def convert(input_folder, output_folder, target_tp: int, quantization_bit_width: int | None = None,
            num_attention_heads: int = DEFAULT_HEADS, progress=None) -> Path:
    """Convert ``input_folder`` (official layout or a kit state-dict file) to ``output_folder``; returns it."""
    src, dst = Path(input_folder), Path(output_folder)
    if quantization_bit_width not in (None, 4, 8):
        raise ConversionError(f"--quantization-bit-width: expected 4 or 8, got {quantization_bit_width!r}")
    files, iteration = source_shards(src)
    single_out = dst.suffix == ".pt"
    if single_out and (target_tp != 1 or quantization_bit_width):
        raise ConversionError(f"--output-folder: a single .pt file ({dst}) is the kit's TP=1 FP16 format; use "
                              "--target-tp 1 without quantization, or a folder")
    if single_out and dst.exists():
        raise FileExistsError(f"--output-folder: {dst} exists; refusing to overwrite it")
    if not single_out:
        _check_output(dst)
    first = load_state(files[0])
    check_target(first, len(files), target_tp, num_attention_heads, files[0])
    layout = {key: (t.shape, t.dtype) for key, t in first.items()}
    del first  # unmap it: only one source shard is resident at a time
    if iteration == "single":
        iteration = "0"
    dst.parent.mkdir(parents=True, exist_ok=True)
    if single_out:
        state = build_target_shard(files, 0, 1, layout)
        _save({k: t for k, t in state.items() if not k.endswith("rotary_emb.inv_freq")}, dst)
        return dst
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.partial-", dir=dst.parent))
    try:
        (tmp / iteration).mkdir()
        written = []
        for rank in range(target_tp):
            state = build_target_shard(files, rank, target_tp, layout)
            if quantization_bit_width:
                state = quantize_state(state, quantization_bit_width)
            _save({"module": state}, tmp / iteration / SHARD.format(rank))
            written.append(f"{iteration}/{SHARD.format(rank)}")
            del state
            if progress:
                progress(rank)
        (tmp / "latest").write_text(iteration)
        info = {"source": str(src), "source_tp": len(files), "target_tp": target_tp,
                "quantization_bit_width": quantization_bit_width, "files": written + ["latest"]}
        (tmp / MARKER).write_text(json.dumps(info, indent=1))
        _install(tmp, dst)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)  # our own unfinished temporary folder only
    return dst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="scale_up.convert", description=__doc__.splitlines()[0])
    ap.add_argument("--input-folder", required=True, type=Path,
                    help="official checkpoint folder (with `latest`), or a glm_mini.GLM state-dict .pt file")
    ap.add_argument("--output-folder", required=True, type=Path,
                    help="new folder for the converted checkpoint, or a .pt file (kit format, --target-tp 1)")
    ap.add_argument("--target-tp", required=True, type=int, help="tensor-parallel degree of the output")
    ap.add_argument("--quantization-bit-width", type=int, choices=(4, 8), help="quantize the block linears")
    ap.add_argument("--num-attention-heads", type=int, default=DEFAULT_HEADS,
                    help=f"attention heads of the model (default {DEFAULT_HEADS}, GLM-130B's)")
    args = ap.parse_args(argv)
    try:
        out = convert(args.input_folder, args.output_folder, args.target_tp, args.quantization_bit_width,
                      args.num_attention_heads, progress=lambda r: print(f"wrote target rank {r}", flush=True))
    except (ConversionError, FileNotFoundError, FileExistsError) as err:
        ap.error(str(err))
    print(f"converted {args.input_folder} -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
