# %% [markdown]
# # 08 · INT4 quantization: GLM-130B on four consumer GPUs
#
# Budget: 90 s (FAST, 2-core CPU).
#
# **Why.** GLM-130B's weights take about 257 GB in FP16 (section 4 computes it from the model): eight A100s just to
# hold them. The paper's headline for serving is that its weights can be rounded to **4 bits without any
# quantization-aware training** and lose almost nothing, so the model fits on 4×RTX 3090 (paper §4). This notebook
# builds that format by hand, byte for byte as the official code writes it, checks every piece against the kit's
# `scale_up/quantization/`, measures what it buys (memory, speed) and what it costs (loss, next-token accuracy), and
# puts the paper's explanation, narrow weights and a gap that shrinks as GLM grows, to a measurement on a family of
# models the kit trained at three sizes.
#
# | piece | package file | test |
# |---|---|---|
# | per-row absmax scale, rounding, INT4 packing | `scale_up/quantization/format.py` | `tests/test_quantization_format.py` |
# | reference path and PyTorch's int4/int8 kernels | `scale_up/quantization/kernels.py` | `tests/test_quantization_linear.py` |
# | `QuantizedLinear`, `quantize_` (official state dict) | `scale_up/quantization/linear.py`, `apply.py` | `tests/test_quantization_linear.py` |
# | bytes, timings, greedy decode; loss and accuracy per format | `measure.py`, `quality.py` | `tests/test_quantization_measure.py`, `tests/benchmarks/bench_quantization.py` |
# | weight statistics (peak-to-σ, kurtosis, outliers) | `scale_up/quantization/weight_stats.py` | `tests/test_weight_stats.py` |
# | the INT4-scale family (3 sizes × 2 seeds) and the lesson line | `size_family.py`, `scale_lesson.py` | `tests/test_int4_scale.py` |
#
# Facts (scheme, packing, the paper's numbers) are in `docs/glm130b_facts.md` §4.

# %%
import copy
import os
import time
from statistics import mean

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from glm_mini import GLM, PRESETS
from glm_mini.exercises import exercise_record, use
from scale_up.exercises.nb08_quantization import (check_absmax_scale, check_dequantize_int4, check_pack_int4,
                                                  check_peak_to_sigma)
from scale_up.quantization import (QUANTIZED_LINEARS, QuantizedLinear, dequantize_weight, pack_int4, q_max,
                                   quantize_, quantize_weight, unpack_int4)
from scale_up.quantization.measure import greedy_decode, linear_weight_bytes, median_times, stored_bytes
from scale_up.quantization.quality import FORMATS, as_format, measure_quality

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
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
# $$s_r = \mathrm{fp16}\!\left(\frac{\max_c |W_{rc}|}{2^{b-1}-1}\right) \qquad\text{(format.py: } \texttt{quantize\_weight}\text{; Exercise 8.1)}$$
#
# $$q_{rc} = \mathrm{round}\big(\mathrm{fp16}(W_{rc} / s_r)\big) \in [-(2^{b-1}-1),\, 2^{b-1}-1] \qquad\text{(}\texttt{quantize\_weight}\text{)}$$
#
# $$\hat W_{rc} = q_{rc}\, s_r, \qquad |W_{rc} - \hat W_{rc}| \le \tfrac{s_r}{2} \qquad\text{(}\texttt{dequantize\_weight}\text{)}$$
#
# INT4 divides by 7, so $q \in [-7, 7]$ and the code $-8$ is never written. The largest weight of each row maps to
# exactly $\pm 7$: nothing is clipped, which is what makes absmax safe when distributions are narrow (section 5).

# %%
w = (torch.randn(1, 16) * 0.02).half()  # one FP16 row of 16 weights
q_pkg, scale_pkg = quantize_weight(w, 4)  # the package's version of the equations (you write them in 8.1 and 8.3)
w_hat = dequantize_weight(q_pkg, scale_pkg)
assert q_pkg.abs().max() == q_max(4)  # the row's largest weight sits on the outermost level, ±7
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
# Write the per-row scale for `bits` ∈ {4, 8}, in FP16 like the official code. *Predict first:* for a row of zeros,
# what should the scale be, and what must *not* happen downstream?

# %%
def my_absmax_scale(weight, bits):
    ### BEGIN SOLUTION
    ### HINT: one maximum per row, divided by 2**(bits - 1) - 1, all in FP16
    return weight.abs().amax(dim=-1) / (2 ** (bits - 1) - 1)
    ### END SOLUTION


