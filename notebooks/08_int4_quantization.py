# %% [markdown]
# # 08 · INT4 quantization: GLM-130B on four consumer GPUs
#
# Budget: 90 s (FAST, 2-core CPU).
#
# **Why.** GLM-130B's weights take 260 GB in FP16: eight A100s just to hold them. The paper's headline for serving is
# that its weights can be rounded to **4 bits without any quantization-aware training** and lose almost nothing, so
# the model fits on 4×RTX 3090 (paper §4). This notebook builds that format by hand, byte for byte as the official
# code writes it, checks every piece against the kit's `scale_up/quantization/`, then measures what it buys (memory,
# speed) and what it costs (loss, cloze accuracy) on models trained here.
#
# | piece | package file | test |
# |---|---|---|
# | per-row absmax scale, rounding, INT4 packing | `scale_up/quantization/format.py` | `tests/test_quantization_format.py` |
# | reference path and PyTorch's int4/int8 kernels | `scale_up/quantization/kernels.py` | `tests/test_quantization_linear.py` |
# | `QuantizedLinear`, `quantize_` (official state dict) | `scale_up/quantization/linear.py`, `apply.py` | `tests/test_quantization_linear.py` |
# | bytes, timings, greedy decode; loss and cloze per format | `measure.py`, `quality.py` | `tests/benchmarks/bench_quantization.py` |
#
# Facts (scheme, packing, the paper's numbers) are in `docs/glm130b_facts.md` §4.

# %%
import copy
import json
import math
import os
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from glm_mini import GLM, PRESETS
from glm_mini.exercises.harness import use
from scale_up.exercises.nb08_quantization import check_absmax_scale, check_dequantize_int4, check_pack_int4
from scale_up.quantization import (QUANTIZED_LINEARS, QuantizedLinear, dequantize_weight, pack_int4, quantize_,
                                   quantize_weight, unpack_int4)
from scale_up.quantization.measure import greedy_decode, linear_weight_bytes, median_times, stored_bytes
from scale_up.quantization.quality import as_format, cloze_items_that_fit, measure_quality

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
torch.manual_seed(0)
# One thread: these models are tiny, and when other work shares the CPU, two OpenMP threads waiting on each other
# make every small op (a LayerNorm, a GELU) take milliseconds, which would distort every speed ratio below.
torch.set_num_threads(1)
summary = {}

# %% [markdown]
# ## 1. The math on one weight row
#
# For a linear weight $W$ of shape `[out, in]` and $b$ bits, GLM-130B keeps **one scale per output row** $r$
# (symmetric absmax, no zero point), computed in FP16 exactly as `quantization/layers.py` of the official repo does:
#
# $$s_r = \mathrm{fp16}\!\left(\frac{\max_c |W_{rc}|}{2^{b-1}-1}\right) \qquad\text{(format.py: } \texttt{scale = w.abs().amax(dim=-1) / qm}\text{)}$$
#
# $$q_{rc} = \mathrm{round}\big(\mathrm{fp16}(W_{rc} / s_r)\big) \in [-(2^{b-1}-1),\, 2^{b-1}-1] \qquad\text{(}\texttt{q = torch.round(w / scale[:, None])}\text{)}$$
#
# $$\hat W_{rc} = q_{rc}\, s_r, \qquad |W_{rc} - \hat W_{rc}| \le \tfrac{s_r}{2} \qquad\text{(}\texttt{dequantize\_weight}\text{)}$$
#
# INT4 divides by 7, so $q \in [-7, 7]$ and the code $-8$ is never written. The largest weight of each row maps to
# exactly $\pm 7$: nothing is clipped, which is what makes absmax safe when distributions are narrow (section 5).

