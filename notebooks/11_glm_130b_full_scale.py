# %% [markdown]
# # 11 · GLM-130B at full scale: planned, dry-run on `meta`, converted, launched
#
# Budget: 60 s (FAST, 2-core CPU).
#
# **Why.** Notebooks 08–10 built INT4, tensor parallelism and pipeline parallelism on models a laptop runs. The real
# model is 130 billion parameters: 257 GB in FP16, shipped as 8 files of ~32 GB. Before anyone downloads it, three
# questions decide everything: *which GPU holds what*, *does it fit*, and *how do I get the official files onto my
# GPUs without 260 GB of host RAM* (the official converter loads every shard at once). This notebook answers all
# three on a CPU: it builds every GPU's part of the 130B model on PyTorch's `meta` device (shapes, no bytes) through
# the very code a real run uses, puts the planner's numbers beside the paper's, converts a generated checkpoint in
# the official layout while measuring its memory, and shows what a user with 4×RTX 3090 types.
#
# | piece | package file | test |
# |---|---|---|
# | every rank's part on `meta` | `scale_up/dry_run.py` | `tests/test_dry_run.py` |
# | quantized column/row-parallel layers | `scale_up/quantized_parallel.py` | `tests/test_dry_run.py`, `tests/test_rank_loading.py` |
# | memory and FLOPs planner | `scale_up/plan.py`, `scale_up/gpus.py` | `tests/test_plan.py` |
# | streaming converter (official layout) | `scale_up/convert.py`, `scale_up/peak_rss.py` | `tests/test_convert.py` |
# | one shard per rank, `scale_up.generate` | `scale_up/rank_loading.py`, `scale_up/generate.py` | `tests/test_rank_loading.py` |
# | GPU check | `scale_up/gpu_check.py` | `tests/test_gpu_check.py` |

# %%
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from glm_mini import GLM, PRESETS, GLMConfig, SpecialTokens
from glm_mini.exercises import exercise_record, use
from scale_up.exercises import nb11_full_scale as reference
from scale_up.exercises.nb11_full_scale import check_kv_cache, check_mfu, check_weight_bytes
from glm_mini.generate import fill_blanks_ids
from scale_up.convert import convert
from scale_up.dry_run import dry_run, format_part
from scale_up.gpus import GPUS
from scale_up.peak_rss import peak_rss
from scale_up.plan import hardware_table, inference_plan, pipeline_bubble, training_plan, weight_bytes_per_gpu
from scale_up.quantization import QuantizedLinear
from scale_up.rank_loading import load_rank
from scale_up.tp_layout import shard_state_dict

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
NOTEBOOK_START = time.perf_counter()
GiB = 2**30
cfg = PRESETS["glm-130b"]
print(cfg)
passed = {}  # exercise -> did its check pass

# %% [markdown]
# ## 1. The 130B model on `meta`, one GPU's part at a time
#
# `torch.device("meta")` builds modules whose tensors have shapes and dtypes but no storage, so the full 130B
# `glm_mini.GLM` costs nothing. `scale_up.dry_run` then does to it exactly what a real rank does: it deletes the
# other pipeline stages' layers, calls `apply_tensor_parallel` as rank $r$ of a $t$-way group (a single-process
# `fake` process group: `get_rank()` answers $r$, collectives do nothing), and with INT4 swaps the block linears for
# the official quantized format. Each rank's bytes are $\sum \text{numel}\cdot\text{element size}$ over its state
# dict. First the official serving layout, TP=8 in FP16:

# %%
(tp8_rank0,) = dry_run(cfg, tp=8, pp=1, bits=16, tp_ranks=[0])
print(format_part(tp8_rank0))
qkv_tp8 = tp8_rank0.shapes["transformer.layers.0.attention.query_key_value.weight"][0]
assert tp8_rank0.bytes == weight_bytes_per_gpu(cfg, tp=8, bits=16)

