# %% [markdown]
# # 00 · A tour of the GLM-130B reproduction kit
#
# Budget: 30 s (FAST, 2-core CPU).
#
# **GLM-130B** (Zeng et al., 2022, *GLM-130B: An Open Bilingual Pre-trained Model*, ICLR 2023) is a 130-billion-parameter
# English/Chinese language model. The paper reports the following facts, and the kit rebuilds each idea at small scale:
#
# * **Objective**: GLM's autoregressive blank infilling. 30% of sequences mask short spans with `[MASK]`; 70% mask a
#   long suffix with `[gMASK]`; 5% of tokens come from multi-task instruction pre-training (paper §2.2).
# * **Architecture**: 70 layers, hidden size 12288, 96 heads, GeGLU FFN, rotary positions, a bidirectional context and
#   causal generation, a tied output head (paper §2.1; official config `configs/model_glm_130b.sh`).
# * **Stability**: DeepNorm Post-LN with α = (2N)^½, embedding gradient shrink (α = 0.1) and an FP32 softmax (paper §2.1, §3).
# * **Training**: about 400B tokens (200B English + 200B Chinese) on 768 A100s, with data, tensor and pipeline parallelism
#   4 (TP) × 8 (PP) × 24 (DP) (paper §2.3).
# * **Serving**: INT4 weights, 4 × RTX 3090 (paper §4).
# * **Results** quoted from the paper: LAMBADA zero-shot 80.2 (GPT-3: 76.2) and MMLU 5-shot 44.8 (GPT-3: 43.9)
#   (paper §5).
#
# Every fact the kit relies on is in `docs/glm130b_facts.md`, in the kit's own words, with its source.
#
# The kit has two packages. `glm_mini/` is the readable single-device model. `scale_up/` takes the *same* code to
# 130B with tensor/pipeline parallelism and INT4, applied from outside by module name. This tour draws the model's
# map, leaves you one exercise (counting its parameters, Exercise 0.1), and lists the course.

# %%
import os
import platform
import time

import matplotlib.pyplot as plt
import torch

from glm_mini import GLM, PRESETS, prefix_causal_mask
from glm_mini.architecture import draw_architecture, parameter_groups
from glm_mini.exercises import exercise_record, use
from glm_mini.exercises.nb00_tour import check_parameter_count

FAST = os.environ.get("GLM_KIT_FAST", "1") == "1"
torch.manual_seed(0)
passed = {}  # exercise -> did its check pass
print(f"python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
      f"FAST={FAST}, CUDA available: {torch.cuda.is_available()}")

# %% [markdown]
# ## The map of the model
# `GLMConfig` takes the official argument names. `PRESETS` goes from `nano` (the tests) to `mini` (the notebooks) to
# `glm-130b`, the official configuration. The 130B model is built on the `meta` device, which records shapes and
# allocates no memory, so the map below is read off the real 130B module: each box is a module with its official
# parameter name and shape, and the file (and notebook) where it is written and taught
# (`glm_mini/architecture.py`, `draw_architecture`).

# %%
import outline  # notebooks/outline.py: the course data, shared with the README and the site

start = time.perf_counter()
with torch.device("meta"):
    big = GLM(PRESETS["glm-130b"])
meta_s = time.perf_counter() - start
draw_architecture(big, outline.taught_in(), title=f"GLM-130B, read off the module built on meta in {meta_s:.2f} s")
plt.show()

print(f"{'preset':<10}{'layers':>7}{'hidden':>8}{'heads':>6}{'ffn':>7}{'vocab':>8}{'parameters':>18}")
for name, cfg in PRESETS.items():
    print(f"{name:<10}{cfg.num_layers:>7}{cfg.hidden_size:>8}{cfg.num_attention_heads:>6}{cfg.ffn_hidden_size:>7}"
          f"{cfg.vocab_size:>8}{cfg.num_parameters():>18,}")
model = GLM(PRESETS["nano"]).eval()
ids = torch.randint(0, PRESETS["nano"].vocab_size, (2, 16))
logits = model(ids, attention_mask=prefix_causal_mask(torch.tensor([6, 10]), 16)).logits
print(f"\nnano forward: ids {tuple(ids.shape)} -> logits {tuple(logits.shape)}")