# %%
w = (torch.randn(1, 16) * 0.02).half()  # one FP16 row of 16 weights
qm = 2 ** (4 - 1) - 1
scale_by_hand = w.abs().amax(dim=-1) / qm  # FP16 arithmetic, like the official code
q_by_hand = torch.round(w / scale_by_hand[:, None]).to(torch.int8)
w_hat = q_by_hand.float() * scale_by_hand.float()[:, None]
q_pkg, scale_pkg = quantize_weight(w, 4)
assert torch.equal(q_by_hand, q_pkg) and torch.equal(scale_by_hand, scale_pkg)
err = (w.float() - w_hat).abs()
half_step = scale_pkg.float().item() / 2
assert (err <= half_step * (1 + 2 ** -7)).all()  # ≤ s/2, up to the FP16 rounding of W/s
print(f"scale s = {scale_pkg.item():.6f} (FP16), max error {err.max().item():.6f} <= s/2 = {half_step:.6f}")

fig, ax = plt.subplots(figsize=(9, 3))
cols = torch.arange(16)
ax.bar(cols - 0.2, w[0].float(), width=0.4, label="W (FP16)")
ax.bar(cols + 0.2, w_hat[0], width=0.4, label="Ŵ = q·s (INT4)")
for level in range(-7, 8):
    ax.axhline(level * scale_pkg.item(), color="grey", lw=0.3)
ax.set(xlabel="column c", ylabel="weight value", xticks=cols,
       title="one row, INT4: every weight snaps to the nearest of 15 levels k·s (grey), k = -7..7")
ax.legend()
plt.show()
summary["one row INT4"] = f"max |W - Ŵ| = {err.max().item():.2e} <= s/2 = {half_step:.2e} (checked)"

# %% [markdown]
# ### Your turn — Exercise 8.1: the absmax scale
# Write the per-row scale for `bits` ∈ {4, 8}, in FP16 like the official code. Predict first: for a row of zeros,
# what should the scale be, and what must *not* happen downstream?

# %%
def my_absmax_scale(weight, bits):
    ### BEGIN SOLUTION
    ### HINT: one maximum per row, divided by 2**(bits - 1) - 1, all in FP16
    return weight.abs().amax(dim=-1) / (2 ** (bits - 1) - 1)
    ### END SOLUTION


# %%
ok_8_1 = check_absmax_scale(my_absmax_scale)

# %% [markdown]
# ## 2. Two INT4 values per byte
#
# The official INT4 checkpoint stores row `[out, in]` as `[out, in/2]` int8 bytes: **the even column goes in the high
# nibble, the odd column in the low nibble** (`cuda/quantization.cu`):
#
# $$\text{byte}_i = (q_{2i} \ll 4)\;|\;(q_{2i+1}\ \&\ \texttt{0x0F}) \qquad\text{(format.py: } \texttt{pack\_int4}\text{)}$$
#
# Reading back sign-extends each nibble: the high one by an arithmetic shift `byte >> 4`, the low one by shifting it
# up and back down, `(byte << 4) >> 4`. Below, the first 8 values of the row above become 4 bytes.

# %%
q8 = q_pkg[:, :8]
packed_by_hand = torch.tensor([[((int(q8[0, 2 * i]) << 4) | (int(q8[0, 2 * i + 1]) & 0x0F)) & 0xFF
                                for i in range(4)]], dtype=torch.uint8).view(torch.int8)
assert torch.equal(packed_by_hand, pack_int4(q8)) and torch.equal(unpack_int4(pack_int4(q8)), q8)

fig, ax = plt.subplots(figsize=(10, 2.6))
for i in range(4):
    byte = int(packed_by_hand[0, i]) & 0xFF
    for half, (value, color) in enumerate(((int(q8[0, 2 * i]), "tab:blue"), (int(q8[0, 2 * i + 1]), "tab:orange"))):
        x = 2 * i + half
        bits_text = format(value & 0xF, "04b")
        ax.add_patch(plt.Rectangle((x, 0), 0.95, 1, color=color, alpha=0.35))
        ax.text(x + 0.47, 0.68, f"q[{x}] = {value}", ha="center", fontsize=9)
        ax.text(x + 0.47, 0.3, bits_text, ha="center", family="monospace", fontsize=11)
    ax.text(2 * i + 0.97, -0.3, f"byte {i} = 0x{byte:02X}", ha="center", family="monospace")