# %% [markdown]
# The official TP=8 checkpoint's shapes (the official repository's `convert_tp.py` and SAT modules, as listed in
# the facts file) are `query_key_value.weight` [4608, 12288], `attention.dense.weight` [12288, 1536],
# `dense_h_to_4h.weight` [8192, 12288], `dense_4h_to_h.weight` [12288, 4096], `word_embeddings.weight`
# [18816, 12288]: the dry run above produces every one of them (`tests/test_dry_run.py` asserts it).
#
# Now the paper's *training* layout, TP=4 × PP=8: the 70 layers plus the two embedding ends make 72 units, 9 per
# stage, so the end stages hold 8 layers and an embedding copy (paper App. B.4). The same ranks in INT4 show what
# weight-only quantization buys:

# %%
stages16 = dry_run(cfg, tp=4, pp=8, bits=16, tp_ranks=[0])
stages4 = dry_run(cfg, tp=4, pp=8, bits=4, tp_ranks=[0])
fig, ax = plt.subplots(figsize=(8, 3))
x = torch.arange(8)
ax.bar(x - 0.2, [p.bytes / GiB for p in stages16], 0.4, label="FP16")
ax.bar(x + 0.2, [p.bytes / GiB for p in stages4], 0.4, label="INT4 (block linears)")
for p in stages16:
    ax.text(p.stage - 0.2, p.bytes / GiB + 0.1, f"{len(p.layers)} L", ha="center", fontsize=8)
ax.set_xticks(x, [f"stage {i}" for i in range(8)])
ax.set_ylabel("weights per GPU (GiB)")
ax.set_title("GLM-130B, TP=4 × PP=8: one GPU's weights per pipeline stage (dry run on meta)")
ax.legend()
plt.show()

# %% [markdown]
# ## 2. Will it fit? The inference planner beside the official hardware table
#
# Per GPU, serving tensor-parallel over $t$ cards needs the weights (above), the KV cache (the keys and values each
# layer keeps for every token already seen, so that a new token does not recompute them; you count its bytes in the
# exercises at the end), the activations of one prefill, and a workspace (the CUDA context, plus one FP16 copy of the
# largest local weight when the official W4A16 path dequantizes before its matmul). The official README's table says
# which setups run; the planner derives its verdict from the config alone:

# %%
print(f"{'setup':<24}{'planner total/GPU':>19}{'card':>8}  planner    official README")
hardware = hardware_table(cfg)
for plan, official in hardware:
    setup = f"{plan.num_gpus}x {plan.gpu.name} {'FP16' if plan.bits == 16 else f'INT{plan.bits}'}"
    print(f"{setup:<24}{plan.total / GiB:>15.1f} GiB{plan.gpu.memory_bytes / GiB:>6.0f} G  "
          f"{'fits' if plan.fits else 'no':<10} {'runs' if official else 'does not run'}")
agree = sum(plan.fits == official for plan, official in hardware)
print(f"planner agrees with the official table on {agree}/{len(hardware)} setups")
assert agree == len(hardware)

# %%
counts = [1, 2, 4, 8]
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), sharey=True)
kinds = ("weights", "kv_cache", "activations", "workspace")
for ax, bits in zip(axes, (16, 8, 4)):
    plans = [inference_plan(cfg, "rtx3090", n, bits) for n in counts]
    bottom = torch.zeros(len(counts))
    for kind in kinds:
        values = torch.tensor([getattr(p, kind) / GiB for p in plans])
        ax.bar([str(n) for n in counts], values, bottom=bottom, label=kind.replace("_", " "))
        bottom += values
    for i, p in enumerate(plans):
        ax.text(i, min(p.total / GiB, 86), f"{p.total / GiB:.0f}" + (" ↑" if p.total / GiB > 90 else ""),
                ha="center", va="bottom", fontsize=8)
    for card, name in (("rtx3090", "RTX 3090"), ("a100-40g", "A100 40 GB"), ("a100-80g", "A100/H100 80 GB")):
        ax.axhline(GPUS[card].memory_bytes / GiB, ls="--", lw=0.8, color="k")  # the planner's own card sizes
        ax.text(3.45, GPUS[card].memory_bytes / GiB, name, fontsize=7, va="bottom", ha="right")
    ax.set_title(f"{'FP16' if bits == 16 else f'INT{bits}'} weights")
    ax.set_xlabel("GPUs (tensor parallel)")
    ax.set_ylim(0, 95)