# %% [markdown]
# ### Your turn — Exercise 0.1: count the parameters
# Write `my_num_parameters(config)`: the number of parameters of `GLM(config)`, from the shapes in the map. Use
# `config.num_layers`, `config.hidden_size`, `config.ffn_hidden_size` (the GeGLU inner size $f$) and
# `config.vocab_size`. Every linear layer has a bias, every LayerNorm a gain and a bias. A mismatch prints the
# expected count term by term. *Predict first:* which part of GLM-130B holds the most parameters: the word embedding
# (150528 rows!), the attention, or the feed-forward?

# %%
def my_num_parameters(config):
    ### BEGIN SOLUTION
    ### HINT: the head is the embedding (no cost); dense_h_to_4h has 2 halves; one LayerNorm sits after the layers
    h, f, v = config.hidden_size, config.ffn_hidden_size, config.vocab_size
    attention = (3 * h * h + 3 * h) + (h * h + h)  # query_key_value + dense
    feed_forward = (h * 2 * f + 2 * f) + (f * h + h)  # dense_h_to_4h (both halves) + dense_4h_to_h
    layer_norms = 2 * 2 * h  # input_layernorm and post_attention_layernorm, a gain and a bias each
    return v * h + config.num_layers * (attention + feed_forward + layer_norms) + 2 * h  # + final_layernorm
    ### END SOLUTION


# %%
passed["0.1"] = check_parameter_count(my_num_parameters)
num_parameters = use(my_num_parameters, passed["0.1"], lambda config: config.num_parameters())
n_big = sum(p.numel() for p in big.parameters())
assert num_parameters(PRESETS["glm-130b"]) == n_big
groups = parameter_groups(big)
fig, ax = plt.subplots(figsize=(7, 2.8))
ax.barh(list(groups), [n / 1e9 for n in groups.values()], color="tab:blue")
for i, n in enumerate(groups.values()):
    ax.text(n / 1e9, i, f" {n / 1e9:.2f} B ({n / n_big:.1%})", va="center", fontsize=8)
ax.invert_yaxis()
ax.set(xlabel="parameters (billions)", title=f"GLM-130B: {n_big:,} parameters with the tied head",
       xlim=(0, max(groups.values()) / 1e9 * 1.35))
plt.show()
print(f"your count for glm-130b: {num_parameters(PRESETS['glm-130b']):,}; the module: {n_big:,}")

# %% [markdown] tags=["prediction"]
# The feed-forward: the two GeGLU matrices hold about two thirds of the model, attention about a third, and the
# 150528-row embedding, large as it looks, only the share printed in the bar chart. Each layer repeats its matrices
# 70 times; the embedding exists once (and the head reuses it). The name "130B" rounds the 128.7 B of the bar
# chart's title; an untied head would add another copy of the embedding.

# %% [markdown]
# ## The course: notebook → what you can do after it → paper → package files → tests
# Each notebook builds its idea by hand, checks it against the package, and leaves exercises to you ("Your turn": a
# check says PASS or shows the first mismatch). The outline below is computed: a notebook not yet in `notebooks/` is
# marked *planned*; the exercise count is read from its source, the tests from their imports, and the FAST time is
# the one `make tour` measured on this machine (read from `build/notebooks/timings.json`; "not yet measured" before
# the first tour). `make student` and `make instructor` write the two editions (exercises blank or solved) under
# `build/`; `make site` renders both as one offline website with a switch between them.

# %%
from IPython.display import Markdown, display  # noqa: E402

display(Markdown(outline.markdown()))
available = sum(lesson.exists for lesson in outline.COURSE)
measured = sum(row["fast_time"].endswith(")") for row in outline.rows())
exercises = sum(row["exercises"] for row in outline.rows() if isinstance(row["exercises"], int))
print(f"{available} of {len(outline.COURSE)} notebooks available, {len(outline.COURSE) - available} planned; "
      f"{exercises} exercises; {measured} with a measured FAST time")

# %% tags=["summary"]
print(exercise_record(passed))
print(f"{available}/{len(outline.COURSE)} notebooks available, {exercises} exercises; torch {torch.__version__}; "
      f"FAST={FAST}")
print("presets: " + ", ".join(f"{k} {v.num_parameters() / 1e6:,.1f} M" for k, v in PRESETS.items()))
print(f"GLM-130B on meta: {n_big:,} parameters, built in {meta_s:.2f} s; feed-forward "
      f"{(groups['FFN h→4h (GeGLU)'] + groups['FFN 4h→h']) / n_big:.1%}, attention "
      f"{(groups['attention QKV'] + groups['attention dense']) / n_big:.1%}, embedding "
      f"{groups['word embedding (tied head)'] / n_big:.1%}")