ax.set(xlim=(0, 8), ylim=(-0.5, 1.1), xticks=[], yticks=[],
       title="pack_int4: blue = even column → high nibble, orange = odd column → low nibble")
plt.show()

# %% [markdown]
# ### Your turn — Exercise 8.2: pack two nibbles
# Pack an int8 `[out, in]` tensor of values in [-8, 7] into `[out, in/2]` bytes, even column high. The check runs all
# 256 nibble pairs. Predict: what byte does the pair (3, -2) give?

# %%
def my_pack_int4(q):
    ### BEGIN SOLUTION
    ### HINT: view the columns as pairs, shift the even one left by 4, keep the odd one's low 4 bits
    pairs = q.view(q.shape[0], -1, 2)  # [out, in/2, 2]
    return (pairs[..., 0] << 4) | (pairs[..., 1] & 0x0F)
    ### END SOLUTION


# %%
ok_8_2 = check_pack_int4(my_pack_int4)
pack = use(my_pack_int4, ok_8_2, pack_int4)  # section 3 packs a real layer with it

# %% [markdown]
# ### Your turn — Exercise 8.3: dequantize
# From the packed bytes and the FP16 scales, rebuild $\hat W = q\,s$ in FP32 `[out, in]`. The trap: the nibbles are
# *signed*.

# %%
def my_dequantize_int4(packed, scale):
    ### BEGIN SOLUTION
    ### HINT: a nibble is signed: move its top bit into the byte's sign bit, then shift back arithmetically
    high, low = packed >> 4, (packed << 4) >> 4
    q = torch.stack((high, low), dim=-1).view(packed.shape[0], -1)  # [out, in/2, 2] -> [out, in]
    return q.float() * scale.float()[:, None]
    ### END SOLUTION


# %%
ok_8_3 = check_dequantize_int4(my_dequantize_int4)

# %% [markdown]
# ## 3. A quantized GLM is the official checkpoint
#
# `quantize_(model, bits)` swaps exactly the four linear layers of every block (`query_key_value`,
# `attention.dense`, `dense_h_to_4h`, `dense_4h_to_h`) for `QuantizedLinear`; the embedding (also the output head),
# the LayerNorms and the biases stay as they are. The state dict then holds the official keys, so an official
# quantized TP=1 checkpoint loads with `strict=True`.
#
# Two compute paths give the same numbers. **reference** is what the official code does on every call: unpack,
# dequantize the whole weight, matmul. **aten** uses PyTorch's weight-only kernels
# (`torch._weight_int4pack_mm_for_cpu`, `torch._weight_int8pack_mm`); the official per-row format is converted into
# the kernel's packed layout once, at load. Because the scale belongs to an *output* row it factors out of the dot
# product, $y_r = s_r\,(x \cdot q_r) + b_r$, so the kernel multiplies by the integers $q$ themselves.

# %%
nano = GLM(PRESETS["nano"]).eval()
q4 = quantize_(copy.deepcopy(nano), 4)
sd = q4.state_dict()
for key in [k for k in sd if k.startswith("transformer.layers.0.attention.query_key_value")]:
    print(f"{key:<60}{str(sd[key].dtype):<15}{list(sd[key].shape)}")
layer = q4.transformer.layers["0"].attention.query_key_value
q_layer, _ = quantize_weight(nano.transformer.layers["0"].attention.query_key_value.weight, 4)
assert torch.equal(pack(q_layer), layer.weight)  # your packing writes the checkpoint's bytes
reference = QuantizedLinear.from_linear(nano.transformer.layers["0"].attention.query_key_value, 4, "reference")
assert layer.backend == "aten" and torch.equal(layer.dequantized_weight(), reference.dequantized_weight())
x = torch.randn(3, 64)
print("aten vs reference output, max |diff| (bf16 activations in the kernel):",
      f"{(layer(x) - reference(x)).abs().max().item():.2e}")