# %%
passed = {}
passed["8.1"] = check_absmax_scale(my_absmax_scale)
zero_row = torch.zeros(1, 8, dtype=torch.float16)
q_zero, s_zero = quantize_weight(zero_row, 4)
print(f"a row of zeros: scale {s_zero.item()}, q {q_zero.tolist()}, Ŵ {dequantize_weight(q_zero, s_zero).tolist()}")

# %% [markdown] tags=["prediction"]
# The scale is 0: the largest magnitude of the row is 0, and 0/7 = 0. What must not happen is the next step of the
# formula, $W/s = 0/0$, which is NaN in FP16 and would make every weight of that row NaN. The kit stores $q = 0$ for
# such a row (the cell printed it), so $\hat W = 0$ exactly; the check's third case is such a row.

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
packed = pack_int4(q8)  # the package's packing (you write it in 8.2)
assert torch.equal(unpack_int4(packed), q8)

fig, ax = plt.subplots(figsize=(10, 2.6))
for i in range(4):
    byte = int(packed[0, i]) & 0xFF
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
# 256 nibble pairs. *Predict:* what byte does the pair (3, -2) give?

# %%
def my_pack_int4(q):
    ### BEGIN SOLUTION
    ### HINT: view the columns as pairs, shift the even one left by 4, keep the odd one's low 4 bits
    pairs = q.view(q.shape[0], -1, 2)  # [out, in/2, 2]
    return (pairs[..., 0] << 4) | (pairs[..., 1] & 0x0F)
    ### END SOLUTION


# %%
passed["8.2"] = check_pack_int4(my_pack_int4)
pack = use(my_pack_int4, passed["8.2"], pack_int4)  # section 3 packs a real layer with it
pair = int(pack(torch.tensor([[3, -2]], dtype=torch.int8))[0, 0]) & 0xFF
print(f"(3, -2) packs into the byte 0x{pair:02X} = {pair:08b} = {pair}")

# %% [markdown] tags=["prediction"]
# 3 is `0011` and goes in the high nibble; −2 in four bits of two's complement is `1110` and goes in the low nibble:
# `0011 1110`, the byte the cell printed. Had the odd column gone high, the byte would be `1110 0011`, a negative int8
# (the check's first case names that mistake).

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
passed["8.3"] = check_dequantize_int4(my_dequantize_int4)

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
# Absmax spends the 15 levels of a row between $-\max|W_r|$ and $+\max|W_r|$. The paper's explanation (§4, "GLM's
# INT4 weight quantization scaling law"; Fig. 5 left and App. B.8 Fig. 15 plot the weights of `attn-dense`, the
# kit's `attention.dense`, and `w2`, the kit's `mlp.dense_4h_to_h`): a wider-distributed linear layer needs larger
# bins and so loses more precision; BLOOM-176B's wide `attn-dense` and `w2` explain why its INT4 fails, and GLMs tend
# to have much narrower distributions than GPT-style models of similar size. The paper shows this link between
# narrow weights and INT4 quality; it does not say what makes GLM's weights narrow, so neither does this notebook.
#
# What "wide" means for absmax can be made exact. For a row spread over many levels the rounding error is close to
# uniform on $\pm s_r/2$, of mean square $s_r^2/12$ with $s_r = \max_c|W_{rc}|/7$, so measured against the row's own
# size $\sigma_r = \sqrt{\mathrm{mean}_c\, W_{rc}^2}$:
#
# $$\frac{\lVert W_r - \hat W_r\rVert}{\lVert W_r\rVert} \;\approx\; \frac{\max_c |W_{rc}| \,/\, \sigma_r}{7\sqrt{12}} \qquad\text{(weight\_stats.py: } \texttt{INT4\_ERROR\_PER\_PEAK}\text{)}$$
#
# The number to watch is a row's **peak-to-σ ratio**, the shape of its distribution, not the size of its weights.
#
# The models: the kit's INT4-scale family (`data/reference/int4-scale/`, retrained by `make int4-scale`), GLMs of
# width 32, 64 and 128 trained by the kit's trainer with one recipe (`size_family.RECIPE`, the first recipe of the
# reference `glm` model, on the default corpus: 1,500 steps of 8 × 128 tokens), two seeds each. The next cell loads all of them and measures each once: validation loss and
# next-token accuracy in FP32, INT8 and INT4 on the same 16 validation batches, and the weight statistics of the four
# block linears, trained and at initialisation (the seed rebuilds the trainer's initial model).