axes[0].set_ylabel("memory per GPU (GiB; ↑ = off the scale)")
axes[0].legend(fontsize=7, loc="center right")
fig.suptitle("GLM-130B inference, batch 1 × 2048 tokens: memory per GPU by kind (planner)", y=1.02)
plt.show()

# %% [markdown]
# Feel it: pick a card, the weights' bits and the number of GPUs. Left, one GPU's memory by kind beside the card's
# size; right, the total per GPU against the number of GPUs for all three widths on that card (the chosen setup
# circled). Every number is `inference_plan`'s.


# %%
def show_inference_plan(gpu="rtx3090", bits=4, num_gpus=4, batch_size=1):
    """The planner's per-GPU memory for GLM-130B served on ``num_gpus`` ``gpu`` cards with ``bits``-bit weights."""
    plan = inference_plan(cfg, gpu, num_gpus, bits, batch_size=batch_size)
    card = plan.gpu.memory_bytes / GiB
    fig, (ax_parts, ax_counts) = plt.subplots(1, 2, figsize=(12, 3.2), gridspec_kw={"width_ratios": [1.3, 1]})
    left = 0.0
    for kind in ("weights", "kv_cache", "activations", "workspace"):
        value = getattr(plan, kind) / GiB
        ax_parts.barh(0, value, left=left, label=f"{kind.replace('_', ' ')} {value:.1f} GiB")
        left += value
    ax_parts.axvline(card, color="k", ls="--", lw=1)
    ax_parts.set(yticks=[], xlim=(0, max(card, plan.total / GiB) * 1.15), xlabel="memory per GPU (GiB)",
                 title=f"{num_gpus} × {plan.gpu.name}, {'FP16' if bits == 16 else f'INT{bits}'}, batch {batch_size} "
                       f"× 2048: {plan.total / GiB:.1f} of {card:.0f} GiB, {'fits' if plan.fits else 'does NOT fit'}")
    ax_parts.legend(fontsize=7, loc="lower right")
    for width in (16, 8, 4):
        totals = [inference_plan(cfg, gpu, n, width, batch_size=batch_size).total / GiB for n in counts]
        ax_counts.plot(counts, totals, "o-", label="FP16" if width == 16 else f"INT{width}")
    ax_counts.plot([num_gpus], [plan.total / GiB], "o", ms=14, mfc="none", mec="k")
    ax_counts.axhline(card, color="k", ls="--", lw=1, label=f"{plan.gpu.name}: {card:.0f} GiB")
    ax_counts.set(xscale="log", xticks=counts, xticklabels=counts, yscale="log", xlabel="GPUs (tensor parallel)",
                  ylabel="total per GPU (GiB)", title="the same card, every width")
    ax_counts.minorticks_off()
    ax_counts.legend(fontsize=7)
    plt.tight_layout()
    plt.show()


show_inference_plan("rtx3090", 4, 4)

# %% tags=["widget"]
widgets.interact(show_inference_plan, gpu=widgets.Dropdown(options=sorted(GPUS), value="rtx3090"),
                 bits=widgets.ToggleButtons(options=[16, 8, 4], value=4),
                 num_gpus=widgets.ToggleButtons(options=counts, value=4),
                 batch_size=widgets.IntSlider(value=1, min=1, max=16, continuous_update=False));

# %% [markdown]
# ## 3. Training: the pipeline bubble and FLOPs utilization beside the paper
#
# GLM-130B trained on 96 DGX-A100 nodes (768 GPUs) as DP24 × TP4 × PP8 with 176 micro-batches of one 2048-token
# sequence per pipeline per step, global batch 4224 (paper §2.3). The 1F1B bubble is
# $$\text{bubble} = \frac{p-1}{m+p-1}\qquad\texttt{plan.py: pipeline\_bubble}$$
# and utilization is the FLOPs the model needs per iteration over the FLOPs the GPUs could do in the iteration time
# $T$ (you count them in the exercises at the end; *hardware* FLOPs add one recomputed forward of the layers). One
# GPU's memory in this layout, by kind, from the planner:

# %%
train = training_plan(cfg, dp=24, tp=4, pp=8, micro_batches=176, micro_batch_size=1, seq_len=2048, gpu="a100-40g")
print(train.table())
train_parts = {"parameters (FP16)": train.parameters, "gradients (FP16)": train.gradients,
               "optimizer (ZeRO-1 over DP)": train.optimizer, "activations (checkpointed)": train.activations,
               "CUDA context": train.gpu.context_bytes}
fig, ax = plt.subplots(figsize=(8, 1.9))
left = 0.0
for name, nbytes in train_parts.items():
    ax.barh(0, nbytes / GiB, left=left, label=f"{name}: {nbytes / GiB:.1f} GiB")
    left += nbytes / GiB
ax.axvline(train.gpu.memory_bytes / GiB, color="k", ls="--", lw=1)
ax.text(train.gpu.memory_bytes / GiB, 0, f"  {train.gpu.name}: {train.gpu.memory_bytes / GiB:.0f} GiB", fontsize=8)
ax.set(yticks=[], xlabel="memory of the fullest GPU (GiB)", xlim=(0, train.gpu.memory_bytes / GiB * 1.25),
       title=f"training plan DP{train.dp} × TP{train.tp} × PP{train.pp}: one GPU, by kind (planner)")
ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.2))
plt.show()
# the paper's numbers (bubble App. B.4, MFU/HFU §2.3) at the training log's 88.5 s per iteration (facts §3)
PAPER = {"bubble": 0.038, "mfu": 0.325, "hfu": 0.433, "seconds": 88.5}
ours = {"bubble": train.bubble_fraction, "mfu": train.mfu(PAPER["seconds"]), "hfu": train.hfu(PAPER["seconds"])}
for key in ("bubble", "mfu", "hfu"):
    print(f"{key.upper():<7} planner {ours[key]:6.1%}   paper {PAPER[key]:6.1%}")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.4))
ms = list(range(8, 400, 4))
ax1.plot(ms, [100 * pipeline_bubble(8, m) for m in ms], label="(p−1)/(m+p−1), p = 8")
ax1.scatter([176], [100 * train.bubble_fraction], zorder=3, label=f"planner at m = 176: {train.bubble_fraction:.1%}")
ax1.scatter([176], [100 * PAPER["bubble"]], marker="x", color="k", zorder=4, label="paper: 3.8%")
ax1.set_xlabel("micro-batches per step m")
ax1.set_ylabel("bubble (% of step idle)")
ax1.legend(fontsize=8)
ts = torch.linspace(50, 200, 100)
ax2.plot(ts, [100 * train.mfu(float(t)) for t in ts], label="MFU (model FLOPs)")
ax2.plot(ts, [100 * train.hfu(float(t)) for t in ts], label="HFU (with recompute)")
ax2.scatter([88.5, 88.5], [100 * PAPER["mfu"], 100 * PAPER["hfu"]], marker="x", color="k", zorder=4,
            label="paper: 32.5% / 43.3% (§2.3), at the log's 88.5 s")
ax2.set_xlabel("seconds per iteration")
ax2.set_ylabel("utilization of 768 × 312 TFLOP/s (%)")
ax2.legend(fontsize=8)
fig.suptitle("GLM-130B training layout DP24 × TP4 × PP8 (planner; crosses: the paper's numbers)", y=1.02)
plt.show()

# %% [markdown]
# ## 4. Converting a checkpoint without loading the model
#
# The official files are `latest` (holding `49300`) and `49300/mp_rank_00..07_model_states.pt`, each
# `{"module": state_dict}`. To serve on 4 GPUs they must become 4 shards, and for INT4 each linear's rows quantized.
# `scale_up.convert` builds each output shard from the source shards it overlaps, **one source at a time**,
# memory-mapped: a `rows`/`cols` tensor of length $n$ is cut into equal blocks, source $s$ holds
# $[s\,n/S,\ (s+1)\,n/S)$, target $t$ needs $[t\,n/T,\ (t+1)\,n/T)$ and copies the overlap; `dense_h_to_4h` is
# $[x_1; x_2]$ and each half follows the same rule. So peak host RAM is about one source shard plus one output shard.
# We generate a TP=8 checkpoint in the official layout (random FP16 weights, 6 layers of width 1024), convert it to
# TP=4 in a fresh process, and read that process's high-water mark.