# %% [markdown]
# ## 4. What it buys: memory and speed
#
# Bytes of the four block linears (INT8 `out·in + 2·out`, INT4 `out·in/2 + 2·out` with the FP16 scales) for the
# 130B configuration, computed on the `meta` device (no memory), and for the mini preset.

# %%
with torch.device("meta"):
    glm130b = GLM(PRESETS["glm-130b"])
rows = []
for name, model in (("glm-130b", glm130b), ("mini", GLM(PRESETS["mini"]))):
    b = {f: linear_weight_bytes(model, f, QUANTIZED_LINEARS) for f in ("fp16", "int8", "int4")}
    rest = 2 * sum(p.numel() for n, p in model.named_parameters()
                   if not n.endswith(tuple(f"{m}.weight" for m in QUANTIZED_LINEARS)))
    rows.append((name, b, rest))
    print(f"{name:<10} linears FP16 {b['fp16'] / 2**30:8.2f} GiB | INT8 {b['int8'] / 2**30:7.2f} GiB "
          f"({b['int8'] / b['fp16']:.3f}x) | INT4 {b['int4'] / 2**30:7.2f} GiB ({b['int4'] / b['fp16']:.3f}x) | "
          f"rest FP16 {rest / 2**30:.2f} GiB")
big, rest = rows[0][1], rows[0][2]
print(f"whole 130B model: FP16 {(big['fp16'] + rest) / 1e9:.1f} GB, INT4 {(big['int4'] + rest) / 1e9:.1f} GB "
      "(the paper's §4: INT4 needs about 70 GB, i.e. 4×RTX 3090 24 GB)")
summary["130B weights"] = (f"FP16 {(big['fp16'] + rest) / 1e9:.1f} GB -> INT8 {(big['int8'] + rest) / 1e9:.1f} GB"
                           f" -> INT4 {(big['int4'] + rest) / 1e9:.1f} GB")

# %% [markdown]
# Speed: one 4096×4096 layer at batch 1 (a decoding step), and greedy decoding of the mini model with its KV cache.
# In "INT4" only the four block linears change (the rest of the model stays fp32); "INT4 + bf16 rest" also runs
# attention, LayerNorms and the output head in bf16, as GLM-130B runs them in FP16.
# Times are medians over interleaved rounds on one thread of this machine (which may be shared with other work), so
# read the ratios, not the milliseconds. `tests/benchmarks/bench_quantization.py` measures more sizes.

# %%
n = 4096 if FAST else 12288
lin = torch.nn.Linear(n, n)
x32 = torch.randn(1, n)
x16 = x32.bfloat16()
w16 = lin.weight.detach().bfloat16()
int4_aten = QuantizedLinear.from_linear(lin, 4, "aten")
int4_ref = QuantizedLinear.from_linear(lin, 4, "reference")
with torch.no_grad():
    times = median_times({"fp32": lambda: lin(x32), "bf16": lambda: F.linear(x16, w16),
                          "INT4 aten": lambda: int4_aten(x16), "INT4 reference": lambda: int4_ref(x16)},
                         rounds=9 if FAST else 15)
weight_mib = {"fp32": 4 * n * n, "bf16": 2 * n * n, "INT4 aten": stored_bytes(n, n, "int4"),
              "INT4 reference": stored_bytes(n, n, "int4")}
print(f"[1 x {n}] @ [{n} x {n}]")
for name, t in times.items():
    print(f"  {name:<16}{t * 1e3:8.2f} ms  {times['fp32'] / t:6.2f}x fp32   weight {weight_mib[name] / 2**20:6.1f} MiB")
summary["matmul speed-up"] = (f"[1x{n}]@[{n}x{n}] INT4-aten {times['fp32'] / times['INT4 aten']:.2f}x fp32, "
                              f"INT4-reference {times['fp32'] / times['INT4 reference']:.2f}x fp32 (shared machine)")
del lin, int4_aten, int4_ref