# %%
from scale_up.quantization.scale_lesson import gap_factors, half_range, int4_scale_line, size_gap  # noqa: E402
from scale_up.quantization.size_family import (initial_model, load_member, measure_member,  # noqa: E402
                                               quality_batches, read_size_manifest, shipped_sizes)
from scale_up.quantization.weight_stats import (INT4_ERROR_PER_PEAK, gaussian_twin_stats,  # noqa: E402
                                                linear_weights, row_peak_to_sigma)

t0 = time.perf_counter()
val, chance = quality_batches()
sizes = shipped_sizes()
manifests = {s: read_size_manifest(s) for s in sizes}
family = {s: [load_member(s, seed) for seed in range(len(manifests[s]["files"]))] for s in sizes}
members = {s: [measure_member(m, initial_model(s, seed), val) for seed, m in enumerate(models)]
           for s, models in family.items()}
for s in sizes:
    c, n = family[s][0].config, manifests[s]["parameters"]
    fp32 = [m["quality"]["fp32"] for m in members[s]]
    print(f"{s:>5}: {c.num_layers} layers x {c.hidden_size} wide, {n['total'] / 1e3:5.0f}k parameters, "
          f"{n['quantized'] / 1e3:4.0f}k of them in the block linears INT4 stores; {len(fp32)} seeds: FP32 val loss "
          + ", ".join(f"{q['val_loss']:.3f}" for q in fp32) + ", next-token accuracy "
          + ", ".join(f"{q['token_accuracy']:.1%}" for q in fp32))
recipe = manifests[sizes[0]]["recipe"]
print(f"each trained for {recipe['max_steps']} steps of {recipe['batch_size']} x {recipe['seq_len']} tokens = "
      f"{recipe['max_steps'] * recipe['batch_size'] * recipe['seq_len'] / 1e6:.2f} M tokens, lr {recipe['lr']}")
print(f"chance on the same {fp32[0]['tokens']} target tokens: accuracy {chance['accuracy']:.1%} (always the most "
      f"frequent training target), loss {chance['loss']:.3f} (unigram)")
print(f"loaded and measured {sum(map(len, family.values()))} models in {time.perf_counter() - t0:.0f} s")

# %% [markdown]
# ### Your turn — Exercise 8.4: a row's peak-to-σ
# Write the peak-to-σ ratio of every row of a weight `[out, in]`: $\max_c |W_{rc}| / \sigma_r$ with
# $\sigma_r = \sqrt{\mathrm{mean}_c\, W_{rc}^2}$, returned as `[out]`. *Predict first:* for Gaussian rows of 32 weights
# and of 344 weights, which ratio is larger, and what does that mean for a wider layer's INT4 error?

# %%
def my_peak_to_sigma(weight):
    ### BEGIN SOLUTION
    ### HINT: σ here is the spread about zero, which is what a symmetric grid sees; torch.std measures it about the mean
    w = weight.float()
    return w.abs().amax(dim=-1) / w.pow(2).mean(dim=-1).sqrt()
    ### END SOLUTION


# %%
passed["8.4"] = check_peak_to_sigma(my_peak_to_sigma)
peak_to_sigma = use(my_peak_to_sigma, passed["8.4"], row_peak_to_sigma)  # the next plot tests equation (1) with it
gaussian_peak = {n: float(peak_to_sigma(torch.randn(4096, n, generator=torch.Generator().manual_seed(0)).half()).mean())
                 for n in (32, 344)}
print("Gaussian rows, mean peak-to-σ: " + ", ".join(f"{n} weights {p:.2f}" for n, p in gaussian_peak.items()))

# %% [markdown] tags=["prediction"]
# The longer row (the cell printed both). Its σ stays 1, but the largest of 344 draws lies further out than the
# largest of 32: for Gaussian rows the expected maximum grows like $\sqrt{2 \ln n}$. By equation (1) a layer with
# longer rows has a larger INT4 error even when its weights have exactly the same (Gaussian) shape, so width alone
# works *against* INT4 a little.

# %% [markdown]
# Equation (1) on the rows of the largest model: each dot is one row of one block linear, its peak-to-σ (your
# function) against its measured INT4 error $\lVert W_r-\hat W_r\rVert/\lVert W_r\rVert$, beside Gaussian rows of the
# same lengths.

