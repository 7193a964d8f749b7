"""Convert an official GLM-130B checkpoint to another tensor-parallel degree (optionally INT8/INT4), streaming one
shard at a time: ``python -m scale_up.convert --checkpoint SRC --out DST --tp N`` (the official tool's
``--input-folder SRC --output-folder DST --target-tp N [--quantization-bit-width 4|8]`` work too).

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

Writing is atomic: everything goes to a hidden temporary folder beside DST (given the permissions an ordinary
``mkdir`` would), renamed to DST at the end, with a marker file ``scale_up_convert.json``. A non-empty DST is
refused unless it holds that marker (a previous conversion, whose listed files are then replaced). Nothing outside
DST is ever written or removed: ``latest`` must name one path component (no ``/``, ``..`` or absolute path), every
file a marker lists is resolved and must lie inside DST (else nothing is removed), and DST may not be SRC, lie
inside it, or contain it. Before anything is written the source is checked: every layer holds the same keys as
layer 0, layers are numbered 0..N-1 with nothing missing, the embedding and final LayerNorm are there, and the
head count gives whole heads whose size matches RoPE's ``inv_freq`` (when the checkpoint carries it).
``--checkpoint``/``--out`` may also be a single ``.pt`` or ``.safetensors`` file holding a ``glm_mini.GLM`` state dict
(the kit's TP=1 format, e.g. a reference model under ``data/reference/``): in, it is one TP=1 shard; out, the merged
model is saved as such a file (``--tp 1``, RoPE's ``inv_freq`` buffers dropped so ``GLM`` loads it with
``strict=True``).

``--format safetensors`` writes each shard as ``mp_rank_XX_model_states.safetensors`` (the same flat state dict,
tensor for tensor, in a format that loads without unpickling anything), ``--format both`` writes it beside the
official ``.pt`` file; a folder of safetensors shards is read wherever an official folder is (convert,
``rank_loading``, ``scale_up.generate``). A progress bar with its ETA counts the output shards (``--no-progress``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import torch
from torch import Tensor

from glm_mini.cli.config_file import add_config_flag, parse_args
from glm_mini.cli.vocabulary import add_progress_flag
from glm_mini.training.checkpoint import write_atomic

from .collective_save import make_dir_like_mkdir
from .quantization import QUANTIZED_LINEARS, pack_int4, quantize_weight
from .safe_load import load_tensor_file
from .tp_layout import parameter_role

SHARD = "mp_rank_{:02d}_model_states.pt"
FORMATS = {"pt": (".pt",), "safetensors": (".safetensors",), "both": (".pt", ".safetensors")}
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
        raise FileNotFoundError(f"--checkpoint/--input-folder: {src} does not exist")
    latest = src / "latest"
    if not latest.is_file():
        raise FileNotFoundError(f"--checkpoint/--input-folder: missing {latest} (it names the iteration folder to "
                                "convert)")
    iteration = check_iteration(latest.read_text().strip(), latest)
    suffix = ".pt"
    files = sorted((src / iteration).glob("mp_rank_*_model_states.pt"))
    if not files:  # a folder written with --format safetensors
        suffix, files = ".safetensors", sorted((src / iteration).glob("mp_rank_*_model_states.safetensors"))
    expected = [src / iteration / SHARD.format(r).replace(".pt", suffix) for r in range(len(files))]
    if not files or files != expected:
        raise FileNotFoundError(f"--checkpoint/--input-folder: {src / iteration} holds no complete set of mp_rank_XX "
                                f"shards (found {[f.name for f in files]})")
    return files, iteration


def check_iteration(name: str, where: Path) -> str:
    """The iteration named by ``latest``: one path component, so it can only name a folder beside ``latest``."""
    if not name or name in (".", "..") or not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise ConversionError(f"--checkpoint/--input-folder: {where} must name one iteration folder (letters, "
                              f"digits, '.', '_', '-'; no '/', '..' or absolute path), got {name[:80]!r}")
    return name


def load_state(path: Path) -> dict[str, Tensor]:
    """One shard's state dict (``weights_only=True``), memory-mapped when the file allows it (pages are read as they
    are touched); a ``.safetensors`` file is read by safetensors, which never unpickles."""
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as err:
            raise ConversionError(f"--checkpoint: {path} is not a readable safetensors file ({err})") from None
    try:
        payload = load_tensor_file(path, "--checkpoint/--input-folder", mmap=True)
    except ValueError as err:
        raise ConversionError(str(err)) from None
    state = payload["module"] if isinstance(payload, dict) and "module" in payload else payload
    if not isinstance(state, dict) or not all(torch.is_tensor(t) for t in state.values()):
        raise ConversionError(f"--checkpoint/--input-folder: {path} does not hold a state dict (or "
                              "{'module': state dict})")
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
def check_layers(first: dict[str, Tensor], path: Path) -> None:
    """Every key a GLM parameter, every layer the same keys as layer 0, layers 0..N-1, the ends present."""
    layers: dict[int, set[str]] = {}
    for key in first:
        try:
            parameter_role(key)
        except ValueError as err:
            raise ConversionError(f"--checkpoint/--input-folder: {path}: {err}") from None
        found = re.fullmatch(r"transformer\.layers\.(\d+)\.(.+)", key)
        if found:
            layers.setdefault(int(found.group(1)), set()).add(found.group(2))
    for key in ("transformer.word_embeddings.weight", "transformer.final_layernorm.weight",
                "transformer.final_layernorm.bias"):
        if key not in first:
            raise ConversionError(f"--checkpoint/--input-folder: {path} has no {key}; expected a whole GLM state dict")
    if not layers or sorted(layers) != list(range(len(layers))):
        raise ConversionError(f"--checkpoint/--input-folder: {path} has layers {sorted(layers)[:8]}...; expected "
                              "layers 0..N-1 with none missing")
    for n, keys in layers.items():
        if keys != layers[0]:
            missing, extra = sorted(layers[0] - keys), sorted(keys - layers[0])
            raise ConversionError(f"--checkpoint/--input-folder: {path}: layer {n} lacks {missing} / has extra "
                                  f"{extra} compared with layer 0 (a missing layer weight cannot be converted)")
    required = {"attention.query_key_value.weight", "attention.dense.weight", "mlp.dense_h_to_4h.weight",
                "mlp.dense_4h_to_h.weight", "input_layernorm.weight", "post_attention_layernorm.weight"}
    if not required <= layers[0]:
        raise ConversionError(f"--checkpoint/--input-folder: {path}: layer 0 lacks {sorted(required - layers[0])}")


def check_heads(first: dict[str, Tensor], src_tp: int, heads: int) -> None:
    """Whole [q; k; v] heads, of the size RoPE's ``inv_freq`` was built for (when the checkpoint has it)."""
    if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1:
        raise ConversionError(f"--num-attention-heads: expected a positive int, got {heads!r}")
    rows = first["transformer.layers.0.attention.query_key_value.weight"].shape[0] * src_tp
    if rows % (3 * heads):
        raise ConversionError(f"--num-attention-heads: {heads} heads do not divide the {rows} query_key_value rows "
                              "into whole [q; k; v] heads")
    head_dim = rows // (3 * heads)
    inv_freq = first.get("transformer.layers.0.attention.rotary_emb.inv_freq")
    if inv_freq is not None and inv_freq.numel() not in (head_dim // 2, head_dim // 4):  # 1-D RoPE, 2-D RoPE
        raise ConversionError(f"--num-attention-heads: {heads} heads make a head size of {head_dim}, but the "
                              f"checkpoint's RoPE inv_freq has {inv_freq.numel()} entries (head size "
                              f"{2 * inv_freq.numel()}, or {4 * inv_freq.numel()} with 2-D RoPE); pass the model's "
                              "real head count")


def check_target(first: dict[str, Tensor], src_tp: int, tgt_tp: int, heads: int, path: Path) -> None:
    if isinstance(tgt_tp, bool) or not isinstance(tgt_tp, int) or tgt_tp < 1:
        raise ConversionError(f"--tp/--target-tp: expected a positive int, got {tgt_tp!r}")
    if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1:
        raise ConversionError(f"--num-attention-heads: expected a positive int, got {heads!r}")
    if heads % tgt_tp:
        raise ConversionError(f"--tp/--target-tp: {tgt_tp} does not divide --num-attention-heads={heads}; every rank "
                              "must hold whole heads")
    if is_quantized(first):
        raise ConversionError(f"--checkpoint/--input-folder: {path} is already quantized (it has weight_scale "
                              "keys); convert the FP16 checkpoint instead")
    check_layers(first, path)
    dtypes = {t.dtype for t in first.values()}
    if len(dtypes) != 1:
        raise ConversionError(f"--checkpoint/--input-folder: {path} mixes dtypes {sorted(map(str, dtypes))}; "
                              "expected one floating-point dtype (FP16 for the official checkpoint)")
    for key, t in first.items():
        role = parameter_role(key)
        if role == "replicated":
            continue
        dim = 1 if role == "cols" else 0
        full = t.shape[dim] * src_tp
        unit, what = (2 * tgt_tp, "GeGLU half-pairs") if role == "glu" else (tgt_tp, "parts")
        if full % unit:
            raise ConversionError(f"--tp/--target-tp: {key} has {full} {'columns' if dim else 'rows'} in all, which "
                                  f"do not split into {tgt_tp} equal {what}")
    check_heads(first, src_tp, heads)


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
            raise ConversionError(f"--checkpoint/--input-folder: {path} has different keys from {files[0].name}")
        for key, t in state.items():
            if t.dtype != layout[key][1]:
                raise ConversionError(f"--checkpoint/--input-folder: {path} stores {key} as {t.dtype} but "
                                      f"{files[0].name} as {layout[key][1]}; mixed dtypes cannot be converted")
            if roles[key] == "replicated":
                if not done_replicated:
                    out[key].copy_(t)
            else:
                copy_overlap(out[key], tgt_rank, tgt_tp, t, s, src_tp, roles[key])
        done_replicated = True
        del state
    return out


def _save(obj, path: Path) -> None:
    write_atomic(path, lambda f: torch.save(obj, f))


def save_shard(state: dict[str, Tensor], path: Path) -> None:
    """One shard: ``{"module": state}`` with ``torch.save`` (the official ``.pt``), or the flat state dict as
    safetensors; either written atomically."""
    if path.suffix == ".safetensors":
        from safetensors.torch import save

        tensors = {k: t.contiguous() for k, t in state.items()}
        write_atomic(path, lambda f: f.write(save(tensors, metadata={"format": "pt"})))
    else:
        _save({"module": state}, path)


def _check_paths(src: Path, dst: Path) -> None:
    """DST may not be SRC, lie inside it, or contain it: a conversion never writes over or removes its input."""
    s, d = src.resolve(), dst.resolve()
    if s == d or s in d.parents or d in s.parents:
        raise ConversionError(f"--out/--output-folder: {dst} is, lies inside, or contains --checkpoint/"
                              f"--input-folder {src}; write the conversion to a separate folder (the input is never "
                              "overwritten)")


def _previous_files(dst: Path) -> list[Path]:
    """The files a previous conversion's marker lists, resolved and checked to lie inside ``dst``."""
    marker = dst / MARKER
    try:
        listed = json.loads(marker.read_text()).get("files", [])
    except (json.JSONDecodeError, AttributeError, OSError) as err:
        raise ConversionError(f"--out/--output-folder: {marker} is not a conversion marker ({err}); remove it or "
                              "choose a new folder") from None
    root, files = dst.resolve(), []
    for rel in listed:
        path = (dst / rel).resolve() if isinstance(rel, str) and rel else None
        if path is None or root not in path.parents:
            raise ConversionError(f"--out/--output-folder: {marker} lists {rel!r}, which is not a file inside {dst}; "
                                  "nothing was removed (remove the marker or choose a new folder)")
        files.append(path)
    return files


def _check_output(dst: Path) -> list[Path]:
    """The previous conversion's files to replace ([] for a new or empty folder); refuses a foreign folder."""
    if dst.is_file() or (dst.is_dir() and any(dst.iterdir()) and not (dst / MARKER).is_file()):
        raise FileExistsError(f"--out/--output-folder: {dst} exists and is not empty (and holds no {MARKER} of a "
                              "previous conversion); choose a new folder")
    return _previous_files(dst) if (dst / MARKER).is_file() else []


def _install(tmp: Path, dst: Path, previous: list[Path]) -> None:
    """Move the finished conversion into place; a previous conversion's own files are removed, nothing else."""
    if previous or (dst / MARKER).is_file():
        root = dst.resolve()
        for path in previous + [root / MARKER]:
            path.unlink(missing_ok=True)
        for folder in sorted({p.parent for p in previous}, reverse=True):
            if folder != root and root in folder.parents and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    if dst.is_dir():  # empty now (or left with the user's own files: then move ours in beside them)
        for item in tmp.iterdir():
            os.replace(item, dst / item.name)
        tmp.rmdir()
    else:
        os.replace(tmp, dst)


def convert(input_folder, output_folder, target_tp: int, quantization_bit_width: int | None = None,
            num_attention_heads: int = DEFAULT_HEADS, progress: bool | None = False, format: str = "pt") -> Path:
    """Convert ``input_folder`` (official layout or a kit state-dict file) to ``output_folder``; returns it.

    ``format``: ``"pt"`` (the official layout), ``"safetensors"``, or ``"both"`` (each shard in both formats);
    ``progress``: a bar over the output shards (None: when stderr is a terminal)."""
    from glm_mini.cli.progress import progress_bar

    src, dst = Path(input_folder), Path(output_folder)
    if quantization_bit_width == 16:
        quantization_bit_width = None  # --bits 16: the weights as they are
    if quantization_bit_width not in (None, 4, 8):
        raise ConversionError(f"--bits/--quantization-bit-width: expected 4, 8 or 16, got {quantization_bit_width!r}")
    if format not in FORMATS:
        raise ConversionError(f"--format: expected one of {sorted(FORMATS)}, got {format!r}")
    files, iteration = source_shards(src)
    single_out = dst.suffix in (".pt", ".safetensors")
    if single_out and (target_tp != 1 or quantization_bit_width):
        raise ConversionError(f"--out/--output-folder: a single {dst.suffix} file ({dst}) is the kit's TP=1 format; "
                              "use --tp 1 without quantization, or a folder")
    if single_out and dst.exists():
        raise FileExistsError(f"--out/--output-folder: {dst} exists; refusing to overwrite it")
    _check_paths(src, dst)
    previous = [] if single_out else _check_output(dst)
    first = load_state(files[0])
    check_target(first, len(files), target_tp, num_attention_heads, files[0])
    layout = {key: (t.shape, t.dtype) for key, t in first.items()}
    del first  # unmap it: only one source shard is resident at a time
    if iteration == "single":
        iteration = "0"
    dst.parent.mkdir(parents=True, exist_ok=True)
    if single_out:
        state = build_target_shard(files, 0, 1, layout)
        state = {k: t for k, t in state.items() if not k.endswith("rotary_emb.inv_freq")}
        if dst.suffix == ".safetensors":
            from safetensors.torch import save

            write_atomic(dst, lambda f: f.write(save(state)))
        else:
            _save(state, dst)
        return dst
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.partial-", dir=dst.parent))
    make_dir_like_mkdir(tmp)  # mkdtemp makes 0700: the converted checkpoint is for everyone the umask allows
    try:
        (tmp / iteration).mkdir()
        written = []
        for rank in progress_bar(range(target_tp), enabled=progress, desc=f"convert TP{len(files)}->TP{target_tp}",
                                 unit="shard"):
            state = build_target_shard(files, rank, target_tp, layout)
            if quantization_bit_width:
                state = quantize_state(state, quantization_bit_width)
            for suffix in FORMATS[format]:
                name = SHARD.format(rank).replace(".pt", suffix)
                save_shard(state, tmp / iteration / name)
                written.append(f"{iteration}/{name}")
            del state
        write_atomic(tmp / "latest", lambda f: f.write(iteration.encode()))
        info = {"source": str(src), "source_tp": len(files), "target_tp": target_tp,
                "quantization_bit_width": quantization_bit_width, "format": format, "files": written + ["latest"]}
        write_atomic(tmp / MARKER, lambda f: f.write(json.dumps(info, indent=1).encode()))
        _install(tmp, dst, previous)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)  # our own unfinished temporary folder only
    return dst


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="scale_up.convert", description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", "--input-folder", required=True, type=Path,
                    help="official checkpoint folder (with `latest`), or a glm_mini.GLM state-dict .pt/.safetensors "
                         "file")
    ap.add_argument("--out", "--output-folder", required=True, type=Path,
                    help="new folder for the converted checkpoint, or a .pt/.safetensors file (kit format, --tp 1)")
    ap.add_argument("--tp", "--target-tp", required=True, type=int, help="tensor-parallel degree of the output")
    ap.add_argument("--bits", "--quantization-bit-width", type=int, choices=(4, 8, 16), default=16,
                    help="weight bits of the block linears: 16 as they are, 8 or 4 quantized as the official "
                         "converter does")
    ap.add_argument("--format", choices=sorted(FORMATS), default="pt",
                    help="shard files: pt (the official layout), safetensors, or both side by side")
    ap.add_argument("--num-attention-heads", type=int, default=DEFAULT_HEADS,
                    help=f"attention heads of the model (default {DEFAULT_HEADS}, GLM-130B's)")
    add_progress_flag(ap, "a progress bar over the output shards, with its ETA")
    add_config_flag(ap)
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = parse_args(ap, argv, "scale_up.convert")
    try:
        out = convert(args.checkpoint, args.out, args.tp, args.bits, args.num_attention_heads,
                      progress=args.progress, format=args.format)
    except (ConversionError, FileNotFoundError, FileExistsError) as err:
        ap.error(str(err))
    print(f"converted {args.checkpoint} -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