# %%
work = Path(tempfile.mkdtemp(prefix="nb11_"))


def write_official(folder: Path, full: dict, tp: int, config: GLMConfig) -> None:
    (folder / "49300").mkdir(parents=True)
    for r in range(tp):
        shard = {"module": shard_state_dict(full, tp, r, config)}
        torch.save(shard, folder / "49300" / f"mp_rank_{r:02d}_model_states.pt")
    (folder / "latest").write_text("49300")


big = GLMConfig(num_layers=6, hidden_size=1024, num_attention_heads=8, inner_hidden_size=2816, vocab_size=8192,
                max_sequence_length=256)
with torch.device("meta"):
    shapes = {k: v.shape for k, v in GLM(big).state_dict().items()}
gen = torch.Generator().manual_seed(0)
write_official(work / "tp8", {k: torch.randn(s, generator=gen).half() for k, s in shapes.items()}, 8, big)
rss = peak_rss("scale_up.convert", ["--input-folder", str(work / "tp8"), "--output-folder", str(work / "tp4"),
                                    "--target-tp", "4", "--num-attention-heads", "8"])
largest = max(p.stat().st_size for p in (work / "tp4" / "49300").iterdir())
source = max(p.stat().st_size for p in (work / "tp8" / "49300").iterdir())
whole = sum(p.stat().st_size for p in (work / "tp8" / "49300").iterdir())
used = rss["peak"] - rss["baseline"]
print(f"whole model {whole / 2**20:.0f} MiB; source shard {source / 2**20:.0f} MiB; output shard {largest / 2**20:.0f} "
      f"MiB; conversion peak RSS above the interpreter's baseline {used / 2**20:.0f} MiB "
      f"= {used / largest:.2f}x the largest shard")

# %%
fig, ax = plt.subplots(figsize=(7, 2.4))
bars = {"whole model (official converter's need)": whole, "1 source + 1 output shard": source + largest,
        "measured peak RSS (scale_up.convert)": used}
ax.barh(list(bars), [v / 2**20 for v in bars.values()], color=["#bbb", "#8ab", "#d62"])
ax.set_xlabel("host memory (MiB)")
ax.set_title("Converting TP=8 → TP=4 of a 6-layer, 1024-wide model")
plt.show()

# %% [markdown]
# The conversion is exact: TP 8 → 4 → 8 gives back every tensor bit for bit (and equals `tp_layout`'s
# merge-then-split; `tests/test_convert.py`). With `--quantization-bit-width 4` each output shard's four block linears
# are stored as the official INT4 bytes, $\text{scale}_r = \text{fp16}(\max_c|W_{rc}|/7)$, two values per byte.

# %%
convert(work / "tp4", work / "tp8_again", 8, num_attention_heads=8)
for r in range(8):
    name = f"49300/mp_rank_{r:02d}_model_states.pt"
    a = torch.load(work / "tp8" / name, mmap=True, weights_only=True)["module"]
    b = torch.load(work / "tp8_again" / name, mmap=True, weights_only=True)["module"]
    assert all(torch.equal(a[k], b[k]) for k in a)
print("TP 8 -> 4 -> 8: all 8 shards bit-identical")