# %%
def rows_peak_and_error(weights):
    """Per-row peak-to-σ (your function) and measured INT4 relative error of a list of ``[out, in]`` weights."""
    peaks, errors = [], []
    for w in weights:
        w16 = w.half().float()  # the official path quantizes the FP16 checkpoint
        errors.append((w16 - dequantize_weight(*quantize_weight(w, 4))).norm(dim=-1) / w16.norm(dim=-1))
        peaks.append(peak_to_sigma(w.half()).double())
    return torch.cat(peaks), torch.cat(errors)


largest = sizes[-1]
fig, ax = plt.subplots(figsize=(6.5, 4))
by_kind = linear_weights(family[largest][0])
for kind, ws in by_kind.items():
    p, e = rows_peak_and_error(ws)
    ax.scatter(p, e, s=6, alpha=0.6, label=f"{largest} {kind}")
gen = torch.Generator().manual_seed(0)
p, e = rows_peak_and_error([torch.randn(w.shape, generator=gen) for ws in by_kind.values() for w in ws])
ax.scatter(p, e, s=6, color="grey", alpha=0.4, label="Gaussian rows, same shapes")
grid = torch.linspace(1.5, float(p.max()) + 1, 50)
ax.plot(grid, grid * INT4_ERROR_PER_PEAK, "k--", label=r"equation (1): $(\max|W_r|/\sigma_r)\,/\,7\sqrt{12}$")
ax.set(xlabel=r"row peak-to-σ, $\max_c|W_{rc}|/\sigma_r$", ylabel=r"INT4 error $\|W_r-\hat W_r\|/\|W_r\|$",
       title="per-row INT4 error is set by the row's peak-to-σ")
ax.legend(fontsize=7)
plt.show()
p_all, e_all = rows_peak_and_error([w for ws in by_kind.values() for w in ws])
fit = float((e_all / (p_all * INT4_ERROR_PER_PEAK)).mean())
print(f"{largest}: measured error / equation (1) = {fit:.3f} on average over {len(p_all)} rows")
summary["equation (1)"] = f"measured INT4 row error / predicted = {fit:.3f} ({len(p_all)} rows of {largest})"

# %% [markdown]
# Now the distributions themselves, as the paper draws them (Fig. 5 left: the weights of `attn-dense` and `w2`, log
# density), for each size of the family. Each row is divided by its own σ, so the x axis is the scale absmax works in;
# the black curve is the standard normal.

# %%
def normalized_rows(weights):
    """All rows of ``weights``, each divided by its σ_r (the scale the peak-to-σ ratio is measured in)."""
    return torch.cat([(w / w.pow(2).mean(dim=-1, keepdim=True).sqrt()).flatten() for w in weights])


fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), sharey=True)
z = torch.linspace(-6, 6, 200)
for ax, kind, paper_name in zip(axes, ("attention.dense", "mlp.dense_4h_to_h"), ("attn-dense", "w2")):
    for s in sizes:
        ax.hist(normalized_rows(linear_weights(family[s][0])[kind]).numpy(), bins=60, range=(-6, 6), density=True,
                histtype="step", lw=1.5, label=f"{s} trained")
    ax.hist(normalized_rows(linear_weights(initial_model(largest, 0))[kind]).numpy(), bins=60, range=(-6, 6),
            density=True, histtype="step", ls=":", color="grey", label=f"{largest} at initialisation")
    ax.plot(z, torch.exp(-z ** 2 / 2) / (2 * torch.pi) ** 0.5, "k", lw=0.8, label="standard normal")
    ax.set(yscale="log", ylim=(1e-4, 1), xlabel=r"$W_{rc}/\sigma_r$", ylabel="density",
           title=f"{kind} (the paper's {paper_name}), seed 0")
axes[0].legend(fontsize=7)
plt.tight_layout()
plt.show()

# %%
print(f"{'size':>5} | {'peak/σ trained':>14} {'at init':>8} {'Gaussian':>8} | {'kurtosis trained':>16} "
      f"{'at init':>8} | {'outliers >3σ':>12} {'at init':>8} | {'INT4 weight error':>17} | moved from init ‖W−W₀‖/‖W₀‖")