# %%
mini = GLM(PRESETS["mini"]).eval()
decoders = {"fp32": mini, "bf16": as_format(mini, "bf16"), "INT4": as_format(mini, "int4"),
            "INT4 + bf16 rest": quantize_(as_format(mini, "bf16"), 4)}  # W4A16, as GLM-130B serves (A = FP16)
prompt, new = torch.randint(0, PRESETS["mini"].vocab_size, (1, 16)), 8 if FAST else 64
t_dec = median_times({k: (lambda m=m: greedy_decode(m, prompt, new)) for k, m in decoders.items()}, rounds=3)
for name, t in t_dec.items():
    print(f"mini decode {name:<17}{new / t:8.1f} tokens/s  ({t_dec['fp32'] / t:.2f}x fp32)")
summary["mini decode"] = ", ".join(f"{k} {new / t:.0f} tok/s" for k, t in t_dec.items())
del decoders

# %% [markdown]
# Read the two tables together. A decoding step reads every weight once, so INT4's 4× fewer bytes pay off where the
# weights dominate the work: the 4096-wide layer above, and every layer of GLM-130B (12288 wide). The mini model is
# so narrow that casts, attention and the per-call overheads weigh as much as its weights, and one of its layers
# (`dense_4h_to_h`, 344 inputs, not a multiple of the kernel's 32-column groups) runs the reference path; there INT4
# need not be faster than bf16 at all.

# %% [markdown]
# ## 5. Why INT4 works for GLM-130B: narrow weights
#
# Absmax spends the 15 levels of a row between $-\max|W|$ and $+\max|W|$. If a few weights are far out (a wide or
# skewed distribution), most weights fall into the few levels near 0 and the error relative to the row's spread
# grows. The paper (§4, App. B.8, Fig. 5) finds GLM-130B's weights much narrower than BLOOM-176B's and credits
# DeepNorm's small initialisation and GLM's training for it. Here two small models are trained for the same steps
# with the kit's trainer, one DeepNorm (GLM-130B) and one Pre-LN, and their linear weights are compared.

# %%
from glm_mini.train import TrainConfig, load_model, read_metrics, train  # noqa: E402

STEPS = 30 if FAST else 400
RUNS = Path(tempfile.mkdtemp(prefix="nb08_runs_"))


def trained(name, **overrides):
    """A model trained here with the kit's trainer (nano preset, seq 64, batch 8) and the given GLMConfig changes."""
    cfg = TrainConfig(preset="nano", max_steps=STEPS, out=str(RUNS / name), seq_len=64, batch_size=8, lr=3e-3,
                      val_batches=2, config_overrides=overrides)
    train(cfg, progress=False)
    return load_model(cfg.out)


t0 = time.perf_counter()
models = {"DeepNorm": trained("deepnorm"), "Pre-LN": trained("pre-ln", normalization="pre-ln")}
print(f"trained 2 models x {STEPS} steps in {time.perf_counter() - t0:.0f} s")


def normalized_weights(model, kind):
    """Each row of each ``kind`` linear divided by its row's absmax: where the INT4 levels fall, in units of max|W|."""
    return torch.cat([m.weight.detach().flatten() / m.weight.detach().abs().amax(-1).repeat_interleave(m.in_features)
                      for n, m in model.named_modules() if n.endswith(kind)])


def int4_relative_error(model):
    """‖W − Ŵ‖ / ‖W‖ over the four block linears of ``model`` (INT4, the official format)."""
    num = den = 0.0
    for n, m in model.named_modules():
        if n.endswith(QUANTIZED_LINEARS) and isinstance(m, torch.nn.Linear):
            w = m.weight.detach().half().float()
            num += ((w - dequantize_weight(*quantize_weight(w, 4))) ** 2).sum().item()
            den += (w ** 2).sum().item()
    return math.sqrt(num / den)