# %% [markdown]
# ## 5. What a user with 4 × RTX 3090 types
#
# ```bash
# python -m scale_up.plan inference --gpu rtx3090 --tp 4 --bits 4           # fits? bytes per GPU by kind
# python -m scale_up.dry_run --tp 4 --bits 4                                 # each rank's shapes and bytes
# python -m scale_up.convert --input-folder glm-130b-sat --output-folder glm-130b-int4-tp4 \
#     --target-tp 4 --quantization-bit-width 4
# torchrun --standalone --nproc-per-node 4 -m scale_up.generate --checkpoint glm-130b-int4-tp4 \
#     --preset glm-130b --bits 4 --device cuda --tokenizer icetk/ice_text.model \
#     --prompt "Who is the greatest artist? The greatest artist is [gMASK]" --max-new-tokens 32
# ```
#
# Each rank builds its part on `meta`, swaps in the quantized column/row-parallel layers, gives them storage on its
# GPU and copies in only its own memory-mapped shard: no rank ever holds the whole model. The CPU twin below does the
# same on a small generated checkpoint (2 layers, width 64, 8 heads): converted from TP=8 to an INT4 TP=1 checkpoint,
# loaded the way a rank loads, and asked to fill a `[gMASK]` blank with GLM-130B's own rules
# (`glm_mini.generate.fill_blanks_ids`). `tests/test_rank_loading.py` runs it on 2 processes and checks the same tokens.

# %%
small = GLMConfig(num_layers=2, hidden_size=64, num_attention_heads=8, inner_hidden_size=176, vocab_size=1024,
                  max_sequence_length=256)
torch.manual_seed(0)
write_official(work / "small_tp8", GLM(small).half().state_dict(), 8, small)
convert(work / "small_tp8", work / "small_int4", 1, 4, num_attention_heads=8)
special = SpecialTokens(mask=1000, gmask=1001, smask=1002, eod=1003, sop=1004, eop=1005, eos=1006, pad=0)
rank_model = load_rank(small, work / "small_int4", dtype=torch.float32)
n_int4 = sum(isinstance(m, QuantizedLinear) for m in rank_model.modules())
answers, output = fill_blanks_ids(rank_model, [5, 17, 42, 7, 1001], special, 6)
print(f"{n_int4} INT4 linears loaded from the converted shard; [gMASK] filled with {answers[0]}")
if not FAST:  # FULL mode: the real launcher on 2 CPU processes (gloo), one INT4 shard each
    convert(work / "small_tp8", work / "small_int4_tp2", 2, 4, num_attention_heads=8)
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
              "scale_up.generate", "--checkpoint", str(work / "small_int4_tp2"), "--mode", "fill-blanks",
              "--precision", "fp32", "--prompt-ids", "5,17,42,7,1001", "--max-new-tokens", "6",
              "--special-ids", "1000,1001,1002,1003,1004,1005,1006,0", "--num-layers", "2", "--hidden-size", "64",
              "--num-attention-heads", "8", "--inner-hidden-size", "176", "--vocab-size", "1024"]
    root = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
    env = dict(os.environ, PYTHONPATH=str(root))
    print(subprocess.run(launch, cwd=root, env=env, capture_output=True, text=True, check=True).stdout)

# %% tags=["skip-execution"]
# Real GPUs and the real weights: 4 x RTX 3090, the converted INT4 checkpoint.
if torch.cuda.device_count() >= 4 and Path("glm-130b-int4-tp4").is_dir():
    subprocess.run(["torchrun", "--standalone", "--nproc-per-node", "4", "-m", "scale_up.generate", "--checkpoint",
                    "glm-130b-int4-tp4", "--preset", "glm-130b", "--bits", "4", "--device", "cuda",
                    "--mode", "fill-blanks", "--prompt-ids", "1,2,3,150001", "--max-new-tokens", "32"], check=True)
else:
    print(f"needs 4 CUDA GPUs (found {torch.cuda.device_count()}) and the converted checkpoint glm-130b-int4-tp4/ "
          f"(present: {Path('glm-130b-int4-tp4').is_dir()}); the cell above is its CPU twin")

# %% [markdown]
# And the GPU check: INT4 vs FP16 speed of GLM-130B's widest layer, `dense_h_to_4h` [65536, 12288], and a blank
# filling on a random-weight 130B cut to 2 layers. Its CPU twin times the same two formats at width 1024 for one
# token: decoding one token is memory-bound, and INT4 reads 4× fewer weight bytes than FP16 (8× fewer than FP32).