for s in sizes:
    now = [m["weights"]["all"] for m in members[s]]
    init = [m["weights_at_init"]["all"] for m in members[s]]
    moved = [v for m in members[s] for v in m["moved_from_init"].values()]
    twin = gaussian_twin_stats(family[s][0])
    print(f"{s:>5} | {mean(x['peak_to_sigma'] for x in now):14.2f} {mean(x['peak_to_sigma'] for x in init):8.2f} "
          f"{twin.peak_to_sigma:8.2f} | {mean(x['excess_kurtosis'] for x in now):+16.2f} "
          f"{mean(x['excess_kurtosis'] for x in init):+8.2f} | {mean(x['outlier_share'] for x in now):12.2%} "
          f"{mean(x['outlier_share'] for x in init):8.2%} | {mean(x['int4_error'] for x in now):17.4f} | "
          f"{min(moved):.2f} to {max(moved):.2f} (per kind and seed)")
moved_all = [v for s in sizes for m in members[s] for v in m["moved_from_init"].values()]
summary["weights left init"] = f"‖W−W₀‖/‖W₀‖ from {min(moved_all):.2f} to {max(moved_all):.2f} over kinds, sizes, seeds"

# %% [markdown]
# **What we see.** Training moved every block linear far from where it started (the last column: the distance
# travelled is of the order of the initial weights themselves), yet the rows kept the shape they started with: their
# peak-to-σ sits next to that of Gaussian rows of the same lengths, the excess kurtosis stays near zero and the share
# beyond 3σ near a Gaussian's 0.27%. These weights are "narrow" in the paper's sense at every size. What does grow with
# size is the peak-to-σ itself, for Gaussian rows too: the largest of n draws grows like $\sqrt{2\ln n}$, and a
# wider model has longer rows. By equation (1) that alone makes a wider layer's INT4 weight error a little *larger*.
# Whether the model's loss follows is what section 7 measures.

# %% [markdown]
# ## 6. What it costs: the quality table
#
# The largest model of the family (seed 0) in FP32, BF16, INT8 and INT4 (official format, `quantize_`; the INT
# layers run the reference path in FP32, so only the weights' format changes): validation loss of the GLM objective,
# its perplexity and next-token accuracy on the loss tokens, with the chance levels beside them. Below, the paper's
# Tab. 2 for GLM-130B and the INT4 gap it implies.

# %%
table = measure_quality(family[largest][0], val, FORMATS)
print(f"model: {largest}, seed 0; {table[0].tokens} target tokens")
print(f"{'format':<8}{'val loss':>10}{'perplexity':>12}{'accuracy':>10}")
for row in table:
    print(f"{row.fmt:<8}{row.val_loss:>10.4f}{row.perplexity:>12.2f}{row.token_accuracy:>10.2%}")
print(f"{'chance':<8}{chance['loss']:>10.4f}{'':>12}{chance['accuracy']:>10.2%}")
print("\nThe paper's Tab. 2 (GLM-130B, docs/glm130b_facts.md §4.5), for comparison:")
print(f"{'format':<8}{'LAMBADA acc':>12}{'WikiText-103 PPL':>18}")
paper_tab2 = {"FP16": (80.206, 10.759), "INT8": (80.206, 10.763), "INT4": (79.468, 11.046)}  # the paper's numbers
for fmt, (acc, ppl) in paper_tab2.items():
    print(f"{fmt:<8}{acc:>12.3f}{ppl:>18.3f}")
(acc16, ppl16), (acc4, ppl4) = paper_tab2["FP16"], paper_tab2["INT4"]
ours = {r.fmt: r for r in table}
print(f"INT4 gap, paper (130B): LAMBADA {acc4 - acc16:+.2f} points, perplexity {100 * (ppl4 / ppl16 - 1):+.2f}%; "
      f"here ({largest}): accuracy {100 * (ours['int4'].token_accuracy - ours['fp32'].token_accuracy):+.2f} points, "
      f"perplexity {100 * (ours['int4'].perplexity / ours['fp32'].perplexity - 1):+.2f}%")
summary["quality"] = f"{largest} seed 0: " + " | ".join(
    f"{r.fmt} loss {r.val_loss:.4f} acc {r.token_accuracy:.2%}" for r in table) + \
    f" | chance loss {chance['loss']:.3f} acc {chance['accuracy']:.2%}"