fig, axes = plt.subplots(1, 4, figsize=(14, 2.8), sharey=False)
for ax, kind in zip(axes, QUANTIZED_LINEARS):
    for label, model in models.items():
        ax.hist(normalized_weights(model, kind).numpy(), bins=56, range=(-1, 1),
                histtype="step", density=True, label=label)
    ax.set(title=kind, xlabel="W / max|W| of its row", ylabel="density")
axes[0].legend()
plt.tight_layout()
plt.show()
for label, model in models.items():
    print(f"{label:<9} INT4 relative weight error ‖W-Ŵ‖/‖W‖ = {int4_relative_error(model):.4f}")
summary["INT4 weight error"] = ", ".join(f"{k} {int4_relative_error(m):.4f}" for k, m in models.items())

# %% [markdown]
# ## 6. What it costs: the quality table
#
# The same trained model in FP32, BF16, INT8 and INT4 (official format, `quantize_`): validation loss of the GLM
# objective, its perplexity, and LAMBADA-style cloze accuracy on the corpus's `cloze_test` items (generate after
# `[gMASK]`, first word exact match: `glm_mini.evaluate`, as notebook 07 measures it). If `make tour` has trained
# notebook 06's mini model (`build/tour/06_mini`), that model is measured; otherwise the DeepNorm model of section 5.
# Beside it, the paper's Tab. 2 for GLM-130B, and the INT4 gap it implies.

# %%
from glm_mini.data.corpus import load_corpus  # noqa: E402
from glm_mini.objective import ObjectiveConfig  # noqa: E402
from glm_mini.training.data import load_train_data, validation_batches  # noqa: E402

tour = ROOT / "build" / "tour" / "06_mini"
subject, seq_len, subject_name = models["DeepNorm"], 64, f"nano DeepNorm, {STEPS} steps (section 5)"
if (tour / "config.json").exists():
    try:
        subject, seq_len = load_model(tour), json.loads((tour / "config.json").read_text())["seq_len"]
        subject_name = f"mini, notebook 06's run ({len(read_metrics(tour))} steps)"
    except RuntimeError as err:  # a run saved with another version of the preset: say so, use section 5's model
        print(f"{tour} does not load into this version's mini preset ({str(err).splitlines()[0]}); "
              "measuring section 5's model instead")


def quality_rows(model, n_cloze, seq_len=64, formats=("fp32", "bf16", "int8", "int4")):
    """Validation loss (fixed batches of the objective) and cloze accuracy of ``model`` in each weight format."""
    data = load_train_data("default", model.config.vocab_size, seq_len, False)
    val = validation_batches(data, 2 if FAST else 16, 8, seq_len, data.tokenizer.special, 0, ObjectiveConfig())
    cloze = cloze_items_that_fit(data.tokenizer, load_corpus()["cloze_test"], model.config.max_sequence_length,
                                 n_cloze)
    return measure_quality(model, val, cloze, data.tokenizer, formats)


table = quality_rows(subject, 24 if FAST else 400, seq_len)
print(f"model: {subject_name}")
print(f"{'format':<8}{'val loss':>10}{'perplexity':>12}{'cloze acc':>11}   ({table[0].cloze_items} cloze items)")
for row in table:
    print(f"{row.fmt:<8}{row.val_loss:>10.4f}{row.perplexity:>12.2f}{row.cloze_accuracy:>11.3f}")
print("\nThe paper's Tab. 2 (GLM-130B, docs/glm130b_facts.md §4.5), for comparison:")
print(f"{'format':<8}{'LAMBADA acc':>12}{'WikiText-103 PPL':>18}")
paper_tab2 = {"FP16": (80.206, 10.759), "INT8": (80.206, 10.763), "INT4": (79.468, 11.046)}  # the paper's numbers
for fmt, (acc, ppl) in paper_tab2.items():
    print(f"{fmt:<8}{acc:>12.3f}{ppl:>18.3f}")