# %%
def median_ms(fn, repeats=15):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - start))
    return sorted(times)[repeats // 2]


lin = torch.nn.Linear(1024, 2 * 2816).half()
q4 = QuantizedLinear.from_linear(lin, 4)
x1 = torch.randn(1, 1024)
w32, b32 = lin.weight.float(), lin.bias.float()
with torch.no_grad():
    cpu_fp32 = median_ms(lambda: torch.nn.functional.linear(x1, w32, b32))
    cpu_int4 = median_ms(lambda: q4(x1))
print(f"CPU, [5632, 1024], 1 token: FP32 {cpu_fp32:.2f} ms, INT4 ({q4.backend}) {cpu_int4:.2f} ms")

# %% tags=["skip-execution"]
if torch.cuda.is_available():
    subprocess.run([sys.executable, "-m", "scale_up.gpu_check"], check=True)
else:
    print("no CUDA GPU here (torch.cuda.is_available() is False): the timing above is this cell's CPU twin")

# %% [markdown]
# ### Your turn — Exercise 11.1: weight bytes per GPU
# Return one tensor-parallel rank's weight bytes for a DeepNorm GLM: per layer the four linears `[3h/t, h]`,
# `[h, h/t]`, `[2f/t, h]`, `[h, f/t]` at `bits/8` bytes per weight plus one FP16 scale per local row when
# `bits < 16`; their biases (`3h/t`, `h`, `2f/t`, `h`) and two LayerNorms (weight and bias, `h` each) in FP16; then
# the embedding's `V/t` rows and the final LayerNorm. *Predict first:* on 4 GPUs, do GLM-130B's INT4 weights fit in
# an RTX 3090's 24 GiB per GPU, and which of the terms above is the largest one left in FP16?

# %%
def my_weight_bytes(num_layers, hidden, ffn, vocab, tp, bits):
    ### BEGIN SOLUTION
    ### HINT: the row-parallel linears' biases are not split; scales exist only when bits < 16, one per local row
    shapes = ((3 * hidden // tp, hidden), (hidden, hidden // tp), (2 * ffn // tp, hidden), (hidden, ffn // tp))
    linears = sum(r * c * bits // 8 + (2 * r if bits < 16 else 0) for r, c in shapes)
    per_layer = linears + 2 * (3 * hidden // tp + hidden + 2 * ffn // tp + hidden) + 2 * 4 * hidden
    return num_layers * per_layer + 2 * (vocab // tp) * hidden + 2 * 2 * hidden
    ### END SOLUTION


# %%
passed["11.1"] = check_weight_bytes(my_weight_bytes)
weight_bytes = use(my_weight_bytes, passed["11.1"], reference.weight_bytes_per_gpu)
int4_tp4 = weight_bytes(*reference.GLM130B, 4, 4)
print(f"GLM-130B INT4 on 4 GPUs: {int4_tp4 / GiB:.2f} GiB of weights per GPU, of a card's "
      f"{GPUS['rtx3090'].memory_bytes / GiB:.0f} GiB (RTX 3090)")
for term, nbytes in reference.weight_bytes_terms(*reference.GLM130B, 4, 4).items():
    print(f"  {term:<48}{nbytes / GiB:8.2f} GiB")

# %% [markdown] tags=["prediction"]
# Yes, with room to spare, as printed; but the weights are not all that must fit: the KV cache, the activations of a
# prefill and the workspace come on top (section 2's plot and the widget), and the planner still says 4 × RTX 3090
# fits, as the official README's table does. The terms show where the bytes are: the four block linears dominate
# even at 4 bits, and the largest FP16 term is the word embedding, whose $V/t$ rows INT4 does not touch (the official
# quantization leaves it in FP16).

# %% [markdown]
# ### Your turn — Exercise 11.2: the KV cache
# Keys and values of every layer, FP16, for `batch` sequences of `seq_len` tokens, on one rank (its `h/t` channels).
# *Predict first:* how many 2048-token sequences of GLM-130B fit in the 4×3090's left-over memory: 1, about 4, or
# about 40?

# %%
def my_kv_cache(num_layers, hidden, tp, batch, seq_len):
    ### BEGIN SOLUTION
    ### HINT: keys and values are two tensors; a rank keeps only its own heads' h/t channels, at 2 bytes each
    return 2 * num_layers * batch * seq_len * (hidden // tp) * 2
    ### END SOLUTION


# %%
passed["11.2"] = check_kv_cache(my_kv_cache)
kv_cache = use(my_kv_cache, passed["11.2"], reference.kv_cache_bytes)
plan_3090 = inference_plan(cfg, "rtx3090", 4, 4)
spare = plan_3090.gpu.memory_bytes - plan_3090.total + plan_3090.kv_cache
print(f"one 2048-token sequence: {kv_cache(70, 12288, 4, 1, 2048) / GiB:.2f} GiB per GPU; about "
      f"{spare // kv_cache(70, 12288, 4, 1, 2048)} fit beside the INT4 weights (activations aside)")

# %% [markdown] tags=["prediction"]
# About 4, as printed: one sequence's keys and values take more than a GiB and a half on each GPU, and what the card
# has left after the weights, one prefill's activations and the workspace holds only a few of them. The cache grows
# with batch × length while the weights stay put, so on small cards it is the number of sequences served at once,
# not the model, that runs out first; the widget's batch slider shows it.

# %% [markdown]
# ### Your turn — Exercise 11.3: model FLOPs utilization
# Per token, each layer's four linears do $4h^2 + 3hf$ multiply-adds and attention $2sh$; the tied output layer $hV$.
# Training costs 3 forwards' worth (forward + backward) at 2 FLOPs per multiply-add. Return model FLOPs per iteration
# over `seconds * num_gpus * peak_flops`.

# %%
def my_mfu(num_layers, hidden, ffn, vocab, sequences, seq_len, seconds, num_gpus, peak_flops):
    ### BEGIN SOLUTION
    ### HINT: a backward costs two forwards; the attention term grows with seq_len; count 2 FLOPs per multiply-add
    per_token = num_layers * (4 * hidden**2 + 3 * hidden * ffn + 2 * seq_len * hidden) + hidden * vocab
    return 6 * sequences * seq_len * per_token / (seconds * num_gpus * peak_flops)
    ### END SOLUTION


# %%
passed["11.3"] = check_mfu(my_mfu)
mfu = use(my_mfu, passed["11.3"], reference.mfu)
print(f"MFU at the log's 88.5 s: {mfu(70, 12288, 32768, 150528, 4224, 2048, 88.5, 768, 312e12):.1%} (paper: 32.5%)")

# %% tags=["summary"]
print(exercise_record(passed))
print(f"dry run, GLM-130B TP=8 FP16 rank 0: query_key_value {list(qkv_tp8)}, {tp8_rank0.bytes / GiB:.2f} GiB "
      f"(= plan.weight_bytes_per_gpu)")
print(f"dry run, TP=4 x PP=8: stage 0 {stages16[0].bytes / GiB:.2f} GiB FP16 / {stages4[0].bytes / GiB:.2f} GiB INT4, "
      f"middle stage {stages16[1].bytes / GiB:.2f} / {stages4[1].bytes / GiB:.2f} GiB")
print(f"hardware table: planner agrees with the official README on {agree}/{len(hardware)} setups; 4x RTX 3090 INT4 "
      f"{plan_3090.total / GiB:.1f} GiB of {plan_3090.gpu.memory_bytes / GiB:.1f} GiB per GPU")
print(f"training DP24xTP4xPP8, m=176: bubble {ours['bubble']:.1%} (paper 3.8%), at 88.5 s MFU {ours['mfu']:.1%} "
      f"(paper 32.5%), HFU {ours['hfu']:.1%} (paper 43.3%)")
print(f"converter TP8->4: peak RSS {used / 2**20:.0f} MiB above baseline vs largest shard {largest / 2**20:.0f} MiB "
      f"({used / largest:.2f}x), whole model {whole / 2**20:.0f} MiB; 8->4->8 bit-exact")
print(f"CPU twin: INT4 TP=1 shard loaded per rank, [gMASK] answer {answers[0]}")
print(f"notebook wall time {time.perf_counter() - NOTEBOOK_START:.0f} s")