# %% [markdown]
# ## 7. The INT4 gap vs model size
#
# The paper's claim (§4, Fig. 5 right: LAMBADA against model size for GLM and BLOOM in 16 bits and INT4): the gap
# between a GLM in INT4 and in FP16 keeps decreasing as the model grows; its Tab. 10 gives two points of it, printed
# below as the paper's. Here the gap of every seed of every size, on the same validation batches:
#
# $$\Delta L = L_\text{INT4} - L_\text{FP32}\ \text{(nats)}, \qquad \Delta\text{acc} = \text{acc}_\text{INT4} - \text{acc}_\text{FP32}$$
#
# The lesson's rule was fixed before measuring (`scale_lesson.py`): **shown** when the mean loss gap falls at every
# step up in size and the fall from the smallest to the largest model exceeds the seeds' spread; otherwise
# **not shown**.
#
# *Why* a gap changes splits in two. Near a trained minimum the loss grows with the square of a small change of the
# weights (the first term of a Taylor series that does not vanish is $\tfrac12\,\delta^\top H \delta$; a test checks
# that moving halfway to the INT4 weights costs about a quarter of INT4's gap), so with $e$ the relative INT4 weight
# error of section 5:
#
# $$\Delta L \;\approx\; S \cdot e^2, \qquad S = \Delta L / e^2 \ \text{(the loss per unit of squared weight error)} \qquad\text{(scale\_lesson.py: } \texttt{SizeGap.sensitivity}\text{)}$$
#
# The paper's explanation is about $e$: narrow weights quantize with a small error. $S$ is how much the model minds a
# given error.

# %%
gaps = [size_gap(s, manifests[s]["parameters"], members[s]) for s in sizes]
print(f"{'size':>5} {'quantized':>10} | {'INT4 ΔL (nats)':>16} {'INT8 ΔL':>9} | {'INT4 Δacc (points)':>18} | "
      f"{'peak/σ':>6} {'e':>7} {'S = ΔL/e²':>10}")
for g in gaps:
    print(f"{g.size:>5} {g.quantized_weights:>10,} | {mean(g.loss_gap):+9.4f} ± {half_range(g.loss_gap):.4f} "
          f"{mean(g.int8_loss_gap):+9.5f} | {100 * mean(g.accuracy_gap):+11.2f} ± "
          f"{100 * half_range(g.accuracy_gap):.2f} | {mean(g.peak_to_sigma):6.2f} {mean(g.int4_error):7.4f} "
          f"{mean(g.sensitivity):10.2f}")
paper_tab10 = {"GLM-10B": (72.35, 71.03), "GLM-130B": (80.21, 79.47)}  # the paper's Tab. 10, LAMBADA FP16 -> INT4
print("the paper's Tab. 10 (LAMBADA, row-wise absmax INT4): " + ", ".join(
    f"{name} {a:.2f} -> {b:.2f} ({b - a:+.2f} points)" for name, (a, b) in paper_tab10.items()))

x = [g.quantized_weights for g in gaps]
fig, axes = plt.subplots(2, 2, figsize=(12, 7.5))
(ax_loss, ax_acc), (ax_peak, ax_split) = axes
for key, label in (("loss_gap", "INT4"), ("int8_loss_gap", "INT8")):
    values = [getattr(g, key) for g in gaps]
    ax_loss.errorbar(x, [mean(v) for v in values], yerr=[half_range(v) for v in values], marker="o", capsize=4,
                     label=f"{label} − FP32 (mean ± half range)")
    for xi, v in zip(x, values):
        ax_loss.scatter([xi] * len(v), v, s=12, color="grey", zorder=3)
ax_loss.axhline(0, color="grey", lw=0.5)
ax_loss.set(xscale="log", xlabel="weights INT4 quantizes (block linears)", ylabel="validation loss gap (nats)",
            title="what INT4 costs, by size (grey: each seed)")
ax_loss.legend(fontsize=8)
ax_acc.errorbar(x, [100 * mean(g.accuracy_gap) for g in gaps], yerr=[100 * half_range(g.accuracy_gap) for g in gaps],
                marker="o", capsize=4, color="tab:red")
ax_acc.axhline(0, color="grey", lw=0.5)
ax_acc.set(xscale="log", xlabel="weights INT4 quantizes", ylabel="INT4 − FP32 next-token accuracy (points)",
           title="accuracy gap, by size (mean ± half range)")
ax_peak.plot(x, [mean(g.peak_to_sigma) for g in gaps], "o-", label="trained")
ax_peak.plot(x, [mean(m["weights_at_init"]["all"]["peak_to_sigma"] for m in members[g.size]) for g in gaps], "s:",
             label="at initialisation")