(acc16, ppl16), (acc4, ppl4) = paper_tab2["FP16"], paper_tab2["INT4"]
ours = {r.fmt: r for r in table}
print(f"INT4 gap, paper (130B): LAMBADA {acc4 - acc16:+.2f} points, perplexity {100 * (ppl4 / ppl16 - 1):+.2f}%; "
      f"here: perplexity {100 * (ours['int4'].perplexity / ours['fp32'].perplexity - 1):+.2f}%")
summary["quality"] = f"{subject_name}: " + " | ".join(
    f"{r.fmt} loss {r.val_loss:.4f} cloze {r.cloze_accuracy:.3f}" for r in table)

# %% [markdown]
# ## 7. The INT4 gap vs model size
#
# The paper observes that the INT4 gap *shrinks* as GLM grows ("INT4 weight quantization scaling law", §4, Tab. 10:
# LAMBADA 72.35 → 71.03 for GLM-10B, 80.21 → 79.47 for GLM-130B). Here: three DeepNorm models of width 32, 64 and
# 96, trained for the same steps; the gap is INT4 minus FP32 validation loss. At this scale and training length it
# may or may not show the trend; the plot says which.

# %%
sizes = {32: trained("h32", hidden_size=32, inner_hidden_size=96), 64: models["DeepNorm"],
         96: trained("h96", hidden_size=96, inner_hidden_size=256)}
gaps = {}
for h, model in sizes.items():
    rows_h = {q.fmt: q for q in quality_rows(model, 0, formats=("fp32", "int4"))}
    params = sum(p.numel() for p in model.parameters())
    gaps[params] = rows_h["int4"].val_loss - rows_h["fp32"].val_loss
    print(f"hidden {h:>4}: {params / 1e3:7.0f} k params, FP32 loss {rows_h['fp32'].val_loss:.4f}, "
          f"INT4 gap {gaps[params]:+.4f}")
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(list(gaps), list(gaps.values()), "o-")
ax.axhline(0, color="grey", lw=0.5)
ax.set(xscale="log", xlabel="parameters", ylabel="INT4 − FP32 val loss (nats)", title=f"INT4 gap, {STEPS} steps")
plt.show()
summary["INT4 gap vs size"] = ", ".join(f"{p / 1e3:.0f}k: {g:+.4f}" for p, g in gaps.items())

# %% [markdown]
# ### Play: bits and rows
# The error of one weight row at INT8 or INT4, as a histogram in units of its scale (always inside ±½).

# %% tags=["widget"]
import ipywidgets as widgets  # noqa: E402

weights_for_play = models["DeepNorm"].transformer.layers["0"].mlp.dense_4h_to_h.weight.detach()


def show_error(bits=4, row=0):
    q, s = quantize_weight(weights_for_play[row:row + 1], bits)
    e = (weights_for_play[row:row + 1].half().float() - dequantize_weight(q, s)) / s.float()[:, None]
    plt.figure(figsize=(4, 2.5))
    plt.hist(e.flatten().numpy(), bins=30, range=(-0.5, 0.5))
    plt.xlabel("(W − Ŵ) / s")
    plt.ylabel("weights")
    plt.title(f"INT{bits}, row {row}")
    plt.show()


widgets.interact(show_error, bits=[4, 8], row=(0, weights_for_play.shape[0] - 1));

# %% [markdown]
# ### On a GPU
# The same layer through `torch._weight_int4pack_mm` (CUDA, bf16) against an FP16 matmul. Skipped here; the CPU twin
# is section 4.

# %% tags=["skip-execution"]
if torch.cuda.is_available():
    lin = torch.nn.Linear(12288, 12288, device="cuda", dtype=torch.float16)
    fast = QuantizedLinear.from_linear(lin, 4, "aten")
    x = torch.randn(1, 12288, device="cuda", dtype=torch.float16)
    ref = QuantizedLinear.from_linear(lin, 4, "reference")
    print((fast(x) - ref(x)).abs().max())
else:
    print("no CUDA GPU here (torch.cuda.is_available() is False): this cell runs on a GPU; section 4 is its CPU twin")

# %% tags=["summary"]
for key, value in summary.items():
    print(f"{key}: {value}")