ax_peak.plot(x, [gaussian_twin_stats(family[g.size][0]).peak_to_sigma for g in gaps], "k--",
             label="Gaussian rows, same shapes")
ax_peak.set(xscale="log", xlabel="weights INT4 quantizes", ylabel="mean row peak-to-σ",
            title="how wide the rows are, by size")
ax_peak.legend(fontsize=8)
for key, label, fn in (("loss_gap", "ΔL (the gap)", mean), ("int4_error", "e² (weight error)", lambda v: mean(v) ** 2),
                       ("sensitivity", "S = ΔL / e² (loss per unit e²)", mean)):
    values = [fn(getattr(g, key)) for g in gaps]
    ax_split.plot(x, [v / values[0] for v in values], "o-", label=label)
ax_split.axhline(1, color="grey", lw=0.5)
ax_split.set(xscale="log", yscale="log", xlabel="weights INT4 quantizes", ylabel=f"relative to {gaps[0].size}",
             title="equation (2): ΔL = S · e², each factor by size")
ax_split.legend(fontsize=8)
plt.tight_layout()
plt.show()
print(gap_factors(gaps))
lesson = int4_scale_line(gaps)
print(lesson)
summary["INT4 gap vs size"] = ", ".join(f"{g.size}: {mean(g.loss_gap):+.4f} ± {half_range(g.loss_gap):.4f} nats"
                                        for g in gaps)

# %% [markdown]
# **What the kit's scale can and cannot show.** It can show the mechanism the paper's argument rests on, measured: a
# row's INT4 error is its peak-to-σ over $7\sqrt{12}$ (section 5's plot). It can show what the gap does across this
# family, with the seeds' spread (the lesson line), and split each gap by equation (2) into what the weights
# contribute ($e$) and what the model contributes ($S$); the line printed above the lesson says which moved more. Its
# rows stay close to Gaussian at every size (section 5's table), so it cannot put the paper's *explanation* to the
# test, which contrasts GLM's narrow rows with BLOOM-176B's wide, skewed ones: rows like BLOOM's are a property of a
# large model trained long, and nothing here grows them. Nor can it show the paper's curve: Fig. 5 spans GLMs from
# about $10^8$ to $10^{11}$ parameters trained on up to 400 B tokens (the paper's numbers), the family the sizes and
# tokens printed in section 5. A trend over this span, in either direction, says nothing about 130B; it says what
# INT4 costs models of this size, and why.

# %% [markdown]
# ### Play: bits and rows
# One row of one layer of the family, quantized: how many of its weights land on each level $q \in [-q_{max}, q_{max}]$
# the format can store. With absmax, the row's largest weight takes the outermost level; the wider the row (the larger
# its peak-to-σ), the more weights crowd into the few levels near 0. The static rendering below is the largest
# model's first `w2` row; the widget redraws when a control is released.

# %%
def show_row(size=largest, kind="mlp.dense_4h_to_h", row=0, bits=4):
    w = linear_weights(family[size][0])[kind][0][row:row + 1]  # [1, in]: one row of layer 0
    q, s = quantize_weight(w, bits)
    w16 = w.half().float()
    err = float((w16 - dequantize_weight(q, s)).norm() / w16.norm())
    peak, qm = float(row_peak_to_sigma(w)), q_max(bits)
    fig, ax = plt.subplots(figsize=(8, 2.8))
    ax.hist(q.flatten().numpy(), bins=2 * qm + 1, range=(-qm - 0.5, qm + 0.5))
    ax.set(xlabel="stored level q (the row's largest weight sits at ±q_max)", ylabel="weights",
           title=f"{size} {kind}, layer 0, row {row}, INT{bits}: peak-to-σ {peak:.2f}, error {err:.4f} "
                 f"(equation (1) with q_max = {qm}: {peak / (qm * 12 ** 0.5):.4f})")
    plt.show()


show_row()

# %% tags=["widget"]
import ipywidgets as widgets  # noqa: E402

widgets.interact(show_row, size=widgets.ToggleButtons(options=sizes, value=largest),
                 kind=widgets.Dropdown(options=list(QUANTIZED_LINEARS), value="mlp.dense_4h_to_h"),
                 row=widgets.IntSlider(0, 0, 31, continuous_update=False), bits=widgets.ToggleButtons(options=[4, 8]));

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
print(exercise_record(passed))
print(lesson)
